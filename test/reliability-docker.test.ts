// Reliability with the real Docker engine: the container killed in the middle of a chat stream,
// and the Docker daemon going away (played by a unix-socket proxy in front of the real socket,
// so the shared dockerd other tests use keeps running) while the dev server runs.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import type Docker from 'dockerode'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { OllamaPluginOptions } from '../src/options.js'
import type { StateSnapshot } from '../src/protocol.js'
import {
  freePort,
  probeDocker,
  removeDockerThings,
  simulatorImage,
  uniqueName,
} from './helpers/docker-image.js'
import {
  type DockerSocketProxy,
  dockerSocketProxy,
  servePlugin,
  waitForStatus,
} from './helpers/faults.js'
import { connectHmr, waitFor } from './helpers/vite.js'
import { openSse } from './routes-harness.js'

const execFileAsync = promisify(execFile)
/** The docker CLI on the real socket, whatever DOCKER_HOST the plugin under test was given. */
function dockerCli(args: string[]) {
  const { DOCKER_HOST: _, ...env } = process.env
  return execFileAsync('docker', args, { env })
}
const dockerState = await probeDocker()
const skip = !dockerState.ok && !process.env.CI
const title = skip
  ? `reliability with Docker (skipped: ${dockerState.ok ? '' : dockerState.reason})`
  : 'reliability with Docker'

const isReady = (s: StateSnapshot) =>
  s.phase === 'ready' && s.models.some((m) => m.name === 'llama3.2' && m.status !== 'error')

async function chatJson(
  url: string,
  content = 'hello',
): Promise<{ status: number; body: { content: string } }> {
  const res = await fetch(`${url}/__ollama/chat`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content }] }),
    signal: AbortSignal.timeout(20_000),
  })
  return { status: res.status, body: await res.json() }
}

