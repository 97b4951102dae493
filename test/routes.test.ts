import http from 'node:http'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { openSse as openSseWriter } from '../src/server/sse.js'
import { simulatedReply, tokenize } from '../src/simulator/index.js'
import {
  type Harness,
  nextCancel,
  openSse,
  parseSse,
  rawRequest,
  startHarness,
} from './routes-harness.js'

const JSON_HEADERS = { 'Content-Type': 'application/json' }

describe('routes: status, 404, 405, 503', () => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness()
  })
  afterAll(() => h.close())
  afterEach(() => {
    h.setUpstream(h.sim.url)
    h.setSnapshot({ phase: 'ready', error: undefined })
  })

  it('answers GET /status with the snapshot', async () => {
    const res = await rawRequest(`${h.url}/status`)
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toMatch(/^application\/json/)
    expect(JSON.parse(res.body)).toMatchObject({ phase: 'ready', defaultModel: 'llama3.2' })
  })

  it('answers an unknown path under the base with a JSON 404 and leaves other paths to Vite', async () => {
    const res = await rawRequest(`${h.url}/nope`)
    expect(res.status).toBe(404)
    expect(JSON.parse(res.body)).toMatchObject({ error: expect.stringContaining('/nope') })
    const app = await rawRequest(`${h.origin}/`)
    expect(app.status).toBe(200)
    expect(app.body).toContain('<p>app</p>')
    const lookalike = await rawRequest(`${h.origin}/__ollamafoo`)
    expect(lookalike.headers['content-type']).not.toMatch(/application\/json/)
  })

  it('answers a wrong method with 405 and Allow', async () => {
    const chat = await rawRequest(`${h.url}/chat`)
    expect(chat.status).toBe(405)
    expect(chat.headers.allow).toBe('POST')
    expect(JSON.parse(chat.body).error).toMatch(/GET/)
    const status = await rawRequest(`${h.url}/status`, {
      method: 'POST',
      headers: JSON_HEADERS,
      body: '{}',
    })
    expect(status.status).toBe(405)
    expect(status.headers.allow).toBe('GET, HEAD')
  })

  it('answers 503 with the engine problem and its hint when no engine is up', async () => {
    h.setUpstream(null)
    h.setSnapshot({
      phase: 'unavailable',
      error: { message: 'No way to run Ollama', hint: 'Install Docker' },
    })
    for (const res of [
      await rawRequest(`${h.url}/api/tags`),
      await rawRequest(`${h.url}/chat`, {
        method: 'POST',
        headers: JSON_HEADERS,
        body: '{"prompt":"hi"}',
      }),
    ]) {
      expect(res.status).toBe(503)
      expect(JSON.parse(res.body)).toEqual({
        error: 'No way to run Ollama',
        hint: 'Install Docker',
      })
    }
  })

  it('answers 503 with a hint while the engine is still starting', async () => {
    h.setUpstream(null)
    h.setSnapshot({ phase: 'starting' })
    const res = await rawRequest(`${h.url}/chat`, {
      method: 'POST',
      headers: JSON_HEADERS,
      body: '{"prompt":"hi"}',
    })
    expect(res.status).toBe(503)
    expect(JSON.parse(res.body)).toMatchObject({
      error: expect.stringContaining('starting'),
      hint: expect.any(String),
    })
  })

  it('serves the routes behind Vite’s own base', async () => {
    const based = await startHarness({ viteBase: '/app/' })
    try {
      expect(based.base).toBe('/app/__ollama')
      const res = await rawRequest(`${based.url}/status`)
      expect(res.status).toBe(200)
      expect(JSON.parse(res.body).phase).toBe('ready')
    } finally {
      await based.close()
    }
  })
})

