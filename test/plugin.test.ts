import { afterEach, describe, expect, it } from 'vitest'
import ollama from '../src/index.js'
import type { PullProgressEvent, StateSnapshot } from '../src/protocol.js'
import { connectHmr, makeApp, memoryLogger, startVite, waitFor } from './helpers/vite.js'

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

async function serve(options: Parameters<typeof ollama>[0]) {
  const app = makeApp()
  const logger = memoryLogger()
  const { server, url } = await startVite({
    root: app.root,
    customLogger: logger,
    logLevel: 'info',
    plugins: [ollama(options)],
  })
  cleanups.push(app.remove, () => server.close())
  return { server, url, logger }
}

async function status(url: string): Promise<StateSnapshot> {
  const res = await fetch(`${url}/__ollama/status`)
  expect(res.status).toBe(200)
  return (await res.json()) as StateSnapshot
}

function progressOf(
  messages: Array<{ event?: string; data?: unknown; at: number }>,
  model: string,
) {
  return messages
    .filter((m) => m.event === 'ollama:progress' && (m.data as PullProgressEvent).model === model)
    .map((m) => ({ ...(m.data as PullProgressEvent), at: m.at }))
}

describe('the plugin in a real dev server', () => {
  it('goes from detecting to ready with the simulator, pulling the missing model', async () => {
    const { url, logger } = await serve({
      engine: 'simulator',
      models: ['llama3.2:1b'],
      simulator: { pullBytesPerSecond: 2e9 },
    })
    const ready = await waitFor(
      async () => {
        const s = await status(url)
        return s.phase === 'ready' ? s : null
      },
      20_000,
      'phase ready',
    )
    expect(ready.engine).toMatchObject({ kind: 'simulator', simulated: true })
    expect(ready.models).toEqual([
      expect.objectContaining({ name: 'llama3.2:1b', status: 'loaded' }),
    ])
    expect(ready.gpu?.accelerator).toBeDefined()
    expect(logger.lines.join('\n')).toMatch(
      /ready .*chat at http:\/\/localhost:\d+\/__ollama\/chat/,
    )
  })

  it('streams pull progress over the HMR socket, at most ~10 a second per model, ending at 100%', async () => {
    const app = makeApp()
    const plugin = ollama({
      engine: 'simulator',
      models: ['llama3.2'],
      warmup: false,
      // 2 GB at 400 MB/s: about five seconds of progress.
      simulator: { pullBytesPerSecond: 400e6 },
    })
    const { server, url } = await startVite({
      root: app.root,
      plugins: [plugin],
      server: { port: 0 },
    })
    cleanups.push(app.remove, () => server.close())
    const hmr = await connectHmr(url)
    cleanups.push(() => hmr.close())
    await waitFor(async () => (await status(url)).phase === 'ready', 30_000, 'ready')
    const events = progressOf(hmr.messages, 'llama3.2')
    expect(events.length).toBeGreaterThan(5)
    const last = events.at(-1)!
    expect(last.percent).toBe(100)
    expect(last.status).toBe('success')
    const percents = events.map((e) => e.percent)
    expect(percents).toEqual([...percents].sort((a, b) => a - b))
    // The rate limit: over any one second there are at most ~10 events (plus the final one).
    const span = (events.at(-2)!.at - events[0]!.at) / 1000
    expect((events.length - 1) / Math.max(span, 1)).toBeLessThanOrEqual(11)
    expect(Math.max(...events.map((e) => e.total))).toBeGreaterThan(1e9)
  })

  it("speaks in Vite's voice off a TTY: a line per 10% of each pull, each failure once with its fix", async () => {
    const { url, logger } = await serve({
      engine: 'simulator',
      models: ['llama3.2', 'llama3.3:2b'],
      warmup: false,
      simulator: { pullBytesPerSecond: 500e6 },
    })
    await waitFor(async () => (await status(url)).phase === 'ready', 30_000, 'ready')
    const lines = logger.lines.filter((l) => l.includes('[ollama]'))
    const steps = lines
      .map((l) => /pulling llama3\.2: (\d+)%/.exec(l)?.[1])
      .filter(Boolean)
      .map(Number)
    expect(steps.length).toBeGreaterThanOrEqual(4)
    expect(steps.length).toBeLessThanOrEqual(11)
    expect(new Set(steps.map((p) => Math.floor(p / 10))).size).toBe(steps.length)
    expect(steps.at(-1)).toBe(100)
    const failures = lines.filter((l) => l.includes("'llama3.3:2b' is not in the Ollama library"))
    expect(failures).toHaveLength(1)
    expect(logger.lines.join('\n')).toMatch(/ollama\.com\/library/)
  })

  it('answers ollama:hello with the snapshot, to that tab only', async () => {
    const { url } = await serve({ engine: 'simulator', models: [] })
    await waitFor(async () => (await status(url)).phase === 'ready', 20_000, 'ready')
    const asking = await connectHmr(url)
    const other = await connectHmr(url)
    cleanups.push(
      () => asking.close(),
      () => other.close(),
    )
    asking.send('ollama:hello')
    const reply = await waitFor(() => asking.messages.find((m) => m.event === 'ollama:state'))
    expect((reply.data as StateSnapshot).phase).toBe('ready')
    await new Promise((r) => setTimeout(r, 200))
    expect(other.messages.find((m) => m.event === 'ollama:state')).toBeUndefined()
  })

  it('keeps serving the app when no engine can run, and the state says why', async () => {
    const { url } = await serve({
      engine: 'external',
      url: 'http://127.0.0.1:9',
      models: ['llama3.2'],
    })
    const s = await waitFor(async () => {
      const snap = await status(url)
      return snap.phase === 'unavailable' || snap.phase === 'error' ? snap : null
    })
    expect(s.error?.message).toMatch(/127\.0\.0\.1:9/)
    expect(s.error?.hint).toBeTruthy()
    const html = await (await fetch(`${url}/`)).text()
    expect(html).toContain('<h1>app</h1>')
    // The overlay still loads, to say why (it rides on Vite's client: overlay-inject.ts).
    expect(await (await fetch(`${url}/@vite/client`)).text()).toContain('virtual:ollama/overlay')
    const chat = await fetch(`${url}/__ollama/api/tags`)
    expect(chat.status).toBe(503)
    expect(await chat.json()).toMatchObject({ error: expect.any(String), hint: expect.any(String) })
  })

  it('loads the overlay from Vite’s client once, and not at all with overlay: false', async () => {
    const on = await serve({ engine: 'simulator' })
    // Not in the HTML: in the client every page runs, whoever serves the page.
    expect(await (await fetch(`${on.url}/`)).text()).not.toContain('virtual:ollama/overlay')
    const client = await (await fetch(`${on.url}/@vite/client`)).text()
    const imports = client.match(/import\("([^"]*virtual:ollama\/overlay)"\)/g) ?? []
    expect(imports).toEqual(['import("/@id/__x00__virtual:ollama/overlay")'])
    const overlayModule = await fetch(`${on.url}/@id/__x00__virtual:ollama/overlay`)
    expect(overlayModule.status).toBe(200)
    expect(await overlayModule.text()).toContain('mountOverlay')
    await on.server.close()
    const off = await serve({ engine: 'simulator', overlay: false })
    expect(await (await fetch(`${off.url}/@vite/client`)).text()).not.toContain('ollama')
  })

  it('serves virtual:ollama with the base path and default model baked in', async () => {
    const { url } = await serve({ engine: 'simulator', models: ['qwen2.5:0.5b'], base: '/llm' })
    const code = await (await fetch(`${url}/@id/virtual:ollama`)).text()
    expect(code).toContain('"base":"/llm"')
    expect(code).toContain('"defaultModel":"qwen2.5:0.5b"')
  })
})

describe('apply gating', () => {
  it("runs the engine only in vite: not in build, preview, or Vitest's own server (test, benchmark)", () => {
    const plugin = ollama().find((p) => p.name === 'vite-plugin-ollama') as unknown as {
      apply: (c: object, e: object) => boolean
    }
    expect(plugin.apply({}, { command: 'serve', mode: 'development' })).toBe(true)
    expect(plugin.apply({}, { command: 'build', mode: 'production' })).toBe(false)
    expect(plugin.apply({}, { command: 'serve', mode: 'production', isPreview: true })).toBe(false)
    expect(plugin.apply({}, { command: 'serve', mode: 'test' })).toBe(false)
    expect(plugin.apply({}, { command: 'serve', mode: 'benchmark' })).toBe(false)
  })

  it('resolves virtual:ollama in every mode: its plugin has no apply', () => {
    const resolver = ollama().find((p) => p.name === 'vite-plugin-ollama:virtual')
    expect(resolver).toBeDefined()
    expect(resolver?.apply).toBeUndefined()
  })
})
