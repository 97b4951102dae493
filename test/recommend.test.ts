import { describe, expect, it } from 'vitest'
import { formatBytes } from '../src/format.js'
import { detectGpus } from '../src/gpu/detect.js'
import {
  checkModelFit,
  findModel,
  MODEL_CATALOG,
  memoryNeeded,
  modelSize,
  normalizeModelName,
  recommendModels,
} from '../src/gpu/recommend.js'
import { loadGpuFixture } from './fixtures/gpu/fixture.js'

const GIB = 1024 ** 3
const RTX_4090 = 24564 * 1024 ** 2

describe('model catalog', () => {
  it('holds the reference download sizes', () => {
    expect(modelSize('llama3.2')).toBe(2_019_393_189)
    expect(modelSize('llama3.2:1b')).toBe(1.3e9)
    expect(modelSize('llama3.1:8b')).toBe(4.7e9)
    expect(modelSize('llama3.1:70b')).toBe(43e9)
    expect(modelSize('deepseek-r1')).toBe(4_683_075_271)
    expect(modelSize('phi4')).toBe(9.1e9)
    expect(modelSize('gemma3:27b')).toBe(17e9)
    expect(modelSize('mistral')).toBe(4.1e9)
    expect(modelSize('nomic-embed-text')).toBe(274e6)
    expect(modelSize('qwen2.5-coder:32b')).toBe(20e9)
  })

  it('finds a model however its name is spelled', () => {
    for (const name of [
      'llama3.2',
      'llama3.2:latest',
      'Llama3.2:3B',
      'library/llama3.2',
      'registry.ollama.ai/library/llama3.2:latest',
    ]) {
      expect(findModel(name)?.name, name).toBe('llama3.2:3b')
    }
    expect(normalizeModelName('someone/model')).toBe('someone/model:latest')
    expect(findModel('someone/model')).toBeUndefined()
  })

  it('gives every name and alias to exactly one entry', () => {
    const seen = new Map<string, string>()
    for (const model of MODEL_CATALOG) {
      for (const name of [model.name, ...model.aliases]) {
        const key = normalizeModelName(name)
        expect(seen.get(key), `${name} is in ${seen.get(key)} and ${model.name}`).toBeUndefined()
        seen.set(key, model.name)
      }
    }
  })
})

describe('recommendModels', () => {
  it('never returns a model that does not fit, for any budget', () => {
    for (let budget = 0; budget <= 200 * GIB; budget += 0.25 * GIB) {
      for (const accelerator of [undefined, 'cuda', 'cpu'] as const) {
        for (const r of recommendModels(budget, { accelerator })) {
          expect(r.sizeBytes * 1.2 + 0.5e9, `${r.name} at ${budget}`).toBeLessThanOrEqual(budget)
          expect(r.needBytes).toBeLessThanOrEqual(budget)
          expect(r.reason).not.toBe('')
        }
      }
    }
  })

  it('returns every catalog model that fits, and only more as the budget grows', () => {
    let previous = -1
    for (let budget = 0; budget <= 200 * GIB; budget += GIB) {
      const names = recommendModels(budget).map((r) => r.name)
      const fitting = MODEL_CATALOG.filter((m) => memoryNeeded(m.sizeBytes) <= budget).map(
        (m) => m.name,
      )
      expect(new Set(names)).toEqual(new Set(fitting))
      expect(names.length).toBeGreaterThanOrEqual(previous)
      previous = names.length
    }
  })

  it('on a 24 GiB (25.8 GB) RTX 4090 leaves out llama3.1:70b and puts a large chat model first', () => {
    const list = recommendModels(RTX_4090, { accelerator: 'cuda' })
    const names = list.map((r) => r.name)
    expect(names).not.toContain('llama3.1:70b')
    expect(names).not.toContain('llama3.3:70b')
    expect(names).toContain('qwen2.5-coder:32b')
    expect(list[0]?.kind).not.toBe('embedding')
    expect(list[0]?.sizeBytes).toBeGreaterThanOrEqual(15e9)
    expect(list[0]?.reason).toMatch(/needs about \d+\.\d GB of the 25\.8 GB on the GPU/)
  })

  it('lists chat models before embedding models', () => {
    const kinds = recommendModels(16 * GIB).map((r) => r.kind)
    const firstEmbedding = kinds.indexOf('embedding')
    expect(firstEmbedding).toBeGreaterThan(0)
    expect(kinds.slice(firstEmbedding).every((k) => k === 'embedding')).toBe(true)
  })

  it('on the CPU offers only small models, and honours kinds and limit', () => {
    const cpu = recommendModels(32 * GIB, { accelerator: 'cpu' })
    expect(cpu.every((r) => r.sizeBytes <= 3.5e9)).toBe(true)
    expect(cpu[0]?.reason).toMatch(/of RAM for models/)
    const code = recommendModels(16 * GIB, { kinds: ['code'], limit: 2 })
    expect(code.map((r) => r.name)).toEqual(['qwen2.5-coder:14b', 'qwen2.5-coder:7b'])
  })

  it('returns nothing when nothing fits', () => {
    expect(recommendModels(0)).toEqual([])
    expect(recommendModels(500e6)).toEqual([])
  })
})

