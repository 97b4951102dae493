import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { createServer, type InlineConfig, type ViteDevServer } from 'vite'
import { afterEach, describe, expect, it } from 'vitest'
import ollama from '../src/index.js'
import { disposeOrchestrator, HOST_RESTART_GRACE_MS } from '../src/lifecycle.js'
import type { StateSnapshot } from '../src/protocol.js'
import { startSimulator } from '../src/simulator/index.js'
import { processState } from '../src/singleton.js'
import { makeApp, memoryLogger, waitFor } from './helpers/vite.js'
import { ChatClient } from './helpers/ws-client.js'

// Hosts that run Vite in middleware mode (Nuxt, Astro, Storybook, Express + Vite) own the HTTP
// server: Vite is handed requests and never told where they came from. Each test builds such a
// host the way Vite's SSR guide does: createServer({ server: { middlewareMode: true } }) and an
// http server of its own that passes every request to vite.middlewares, then serves its own HTML.

const HOST_HTML = '<!doctype html><title>host</title><p>the host answered</p>'
const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
  // The grace a host-owned close leaves the engine must not leak into the next test.
  await disposeOrchestrator()
  processState().declineSaid = false
})

interface Host {
  url: string
  http: http.Server
  vite(): ViteDevServer
  /** The host's own restart: close its Vite server, make another (Nuxt on a nuxt.config edit). */
  replaceVite(config: InlineConfig): Promise<ViteDevServer>
}

