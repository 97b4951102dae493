import { describe, expect, it } from 'vitest'
import { detectGpus, type GpuReport } from '../src/gpu/detect.js'
import { recommendTuning, type Tuning } from '../src/gpu/tuning.js'
import { type GpuFixtureName, loadGpuFixture } from './fixtures/gpu/fixture.js'

async function tuningOf(name: GpuFixtureName): Promise<Record<string, Tuning>> {
  const report = await detectGpus(loadGpuFixture(name).deps)
  return Object.fromEntries(recommendTuning(report).map((t) => [t.env, t]))
}

describe('recommendTuning', () => {
  it('RTX 4090: flash attention, two parallel chats, two loaded models; no KV quantisation', async () => {
    const t = await tuningOf('nvidia-rtx4090')
    expect(t.OLLAMA_FLASH_ATTENTION).toMatchObject({ value: '1', safe: true })
    expect(t.OLLAMA_FLASH_ATTENTION?.reason).toMatch(/compute capability 8.9 supports it/)
    expect(t.OLLAMA_KV_CACHE_TYPE).toBeUndefined()
    expect(t.OLLAMA_NUM_PARALLEL).toMatchObject({ value: '2', safe: true })
    expect(t.OLLAMA_MAX_LOADED_MODELS).toMatchObject({ value: '2', safe: true })
  })

  it('H100 80 GB: four parallel chats and three loaded models', async () => {
    const t = await tuningOf('nvidia-2x-h100')
    expect(t.OLLAMA_NUM_PARALLEL?.value).toBe('4')
    expect(t.OLLAMA_MAX_LOADED_MODELS?.value).toBe('3')
  })

  it('a tight GPU: q8_0 KV cache suggested, not applied on its own (safe: false)', async () => {
    const base = await detectGpus(loadGpuFixture('nvidia-rtx4090').deps)
    const small: GpuReport = {
      ...base,
      gpus: [{ ...base.gpus[0]!, name: 'NVIDIA GeForce RTX 3060', computeCapability: '8.6' }],
      budgetBytes: 12 * 1024 ** 3,
    }
    const t = Object.fromEntries(recommendTuning(small).map((x) => [x.env, x]))
    expect(t.OLLAMA_KV_CACHE_TYPE).toMatchObject({ value: 'q8_0', safe: false })
    expect(t.OLLAMA_KV_CACHE_TYPE?.reason).toMatch(/needs flash attention/)
    expect(t.OLLAMA_MAX_LOADED_MODELS?.value).toBe('2')
  })

  it('no flash attention where the GPU lacks it or its compute capability is unknown', async () => {
    const base = await detectGpus(loadGpuFixture('nvidia-rtx4090').deps)
    const jetsonXavier: GpuReport = {
      ...base,
      gpus: [{ ...base.gpus[0]!, name: 'Xavier', computeCapability: '7.2' }],
    }
    expect(recommendTuning(jetsonXavier).map((t) => t.env)).not.toContain('OLLAMA_FLASH_ATTENTION')
    const oldDriver = await tuningOf('nvidia-old-driver')
    expect(oldDriver.OLLAMA_FLASH_ATTENTION).toBeUndefined()
    expect(oldDriver.OLLAMA_KV_CACHE_TYPE).toBeUndefined()
  })

  it('Apple Metal and ROCm: flash attention', async () => {
    expect((await tuningOf('apple-m2-max-32gb')).OLLAMA_FLASH_ATTENTION?.reason).toMatch(
      /Metal supports it/,
    )
    expect((await tuningOf('amd-rocm-smi')).OLLAMA_FLASH_ATTENTION?.reason).toMatch(
      /ROCm supports it/,
    )
  })

  it('CPU: one chat and one model at a time, no GPU settings', async () => {
    const t = await tuningOf('no-gpu')
    expect(Object.keys(t).sort()).toEqual(['OLLAMA_MAX_LOADED_MODELS', 'OLLAMA_NUM_PARALLEL'])
    expect(t.OLLAMA_NUM_PARALLEL?.value).toBe('1')
    expect(t.OLLAMA_MAX_LOADED_MODELS?.value).toBe('1')
  })

  it('gives every setting a reason', async () => {
    for (const name of ['nvidia-rtx4090', 'apple-m3-max-64gb', 'intel-arc', 'no-gpu'] as const) {
      for (const t of Object.values(await tuningOf(name)))
        expect(t.reason.length).toBeGreaterThan(20)
    }
  })
})
