// The HTTP side of "every store a request can grow has a bound" (README, Security): a body that
// trickles gets 408 and reaches no one upstream, a body nested too deep gets 400, a model name
// outside Ollama's grammar changes nothing, and a failed one-off pull leaves nothing behind. (What
// a pull whose client went away does is test/pull-cancel.test.ts's.)
import http from 'node:http'
import type net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fixedLimits } from '../src/limits.js'
import type { StateSnapshot } from '../src/protocol.js'
import { type Simulator, startSimulator } from '../src/simulator/index.js'
import { getStatus, servePlugin, waitForStatus } from './helpers/faults.js'
import { stalledRequest } from './helpers/slow-body.js'
import { waitFor } from './helpers/vite.js'
import { parseSse } from './routes-harness.js'

const BODY_TIMEOUT_MS = 300

const deep = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`

function post(url: string, body: string, headers: Record<string, string> = {}) {
  return fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body,
    signal: AbortSignal.timeout(10_000),
  })
}

/** POST /pull to its end: the SSE events it sent. */
async function pull(url: string, model: string) {
  const res = await post(`${url}/__ollama/pull`, JSON.stringify({ model }))
  return { status: res.status, events: parseSse(await res.text()) }
}

const names = (s: StateSnapshot) => s.models.map((m) => m.name)

describe('HTTP bounds against the simulator', () => {
  let sim: Simulator
  let served: Awaited<ReturnType<typeof servePlugin>>
  const upstreamRequests: string[] = []

  beforeAll(async () => {
    sim = await startSimulator({ models: ['llama3.2'] })
    sim.events.on('request', (method: string, path: string) =>
      upstreamRequests.push(`${method} ${path}`),
    )
    served = await servePlugin({
      engine: 'external',
      url: sim.url,
      models: ['llama3.2'],
      limits: { bodyTimeoutMs: BODY_TIMEOUT_MS },
    })
    await waitForStatus(served.url, (s) => s.phase === 'ready', 15_000, 'ready')
  })
  afterAll(async () => {
    await served?.close()
    await sim?.close()
  })

  it.each([
    ['/__ollama/chat', '{"prompt":"hel', 'POST /api/chat'],
    ['/__ollama/pull', '{"model":"qwen2', 'POST /api/pull'],
    ['/__ollama/api/chat', '{"model":"llama3.2","messages":[', 'POST /api/chat'],
  ])(
    'answers a body still arriving after limits.bodyTimeoutMs on %s with 408 and closes the connection, sending nothing upstream',
    async (path, sent, upstream) => {
      upstreamRequests.length = 0
      const answer = await stalledRequest(served.url, path, sent)
      expect(answer.status).toBe(408)
      expect(JSON.parse(answer.body)).toEqual({
        error: `Request body not complete within ${BODY_TIMEOUT_MS} ms`,
        hint: expect.stringContaining('limits.bodyTimeoutMs'),
      })
      expect(answer.answeredAfterMs).toBeGreaterThanOrEqual(BODY_TIMEOUT_MS - 50)
      expect(answer.answeredAfterMs).toBeLessThan(BODY_TIMEOUT_MS + 2_000)
      expect(answer.closedByServer).toBe(true)
      expect(upstreamRequests).not.toContain(upstream)
    },
  )

  it('still serves a whole body that arrives in pieces within the deadline', async () => {
    const { hostname, port } = new URL(served.url)
    const body = JSON.stringify({ model: 'llama3.2', prompt: 'hi' })
    const answer = await new Promise<string>((resolve, reject) => {
      const req = http.request(
        {
          host: hostname,
          port,
          path: '/__ollama/chat',
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        },
        (res) => {
          let text = ''
          res.setEncoding('utf8')
          res.on('data', (c: string) => {
            text += c
          })
          res.on('end', () => resolve(`${res.statusCode} ${text}`))
        },
      )
      req.on('error', reject)
      req.write(body.slice(0, 10))
      setTimeout(() => req.end(body.slice(10)), BODY_TIMEOUT_MS / 3)
    })
    expect(answer).toMatch(/^200 /)
  })

  it('refuses a body nested 100,000 deep with 400 naming the limit, on /chat and /pull, and keeps serving', async () => {
    const chat = await post(`${served.url}/__ollama/chat`, `{"messages":${deep(100_000)}}`)
    expect(chat.status).toBe(400)
    expect((await chat.json()).error).toBe(
      `JSON body nested deeper than ${fixedLimits.jsonDepth} levels`,
    )
    const pulled = await post(`${served.url}/__ollama/pull`, `{"model":${deep(100_000)}}`)
    expect(pulled.status).toBe(400)
    expect((await pulled.json()).error).toMatch(/nested deeper than 64/)
    // At the limit itself (the body, `options` and the arrays: 64 levels) the body is read.
    const atLimit = await post(
      `${served.url}/__ollama/chat`,
      `{"prompt":"hi","options":{"a":${deep(fixedLimits.jsonDepth - 2)}}}`,
      { Accept: 'application/json' },
    )
    expect(atLimit.status).toBe(200)
    const pastLimit = await post(
      `${served.url}/__ollama/chat`,
      `{"prompt":"hi","options":{"a":${deep(fixedLimits.jsonDepth - 1)}}}`,
    )
    expect(pastLimit.status).toBe(400)
    const status = await fetch(`${served.url}/__ollama/status`)
    expect(status.status).toBe(200)
  })

  it('answers model names outside Ollama’s grammar with 400 and changes no state', async () => {
    const before = await getStatus(served.url)
    upstreamRequests.length = 0
    for (const model of ['a'.repeat(500_000), 'bad name!', '../../etc/passwd', 'x'.repeat(81)]) {
      const pulled = await post(`${served.url}/__ollama/pull`, JSON.stringify({ model }))
      expect(pulled.status).toBe(400)
      expect((await pulled.json()).error).toMatch(/^Invalid request body: model/)
      const chat = await post(
        `${served.url}/__ollama/chat`,
        JSON.stringify({ model, prompt: 'hi' }),
        { Accept: 'application/json' },
      )
      expect(chat.status).toBe(400)
    }
    const after = await getStatus(served.url)
    expect(JSON.stringify(after)).toBe(JSON.stringify(before))
    expect(upstreamRequests.filter((r) => r.startsWith('POST'))).toEqual([])
  })

  it('forgets a one-off pull that failed, keeps one that succeeded, and the ready line names the app’s models only', async () => {
    const failed = await pull(served.url, 'no-such-model-xyz')
    expect(failed.events.at(-1)?.event).toBe('error')
    expect(JSON.parse(failed.events.at(-1)!.data)).toMatchObject({
      message: "'no-such-model-xyz' is not in the Ollama library",
    })
    const settled = await waitForStatus(served.url, (s) => s.phase === 'ready')
    expect(names(settled)).toEqual(['llama3.2'])

    const pulled = await pull(served.url, 'qwen2.5:0.5b')
    expect(pulled.events.at(-1)?.event).toBe('done')
    const withOneOff = await waitForStatus(served.url, (s) => s.phase === 'ready')
    expect(names(withOneOff)).toEqual(['llama3.2', 'qwen2.5:0.5b'])

    const ready = served.lines.filter((l) => /\] ready \(/.test(l))
    expect(ready.length).toBeGreaterThanOrEqual(1)
    for (const line of ready) {
      expect(line).toMatch(/ready \(llama3\.2\) → chat at/)
    }
    expect(served.lines.join('\n')).not.toContain('no-such-model-xyz')
  })
})

describe('HTTP bounds on blob uploads', () => {
  it('streams a blob upload, and answers 408 and aborts the upstream request when it stalls', async () => {
    // A look-alike Ollama that reads blob bodies to the end, so a stall is the client's alone.
    const aborted: string[] = []
    let received = 0
    const upstream = http.createServer((req, res) => {
      const json = (body: unknown) => {
        res.writeHead(200, { 'Content-Type': 'application/json' })
        res.end(JSON.stringify(body))
      }
      if (req.url === '/api/version') return json({ version: '0.32.6' })
      if (req.url === '/api/tags' || req.url === '/api/ps') return json({ models: [] })
      req.on('data', (c: Buffer) => {
        received += c.length
      })
      req.on('close', () => {
        if (!req.complete) aborted.push(req.url ?? '')
      })
      req.on('end', () => {
        res.writeHead(201)
        res.end()
      })
    })
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
    const { port } = upstream.address() as net.AddressInfo
    const served = await servePlugin({
      engine: 'external',
      url: `http://127.0.0.1:${port}`,
      models: [],
      limits: { bodyTimeoutMs: BODY_TIMEOUT_MS },
    })
    try {
      await waitForStatus(served.url, (s) => s.phase === 'ready')
      const digest = `sha256:${'a'.repeat(64)}`
      const whole = await fetch(`${served.url}/__ollama/api/blobs/${digest}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: 'x'.repeat(100_000),
      })
      expect(whole.status).toBe(201)
      expect(received).toBe(100_000)

      const answer = await stalledRequest(
        served.url,
        `/__ollama/api/blobs/${digest}`,
        'y'.repeat(1_000),
        1_000_000,
      )
      expect(answer.status).toBe(408)
      expect(JSON.parse(answer.body).hint).toContain('limits.bodyTimeoutMs')
      expect(answer.closedByServer).toBe(true)
      await waitFor(() => aborted.length === 1, 5_000, 'the upstream upload aborted')
    } finally {
      await served.close()
      await new Promise<void>((resolve) => {
        upstream.close(() => resolve())
        upstream.closeAllConnections()
      })
    }
  })
})
