// Engine resolution with real parts: a running simulator to adopt, a Docker engine that does not
// answer (DOCKER_HOST at a closed port), an empty or fake PATH for `ollama`.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { planEngine, startEngine } from '../src/engines/index.js'
import { findOllamaBinary } from '../src/engines/native.js'
import type { Engine } from '../src/engines/types.js'
import { type OllamaPluginOptions, resolveOptions } from '../src/options.js'
import { startSimulator } from '../src/simulator/index.js'
import {
  freePort,
  probeDocker,
  removeDockerThings,
  simulatorImage,
  uniqueName,
} from './helpers/docker-image.js'
import { bareLinux, cpuOnly } from './helpers/machines.js'

const logger = {
  lines: [] as string[],
  info(m: string) {
    this.lines.push(m)
  },
  warn(m: string) {
    this.lines.push(m)
  },
}

const tsx = import.meta.resolve('tsx')
const dockerState = await probeDocker()
const simMain = path.resolve('src/simulator/main.ts')

describe('engine resolution', () => {
  const cleanups: (() => Promise<void> | void)[] = []
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c()
  })

  /** `url` and `dmr.url` at closed ports: no Ollama and no Docker Model Runner answer. */
  async function options(o: OllamaPluginOptions = {}) {
    return resolveOptions({
      url: `http://127.0.0.1:${await freePort()}`,
      dmr: { url: `http://127.0.0.1:${await freePort()}` },
      ...o,
    })
  }

  function track(engine: Engine | null) {
    if (engine) cleanups.push(() => engine.stop())
    return engine
  }

  /** A PATH directory with a fake `ollama` whose `serve` is the simulator. */
  function fakeOllamaDir(): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fake-ollama-'))
    writeFileSync(
      path.join(dir, 'ollama'),
      `#!/bin/sh\n[ "$1" = "serve" ] || exit 2\nexec "${process.execPath}" --import "${tsx}" "${simMain}"\n`,
    )
    chmodSync(path.join(dir, 'ollama'), 0o755)
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    return dir
  }

  it('adopts an Ollama already answering at url and touches nothing else', async () => {
    const sim = await startSimulator()
    cleanups.push(() => sim.close())
    const opts = resolveOptions({ url: sim.url })

    const { engine, steps, problem } = await startEngine(opts, {
      gpu: cpuOnly,
      logger,
      deps: bareLinux,
    })
    track(engine)
    expect(problem).toBeUndefined()
    expect(engine?.info).toMatchObject({ kind: 'external', url: opts.url, simulated: false })
    expect(engine?.owned).toBe(false)
    expect(steps[0]).toMatchObject({ engine: 'external', outcome: 'chosen' })
    expect(steps.slice(1).every((s) => s.outcome === 'skipped')).toBe(true)

    await engine?.stop()
    expect(sim.stats.requests['GET /api/version']).toBeGreaterThan(0) // still answering after stop
  })

  it('falls back to the simulator when there is no Docker and no native ollama', async () => {
    const opts = await options({ fallback: 'simulator' })
    const { engine, steps } = await startEngine(opts, { gpu: cpuOnly, logger, deps: bareLinux })
    track(engine)
    expect(engine?.info).toMatchObject({ kind: 'simulator', simulated: true })
    expect(steps.map((s) => [s.engine, s.outcome])).toEqual([
      ['external', 'skipped'],
      ['docker', 'skipped'],
      ['native', 'skipped'],
      ['dmr', 'skipped'],
      ['simulator', 'chosen'],
    ])
    expect(steps[1]?.reason).toMatch(/127\.0\.0\.1:1: connection refused/)
    expect(steps[2]?.reason).toMatch(/no `ollama` on PATH/)
  })

  it('says exactly what to install or set when nothing can run and there is no fallback', async () => {
    const opts = await options()
    const { engine, steps, problem } = await startEngine(opts, {
      gpu: cpuOnly,
      logger,
      deps: bareLinux,
    })
    expect(engine).toBeNull()
    expect(steps.at(-1)).toMatchObject({
      engine: 'simulator',
      outcome: 'skipped',
      reason: "fallback is 'none'",
    })
    expect(problem?.message).toContain(`No Ollama at ${opts.url}`)
    expect(problem?.hint).toMatch(/Install Docker/)
    expect(problem?.hint).toMatch(/https:\/\/ollama\.com\/download/)
    expect(problem?.hint).toMatch(/fallback: 'simulator'/)
  })

  it('only adopts when autoStart is false', async () => {
    const opts = await options({ autoStart: false, fallback: 'simulator' })
    const { engine, steps, problem } = await startEngine(opts, {
      gpu: cpuOnly,
      logger,
      deps: bareLinux,
    })
    expect(engine).toBeNull()
    expect(steps[0]).toMatchObject({ engine: 'external', outcome: 'skipped' })
    expect(
      steps.slice(1).every((s) => s.outcome === 'skipped' && /autoStart is false/.test(s.reason)),
    ).toBe(true)
    expect(problem?.hint).toMatch(/autoStart: true/)
  })

  it('starts a native ollama from PATH when there is no Docker engine', async () => {
    const dir = fakeOllamaDir()
    const opts = await options()
    const { engine, steps } = await startEngine(opts, {
      gpu: cpuOnly,
      logger,
      deps: { ...bareLinux, findOllama: () => findOllamaBinary({ PATH: dir }) },
    })
    track(engine)
    expect(engine?.info).toMatchObject({ kind: 'native', url: opts.url })
    expect(steps.find((s) => s.outcome === 'chosen')?.engine).toBe('native')
  })

  it('prefers native ollama over Docker on macOS, without starting anything to decide', async () => {
    const dir = fakeOllamaDir()
    const opts = await options()
    const plan = await planEngine(opts, {
      ...bareLinux,
      platform: 'darwin',
      connectDocker: () => Promise.reject(new Error('Docker must not be asked first on macOS')),
      findOllama: () => findOllamaBinary({ PATH: dir }),
    })
    expect(plan.choice).toBe('native')
    expect(plan.steps.map((s) => [s.engine, s.outcome])).toEqual([
      ['external', 'skipped'],
      ['native', 'chosen'],
      ['dmr', 'skipped'],
      ['docker', 'skipped'],
    ])
  })

  it('uses only the engine named by `engine`', async () => {
    const sim = await startSimulator()
    cleanups.push(() => sim.close())
    // An Ollama answers at url, but engine: 'simulator' asks for the simulator alone.
    const { engine, steps } = await startEngine(
      resolveOptions({ url: sim.url, engine: 'simulator' }),
      {
        gpu: cpuOnly,
        logger,
        deps: bareLinux,
      },
    )
    track(engine)
    expect(engine?.info.kind).toBe('simulator')
    expect(steps).toHaveLength(1)

    const external = await startEngine(await options({ engine: 'external' }), {
      gpu: cpuOnly,
      logger,
      deps: bareLinux,
    })
    expect(external.engine).toBeNull()
    expect(external.problem?.message).toMatch(/engine is "external"/)
  })

  it.skipIf(!dockerState.ok && !process.env.CI)(
    'plans Docker when a Docker engine answers',
    async () => {
      const plan = await planEngine(await options(), {
        findOllama: () => undefined,
        platform: 'linux',
      })
      expect(plan.choice).toBe('docker')
      expect(plan.steps.find((s) => s.engine === 'docker')?.reason).toMatch(
        /Docker engine reachable/,
      )
    },
  )

  it.skipIf(!dockerState.ok && !process.env.CI)(
    'moves on to the next way when Docker is reachable but its start fails',
    async () => {
      const dir = fakeOllamaDir()
      const opts = await options({
        docker: {
          image: 'vite-plugin-ollama-test/absent:nope',
          pullImage: 'never',
          // Never the developer's own ~/.ollama/models: a test's pulls would land there.
          hostModels: false,
          hostPort: await freePort(),
        },
      })
      const { engine, steps } = await startEngine(opts, {
        gpu: cpuOnly,
        logger,
        deps: { findOllama: () => findOllamaBinary({ PATH: dir }), platform: 'linux' },
      })
      track(engine)
      expect(steps.find((s) => s.engine === 'docker')).toMatchObject({
        outcome: 'failed',
        reason: expect.stringContaining("docker.pullImage is 'never'"),
      })
      expect(engine?.info.kind).toBe('native')
    },
  )

  it.skipIf(!dockerState.ok && !process.env.CI)(
    'adopts its own container answering at url through the docker engine, keeping supervision',
    async () => {
      if (!dockerState.ok) throw new Error(`CI requires a Docker engine: ${dockerState.reason}`)
      const docker = dockerState.docker
      const name = uniqueName('vpo-resolve')
      const hostPort = await freePort()
      cleanups.push(() =>
        removeDockerThings(docker, { containers: [name], volumes: [`${name}-models`] }),
      )
      const opts = resolveOptions({
        url: `http://127.0.0.1:${hostPort}`,
        docker: {
          image: await simulatorImage(docker),
          containerName: name,
          volume: `${name}-models`,
          hostPort,
          pullImage: 'never',
          // Never the developer's own ~/.ollama/models: a test's pulls would land there.
          hostModels: false,
        },
      })
      const first = await startEngine(opts, { gpu: cpuOnly, logger })
      track(first.engine)
      expect(first.engine?.info.kind).toBe('docker')

      const second = await startEngine(opts, { gpu: cpuOnly, logger })
      track(second.engine)
      expect(second.steps[0]).toMatchObject({ engine: 'docker', outcome: 'chosen' })
      expect(second.engine?.info.container?.id).toBe(first.engine?.info.container?.id)
      expect(second.engine?.owned).toBe(false)
      expect((await planEngine(opts)).choice).toBe('docker')
    },
    120_000,
  )
})
