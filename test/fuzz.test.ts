// A seeded fuzzer against the plugin in a real dev server (engine 'simulator'): 1,000 random HTTP
// requests under /__ollama (methods, paths, encodings, headers, bodies, broken framing on raw
// sockets) and random WebSocket frames. The server must stay up, answer every request with a
// well-formed status (our routes: a JSON `{error}` body for every 4xx/5xx, and never a 500),
// raise no unhandled rejection or exception, and still chat normally afterwards.
// Replay a failure with FUZZ_SEED=<seed printed in the failure>.
import http from 'node:http'
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { prng, servePlugin, waitForStatus } from './helpers/faults.js'

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed)
const REQUESTS = 1000
const WS_FRAMES = 200

const PATHS = [
  '',
  '/',
  '/status',
  '/chat',
  '/pull',
  '/ws',
  '/nope',
  '/api/',
  '/v1/',
  '/api/chat',
  '/api/generate',
  '/api/tags',
  '/api/ps',
  '/api/show',
  '/api/pull',
  '/api/delete',
  '/api/copy',
  '/api/embed',
  '/api/embeddings',
  '/api/version',
  '/api/create',
  '/api/blobs/sha256-00',
  '/v1/chat/completions',
  '/v1/completions',
  '/v1/models',
  '/v1/models/llama3.2',
  '/v1/embeddings',
  '/status/',
  '/chat/x',
  '/%2e%2e/status',
  '/api/%2e%2e/%2e%2e/status',
  '/api/%ZZ',
  '/%00',
  '/chat%20',
  '/api//tags',
  '/api/tags?x=%ff%fe',
  '/status?%',
  '/v1/../api/tags',
  '/STATUS',
  '/api/chat#frag',
]
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'PROPFIND']
const CONTENT_TYPES = [
  undefined,
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/vnd.api+json',
  'application/jsonx',
  '*/*',
  ';;;',
]
const ORIGINS = [undefined, undefined, 'http://evil.example', 'null', 'http://localhost:1']
const FETCH_SITES = [
  undefined,
  undefined,
  'cross-site',
  'same-origin',
  'same-site',
  'none',
  'bogus',
]
const ACCEPTS = [
  undefined,
  'application/json',
  'text/event-stream',
  '*/*',
  'application/json, text/event-stream',
]
const MODELS = ['llama3.2', 'qwen2.5:0.5b', '', 'x'.repeat(300), 'bad name!', 'a:b:c', 'http://x/y']

type Rng = ReturnType<typeof prng>

/** A payload that is nearly right, plainly wrong, or noise. */
function randomBody(r: Rng, path: string): Buffer | undefined {
  const model = r.pick(MODELS)
  const payloads: unknown[] = [
    { messages: [{ role: 'user', content: 'hi' }] },
    { model, messages: [{ role: 'user', content: 'fuzz' }], stream: r.chance(0.5) },
    { model, prompt: 'fuzz', stream: false },
    { model },
    { messages: 'not an array' },
    { messages: [{ role: 7, content: null }] },
    { messages: [] },
    { model: 5, options: 'x' },
    { prompt: 'x'.repeat(r.int(5000)) },
    { model, input: ['a', 'b'] },
    { source: model, destination: 'fuzz-copy' },
    [],
    null,
    'string',
    42,
    { think: 'maybe', format: 7, messages: [{ role: 'user', content: 'x' }] },
    { type: 'chat', id: 1 },
  ]
  switch (r.int(8)) {
    case 0:
      return undefined
    case 1:
      return r.bytes(r.int(2000))
    case 2: {
      const text = JSON.stringify(r.pick(payloads))
      return Buffer.from(text.slice(0, r.int(text.length)))
    }
    case 3:
      // Over the 1 MiB body limit set below.
      return Buffer.from(JSON.stringify({ prompt: 'y'.repeat(1024 * 1024 + r.int(1000)) }))
    default: {
      let value = r.pick(payloads)
      // Deleting the model the final chat needs would be a legitimate answer, not a bug.
      if (path.includes('/api/delete')) value = { model: 'fuzz-not-there' }
      return Buffer.from(JSON.stringify(value))
    }
  }
}