describe.skipIf(skip)(title, () => {
  let docker: Docker
  let image: string
  const containers: string[] = []
  const volumes: string[] = []
  const cleanups: (() => Promise<unknown> | unknown)[] = []
  const savedDockerHost = process.env.DOCKER_HOST

  beforeAll(async () => {
    if (!dockerState.ok) throw new Error(`CI requires a Docker engine: ${dockerState.reason}`)
    docker = dockerState.docker
    image = await simulatorImage(docker)
  }, 180_000)

  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn()
    if (savedDockerHost === undefined) delete process.env.DOCKER_HOST
    else process.env.DOCKER_HOST = savedDockerHost
    await removeDockerThings(docker, {
      containers: containers.splice(0),
      volumes: volumes.splice(0),
    })
  })

  afterAll(async () => {
    await removeDockerThings(docker, { containers, volumes })
  })

  async function options(env: Record<string, string> = {}): Promise<OllamaPluginOptions> {
    const name = uniqueName('vpo-rel')
    containers.push(name)
    volumes.push(`${name}-models`)
    return {
      engine: 'docker',
      models: ['llama3.2'],
      docker: {
        image,
        containerName: name,
        volume: `${name}-models`,
        hostPort: await freePort(),
        pullImage: 'never',
        // Never the developer's own ~/.ollama/models: a test's pulls would land there.
        hostModels: false,
        gpu: 'none',
        env: { SIM_MODELS: 'llama3.2', ...env },
      },
    }
  }

  async function serve(opts: OllamaPluginOptions) {
    const served = await servePlugin(opts)
    cleanups.push(() => served.close())
    const ready = await waitForStatus(
      served.url,
      isReady,
      90_000,
      'ready with the container',
    ).catch((error: Error) => {
      error.message += `\n--- log ---\n${served.lines.join('\n')}`
      throw error
    })
    return { ...served, ready }
  }

  it('a docker stop of yours shows as stopped and is not undone; docker start brings it back to ready', async () => {
    const opts = await options()
    const { url, ready } = await serve(opts)
    const name = opts.docker!.containerName!
    await dockerCli(['stop', '-t', '1', name])
    const stopped = await waitForStatus(url, (s) => s.phase === 'stopped', 30_000, 'stopped')
    expect(stopped.error?.hint).toBeTruthy()
    // Respected: nothing starts it again behind the user's back.
    await new Promise((r) => setTimeout(r, 1500))
    expect((await dockerCli(['inspect', '-f', '{{.State.Running}}', name])).stdout.trim()).toBe(
      'false',
    )
    await dockerCli(['start', name])
    const back = await waitForStatus(url, isReady, 60_000, 'ready after docker start')
    expect(back.engine?.container?.id).toBe(ready.engine?.container?.id)
    expect(back.error).toBeUndefined()
    expect((await chatJson(url)).status).toBe(200)
  }, 120_000)

  it('a container killed mid-stream ends the SSE chat with an error event, comes back, and chats again', async () => {
    // Slow tokens, so the kill lands while the reply streams.
    const opts = await options({ SIM_TOKEN_DELAY_MS: '100' })
    const { url, ready } = await serve(opts)
    const containerId = ready.engine?.container?.id
    expect(containerId).toMatch(/^[0-9a-f]{64}$/)
    const hmr = await connectHmr(url)
    cleanups.push(() => hmr.close())

    let killed: Promise<unknown> | undefined
    const chat = openSse(
      `${url}/__ollama/chat`,
      { messages: [{ role: 'user', content: 'tell me a long story about the sea' }] },
      (frame) => {
        if (frame.event === 'token' && !killed) {
          killed = dockerCli(['kill', opts.docker!.containerName!])
        }
      },
    )
    // Never a hang: the stream must end on its own, well before the test's timeout.
    const outcome = await Promise.race([
      chat.done,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('the SSE stream did not end after docker kill')), 20_000),
      ),
    ])
    await killed
    const events = outcome.frames.map((f) => f.event)
    expect(events[0]).toBe('token')
    expect(events.at(-1)).toBe('error')
    expect(events).not.toContain('done')
    expect(JSON.parse(outcome.frames.at(-1)!.data)).toMatchObject({ message: expect.any(String) })

    // Recovered: the same container is started again and the phase goes back to ready.
    const phases = () =>
      hmr.messages
        .filter((m) => m.event === 'ollama:state')
        .map((m) => (m.data as StateSnapshot).phase)
    await waitFor(() => phases().includes('starting'), 15_000, 'phase starting after the kill')
    const back = await waitForStatus(url, isReady, 60_000, 'ready after the kill')
    expect(back.engine?.container?.id).toBe(containerId)
    expect(back.error).toBeUndefined()
    expect(phases().at(-1)).toBe('ready')

    const next = await chatJson(url)
    expect(next.status).toBe(200)
    expect(next.body.content.length).toBeGreaterThan(0)
  }, 120_000)

  describe('the Docker daemon going away', () => {
    let proxy: DockerSocketProxy

    async function serveBehindProxy() {
      proxy = await dockerSocketProxy()
      cleanups.push(() => proxy.close())
      process.env.DOCKER_HOST = proxy.host
      const opts = await options()
      const served = await serve(opts)
      // Closing the server stops the container through the proxy: it must be up by then.
      cleanups.push(() => proxy.restore().catch(() => {}))
      expect(proxy.accepted()).toBeGreaterThan(0)
      return { ...served, name: opts.docker!.containerName! }
    }

    it('keeps chat working with a warning while Docker is away, and clears it when Docker is back', async () => {
      const { url, ready, name, lines } = await serveBehindProxy()
      await proxy.cut()

      const degraded = await waitForStatus(
        url,
        (s) => s.warning !== undefined,
        20_000,
        'a warning that Docker is unreachable',
      )
      // The container still runs: chat keeps working, the phase says so, the warning says why.
      expect(degraded.phase).toBe('ready')
      expect(degraded.warning?.message).toMatch(
        /Docker does not answer.*crash recovery .* is paused/,
      )
      expect(degraded.warning?.hint).toMatch(/Start Docker again/)
      expect(lines.join('\n')).toMatch(/Docker does not answer/)
      const during = await chatJson(url)
      expect(during.status).toBe(200)

      await proxy.restore()
      const restored = await waitForStatus(
        url,
        (s) => s.warning === undefined,
        30_000,
        'the warning cleared once Docker is back',
      )
      expect(restored.phase).toBe('ready')
      expect(restored.engine?.container?.id).toBe(ready.engine?.container?.id)

      // Events are followed again: a crash now is seen and recovered.
      await dockerCli(['kill', name])
      await waitForStatus(url, (s) => s.phase !== 'ready', 15_000, 'the crash noticed')
      await waitForStatus(url, isReady, 60_000, 'ready after the crash')
      expect((await chatJson(url)).status).toBe(200)
    }, 150_000)

    it('reports a container that dies while Docker is away, and restarts it once Docker is back', async () => {
      const { url, ready, name } = await serveBehindProxy()
      await proxy.cut()
      await waitForStatus(url, (s) => s.warning !== undefined, 20_000, 'the Docker warning')

      // Behind the plugin's back (the real socket): the container dies while no event can arrive.
      await dockerCli(['kill', name])
      const lost = await waitForStatus(
        url,
        (s) => s.phase === 'starting',
        20_000,
        'phase starting once Ollama stops answering',
      )
      expect(lost.error?.message).toMatch(/stopped answering .* Docker is unreachable/)
      expect(lost.error?.hint).toBeTruthy()
      expect(lost.warning?.message).toMatch(/Docker does not answer/)
      const refused = await fetch(`${url}/__ollama/chat`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ prompt: 'hi' }),
      })
      expect(refused.status).toBe(503)
      expect(await refused.json()).toMatchObject({
        error: expect.any(String),
        hint: expect.any(String),
      })

      await proxy.restore()
      const back = await waitForStatus(
        url,
        (s) => isReady(s) && s.warning === undefined,
        60_000,
        'ready again after Docker is back',
      )
      expect(back.engine?.container?.id).toBe(ready.engine?.container?.id)
      expect(back.error).toBeUndefined()
      expect((await chatJson(url)).status).toBe(200)
    }, 150_000)
  })
})
