// The docker engine against the real Docker engine, with the simulator image built by
// test/helpers/docker-image.ts standing in for ollama/ollama.
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import type Docker from 'dockerode'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { LABEL } from '../src/engines/docker/container.js'
import { type DockerEngine, startDockerEngine } from '../src/engines/docker/index.js'
import { startEngine } from '../src/engines/index.js'
import type { Engine, EngineEvent } from '../src/engines/types.js'
import { type ResolvedDockerOptions, resolveOptions } from '../src/options.js'
import { ProblemError } from '../src/problem.js'
import { startSimulator } from '../src/simulator/index.js'
import {
  freePort,
  probeDocker,
  removeDockerThings,
  simulatorImage,
  uniqueName,
} from './helpers/docker-image.js'
import { cpuOnly } from './helpers/machines.js'

const run = promisify(execFile)
const dockerState = await probeDocker()
// Under CI the engine is required: a missing one fails (in beforeAll) instead of skipping.
const skip = !dockerState.ok && !process.env.CI
const title = skip
  ? `docker engine (skipped: ${dockerState.ok ? '' : dockerState.reason})`
  : 'docker engine'

/** A machine without a GPU, as src/gpu/detect.ts would report it. */
/** Collects an engine's events; `next(type)` awaits the next event of that type. */
function recorder(engine: Engine) {
  const events: EngineEvent[] = []
  const waiters: { type: string; resolve: (e: EngineEvent) => void }[] = []
  engine.onEvent((event) => {
    events.push(event)
    for (const w of waiters.filter((w) => w.type === event.type)) {
      waiters.splice(waiters.indexOf(w), 1)
      w.resolve(event)
    }
  })
  return {
    events,
    next<T extends EngineEvent['type']>(
      type: T,
      timeoutMs = 20_000,
    ): Promise<Extract<EngineEvent, { type: T }>> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(`no '${type}' event within ${timeoutMs} ms; got ${JSON.stringify(events)}`),
            ),
          timeoutMs,
        )
        waiters.push({
          type,
          resolve: (e) => {
            clearTimeout(timer)
            resolve(e as Extract<EngineEvent, { type: T }>)
          },
        })
      })
    },
  }
}

async function getVersion(url: string): Promise<string> {
  const res = await fetch(`${url}/api/version`)
  return ((await res.json()) as { version: string }).version
}