describe('checkModelFit', () => {
  it('warns that llama3.1:70b runs partly on the CPU of a 24 GiB (25.8 GB) GPU', () => {
    expect(checkModelFit('llama3.1:70b', RTX_4090)).toEqual({
      model: 'llama3.1:70b',
      status: 'partial',
      sizeBytes: 43e9,
      needBytes: 52.1e9,
      message:
        'llama3.1:70b needs about 52.1 GB; your GPU has 25.8 GB: it will run partly on the CPU, much slower',
    })
  })

  it('says a model fits, with what it needs', () => {
    const fit = checkModelFit('llama3.2', RTX_4090)
    expect(fit.status).toBe('fits')
    expect(fit.message).toBe('llama3.2 fits: needs about 2.9 GB of 25.8 GB on the GPU')
  })

  it('on the CPU says too large rather than partly on the CPU', () => {
    const fit = checkModelFit('qwen2.5:32b', 8 * GIB, { accelerator: 'cpu' })
    expect(fit.status).toBe('too-large')
    expect(fit.message).toMatch(
      /qwen2.5:32b needs about 24.5 GB; about 8.6 GB of RAM is free for models/,
    )
  })

  it('on the CPU warns that a big model that fits answers slowly', () => {
    expect(checkModelFit('phi4', 12 * GIB, { accelerator: 'cpu' }).message).toBe(
      'phi4 fits: needs about 11.4 GB of 12.9 GB of RAM set aside, on the CPU; expect slow answers at this size',
    )
    expect(checkModelFit('llama3.2', 12 * GIB, { accelerator: 'cpu' }).message).not.toMatch(/slow/)
  })

  it('says unknown for a model outside the catalog', () => {
    expect(checkModelFit('someone/custom-model:q4', 80 * GIB)).toMatchObject({ status: 'unknown' })
  })
})

describe('sizes in one unit system (the RTX 4090 that "needs about 25 GB of the 24 GB")', () => {
  const DECIMAL: Record<string, number> = { kB: 1e3, MB: 1e6, GB: 1e9 }

  /** The sizes a sentence shows, in bytes; fails on a binary unit (GiB, MiB) beside them. */
  function sizes(sentence: string): number[] {
    expect(sentence).not.toMatch(/\d\s*[KMGT]iB\b/)
    return [...sentence.matchAll(/(\d+(?:\.\d+)?) (kB|MB|GB)\b/g)].map(
      (m) => Number(m[1]) * DECIMAL[m[2]!]!,
    )
  }

  it('writes the recorded RTX 4090 (24564 MiB) in decimal GB', () => {
    expect(formatBytes(RTX_4090)).toBe('25.8 GB')
  })

  it('says what fits the recorded RTX 4090 in the same unit as the card, and never more than it has', async () => {
    const gpu = await detectGpus(loadGpuFixture('nvidia-rtx4090').deps)
    expect(gpu.budgetBytes).toBe(RTX_4090)
    const list = recommendModels(gpu.budgetBytes, { accelerator: gpu.accelerator })
    // The sentence doctor printed as "needs about 25 GB of the 24 GB on the GPU".
    expect(list.find((r) => r.name === 'qwen3:32b')?.reason).toBe(
      'large chat with thinking mode; needs about 24.5 GB of the 25.8 GB on the GPU',
    )
    expect(list.length).toBeGreaterThan(0)
    for (const r of list) {
      const [need, have, ...rest] = sizes(r.reason)
      expect(rest, r.reason).toEqual([])
      expect(have, r.reason).toBe(25.8e9)
      // It fits, so it must read as fitting.
      expect(need!, r.reason).toBeLessThanOrEqual(have!)
    }
    for (const model of ['qwen3:32b', 'llama3.2', 'llama3.1:70b']) {
      const fit = checkModelFit(model, gpu.budgetBytes, { accelerator: gpu.accelerator })
      const [need, have] = sizes(fit.message)
      expect(have, fit.message).toBe(25.8e9)
      expect(need! <= have!, fit.message).toBe(fit.status === 'fits')
    }
  })
})