async function startHost(config: InlineConfig): Promise<Host> {
  let vite = await createServer(viteConfig(config))
  const server = http.createServer((req, res) => {
    vite.middlewares(req, res, () => {
      res.setHeader('content-type', 'text/html')
      res.end(HOST_HTML)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(
    () => new Promise((resolve) => server.close(resolve)),
    () => vite.close(),
  )
  return {
    url: `http://localhost:${(server.address() as AddressInfo).port}`,
    http: server,
    vite: () => vite,
    async replaceVite(next) {
      await vite.close()
      vite = await createServer(viteConfig(next))
      return vite
    },
  }
}

function viteConfig(config: InlineConfig): InlineConfig {
  const app = makeApp()
  cleanups.push(app.remove)
  return {
    configFile: false,
    root: app.root,
    appType: 'custom',
    logLevel: 'silent',
    ...config,
    server: { middlewareMode: true, ...config.server },
  }
}

async function status(url: string): Promise<StateSnapshot> {
  const res = await fetch(url)
  expect(res.headers.get('content-type')).toMatch(/json/)
  return (await res.json()) as StateSnapshot
}

async function ready(url: string): Promise<StateSnapshot> {
  return waitFor(
    async () => {
      const s = await status(url)
      return s.phase === 'ready' ? s : null
    },
    20_000,
    'phase ready',
  )
}

async function simulator(pullBytesPerSecond = 2e9) {
  const sim = await startSimulator({ pullBytesPerSecond })
  cleanups.push(() => sim.close())
  return sim
}

describe('a middleware-mode host with default options', () => {
  it("serves the routes under Vite's base, says that URL in the terminal, and bakes it into virtual:ollama", async () => {
    // A pull of about a second: the host's first request comes long before ready.
    const sim = await simulator(1e9)
    const logger = memoryLogger()
    const host = await startHost({
      base: '/_nuxt/',
      customLogger: logger,
      logLevel: 'info',
      plugins: [ollama({ engine: 'external', url: sim.url, models: ['llama3.2:1b'] })],
    })
    // Not ours: the host's page.
    expect(await (await fetch(`${host.url}/`)).text()).toBe(HOST_HTML)
    const snapshot = await ready(`${host.url}/_nuxt/__ollama/status`)
    expect(snapshot.models).toEqual([expect.objectContaining({ name: 'llama3.2:1b' })])
    await waitFor(() => logger.lines.some((l) => l.includes(' ready ')), 5_000, 'ready line')
    const readyLines = logger.lines.filter((l) => l.includes(' ready '))
    expect(readyLines).toHaveLength(1)
    expect(readyLines[0]).toContain(`chat at ${host.url}/_nuxt/__ollama/chat`)
    const code = (await host.vite().transformRequest('virtual:ollama'))?.code ?? ''
    expect(code).toContain('"base":"/_nuxt/__ollama"')
  })

  it("answers /__ollama/status itself, not with the host's HTML", async () => {
    const sim = await simulator()
    const host = await startHost({
      plugins: [ollama({ engine: 'external', url: sim.url, models: ['llama3.2:1b'] })],
    })
    const res = await fetch(`${host.url}/__ollama/status`)
    expect(res.status).toBe(200)
    expect(((await res.json()) as StateSnapshot).phase).toBeTypeOf('string')
  })

  it("streams a WebSocket chat on the host's own HTTP server", async () => {
    const sim = await simulator()
    const host = await startHost({
      plugins: [ollama({ engine: 'external', url: sim.url, models: ['llama3.2:1b'] })],
    })
    await ready(`${host.url}/__ollama/status`)
    const client = await ChatClient.open(`${host.url.replace('http', 'ws')}/__ollama/ws`)
    cleanups.push(() => client.ws.terminate())
    client.send({ type: 'chat', id: 'c1', content: 'Say hello' })
    const done = await client.next((f) => f.type === 'done' || f.type === 'error')
    expect(done.type).toBe('done')
    expect(client.frames.filter((f) => f.type === 'token').length).toBeGreaterThan(0)
    // One upgrade handler of ours on the host's server, however many requests it saw.
    expect(host.http.listenerCount('upgrade')).toBe(1)
  })

  it('prints each line once with two Vite servers in one process (client and server, as in Nuxt)', async () => {
    const sim = await simulator()
    const client = memoryLogger()
    const ssr = memoryLogger()
    const options = { engine: 'external' as const, url: sim.url, models: ['llama3.2:1b'] }
    const host = await startHost({
      customLogger: client,
      logLevel: 'info',
      plugins: [ollama(options)],
    })
    const second = await createServer(
      viteConfig({ customLogger: ssr, logLevel: 'info', plugins: [ollama(options)] }),
    )
    cleanups.push(() => second.close())
    await ready(`${host.url}/__ollama/status`)
    await waitFor(
      () => [...client.lines, ...ssr.lines].some((l) => l.includes(' ready ')),
      5_000,
      'ready line',
    )
    const ours = [...client.lines, ...ssr.lines]
      .filter((l) => l.includes('[ollama]'))
      .map((l) => l.replace(/^\S+ /, '')) // the timestamp
    expect(ours.length).toBeGreaterThan(0)
    expect(ours).toEqual([...new Set(ours)])
    expect(ours.filter((l) => l.includes(' ready '))).toHaveLength(1)
  })
})

describe("Storybook's set-up (builder-vite): its own server handed to Vite's HMR socket", () => {
  it('serves the routes and the chat WebSocket, even before the first request', async () => {
    const sim = await simulator()
    const devServer = http.createServer()
    await new Promise<void>((resolve) => devServer.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => new Promise((resolve) => devServer.close(resolve)))
    const port = (devServer.address() as AddressInfo).port
    // What @storybook/builder-vite passes to createServer (its vite-server.ts), base './' included.
    const vite = await createServer(
      viteConfig({
        base: './',
        server: { middlewareMode: true, hmr: { port, server: devServer }, fs: { strict: true } },
        plugins: [ollama({ engine: 'external', url: sim.url, models: ['llama3.2:1b'] })],
      }),
    )
    cleanups.push(() => vite.close())
    devServer.on('request', (req, res) =>
      vite.middlewares(req, res, () => res.writeHead(404).end('storybook')),
    )
    const url = `http://localhost:${port}`
    const client = await ChatClient.open(`${url.replace('http', 'ws')}/__ollama/ws`)
    cleanups.push(() => client.ws.terminate())
    await ready(`${url}/__ollama/status`)
    client.send({ type: 'chat', id: 'c1', content: 'Say hello' })
    expect((await client.next((f) => f.type === 'done' || f.type === 'error')).type).toBe('done')
  })
})

describe("a middleware-mode host's own restart", () => {
  it('keeps the engine when a new server claims it within the grace: nothing stopped, nothing pulled again', async () => {
    const sim = await simulator()
    const options = { engine: 'external' as const, url: sim.url, models: ['llama3.2:1b'] }
    const host = await startHost({ plugins: [ollama(options)] })
    await ready(`${host.url}/__ollama/status`)
    const orchestrator = processState().orchestrator
    const pulls = sim.stats.requests['POST /api/pull']
    expect(pulls).toBe(1)

    await host.replaceVite({ plugins: [ollama(options)] })
    expect(processState().orchestrator).toBe(orchestrator)
    const after = await status(`${host.url}/__ollama/status`)
    expect(after.phase).toBe('ready')
    expect(sim.stats.requests['POST /api/pull']).toBe(pulls)
    // The old server's socket let go of the host's server; the new one took it.
    const client = await ChatClient.open(`${host.url.replace('http', 'ws')}/__ollama/ws`)
    cleanups.push(() => client.ws.terminate())
    expect(host.http.listenerCount('upgrade')).toBe(1)
    client.send({ type: 'chat', id: 'c1', content: 'Say hello' })
    expect((await client.next((f) => f.type === 'done' || f.type === 'error')).type).toBe('done')
  })

  it('keeps the same simulator engine across the restart', async () => {
    const options = { engine: 'simulator' as const, models: ['llama3.2:1b'] }
    const host = await startHost({ plugins: [ollama(options)] })
    const before = await ready(`${host.url}/__ollama/status`)
    const orchestrator = processState().orchestrator
    await host.replaceVite({ plugins: [ollama(options)] })
    const after = await status(`${host.url}/__ollama/status`)
    expect(processState().orchestrator).toBe(orchestrator)
    expect(after.engine).toEqual(before.engine)
    expect(after.models).toEqual(before.models)
  })

  it('disposes the engine once a close is not followed by a new server', async () => {
    const sim = await simulator()
    const host = await startHost({
      plugins: [ollama({ engine: 'external', url: sim.url, models: ['llama3.2:1b'] })],
    })
    await ready(`${host.url}/__ollama/status`)
    await host.vite().close()
    expect(processState().orchestrator).toBeDefined()
    await waitFor(
      () => processState().orchestrator === undefined,
      HOST_RESTART_GRACE_MS + 10_000,
      'the orchestrator disposed',
    )
  }, 30_000)
})

describe('when the plugin does nothing in middleware mode', () => {
  it('says so once, naming the option that changes it', async () => {
    const logger = memoryLogger()
    const config = {
      customLogger: logger,
      logLevel: 'info' as const,
      plugins: [ollama({ engine: 'simulator', middlewareMode: false })],
    }
    const host = await startHost(config)
    const second = await createServer(viteConfig(config))
    cleanups.push(() => second.close())
    const said = logger.lines.filter((l) => l.includes('[ollama]'))
    expect(said).toHaveLength(1)
    expect(said[0]).toContain('middlewareMode: false')
    expect(processState().orchestrator).toBeUndefined()
    expect(await (await fetch(`${host.url}/__ollama/status`)).text()).toBe(HOST_HTML)
  })

  it("takes a server without a WebSocket (server.ws: false) for a tool's own, unless middlewareMode: true", async () => {
    const logger = memoryLogger()
    const tool = await createServer(
      viteConfig({
        customLogger: logger,
        logLevel: 'info',
        server: { ws: false },
        plugins: [ollama({ engine: 'simulator' })],
      }),
    )
    cleanups.push(() => tool.close())
    expect(logger.lines.join('\n')).toContain('middlewareMode: true')
    expect(processState().orchestrator).toBeUndefined()

    const forced = await createServer(
      viteConfig({
        server: { ws: false },
        plugins: [ollama({ engine: 'simulator', middlewareMode: true })],
      }),
    )
    cleanups.push(() => forced.close())
    expect(processState().orchestrator).toBeDefined()
  })
})
