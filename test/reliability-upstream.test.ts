// Reliability against a misbehaving Ollama: refused connections, a connection reset mid-stream,
// a malformed NDJSON line, and a 60-second wait for the first byte. The plugin runs in a real dev
// server (engine 'external'); the simulator, or a raw node:http server, is the upstream.
import http from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { startSimulator } from '../src/simulator/index.js'
import { rawUpstream, servePlugin, waitForStatus } from './helpers/faults.js'
import { openSse } from './routes-harness.js'

const cleanups: (() => Promise<unknown> | unknown)[] = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

const MESSAGES = [{ role: 'user', content: 'tell me about the sea' }]
const CHAT = { model: 'llama3.2', messages: MESSAGES }

async function serveExternal(upstream: string, models = ['llama3.2']) {
  const served = await servePlugin({ engine: 'external', url: upstream, models, warmup: false })
  cleanups.push(() => served.close())
  await waitForStatus(served.url, (s) => s.phase === 'ready', 20_000, 'ready')
  return served
}

async function withSimulator(opts: Parameters<typeof startSimulator>[0] = {}) {
  const sim = await startSimulator({ models: ['llama3.2'], ...opts })
  cleanups.push(() => sim.close())
  const served = await serveExternal(sim.url)
  return { sim, ...served }
}

/** A raw proxied request: status, headers and body bytes, or how it broke. */
function proxied(
  url: string,
  body: unknown,
  onRequest: (req: http.ClientRequest) => void = () => {},
): Promise<{ status: number; body: Buffer; complete: boolean; error?: string }> {
  return new Promise((resolve) => {
    const req = http.request(
      `${url}/__ollama/api/chat`,
      { method: 'POST', headers: { 'Content-Type': 'application/json' }, agent: false },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        const finish = (error?: string) =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks),
            complete: res.complete,
            error,
          })
        res.on('end', () => finish())
        res.on('error', (e) => finish(e.message))
        res.on('close', () => finish('closed'))
      },
    )
    req.on('error', (e) =>
      resolve({ status: 0, body: Buffer.alloc(0), complete: false, error: e.message }),
    )
    onRequest(req)
    req.end(JSON.stringify(body))
  })
}

interface WsChat {
  frames: Array<{ type: string; id?: string; message?: string; content?: string }>
  ended: Promise<{ type: string; message?: string; at: number }>
  socket: WebSocket
}