describe.skipIf(skip)(title, () => {
  let docker: Docker
  let image: string
  const engines: Engine[] = []
  const containers: string[] = []
  const volumes: string[] = []
  const closers: (() => Promise<void> | void)[] = []

  beforeAll(async () => {
    if (!dockerState.ok) throw new Error(`CI requires a Docker engine: ${dockerState.reason}`)
    docker = dockerState.docker
    image = await simulatorImage(docker)
  }, 180_000)

  afterEach(async () => {
    for (const e of engines.splice(0)) await e.stop().catch(() => {})
    for (const c of closers.splice(0)) await c()
    await removeDockerThings(docker, {
      containers: containers.splice(0),
      volumes: volumes.splice(0),
    })
  })

  afterAll(async () => {
    await removeDockerThings(docker, { containers, volumes })
  })

  /** Options for a container nobody else uses, on a free port. */
  async function dockerOptions(
    over: Partial<ResolvedDockerOptions> = {},
  ): Promise<ResolvedDockerOptions> {
    const name = uniqueName('vpo-test')
    const base = resolveOptions({
      docker: {
        image,
        containerName: name,
        volume: `${name}-models`,
        hostPort: await freePort(),
        pullImage: 'never',
        // Never the developer's own ~/.ollama/models: a test's pulls would land there.
        hostModels: false,
        env: { SIM_MODELS: 'llama3.2' },
      },
    }).docker
    const options = { ...base, ...over }
    containers.push(options.containerName)
    volumes.push(options.volume)
    return options
  }

  async function start(
    options: ResolvedDockerOptions,
    extra: Partial<Parameters<typeof startDockerEngine>[0]> = {},
  ) {
    const engine = (await startDockerEngine({
      docker: options,
      gpu: cpuOnly,
      ...extra,
    })) as DockerEngine
    engines.push(engine)
    return engine
  }

  async function execInContainer(name: string, code: string): Promise<string> {
    const { stdout } = await run('docker', ['exec', name, '/node', '-e', code])
    return stdout
  }

  it('creates a labelled container with a named volume, published on 127.0.0.1 only', async () => {
    const options = await dockerOptions()
    const engine = await start(options)

    expect(engine.info).toMatchObject({
      kind: 'docker',
      url: `http://127.0.0.1:${options.hostPort}`,
      simulated: false,
      container: { name: options.containerName, image },
      gpuInUse: false,
    })
    expect(engine.owned).toBe(true)
    expect(await getVersion(engine.info.url)).toBe(engine.info.version)

    const info = await docker.getContainer(options.containerName).inspect()
    expect(info.Config.Labels).toMatchObject({
      [`${LABEL}.managed`]: 'true',
      [`${LABEL}.version`]: '1',
      [`${LABEL}.config-hash`]: expect.stringMatching(/^[0-9a-f]{64}$/),
    })
    expect(info.Config.Env).toContain('OLLAMA_HOST=0.0.0.0:11434')
    expect(info.HostConfig.PortBindings).toEqual({
      '11434/tcp': [{ HostIp: '127.0.0.1', HostPort: String(options.hostPort) }],
    })
    expect(info.NetworkSettings.Ports['11434/tcp']).toEqual([
      { HostIp: '127.0.0.1', HostPort: String(options.hostPort) },
    ])
    expect(info.Mounts).toEqual([
      expect.objectContaining({
        Type: 'volume',
        Name: options.volume,
        Destination: '/root/.ollama',
      }),
    ])
  })

  it('adopts its own running container on a second start (same id, not owned)', async () => {
    const options = await dockerOptions()
    const first = await start(options)
    const second = await start(options)
    expect(second.containerId).toBe(first.containerId)
    expect(second.owned).toBe(false)
    expect(second.info.reason).toMatch(/^adopted running container/)
  })

  it('starts its stopped container again rather than creating another', async () => {
    const options = await dockerOptions()
    const first = await start(options)
    await first.stop()
    expect((await docker.getContainer(first.containerId).inspect()).State.Running).toBe(false)
    const second = await start(options)
    expect(second.containerId).toBe(first.containerId)
    expect(second.owned).toBe(true)
  })

  it('recreates the container when an option changes, keeping the volume and its files', async () => {
    const options = await dockerOptions()
    const first = await start(options)
    await execInContainer(
      options.containerName,
      "require('fs').writeFileSync('/root/.ollama/marker', 'models live here')",
    )
    await first.stop()

    const changed = { ...options, env: { ...options.env, OLLAMA_KEEP_ALIVE: '1h' } }
    const second = await start(changed)
    expect(second.containerId).not.toBe(first.containerId)
    expect((await docker.getContainer(second.containerId).inspect()).Config.Env).toContain(
      'OLLAMA_KEEP_ALIVE=1h',
    )
    await expect(docker.getContainer(first.containerId).inspect()).rejects.toMatchObject({
      statusCode: 404,
    })
    expect(
      await execInContainer(
        options.containerName,
        "process.stdout.write(require('fs').readFileSync('/root/.ollama/marker', 'utf8'))",
      ),
    ).toBe('models live here')
  })

  it('stops (never removes) the container it started when stopOnExit, and leaves it running otherwise', async () => {
    const options = await dockerOptions()
    const engine = await start(options)
    await engine.stop()
    const state = (await docker.getContainer(engine.containerId).inspect()).State
    expect(state.Running).toBe(false)

    const keep = await start({ ...options, stopOnExit: false })
    await keep.stop()
    expect((await docker.getContainer(keep.containerId).inspect()).State.Running).toBe(true)
  })

  it('restarts a crashed container with backoff and reports it', async () => {
    const options = await dockerOptions({
      env: { SIM_MODELS: 'llama3.2', SIM_EXIT_AFTER_TOKENS: '2' },
    })
    const engine = await start(options, { restart: { baseDelayMs: 300 } })
    const events = recorder(engine)
    const crashed = events.next('crashed')
    const recovered = events.next('recovered', 15_000)

    // The simulator exits mid-reply, as a process crash would.
    await fetch(`${engine.info.url}/api/chat`, {
      method: 'POST',
      body: JSON.stringify({
        model: 'llama3.2',
        messages: [{ role: 'user', content: 'hello there' }],
      }),
    })
      .then((r) => r.text())
      .catch(() => '')

    expect((await crashed).message).toMatch(/exited with code 1/)
    await recovered
    expect(events.events.map((e) => e.type)).toEqual(['crashed', 'restarting', 'recovered'])
    expect(events.events[1]).toEqual({ type: 'restarting', attempt: 1, delayMs: 300 })
    expect(await getVersion(engine.info.url)).toBe(engine.info.version)
  })

  it('gives up after the restart limit and says why, with the log tail', async () => {
    const options = await dockerOptions({
      env: { SIM_MODELS: 'llama3.2', SIM_EXIT_AFTER_TOKENS: '1' },
    })
    const engine = await start(options, { restart: { maxAttempts: 0 } })
    const events = recorder(engine)
    const failed = events.next('failed')
    await fetch(`${engine.info.url}/api/generate`, {
      method: 'POST',
      body: JSON.stringify({ model: 'llama3.2', prompt: 'hello there' }),
    })
      .then((r) => r.text())
      .catch(() => '')
    const { problem } = await failed
    expect(problem.message).toMatch(/crashed 1 time in .*not restarting it again/)
    expect(problem.hint).toMatch(/Last log lines:[\s\S]*Listening on/)
    expect(events.events.map((e) => e.type)).toEqual(['crashed', 'failed'])
  })

  it('respects a user `docker stop`, reports it, and notices a later `docker start`', async () => {
    const options = await dockerOptions()
    const engine = await start(options)
    const events = recorder(engine)
    const stopped = events.next('stopped')

    await run('docker', ['stop', '-t', '2', options.containerName])
    expect((await stopped).message).toMatch(/stopped outside the plugin/)
    expect(events.events.some((e) => e.type === 'restarting' || e.type === 'crashed')).toBe(false)
    expect((await docker.getContainer(engine.containerId).inspect()).State.Running).toBe(false)

    const recovered = events.next('recovered')
    await run('docker', ['start', options.containerName])
    await recovered
    expect(await getVersion(engine.info.url)).toBe(engine.info.version)
  })

  it('falls back to the CPU when the daemon refuses the GPU request, and says so', async () => {
    const options = await dockerOptions({ gpu: 'nvidia' })
    const engine = await start(options)
    const events = recorder(engine)
    const warning = events.events.find((e) => e.type === 'log' && e.level === 'warn')
    expect(warning).toMatchObject({
      type: 'log',
      level: 'warn',
      message: expect.stringContaining(
        'could not select device driver "nvidia" with capabilities: [[gpu]]',
      ),
    })
    expect(engine.info.reason).toMatch(/refused by Docker, running on CPU/)
    const info = await docker.getContainer(engine.containerId).inspect()
    expect(info.HostConfig.DeviceRequests ?? []).toEqual([])
    expect(info.Config.Labels[`${LABEL}.gpu-fallback`]).toBe('true')
    // Exactly one container: the refused one was removed.
    const all = await docker.listContainers({
      all: true,
      filters: { name: [options.containerName] },
    })
    expect(all.map((c) => c.Id)).toEqual([engine.containerId])

    // The next start adopts the CPU container instead of asking for the GPU again.
    const again = await start(options)
    expect(again.containerId).toBe(engine.containerId)
  })

  it("docker.gpu 'intel' without /dev/dri: recreated on the CPU, saying to check /dev/dri", async () => {
    const options = await dockerOptions({ gpu: 'intel' })
    const engine = await start(options)
    const warning = recorder(engine).events.find((e) => e.type === 'log' && e.level === 'warn')
    expect(warning).toMatchObject({
      message: expect.stringMatching(
        /error gathering device information while adding custom device "\/dev\/dri"[\s\S]*Check that \/dev\/dri exists/,
      ),
    })
    const info = await docker.getContainer(engine.containerId).inspect()
    expect(info.HostConfig.Devices ?? []).toEqual([])
    expect(info.Config.Env).not.toContain('OLLAMA_VULKAN=1')
    expect(engine.info.gpuPlanned).toBe(false)
  })

  it('discard() removes the container for the Restart, and the next start creates it again', async () => {
    const options = await dockerOptions({ gpu: 'none' })
    const first = await start(options)
    await first.discard?.()
    await expect(docker.getContainer(first.containerId).inspect()).rejects.toMatchObject({
      statusCode: 404,
    })
    expect((await docker.getVolume(options.volume).inspect()).Name).toBe(options.volume)
    const second = await start(options)
    expect(second.containerId).not.toBe(first.containerId)
    expect(second.owned).toBe(true)
  })

  it('refuses a host port held by something that is not Ollama, naming docker.hostPort', async () => {
    const options = await dockerOptions()
    const sockets = new Set<net.Socket>()
    const server = net.createServer((socket) => {
      sockets.add(socket)
      socket.resume()
      socket.end('not http\r\n')
    })
    await new Promise<void>((resolve) => server.listen(options.hostPort, '127.0.0.1', resolve))
    closers.push(async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    })

    const error = await start(options).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ProblemError)
    expect((error as ProblemError).problem.hint).toMatch(/docker\.hostPort/)
    expect((error as ProblemError).problem.message).toContain(`Port ${options.hostPort}`)
    await expect(docker.getContainer(options.containerName).inspect()).rejects.toMatchObject({
      statusCode: 404,
    })
  })

  it('adopts an Ollama already answering on the host port instead of starting a container', async () => {
    const options = await dockerOptions()
    const sim = await startSimulator({ port: options.hostPort })
    closers.push(() => sim.close())

    // The resolver decides adoption: engine 'docker' finds the Ollama on the host port first.
    const { engine } = await startEngine(resolveOptions({ engine: 'docker', docker: options }), {
      gpu: cpuOnly,
      logger: { info() {}, warn() {} },
    })
    if (engine) engines.push(engine)
    expect(engine?.info.kind).toBe('external')
    expect(engine?.owned).toBe(false)
    expect(engine?.info.reason).toMatch(/already answers on docker\.hostPort/)
    await expect(docker.getContainer(options.containerName).inspect()).rejects.toMatchObject({
      statusCode: 404,
    })
  })

  it('lets two dev servers racing for the same container end up on one', async () => {
    const options = await dockerOptions()
    const [a, b] = await Promise.all([start(options), start(options)])
    expect(a.containerId).toBe(b.containerId)
    const all = await docker.listContainers({
      all: true,
      filters: { name: [options.containerName] },
    })
    expect(all).toHaveLength(1)
  })

  it('never touches a container of the same name that it did not create', async () => {
    const options = await dockerOptions()
    await docker.createContainer({ name: options.containerName, Image: image })
    const error = await start(options).catch((e: unknown) => e)
    expect((error as ProblemError).problem.hint).toMatch(/docker\.containerName/)
    expect(
      (await docker.getContainer(options.containerName).inspect()).Config.Labels?.[
        `${LABEL}.managed`
      ],
    ).toBe(undefined)
  })

  it("reports a missing image when docker.pullImage is 'never'", async () => {
    const options = await dockerOptions({ image: 'vite-plugin-ollama-test/absent:nope' })
    const error = await start(options).catch((e: unknown) => e)
    expect((error as ProblemError).problem).toMatchObject({
      message: expect.stringContaining("docker.pullImage is 'never'"),
      hint: expect.stringContaining('docker pull vite-plugin-ollama-test/absent:nope'),
    })
  })

  it('turns a failed image pull into a problem naming the image', async () => {
    // No registry is reachable here (offline: "no such host"); online the image does not exist.
    const options = await dockerOptions({
      image: 'vite-plugin-ollama-test/absent:nope',
      pullImage: 'missing',
    })
    const error = await start(options).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ProblemError)
    const problem = (error as ProblemError).problem
    expect(problem.message).toContain('vite-plugin-ollama-test/absent:nope')
    expect(problem.hint).toMatch(/docker pull vite-plugin-ollama-test\/absent:nope|docker\.image/)
    await expect(docker.getContainer(options.containerName).inspect()).rejects.toMatchObject({
      statusCode: 404,
    })
  })

  it('puts the log tail into the error when Ollama dies before it is ready', async () => {
    const options = await dockerOptions({ env: { SIM_MODELS: 'not a valid name!' } })
    const error = await start(options).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ProblemError)
    expect((error as ProblemError).problem.message).toMatch(
      /exited with code \d+ before Ollama was ready/,
    )
    expect((error as ProblemError).logTail.length).toBeGreaterThan(0)
  })

  it('leaves no handles open after stop: a process that stops its engine exits by itself', async () => {
    const options = await dockerOptions()
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vpo-handles-'))
    closers.push(() => rmSync(dir, { recursive: true, force: true }))
    const script = path.join(dir, 'start-stop.mts')
    const src = path.resolve('src/engines/docker/index.ts')
    writeFileSync(
      script,
      `import { startDockerEngine } from ${JSON.stringify(src)}
const engine = await startDockerEngine({ docker: JSON.parse(process.env.OPTIONS), gpu: JSON.parse(process.env.GPU) })
await engine.stop()
console.log('stopped ' + engine.info.kind)
`,
    )
    // The child must end on its own; the timeout is only a guard against a hang.
    const { stdout } = await run(
      process.execPath,
      ['--import', import.meta.resolve('tsx'), script],
      {
        env: { ...process.env, OPTIONS: JSON.stringify(options), GPU: JSON.stringify(cpuOnly) },
        timeout: 60_000,
        killSignal: 'SIGKILL',
      },
    )
    expect(stdout.trim()).toBe('stopped docker')
    expect((await docker.getContainer(options.containerName).inspect()).State.Running).toBe(false)
  }, 90_000)

  it('stopSync() at process exit has the container stopped by a detached helper', async () => {
    const options = await dockerOptions()
    const engine = await start(options)
    const container = docker.getContainer(engine.containerId)
    const stoppedNow = container.wait({ condition: 'not-running' })
    engine.stopSync?.()
    expect(await stoppedNow).toMatchObject({ StatusCode: 0 })
    expect((await container.inspect()).State.Running).toBe(false)
  })
})