describe('POST /chat', () => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness()
  })
  afterAll(() => h.close())
  afterEach(() => {
    h.sim.configure({
      tokenDelayMs: 0,
      failAfterTokens: undefined,
      errorAfterTokens: undefined,
      firstByteDelayMs: undefined,
    })
    h.setOptions({ models: ['llama3.2'] })
  })

  it('streams tokens as SSE, spread over time, then done with metrics', async () => {
    h.sim.configure({ tokenDelayMs: 15 })
    const prompt = 'Tell me about streams'
    const expected = simulatedReply('llama3.2', prompt)
    const { done } = openSse(`${h.url}/chat`, { messages: [{ role: 'user', content: prompt }] })
    const res = await done
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/)
    expect(res.headers['cache-control']).toBe('no-cache, no-transform')
    expect(res.headers['x-accel-buffering']).toBe('no')
    expect(res.raw.startsWith(': ok\n\n')).toBe(true)
    const tokens = res.frames.filter((f) => f.event === 'token')
    expect(tokens.map((f) => JSON.parse(f.data).content).join('')).toBe(expected)
    // With 15 ms between tokens, a stream delivered at the end would arrive in one burst.
    const first = tokens[0]!.at
    const last = tokens[tokens.length - 1]!.at
    expect(tokens.length).toBeGreaterThan(5)
    expect(last - first).toBeGreaterThan(15 * (tokenize(expected).length - 1) * 0.5)
    const done_ = res.frames.at(-1)!
    expect(done_.event).toBe('done')
    const { metrics } = JSON.parse(done_.data)
    expect(metrics).toMatchObject({ model: 'llama3.2', tokens: tokenize(expected).length })
    expect(metrics.tokensPerSecond).toBeGreaterThan(0)
    expect(metrics.ttftMs).toBeGreaterThanOrEqual(0)
    expect(metrics.totalMs).toBeGreaterThanOrEqual(metrics.ttftMs)
  })

  it('takes { prompt } as one user message and uses defaultModel', async () => {
    const res = await rawRequest(`${h.url}/chat`, {
      method: 'POST',
      headers: { ...JSON_HEADERS, Accept: 'application/json' },
      body: JSON.stringify({ prompt: 'hello' }),
    })
    expect(res.status).toBe(200)
    const body = JSON.parse(res.body)
    expect(body.content).toBe(simulatedReply('llama3.2', 'hello'))
    expect(body.metrics.model).toBe('llama3.2')
    expect(h.sim.stats.requests['POST /api/chat']).toBeGreaterThan(0)
  })

  it('answers Accept: application/json with Ollama’s status on an upstream error', async () => {
    const res = await rawRequest(`${h.url}/chat`, {
      method: 'POST',
      headers: { ...JSON_HEADERS, Accept: 'application/json' },
      body: JSON.stringify({ prompt: 'hello', model: 'missing-model' }),
    })
    expect(res.status).toBe(404)
    const body = JSON.parse(res.body)
    expect(body.error).toContain("model 'missing-model' not found")
    expect(body.hint).toEqual(expect.any(String))
  })

  it('refuses a request without a model when there is no defaultModel, naming model', async () => {
    h.setOptions({})
    const res = await rawRequest(`${h.url}/chat`, {
      method: 'POST',
      headers: JSON_HEADERS,
      body: '{"prompt":"hi"}',
    })
    expect(res.status).toBe(400)
    const body = JSON.parse(res.body)
    expect(body.error).toMatch(/model/)
    expect(body.hint).toMatch(/defaultModel/)
  })

  it('ends with an error event, never a hang, when Ollama fails mid-stream', async () => {
    h.sim.configure({ failAfterTokens: 3, tokenDelayMs: 2 })
    const res = await openSse(`${h.url}/chat`, { prompt: 'this one will break' }).done
    const text = res.frames
      .filter((f) => f.event === 'token')
      .map((f) => JSON.parse(f.data).content)
      .join('')
    // Whatever made it out before the cut is the start of the reply; the cut itself is reported.
    expect(simulatedReply('llama3.2', 'this one will break').startsWith(text)).toBe(true)
    const last = res.frames.at(-1)!
    expect(last.event).toBe('error')
    expect(JSON.parse(last.data).message).toEqual(expect.any(String))
  })

  it('ends with an error event when Ollama sends an error line', async () => {
    h.sim.configure({ errorAfterTokens: 2 })
    const res = await openSse(`${h.url}/chat`, { prompt: 'error line please' }).done
    const last = res.frames.at(-1)!
    expect(last.event).toBe('error')
    expect(JSON.parse(last.data).message).toContain(
      'an error was encountered while running the model',
    )
  })

  it('sends an error event for an unknown model', async () => {
    const res = await openSse(`${h.url}/chat`, { prompt: 'hi', model: 'nope' }).done
    expect(res.frames.map((f) => f.event)).toEqual(['error'])
    expect(JSON.parse(res.frames[0]!.data)).toMatchObject({
      message: expect.stringContaining('not found'),
      hint: expect.any(String),
    })
  })

  it('cancels the upstream generation within 100 ms when the client goes away', async () => {
    h.sim.configure({ tokenDelayMs: 20 })
    const cancelled = nextCancel(h.sim)
    let abortedAt = 0
    const { done } = openSse(`${h.url}/chat`, { prompt: 'count to 500' }, (frame, request) => {
      if (frame.event === 'token' && abortedAt === 0) {
        abortedAt = performance.now()
        request.destroy()
      }
    })
    await done
    const seenAt = await cancelled
    expect(seenAt - abortedAt).toBeLessThan(100)
  })

  it('cancels the upstream when a JSON client goes away', async () => {
    h.sim.configure({ tokenDelayMs: 20 })
    const cancelled = nextCancel(h.sim)
    const controller = new AbortController()
    const started = new Promise((resolve) => h.sim.events.once('stream-start', resolve))
    const pending = fetch(`${h.url}/chat`, {
      method: 'POST',
      headers: { ...JSON_HEADERS, Accept: 'application/json' },
      body: JSON.stringify({ prompt: 'count to 500' }),
      signal: controller.signal,
    }).catch((err: Error) => err)
    await started
    const abortedAt = performance.now()
    controller.abort()
    expect(await pending).toBeInstanceOf(Error)
    expect((await cancelled) - abortedAt).toBeLessThan(100)
  })

  it('completes 200 concurrent streams with exactly the expected text', async () => {
    const runs = Array.from({ length: 200 }, (_, i) => {
      const prompt = `concurrent question number ${i}`
      return openSse(`${h.url}/chat`, { prompt }).done.then((res) => ({ prompt, res }))
    })
    const results = await Promise.all(runs)
    for (const { prompt, res } of results) {
      const text = res.frames
        .filter((f) => f.event === 'token')
        .map((f) => JSON.parse(f.data).content)
        .join('')
      expect(text).toBe(simulatedReply('llama3.2', prompt))
      expect(res.frames.at(-1)!.event).toBe('done')
    }
  })

  it('passes options through to Ollama (num_predict sets the length)', async () => {
    const res = await openSse(`${h.url}/chat`, { prompt: 'long', options: { num_predict: 300 } })
      .done
    const done = JSON.parse(res.frames.at(-1)!.data)
    expect(done.metrics).toMatchObject({ tokens: 300, doneReason: 'length' })
  })
})