function randomPath(r: Rng): string {
  if (r.chance(0.03)) return `/__ollama/${'a'.repeat(8000 + r.int(8000))}`
  if (r.chance(0.05)) return `/__ollama/api/${encodeURIComponent(r.bytes(20).toString('latin1'))}`
  let path = `/__ollama${r.pick(PATHS)}`
  if (r.chance(0.2))
    path += `${path.includes('?') ? '&' : '?'}room=${r.int(100)}&x=${'%41'.repeat(r.int(5))}`
  return path
}

interface Answer {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

function send(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: Buffer | undefined,
): Promise<Answer | { error: string }> {
  // Node sends a DELETE or OPTIONS body with no length unless told: the bytes would read as a
  // second request. Broken lengths are the raw-socket cases' job.
  if (body) headers['Content-Length'] = String(body.length)
  return new Promise((resolve) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        )
        res.on('error', (e) => resolve({ error: e.message }))
      },
    )
    // Streams that run long (a pull of a big model) are cut: the server must cope with that too.
    req.setTimeout(5000, () => req.destroy(new Error('timeout')))
    req.on('error', (e) => resolve({ error: e.message }))
    req.end(body)
  })
}

/** Broken HTTP framing on a raw socket: the answer's status line, or '' when the server closed. */
function sendRaw(port: number, payload: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    let data = ''
    socket.setTimeout(3000, () => socket.destroy())
    socket.on('data', (c) => {
      data += c.toString('latin1')
    })
    socket.on('error', () => {})
    socket.on('close', () => resolve(data.split('\r\n', 1)[0] ?? ''))
    socket.end(payload)
  })
}

function rawPayload(r: Rng, port: number): Buffer {
  const head = (extra: string) =>
    `POST /__ollama/${r.pick(['chat', 'pull', 'api/chat', 'status'])} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n${extra}\r\n`
  const json = '{"messages":[{"role":"user","content":"hi"}]}'
  switch (r.int(6)) {
    case 0: // Content-Length larger than the body, then the client half-closes.
      return Buffer.from(`${head(`Content-Length: ${json.length + 1 + r.int(1000)}\r\n`)}${json}`)
    case 1: // Content-Length smaller than the body: the rest looks like a next request.
      return Buffer.from(`${head(`Content-Length: ${r.int(json.length)}\r\n`)}${json}`)
    case 2:
      return Buffer.from(`${head('Content-Length: abc\r\n')}${json}`)
    case 3: // Broken chunked encoding.
      return Buffer.from(`${head('Transfer-Encoding: chunked\r\n')}zz\r\n${json}\r\n0\r\n\r\n`)
    case 4:
      return Buffer.concat([Buffer.from('GARBAGE /__ollama/status\r\n\r\n'), r.bytes(100)])
    default: // Both lengths at once (request smuggling shape).
      return Buffer.from(`${head(`Content-Length: 4\r\nTransfer-Encoding: chunked\r\n`)}0\r\n\r\n`)
  }
}

