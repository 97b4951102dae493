import { afterEach, describe, expect, it } from 'vitest'
import { describeProcessor, ModelManager, type ModelManagerDeps } from '../src/models/manager.js'
import { OllamaClient } from '../src/ollama/client.js'
import type { PullProgressEvent } from '../src/protocol.js'
import { type Simulator, startSimulator } from '../src/simulator/index.js'
import { waitFor } from './helpers/vite.js'

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

async function setup(
  sim: Partial<Parameters<typeof startSimulator>[0]> = {},
  deps: Partial<ModelManagerDeps> = {},
) {
  const simulator: Simulator = await startSimulator(sim)
  const client = new OllamaClient(simulator.url)
  const progress: PullProgressEvent[] = []
  const warnings: string[] = []
  const manager = new ModelManager({
    client,
    onProgress: (e) => progress.push(e),
    onChange: () => {},
    logger: { info: () => {}, warn: (m) => warnings.push(m) },
    ...deps,
  })
  cleanups.push(
    () => simulator.close(),
    () => client.close(),
  )
  return { simulator, manager, progress, warnings }
}

describe('model manager', () => {
  it('pulls only the missing models, and reports each one present after', async () => {
    const { simulator, manager } = await setup({ models: ['llama3.2'] })
    await manager.track(['llama3.2', 'qwen2.5:0.5b'])
    expect(manager.list().map((m) => [m.name, m.status])).toEqual([
      ['llama3.2', 'present'],
      ['qwen2.5:0.5b', 'missing'],
    ])
    await manager.pullMissing(['llama3.2', 'qwen2.5:0.5b'])
    expect(simulator.stats.requests['POST /api/pull']).toBe(1)
    expect(manager.list().every((m) => m.status === 'present')).toBe(true)
  })

  it('pulls two models at a time at most', async () => {
    const { simulator, manager } = await setup({ pullBytesPerSecond: 4e9 })
    let active = 0
    let peak = 0
    simulator.events.on('request', (method: string, path: string) => {
      if (method === 'POST' && path === '/api/pull') peak = Math.max(peak, ++active)
    })
    simulator.events.on('stream-end', () => {
      active = Math.max(0, active - 1)
    })
    const models = ['qwen2.5:0.5b', 'qwen3:0.6b', 'gemma3:1b', 'smollm2:135m']
    await manager.track(models)
    await manager.pullMissing(models)
    expect(simulator.stats.requests['POST /api/pull']).toBe(4)
    expect(peak).toBeLessThanOrEqual(2)
    expect(peak).toBeGreaterThanOrEqual(1)
  })

  it('shares one download between the auto pull and a second caller', async () => {
    const { simulator, manager } = await setup({ pullBytesPerSecond: 1e9 })
    await manager.track(['qwen2.5:0.5b'])
    const first = manager.pullMissing(['qwen2.5:0.5b'])
    const seen: number[] = []
    for await (const e of manager.pull('qwen2.5:0.5b')) seen.push(e.percent)
    await first
    expect(simulator.stats.requests['POST /api/pull']).toBe(1)
    expect(seen.at(-1)).toBe(100)
  })

  it('keeps a one-off pull while one reader remains, and cancels it when the last one leaves', async () => {
    const { simulator, manager } = await setup({ pullBytesPerSecond: 2e8 })
    await manager.track(['llama3.2'])
    const first = new AbortController()
    const second = new AbortController()
    const read = async (signal: AbortSignal) => {
      for await (const e of manager.pull('qwen2.5:0.5b', signal)) if (e.completed > 0) break
    }
    await read(first.signal)
    // The only reader left once bytes came; nobody reads now, so the pull was cancelled.
    expect(manager.isPulling()).toBe(false)
    expect(manager.list().map((m) => m.name)).toEqual(['llama3.2'])

    // Two readers: the first leaving changes nothing, the second leaving cancels.
    const a = manager.pull('qwen2.5:0.5b', first.signal)
    const b = manager.pull('qwen2.5:0.5b', second.signal)
    await a.next()
    await b.next()
    await a.return(undefined)
    expect(manager.isPulling()).toBe(true)
    await b.return(undefined)
    expect(manager.isPulling()).toBe(false)
    await waitFor(() => simulator.stats.activeStreams === 0, 2_000, 'the pull stream closed')
    expect(simulator.stats.cancelledStreams).toBe(2)
  })

  it('goes on with a pull of an autoPull model when its reader leaves', async () => {
    const { manager } = await setup({ pullBytesPerSecond: 2e8 })
    await manager.track(['qwen2.5:0.5b'], undefined, ['qwen2.5:0.5b'])
    for await (const e of manager.pull('qwen2.5:0.5b')) if (e.completed > 0) break
    expect(manager.isPulling()).toBe(true)
    expect(manager.list()[0]?.status).toBe('pulling')
    expect(manager.cancel('qwen2.5:0.5b')?.status).toBe('cancelled')
  })

  it('cancel() settles the state before it returns: missing for a new model, present for an update', async () => {
    const { manager } = await setup({ models: ['qwen2.5:0.5b'], pullBytesPerSecond: 2e8 })
    await manager.track(['llama3.2', 'qwen2.5:0.5b'])
    const failures: unknown[] = []
    const follow = (model: string) =>
      (async () => {
        for await (const _ of manager.pull(model));
      })().catch((error: unknown) => failures.push(error))
    const pulls = [follow('llama3.2'), follow('qwen2.5:0.5b')]
    expect(manager.list().map((m) => m.status)).toEqual(['pulling', 'pulling'])

    // Any spelling of the name finds the pull.
    expect(manager.cancel('llama3.2:latest')).toMatchObject({
      model: 'llama3.2',
      status: 'cancelled',
    })
    // An update of a model on disk leaves the old copy there: it is present again.
    expect(manager.cancel('qwen2.5:0.5b')?.model).toBe('qwen2.5:0.5b')
    expect(manager.list()).toEqual([
      { name: 'llama3.2', status: 'missing' },
      { name: 'qwen2.5:0.5b', status: 'present' },
    ])
    expect(manager.isPulling()).toBe(false)
    expect(manager.cancel('llama3.2')).toBeUndefined()
    await Promise.all(pulls)
    expect(failures.map((e) => (e as Error).message)).toEqual([
      "The pull of 'llama3.2' was cancelled",
      "The pull of 'qwen2.5:0.5b' was cancelled",
    ])
    // The jobs' own ends changed nothing afterwards.
    expect(manager.list().map((m) => m.status)).toEqual(['missing', 'present'])
  })

  it('aborts a stalled pull and resumes it, three tries, then says it stalled', async () => {
    // pullBytesPerSecond 0: the simulator sends the manifest line, then nothing.
    const { simulator, manager, warnings } = await setup(
      { pullBytesPerSecond: 0 },
      { stallTimeoutMs: 300 },
    )
    await manager.track(['qwen2.5:0.5b'])
    await manager.pullMissing(['qwen2.5:0.5b'])
    expect(simulator.stats.requests['POST /api/pull']).toBe(3)
    expect(warnings.filter((w) => /stalled; resuming/.test(w))).toHaveLength(2)
    const [model] = manager.list()
    expect(model?.status).toBe('error')
    expect(model?.error?.message).toMatch(/stalled/)
    expect(model?.error?.hint).toMatch(/Retry/)
  })

  it('resumes after a stall and completes when the download moves again', async () => {
    const { simulator, manager } = await setup({ pullBytesPerSecond: 0 }, { stallTimeoutMs: 300 })
    let pulls = 0
    simulator.events.on('request', (method: string, path: string) => {
      // The second try finds a network that moves again.
      if (method === 'POST' && path === '/api/pull' && ++pulls === 2) {
        simulator.configure({ pullBytesPerSecond: 2e9 })
      }
    })
    await manager.track(['qwen2.5:0.5b'])
    await manager.pullMissing(['qwen2.5:0.5b'])
    expect(simulator.stats.requests['POST /api/pull']).toBe(2)
    expect(manager.list()[0]?.status).toBe('present')
  })

  it('refuses to start a pull that cannot fit on the disk', async () => {
    const { simulator, manager } = await setup(
      {},
      { sizeOf: () => 5e9, freeDiskBytes: async () => 1e9 },
    )
    await manager.track(['qwen2.5:7b'])
    await manager.pullMissing(['qwen2.5:7b'])
    expect(simulator.stats.requests['POST /api/pull']).toBeUndefined()
    expect(manager.list()[0]?.error?.message).toMatch(/No disk space left to pull 'qwen2.5:7b'/)
  })

  it('maps an unknown model to what to do', async () => {
    const { manager } = await setup()
    await manager.track(['llama3.3:2b'])
    await manager.pullMissing(['llama3.3:2b'])
    const [model] = manager.list()
    expect(model?.error?.message).toBe("'llama3.3:2b' is not in the Ollama library")
    expect(model?.error?.hint).toMatch(/ollama\.com\/library/)
  })

  it('warms a model up, unloads it with keep_alive 0, and never deletes it', async () => {
    const { simulator, manager } = await setup({ models: ['llama3.2'] })
    await manager.track(['llama3.2'])
    await manager.warmup('llama3.2', '30m')
    expect(manager.list()[0]).toMatchObject({ status: 'loaded', processor: '100% CPU' })
    await manager.unload('llama3.2')
    await manager.refresh()
    expect(manager.list()[0]?.status).toBe('present')
    expect(simulator.stats.requests['DELETE /api/delete']).toBeUndefined()
  })

  it("says where a model runs in Ollama's own words", () => {
    expect(describeProcessor(100, 100)).toBe('100% GPU')
    expect(describeProcessor(100, 0)).toBe('100% CPU')
    expect(describeProcessor(100, 48)).toBe('52%/48% CPU/GPU')
  })
})