describe('POST /pull', () => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness({ sim: { pullBytesPerSecond: 2e9 } })
  })
  afterAll(() => h.close())

  it('streams progress events then done', async () => {
    const res = await openSse(`${h.url}/pull`, { model: 'qwen2.5:0.5b' }).done
    const events = res.frames.map((f) => f.event)
    expect(events.filter((e) => e === 'progress').length).toBeGreaterThan(1)
    expect(events.at(-1)).toBe('done')
    const progress = res.frames.filter((f) => f.event === 'progress').map((f) => JSON.parse(f.data))
    expect(progress[0]).toMatchObject({ model: 'qwen2.5:0.5b', status: 'pulling manifest' })
    expect(progress.at(-1)).toMatchObject({ status: 'success', percent: 100 })
    const tags = JSON.parse((await rawRequest(`${h.url}/api/tags`)).body)
    expect(tags.models.map((m: { name: string }) => m.name)).toContain('qwen2.5:0.5b')
  })

  it('ends with an error event for a model the registry does not have', async () => {
    const res = await openSse(`${h.url}/pull`, { model: 'no-such-model-anywhere' }).done
    const last = res.frames.at(-1)!
    expect(last.event).toBe('error')
    expect(JSON.parse(last.data).message).toContain('file does not exist')
  })

  it('refuses a pull without a model, naming the field', async () => {
    const res = await rawRequest(`${h.url}/pull`, {
      method: 'POST',
      headers: JSON_HEADERS,
      body: '{}',
    })
    expect(res.status).toBe(400)
    expect(JSON.parse(res.body).error).toMatch(/model/)
    expect(parseSse(res.body)).toEqual([])
  })
})

describe('SSE writer', () => {
  it('sends heartbeats while idle and aborts its signal when the client goes away', async () => {
    let signal: AbortSignal | undefined
    const server = http.createServer((req, res) => {
      const sse = openSseWriter(req, res, { heartbeatMs: 20 })
      signal = sse.signal
      sse.send('token', '{"content":"a"}')
      sse.send('token', '{"content":"b"}')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as { port: number }).port
    try {
      const text = await new Promise<string>((resolve, reject) => {
        http
          .get(`http://127.0.0.1:${port}/`, (res) => {
            let seen = ''
            res.setEncoding('utf8')
            res.on('data', (chunk: string) => {
              seen += chunk
              if (seen.split(': ping').length > 2) {
                res.destroy()
                resolve(seen)
              }
            })
          })
          .on('error', reject)
      })
      // The early comment, both events (written together in one tick), then the heartbeats.
      expect(text).toMatch(
        /^: ok\n\nevent: token\ndata: \{"content":"a"\}\n\nevent: token\ndata: \{"content":"b"\}\n\n: ping\n\n: ping\n\n/,
      )
      await new Promise<void>((resolve) => {
        if (signal?.aborted) resolve()
        else signal?.addEventListener('abort', () => resolve())
      })
      expect(signal?.aborted).toBe(true)
    } finally {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
  })
})
