// The plugin's process lifecycle under the real Vite CLI (docs/decisions.md, "Restarts"): a spawned
// `vite` whose vite.config.ts imports the plugin by absolute path, so every config edit
// re-evaluates the plugin's modules and only globalThis carries the orchestrator across. Ollama is
// a fake `ollama` on PATH running the simulator, or the simulator's Docker image.
import { readFileSync } from 'node:fs'
import type Docker from 'dockerode'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { isPortFree } from '../src/ollama/probe.js'
import type { OllamaPluginOptions } from '../src/options.js'
import {
  freePort,
  probeDocker,
  removeDockerThings,
  simulatorImage,
  uniqueName,
} from './helpers/docker-image.js'
import {
  type CliProject,
  isAlive,
  makeCliProject,
  processesWith,
  spawnVite,
  type ViteProcess,
  waitForModels,
  waitForText,
} from './helpers/spawn-vite.js'

/** Small models the simulator's catalog can pull, one per config edit. */
const ADDED_MODELS = [
  'qwen2.5:0.5b',
  'qwen2.5:1.5b',
  'qwen3:0.6b',
  'qwen3:1.7b',
  'gemma3:1b',
  'smollm2:135m',
  'smollm2:360m',
  'tinyllama:1.1b',
  'deepseek-r1:1.5b',
  'qwen2.5-coder:1.5b',
]
const FIRST_MODEL = 'llama3.2:1b'

/** Everything a test started, torn down even when it failed half-way. */
const projects: CliProject[] = []
const vites: ViteProcess[] = []

async function teardown(): Promise<void> {
  for (const vite of vites.splice(0)) {
    vite.killGroup()
    await Promise.race([vite.exited, new Promise((r) => setTimeout(r, 5000))])
  }
  for (const project of projects.splice(0)) {
    // An `ollama serve` that escaped the process group (the bug these tests look for).
    for (const pid of processesWith(project.marker)) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // gone already
      }
    }
    project.remove()
  }
}

/** A CLI project with the native engine on a free port, Vite started and ready. */
async function startNativeCli(models: string[]) {
  const project = makeCliProject()
  projects.push(project)
  const enginePort = await freePort()
  const options = (list: string[]): OllamaPluginOptions => ({
    engine: 'native',
    url: `http://127.0.0.1:${enginePort}`,
    models: list,
    overlay: false,
  })
  project.writeConfig(options(models))
  const vitePort = await freePort()
  const vite = spawnVite(project.root, vitePort, {
    PATH: `${project.binDir}:${process.env.PATH ?? ''}`,
  })
  vites.push(vite)
  const ready = await waitForModels(vite, models)
  return { project, vite, enginePort, vitePort, ready, options }
}

/** Resolves when the process exits, or fails after `ms` with its output. */
async function exitWithin(vite: ViteProcess, ms: number) {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`vite did not exit within ${ms} ms\n${vite.output().slice(-3000)}`)),
      ms,
    )
  })
  try {
    return await Promise.race([vite.exited, timeout])
  } finally {
    clearTimeout(timer)
  }
}

