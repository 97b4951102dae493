// Docker Model Runner as an engine, against the simulator playing DMR (`flavor: 'dmr'`): told
// apart from Ollama by `GET /`, its place in `auto`, pulls through `/models/create` with progress,
// and `doctor`.
import { afterEach, describe, expect, it } from 'vitest'
import { formatDoctor, runDoctor } from '../src/doctor.js'
import { DmrClient } from '../src/engines/dmr/client.js'
import { planEngine, startEngine } from '../src/engines/index.js'
import { detectGpus } from '../src/gpu/detect.js'
import { ModelManager } from '../src/models/manager.js'
import { probeOllama } from '../src/ollama/probe.js'
import { type OllamaPluginOptions, resolveOptions } from '../src/options.js'
import type { PullProgressEvent } from '../src/protocol.js'
import { type Simulator, type SimulatorOptions, startSimulator } from '../src/simulator/index.js'
import { loadGpuFixture } from './fixtures/gpu/fixture.js'
import { freePort } from './helpers/docker-image.js'
import { bareLinux, cpuOnly } from './helpers/machines.js'

const logger = { info() {}, warn() {} }

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

async function dmr(opts: SimulatorOptions = {}): Promise<Simulator> {
  const sim = await startSimulator({ flavor: 'dmr', ...opts })
  cleanups.push(() => sim.close())
  return sim
}

/** Options whose `url` and `dmr.url` are closed ports unless given. */
async function options(o: OllamaPluginOptions = {}) {
  return resolveOptions({
    url: `http://127.0.0.1:${await freePort()}`,
    ...o,
    dmr: { url: `http://127.0.0.1:${await freePort()}`, ...o.dmr },
  })
}

describe('Docker Model Runner detection', () => {
  it('is told apart from Ollama by GET /, though its /api/version answers like Ollama 0.1.0', async () => {
    const sim = await dmr()
    const version = await fetch(`${sim.url}/api/version`)
    expect(await version.json()).toEqual({ version: '0.1.0' })
    expect(await probeOllama(sim.url)).toMatchObject({ kind: 'dmr', version: '1.0.11' })

    const ollama = await startSimulator()
    cleanups.push(() => ollama.close())
    expect(await probeOllama(ollama.url)).toEqual({ kind: 'ollama', version: '0.32.6' })
  })

  it('is never adopted as an Ollama when it answers at url', async () => {
    const sim = await dmr()
    const opts = await options({ url: sim.url, fallback: 'simulator' })
    const { engine, steps } = await startEngine(opts, { gpu: cpuOnly, logger, deps: bareLinux })
    cleanups.push(() => engine?.stop())
    expect(engine?.info.kind).toBe('simulator')
    expect(steps[0]).toMatchObject({
      engine: 'external',
      outcome: 'skipped',
      reason: `Docker Model Runner answers at ${sim.url}, not Ollama`,
      hint: expect.stringContaining("engine: 'dmr'"),
    })
  })
})

describe('Docker Model Runner in auto', () => {
  it('comes after Docker and native Ollama on Linux, before the fallback', async () => {
    const sim = await dmr()
    const opts = await options({ dmr: { url: sim.url }, fallback: 'simulator' })
    const plan = await planEngine(opts, bareLinux)
    expect(plan.choice).toBe('dmr')
    expect(plan.steps.map((s) => [s.engine, s.outcome])).toEqual([
      ['external', 'skipped'],
      ['docker', 'skipped'],
      ['native', 'skipped'],
      ['dmr', 'chosen'],
      ['simulator', 'skipped'],
    ])
    expect(plan.steps[3]?.reason).toBe(`Docker Model Runner 1.0.11 answers at ${sim.url}`)
  })

  it('comes after native Ollama and before Docker on macOS', async () => {
    const sim = await dmr()
    const opts = await options({ dmr: { url: sim.url } })
    const plan = await planEngine(opts, {
      ...bareLinux,
      platform: 'darwin',
      connectDocker: () =>
        Promise.reject(new Error('Docker must not be asked before DMR on macOS')),
    })
    expect(plan.steps.map((s) => [s.engine, s.outcome])).toEqual([
      ['external', 'skipped'],
      ['native', 'skipped'],
      ['dmr', 'chosen'],
      ['docker', 'skipped'],
    ])
  })

  it('is skipped with how to enable it when nothing answers at dmr.url', async () => {
    const opts = await options({ fallback: 'simulator' })
    const plan = await planEngine(opts, bareLinux)
    expect(plan.choice).toBe('simulator')
    expect(plan.steps.find((s) => s.engine === 'dmr')).toMatchObject({
      outcome: 'skipped',
      reason: `Docker Model Runner does not answer at ${opts.dmr.url}`,
      hint: expect.stringContaining('docker desktop enable model-runner --tcp 12434'),
    })

    const only = await startEngine(await options({ engine: 'dmr' }), { gpu: cpuOnly, logger })
    expect(only.engine).toBeNull()
    expect(only.problem?.message).toMatch(/The dmr engine is not available: Docker Model Runner/)
    expect(only.problem?.hint).toMatch(/docker model install-runner/)
  })

  it('starts an engine that talks to DMR, and leaves DMR running when it stops', async () => {
    const sim = await dmr()
    const opts = await options({ engine: 'dmr', dmr: { url: sim.url } })
    const { engine } = await startEngine(opts, { gpu: cpuOnly, logger })
    expect(engine?.info).toMatchObject({ kind: 'dmr', url: sim.url, version: '1.0.11' })
    expect(engine?.owned).toBe(false)
    expect(engine?.createClient?.({})).toBeInstanceOf(DmrClient)
    await engine?.stop()
    expect(await probeOllama(sim.url)).toMatchObject({ kind: 'dmr' })
  })
})