/** One chat over the plugin's WebSocket; `ended` resolves with its `done` or `error` frame. */
async function wsChat(url: string, id = 'c1'): Promise<WsChat> {
  const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/__ollama/ws`)
  cleanups.push(() => socket.terminate())
  const frames: WsChat['frames'] = []
  let resolveEnd!: (f: { type: string; message?: string; at: number }) => void
  const ended = new Promise<{ type: string; message?: string; at: number }>((r) => {
    resolveEnd = r
  })
  socket.on('message', (raw) => {
    const frame = JSON.parse(String(raw))
    frames.push(frame)
    if (frame.id === id && (frame.type === 'done' || frame.type === 'error'))
      resolveEnd({ ...frame, at: performance.now() })
  })
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve())
    socket.once('error', reject)
  })
  socket.send(JSON.stringify({ type: 'chat', id, ...CHAT }))
  return { frames, ended, socket }
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`${what}: no end in ${ms} ms`)), ms),
    ),
  ])
}

describe('an upstream that refuses connections', () => {
  it('answers SSE chat with an error event, the proxy with a 502 and a hint, WS with an error', async () => {
    const { sim, url } = await withSimulator()
    await sim.close() // Ollama was up, and is gone now.

    const sse = await within(openSse(`${url}/__ollama/chat`, CHAT).done, 15_000, 'SSE chat')
    expect(sse.frames.map((f) => f.event)).toEqual(['error'])
    expect(JSON.parse(sse.frames[0]!.data).message).toMatch(/ECONNREFUSED|connect|refused/i)

    const json = await fetch(`${url}/__ollama/chat`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(CHAT),
    })
    expect([502, 503]).toContain(json.status)
    expect(await json.json()).toMatchObject({ error: expect.any(String) })

    const proxy = await within(proxied(url, CHAT), 15_000, 'proxy')
    expect(proxy.status).toBe(502)
    expect(JSON.parse(proxy.body.toString())).toMatchObject({
      error: expect.stringMatching(/Ollama did not answer/),
      hint: expect.stringMatching(/doctor/),
    })

    const ws = await wsChat(url)
    const end = await within(ws.ended, 15_000, 'WS chat')
    expect(end.type).toBe('error')
    expect(end.message).toBeTruthy()
  })
})

describe('an upstream that resets the connection mid-stream', () => {
  it('ends SSE chat with an error event after the first tokens and closes the stream', async () => {
    const { sim, url } = await withSimulator({ failAfterTokens: 3 })
    const sse = await within(openSse(`${url}/__ollama/chat`, CHAT).done, 15_000, 'SSE chat')
    const events = sse.frames.map((f) => f.event)
    expect(events.filter((e) => e === 'token')).toHaveLength(3)
    expect(events.at(-1)).toBe('error')
    expect(events).not.toContain('done')
    expect(sim.stats.faultedStreams).toBe(1)

    // The proxy cannot change a 200 already sent: it cuts the connection, as upstream did.
    const proxy = await within(proxied(url, CHAT), 15_000, 'proxy')
    expect(proxy.status).toBe(200)
    expect(proxy.complete).toBe(false)
    expect(proxy.body.toString().trim().split('\n')).toHaveLength(3)

    const ws = await wsChat(url)
    expect((await within(ws.ended, 15_000, 'WS chat')).type).toBe('error')
    // The WebSocket may merge tokens of one tick into one frame: compare the text.
    const text = (frames: { data: string }[]) =>
      frames.map((f) => JSON.parse(f.data).content).join('')
    const wsText = ws.frames
      .filter((f) => f.type === 'token')
      .map((f) => f.content)
      .join('')
    expect(wsText).toBe(text(sse.frames.filter((f) => f.event === 'token')))
  })
})

describe('an upstream that sends a malformed NDJSON line', () => {
  it('ends SSE chat with an error event, and the proxy passes the bytes through unchanged', async () => {
    const line = (content: string) =>
      `${JSON.stringify({ model: 'llama3.2', created_at: '2025-01-01T00:00:00Z', message: { role: 'assistant', content }, done: false })}\n`
    const upstream = await rawUpstream([
      Buffer.from(line('The')),
      Buffer.from(line(' sea')),
      Buffer.from('{"model":"llama3.2","message":{"role":"assistant","content":" is\n'),
      Buffer.from(line(' deep')),
      Buffer.from(
        `${JSON.stringify({ model: 'llama3.2', message: { role: 'assistant', content: '' }, done: true })}\n`,
      ),
    ])
    cleanups.push(() => upstream.close())
    const { url } = await serveExternal(upstream.url, [])

    const sse = await within(openSse(`${url}/__ollama/chat`, CHAT).done, 15_000, 'SSE chat')
    const events = sse.frames.map((f) => f.event)
    expect(events).toEqual(['token', 'token', 'error'])
    expect(JSON.parse(sse.frames.at(-1)!.data).message).toBeTruthy()

    const proxy = await within(proxied(url, CHAT), 15_000, 'proxy')
    expect(proxy.status).toBe(200)
    expect(proxy.complete).toBe(true)
    expect(proxy.body.equals(upstream.sent)).toBe(true)
  })
})

describe('an upstream that waits before the first byte', () => {
  it('sees the user abort within 100 ms on SSE chat, the proxy and WS', async () => {
    const { sim, url } = await withSimulator({ firstByteDelayMs: 60_000 })
    const cancelled = () =>
      new Promise<number>((resolve) =>
        sim.events.once('stream-cancel', () => resolve(performance.now())),
      )
    const started = () =>
      new Promise<void>((resolve) => sim.events.once('stream-start', () => resolve()))

    // SSE: the client goes away.
    let open = started()
    const sse = openSse(`${url}/__ollama/chat`, CHAT)
    await open
    let seen = cancelled()
    let abortedAt = performance.now()
    sse.request.destroy()
    expect((await within(seen, 5000, 'SSE cancel')) - abortedAt).toBeLessThan(100)

    // Proxy: the client goes away.
    open = started()
    let request!: http.ClientRequest
    void proxied(url, CHAT, (r) => {
      request = r
    })
    await open
    seen = cancelled()
    abortedAt = performance.now()
    request.destroy()
    expect((await within(seen, 5000, 'proxy cancel')) - abortedAt).toBeLessThan(100)

    // WS: the user presses stop ({type:'cancel'}).
    open = started()
    const ws = await wsChat(url, 'w1')
    await open
    seen = cancelled()
    abortedAt = performance.now()
    ws.socket.send(JSON.stringify({ type: 'cancel', id: 'w1' }))
    expect((await within(seen, 5000, 'WS cancel')) - abortedAt).toBeLessThan(100)
    expect(sim.stats.cancelledStreams).toBe(3)
  })

  // SLOW: a real 60-second wait, the one long test of the suite. No timeout may fire on the way.
  it('[60 s] delivers the answer after 60 s to the first byte on SSE chat, the proxy and WS', async () => {
    const { url } = await withSimulator({ firstByteDelayMs: 60_000 })
    const t0 = performance.now()
    const [sse, proxy, ws] = await Promise.all([
      openSse(`${url}/__ollama/chat`, CHAT).done,
      proxied(url, CHAT),
      wsChat(url, 'slow').then((chat) => chat.ended.then((end) => ({ end, chat }))),
    ])
    const elapsed = performance.now() - t0
    expect(elapsed).toBeGreaterThanOrEqual(59_000)
    expect(sse.frames.at(-1)?.event).toBe('done')
    expect(sse.frames.filter((f) => f.event === 'token').length).toBeGreaterThan(0)
    expect(proxy.status).toBe(200)
    expect(proxy.complete).toBe(true)
    const lines = proxy.body
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(lines.at(-1)).toMatchObject({ done: true })
    expect(ws.end.type).toBe('done')
  }, 120_000)
})