describe(`the fuzzer (seed ${SEED})`, () => {
  let served: Awaited<ReturnType<typeof servePlugin>>
  let port: number
  const crashes: unknown[] = []
  const onCrash = (error: unknown) => crashes.push(error)

  beforeAll(async () => {
    served = await servePlugin({
      engine: 'simulator',
      models: ['llama3.2'],
      // 1 MiB, so the fuzzer's oversized bodies and frames stay cheap to send.
      maxBodySize: 1024 * 1024,
      simulator: { tokenDelayMs: 0, pullBytesPerSecond: 1e12, installed: ['llama3.2'] },
    })
    port = Number(new URL(served.url).port)
    await waitForStatus(served.url, (s) => s.phase === 'ready', 20_000, 'ready')
    process.on('unhandledRejection', onCrash)
    process.on('uncaughtException', onCrash)
  })

  afterAll(async () => {
    process.off('unhandledRejection', onCrash)
    process.off('uncaughtException', onCrash)
    await served?.close()
  })

  it(`answers ${REQUESTS} random requests well-formed, and keeps chatting`, async () => {
    const r = prng(SEED)
    const problems: string[] = []
    const counts: Record<string, number> = {}
    const deadline = Date.now() + 150_000
    let done = 0

    async function one(n: number): Promise<void> {
      if (r.chance(0.08)) {
        const line = await sendRaw(port, rawPayload(r, port))
        counts.raw = (counts.raw ?? 0) + 1
        if (line && !/^HTTP\/1\.1 [1-5]\d\d /.test(line))
          problems.push(`#${n} raw: status line ${line}`)
        return
      }
      const method = r.pick(METHODS)
      const path = randomPath(r)
      const headers: Record<string, string> = {}
      const type = r.pick(CONTENT_TYPES)
      if (type) headers['Content-Type'] = type
      const origin = r.pick(ORIGINS)
      if (origin) headers.Origin = origin
      const site = r.pick(FETCH_SITES)
      if (site) headers['Sec-Fetch-Site'] = site
      const accept = r.pick(ACCEPTS)
      if (accept) headers.Accept = accept
      const body = method === 'GET' || method === 'HEAD' ? undefined : randomBody(r, path)
      const answer = await send(port, method, path, headers, body)
      const what = `#${n} ${method} ${path.slice(0, 80)} ${JSON.stringify(headers)} body=${body?.subarray(0, 60).toString() ?? '-'}`
      if ('error' in answer) {
        counts.cut = (counts.cut ?? 0) + 1
        // Only a stream that was still running may be cut (by our 5 s limit): nothing else.
        if (answer.error !== 'timeout') problems.push(`${what}: ${answer.error}`)
        return
      }
      counts[String(answer.status)] = (counts[String(answer.status)] ?? 0) + 1
      const route = path.slice('/__ollama'.length).split(/[?#]/)[0] ?? ''
      const proxied = route.startsWith('/api/') || route.startsWith('/v1/')
      if (answer.status < 200 || answer.status > 599)
        problems.push(`${what}: status ${answer.status}`)
      if (method === 'HEAD') return
      const type_ = String(answer.headers['content-type'] ?? '')
      if (answer.status >= 400 && (!proxied || type_.includes('application/json'))) {
        // Ours always, and upstream's JSON errors: a body with an `error` string.
        let parsed: { error?: unknown } | undefined
        try {
          parsed = JSON.parse(answer.body)
        } catch {
          // reported below
        }
        const error = (parsed as { error?: unknown } | undefined)?.error
        const errorText =
          typeof error === 'string' ? error : (error as { message?: unknown })?.message
        if (typeof errorText !== 'string')
          problems.push(
            `${what}: ${answer.status} without a JSON error: ${answer.body.slice(0, 200)}`,
          )
      }
      if (!proxied && answer.status === 500)
        problems.push(`${what}: our route answered 500: ${answer.body.slice(0, 300)}`)
      if (
        !proxied &&
        answer.status < 300 &&
        route === '/chat' &&
        type_.startsWith('text/event-stream')
      ) {
        if (!/event: (done|error)\n/.test(answer.body))
          problems.push(`${what}: SSE chat without an end`)
      }
    }

    // A few requests in flight at once, as a browser would send them.
    const inFlight = new Set<Promise<void>>()
    for (let n = 0; n < REQUESTS && Date.now() < deadline; n++) {
      const p = one(n).finally(() => {
        inFlight.delete(p)
        done++
      })
      inFlight.add(p)
      if (inFlight.size >= 6) await Promise.race(inFlight)
    }
    await Promise.all(inFlight)

    // WebSocket frames: JSON of every shape, binary, oversized.
    const sockets = await Promise.all(
      Array.from({ length: 4 }, async (_, i) => {
        const socket = new WebSocket(`ws://127.0.0.1:${port}/__ollama/ws?room=fuzz${i}`)
        const replies: string[] = []
        socket.on('message', (raw, isBinary) => replies.push(isBinary ? '<binary>' : String(raw)))
        socket.on('error', () => {})
        await new Promise<void>((resolve, reject) => {
          socket.once('open', () => resolve())
          socket.once('error', reject)
        })
        return { socket, replies }
      }),
    )
    const frames: Array<string | Buffer> = []
    for (let i = 0; i < WS_FRAMES; i++) {
      const id = r.chance(0.5) ? `f${i}` : r.pick([1, null, {}, 'x'.repeat(300)])
      const candidates: unknown[] = [
        { type: 'chat', id, content: 'hi' },
        { type: 'chat', id, messages: [{ role: 'user', content: 'hi' }], model: r.pick(MODELS) },
        {
          type: 'chat',
          id,
          session: 's'.repeat(r.int(300)),
          room: r.pick(['a', '', 'b'.repeat(200)]),
          content: 'x',
        },
        { type: 'cancel', id },
        { type: 'join', room: r.pick(['a', '', 7, 'r'.repeat(500)]) },
        { type: 'leave', room: 'a' },
        { type: r.pick(['nope', '', 5]) },
        [],
        null,
        'text',
      ]
      const kind = r.int(10)
      if (kind === 0) frames.push(r.bytes(r.int(500)))
      else if (kind === 1) frames.push(JSON.stringify(r.pick(candidates)).slice(0, r.int(40)))
      else frames.push(JSON.stringify(r.pick(candidates)))
    }
    for (const [i, frame] of frames.entries()) {
      const { socket } = sockets[i % sockets.length]!
      if (socket.readyState === WebSocket.OPEN) socket.send(frame)
    }
    // One oversized frame: the server closes that socket (1009), nothing else.
    const big = sockets[0]!
    const closed = new Promise<number>((resolve) =>
      big.socket.once('close', (code) => resolve(code)),
    )
    big.socket.send('z'.repeat(1024 * 1024 + 10))
    expect(await closed).toBe(1009)
    // Every reply is a JSON object with a type.
    await new Promise((resolve) => setTimeout(resolve, 500))
    for (const { socket, replies } of sockets) {
      for (const reply of replies) {
        let parsed: { type?: unknown } | undefined
        try {
          parsed = JSON.parse(reply)
        } catch {
          // reported below
        }
        if (typeof parsed?.type !== 'string')
          problems.push(`ws reply without a type: ${reply.slice(0, 200)}`)
      }
      socket.terminate()
    }

    const summary = `seed ${SEED}: ${done} requests, answers ${JSON.stringify(counts)}`
    if (process.env.FUZZ_VERBOSE) console.log(summary)
    expect(problems, `${summary}\n${problems.slice(0, 20).join('\n')}`).toEqual([])
    expect(crashes, summary).toEqual([])
    expect(done, summary).toBe(REQUESTS)
    // The fuzzer reached real work and every guard, not just the 404 handler.
    expect(counts['200'] ?? 0, summary).toBeGreaterThan(10)
    for (const status of ['400', '403', '404', '405', '415'])
      expect(counts[status] ?? 0, `${status}: ${summary}`).toBeGreaterThan(5)

    // The server is up and chats as before.
    const status = await waitForStatus(
      served.url,
      (s) => s.phase === 'ready',
      20_000,
      'ready after the fuzz',
    )
    expect(status.models.find((m) => m.name === 'llama3.2')?.status).toMatch(/present|loaded/)
    const chat = await fetch(`${served.url}/__ollama/chat`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'hello after the storm' }] }),
    })
    expect(chat.status).toBe(200)
    expect(((await chat.json()) as { content: string }).content.length).toBeGreaterThan(0)
  }, 240_000)
})