describe('Docker Model Runner pulls', () => {
  async function manager(sim: Simulator) {
    const client = new DmrClient(sim.url)
    const progress: PullProgressEvent[] = []
    const models = new ModelManager({
      client,
      onProgress: (e) => progress.push(e),
      onChange: () => {},
      logger,
    })
    cleanups.push(() => client.close())
    return { models, progress }
  }

  it('pulls through /models/create, its parallel layers folded into one figure per model', async () => {
    // qwen2.5:0.5b is about 398 MB: a second and a half of progress.
    const sim = await dmr({ models: ['smollm2'], pullBytesPerSecond: 250e6 })
    const { models, progress } = await manager(sim)
    await models.track(['smollm2', 'qwen2.5:0.5b'])
    expect(models.list().map((m) => [m.name, m.status])).toEqual([
      ['smollm2', 'present'],
      ['qwen2.5:0.5b', 'missing'],
    ])
    await models.pullMissing(['qwen2.5:0.5b'])
    expect(models.list().find((m) => m.name === 'qwen2.5:0.5b')?.status).toBe('present')
    expect(sim.stats.requests['POST /models/create']).toBe(1)
    expect(sim.stats.requests['POST /api/pull']).toBeUndefined()

    const image = (await (await fetch(`${sim.url}/models`)).json()) as Array<{ tags: string[] }>
    expect(image.flatMap((m) => m.tags).sort()).toEqual(['ai/qwen2.5:0.5b', 'ai/smollm2:latest'])
    const total = progress.at(-1)!.total
    expect(total).toBeGreaterThan(390e6)
    // The whole image's size is known from the first byte, and the figure only grows.
    const moving = progress.filter((p) => p.completed > 0 && p.completed < total)
    expect(moving.length).toBeGreaterThan(3)
    expect(moving.every((p) => p.total === total)).toBe(true)
    for (let i = 1; i < progress.length; i++) {
      expect(progress[i]!.completed).toBeGreaterThanOrEqual(progress[i - 1]!.completed)
    }
    expect(progress.at(-1)).toMatchObject({ status: 'success', percent: 100, completed: total })
  })

  it('says where to find the name when DMR has no such model', async () => {
    const sim = await dmr()
    const { models } = await manager(sim)
    await models.track(['no-such-model'])
    await models.pullMissing(['no-such-model'])
    const state = models.list()[0]
    expect(state?.status).toBe('error')
    expect(state?.error?.message).toBe(
      "Docker Model Runner has no model 'no-such-model' (ai/no-such-model:latest): Model not found",
    )
    expect(state?.error?.hint).toContain('https://hub.docker.com/u/ai')
    expect(state?.error?.hint).toContain('docker model pull ai/no-such-model:latest')
  })

  it('reports a download that fails midway with DMR’s own words', async () => {
    const sim = await dmr({ pullErrors: { 'qwen2.5:0.5b': 'no space left on device' } })
    const { models } = await manager(sim)
    await models.track(['qwen2.5:0.5b'])
    await models.pullMissing(['qwen2.5:0.5b'])
    expect(models.list()[0]?.error?.message).toMatch(/No disk space left to pull 'qwen2\.5:0\.5b'/)
  })
})

describe('doctor and Docker Model Runner', () => {
  it('says whether DMR answers at dmr.url', async () => {
    const sim = await dmr()
    const noGpu = () => detectGpus(loadGpuFixture('no-gpu').deps)
    const noDocker = async () => ({ connection: null, attempts: [] })
    const found = await runDoctor(await options({ dmr: { url: sim.url } }), {
      detect: noGpu,
      connectDocker: noDocker,
    })
    expect(found.dmr).toEqual({ url: sim.url, reachable: true, version: '1.0.11' })
    expect(formatDoctor(found).replace(/\x1b\[[0-9;]*m/g, '')).toMatch(
      new RegExp(`✓ DMR\\s+Docker Model Runner 1\\.0\\.11 at ${sim.url}`),
    )

    const opts = await options()
    const missing = await runDoctor(opts, { detect: noGpu, connectDocker: noDocker })
    expect(missing.dmr).toMatchObject({ url: opts.dmr.url, reachable: false })
    expect(formatDoctor(missing).replace(/\x1b\[[0-9;]*m/g, '')).toContain(
      `DMR      Docker Model Runner not found at ${opts.dmr.url}`,
    )
  })
})