describe('the Vite CLI with the plugin bundled into vite.config.ts (native engine)', () => {
  afterEach(teardown)
  afterAll(teardown)

  it('ten config edits in a row: one restart each, only the new model pulled, one `ollama serve`, no EADDRINUSE', async () => {
    const { project, vite, ready, options } = await startNativeCli([FIRST_MODEL])
    const enginePid = ready.engine?.pid
    expect(ready.engine).toMatchObject({ kind: 'native', pid: expect.any(Number) })
    expect(processesWith(project.marker)).toEqual([enginePid])
    expect(project.pullCount()).toBe(1)

    // Sample the process table all along: a second `ollama serve`, even briefly, is the bug.
    const seen = new Set<string>()
    const sampler = setInterval(() => {
      seen.add(processesWith(project.marker).sort().join(','))
    }, 50)
    try {
      const models = [FIRST_MODEL]
      for (const [i, added] of ADDED_MODELS.entries()) {
        models.push(added)
        project.writeConfig(options(models))
        await waitForText(vite, 'server restarted', i + 1)
        const status = await waitForModels(vite, models)
        expect(status.engine?.pid, `engine PID after adding ${added}`).toBe(enginePid)
        // The models already there are not pulled again: exactly one more pull per edit.
        expect(project.pullCount(), `pulls after adding ${added}`).toBe(models.length)
      }
    } finally {
      clearInterval(sampler)
    }

    expect(vite.count('server restarted')).toBe(ADDED_MODELS.length)
    // "ready" is never said while a configured model is still missing.
    const lines = vite.output().split('\n')
    for (const model of ADDED_MODELS) {
      const pulled = lines.findIndex((l) => l.includes(`[ollama] pulling ${model}: 100%`))
      const ready = lines.findIndex((l) => /\[ollama\] ready \(/.test(l) && l.includes(model))
      expect(pulled, `a 100% line for ${model}`).toBeGreaterThan(-1)
      expect(ready, `the first ready line naming ${model} comes after its pull`).toBeGreaterThan(
        pulled,
      )
    }
    expect([...seen]).toEqual([String(enginePid)])
    expect(vite.output()).not.toMatch(/EADDRINUSE|address already in use|restart failed/i)
    expect(vite.child.exitCode).toBeNull()

    // The one engine holds every model, each pulled once.
    const tags = (await (await fetch(`${ready.engine?.url}/api/tags`)).json()) as {
      models: { name: string }[]
    }
    expect(tags.models.map((m) => m.name).sort()).toEqual([FIRST_MODEL, ...ADDED_MODELS].sort())
    expect(project.pullCount()).toBe(1 + ADDED_MODELS.length)
  }, 150_000)

  // `vite`: only Vite gets the signal (kill <pid>, a process manager), so the `ollama serve`
  // child is stopped by the plugin itself, which then sends it SIGTERM. `group`: the whole
  // process group gets it, as from Ctrl+C in a terminal, so the child is signalled directly too.
  it.each([
    ['SIGINT', 'vite', [130]],
    ['SIGTERM', 'vite', [0, 143]],
    ['SIGINT', 'group', [130]],
  ] as const)(
    '%s to %s ends Vite and leaves no `ollama serve` running',
    async (signal, target, codes) => {
      const { project, vite, enginePort, vitePort, ready } = await startNativeCli([FIRST_MODEL])
      const enginePid = ready.engine?.pid ?? -1
      expect(isAlive(enginePid)).toBe(true)

      process.kill(target === 'group' ? -vite.pid : vite.pid, signal)
      const exit = await exitWithin(vite, 20_000)

      expect(exit.signal, vite.output()).toBeNull()
      expect(codes).toContain(exit.code)
      // Gone already: the plugin waits for `ollama serve` to exit before Vite exits.
      expect(isAlive(enginePid)).toBe(false)
      expect(processesWith(project.marker)).toEqual([])
      expect(await isPortFree('127.0.0.1', enginePort)).toBe(true)
      expect(await isPortFree('127.0.0.1', vitePort)).toBe(true)
      // The simulator logs the signal that stopped it: the plugin's SIGTERM when only Vite was
      // signalled; with the group, whichever came first (a clean shutdown either way).
      const stoppedBy = target === 'group' ? /signal=SIG(INT|TERM)/ : /signal=SIGTERM/
      expect(readFileSync(project.engineLog, 'utf8')).toMatch(
        new RegExp(`msg="shutting down" ${stoppedBy.source}`),
      )
      expect(vite.output()).not.toMatch(/EADDRINUSE/)
    },
    90_000,
  )
})

const dockerState = await probeDocker()
// Under CI the engine is required: a missing one fails (in beforeAll) instead of skipping.
const skipDocker = !dockerState.ok && !process.env.CI
const dockerTitle = skipDocker
  ? `the Vite CLI with the docker engine (skipped: ${dockerState.ok ? '' : dockerState.reason})`
  : 'the Vite CLI with the docker engine'

describe.skipIf(skipDocker)(dockerTitle, () => {
  let docker: Docker
  let image: string
  const containers: string[] = []
  const volumes: string[] = []

  beforeAll(async () => {
    if (!dockerState.ok) throw new Error(`CI requires a Docker engine: ${dockerState.reason}`)
    docker = dockerState.docker
    image = await simulatorImage(docker)
  }, 180_000)

  afterEach(teardown)
  afterAll(async () => {
    await teardown()
    if (docker) await removeDockerThings(docker, { containers, volumes })
  })

  it.each([
    ['SIGINT', [130]],
    ['SIGTERM', [0, 143]],
  ] as const)(
    '%s stops (does not remove) the container it started, per docker.stopOnExit',
    async (signal, codes) => {
      const name = uniqueName('vpo-cli')
      const hostPort = await freePort()
      containers.push(name)
      volumes.push(`${name}-models`)
      const project = makeCliProject()
      projects.push(project)
      project.writeConfig({
        engine: 'docker',
        url: `http://127.0.0.1:${hostPort}`,
        models: [FIRST_MODEL],
        overlay: false,
        docker: {
          image,
          containerName: name,
          volume: `${name}-models`,
          hostPort,
          pullImage: 'never',
          // Never the developer's own ~/.ollama/models: a test's pulls would land there.
          hostModels: false,
          gpu: 'none',
          stopOnExit: true,
        },
      })
      const vite = spawnVite(project.root, await freePort())
      vites.push(vite)
      const ready = await waitForModels(vite, [FIRST_MODEL], 90_000)
      expect(ready.engine).toMatchObject({ kind: 'docker', container: { name } })
      expect((await docker.getContainer(name).inspect()).State.Running).toBe(true)

      process.kill(vite.pid, signal)
      const exit = await exitWithin(vite, 30_000)

      expect(exit.signal, vite.output()).toBeNull()
      expect(codes).toContain(exit.code)
      const after = await docker.getContainer(name).inspect()
      expect(after.State.Running).toBe(false)
      expect(await isPortFree('127.0.0.1', hostPort)).toBe(true)
    },
    150_000,
  )
})
