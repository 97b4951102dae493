import diagnostics from 'node:diagnostics_channel'
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { poolUsers } from '../src/ollama/dispatcher.js'
import {
  type ChatResponse,
  normalizeBaseUrl,
  OllamaClient,
  OllamaError,
  type PullProgress,
} from '../src/ollama/index.js'
import { type Simulator, startSimulator } from '../src/simulator/index.js'
import { simulatedReply } from '../src/simulator/tokens.js'

const MODEL = 'llama3.2'
const PROMPT = 'Why is the sky blue?'

/** Runs `work` and returns what it threw (failing the test when it did not throw). */
async function caught(work: () => Promise<unknown>): Promise<OllamaError> {
  try {
    await work()
  } catch (error) {
    return error as OllamaError
  }
  throw new Error('expected the call to throw')
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const values: T[] = []
  for await (const value of iterable) values.push(value)
  return values
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  server.close()
  await once(server, 'close')
  return port
}

/** The code of undici's next failed connection attempt (from its diagnostics channel). */
function connectErrors(): Promise<string | undefined> {
  return new Promise((resolve) => {
    function onConnectError(message: unknown): void {
      diagnostics.unsubscribe('undici:client:connectError', onConnectError)
      resolve((message as { error?: { code?: string } }).error?.code)
    }
    diagnostics.subscribe('undici:client:connectError', onConnectError)
  })
}

/** A tiny raw HTTP server for what the simulator cannot be made to do. */
async function rawServer(
  handler: Parameters<typeof createServer>[1],
): Promise<{ server: Server; url: string; sockets: Set<Socket> }> {
  const server = createServer(handler)
  const sockets = new Set<Socket>()
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return { server, url: `http://127.0.0.1:${port}`, sockets }
}

async function closeRaw(raw: { server: Server; sockets: Set<Socket> }): Promise<void> {
  for (const socket of raw.sockets) socket.destroy()
  raw.server.close()
  await once(raw.server, 'close')
}

describe('OllamaClient against the simulator', () => {
  let sim: Simulator
  let client: OllamaClient

  beforeAll(async () => {
    sim = await startSimulator({ models: [MODEL, 'nomic-embed-text'] })
    client = new OllamaClient(sim.url)
  })

  afterEach(() => {
    sim.configure({
      tokenDelayMs: 0,
      failAfterTokens: undefined,
      firstByteDelayMs: undefined,
      errorAfterTokens: undefined,
      pullBytesPerSecond: 2e9,
    })
  })

  afterAll(async () => {
    await client.close()
    await sim.close()
  })

  it('reads the version', async () => {
    const { version } = await client.version()
    expect(version).toMatch(/^\d+\.\d+\.\d+/)
  })

  it('lists installed models with their tag', async () => {
    const { models } = await client.list()
    const names = models.map((model) => model.name)
    expect(names).toContain('llama3.2:latest')
    const llama = models.find((model) => model.name === 'llama3.2:latest')!
    expect(llama.size).toBeGreaterThan(0)
    expect(llama.digest).toMatch(/^[0-9a-f]{64}$/)
    expect(llama.details?.family).toBe('llama')
  })

  it('shows a model with its details and model_info', async () => {
    const show = await client.show(MODEL)
    expect(show.details?.family).toBe('llama')
    expect(show.model_info).toBeTypeOf('object')
    expect(show.capabilities).toContain('completion')
  })

  it('answers a chat in one reply when not streaming', async () => {
    const reply = await client.chat({ model: MODEL, messages: [{ role: 'user', content: PROMPT }] })
    expect(reply.done).toBe(true)
    expect(reply.message.role).toBe('assistant')
    expect(reply.message.content).toBe(simulatedReply(MODEL, PROMPT))
    expect(reply.model).toBe(MODEL)
  })

  it('streams a chat chunk by chunk, ending with done and metrics', async () => {
    const stream = await client.chat({
      model: MODEL,
      messages: [{ role: 'user', content: PROMPT }],
      stream: true,
    })
    const chunks: ChatResponse[] = await collect(stream)
    expect(chunks.length).toBeGreaterThan(2)
    expect(chunks.map((chunk) => chunk.message.content).join('')).toBe(
      simulatedReply(MODEL, PROMPT),
    )
    const last = chunks.at(-1)!
    expect(last.done).toBe(true)
    expect(last.done_reason).toBe('stop')
    expect(last.eval_count).toBeGreaterThan(0)
    expect(chunks.slice(0, -1).every((chunk) => chunk.done === false)).toBe(true)
  })

  it('streams exactly num_predict tokens', async () => {
    const stream = await client.chat({
      model: MODEL,
      messages: [{ role: 'user', content: PROMPT }],
      options: { num_predict: 500 },
      stream: true,
    })
    const chunks = await collect(stream)
    expect(chunks.filter((chunk) => !chunk.done)).toHaveLength(500)
    expect(chunks.at(-1)?.done_reason).toBe('length')
  })

  it('generates in one reply, and streamed', async () => {
    const whole = await client.generate({ model: MODEL, prompt: PROMPT })
    expect(whole.done).toBe(true)
    expect(whole.response).toBe(simulatedReply(MODEL, PROMPT))

    const stream = await client.generate({ model: MODEL, prompt: PROMPT, stream: true })
    const chunks = await collect(stream)
    expect(chunks.map((chunk) => chunk.response).join('')).toBe(whole.response)
    expect(chunks.at(-1)?.done).toBe(true)
  })

  it('loads a model with an empty chat, even when streaming (one object, done_reason load)', async () => {
    const chunks = await collect(await client.chat({ model: MODEL, messages: [], stream: true }))
    expect(chunks).toHaveLength(1)
    expect(chunks[0]).toMatchObject({ done: true, done_reason: 'load' })
  })

  it('throws the simulator’s mid-stream error line, and its 500 when not streaming', async () => {
    sim.configure({ errorAfterTokens: 2 })
    const seen: string[] = []
    const error = await caught(async () => {
      const stream = await client.chat({
        model: MODEL,
        messages: [{ role: 'user', content: PROMPT }],
        stream: true,
      })
      for await (const chunk of stream) seen.push(chunk.message.content)
    })
    expect(seen).toHaveLength(2)
    expect(error).toMatchObject({
      status: 200,
      code: 'OLLAMA_STREAM_ERROR',
      ollamaMessage: 'an error was encountered while running the model',
    })
    const whole = await caught(() =>
      client.chat({ model: MODEL, messages: [{ role: 'user', content: PROMPT }] }),
    )
    expect(whole.status).toBe(500)
    expect(whole.ollamaMessage).toBe('an error was encountered while running the model')
  })

  it('lists a model as loaded in ps after it answered', async () => {
    await client.generate({ model: MODEL, prompt: PROMPT })
    const { models } = await client.ps()
    expect(models.map((model) => model.name)).toContain('llama3.2:latest')
  })

  it('embeds text as normalised vectors', async () => {
    const { embeddings } = await client.embed({ model: 'nomic-embed-text', input: ['a', 'b'] })
    expect(embeddings).toHaveLength(2)
    const norm = Math.hypot(...embeddings[0]!)
    expect(norm).toBeCloseTo(1, 5)
  })

  it('pulls a model with progress until success, after which it is listed', async () => {
    const events: PullProgress[] = await collect(client.pull('qwen2.5:0.5b'))
    expect(events[0]?.status).toBe('pulling manifest')
    expect(events.at(-1)?.status).toBe('success')
    expect(
      events.some((event) => event.total !== undefined && event.digest?.startsWith('sha256:')),
    ).toBe(true)
    const { models } = await client.list()
    expect(models.map((model) => model.name)).toContain('qwen2.5:0.5b')
  })

  it('stops a pull on abort: the simulator sees the download cancelled', async () => {
    sim.configure({ pullBytesPerSecond: 50e6 })
    const controller = new AbortController()
    const cancelled = once(sim.events, 'stream-cancel')
    const error = await caught(async () => {
      for await (const event of client.pull('qwen2.5:1.5b', { signal: controller.signal })) {
        if (event.completed !== undefined) controller.abort()
      }
    })
    expect(error.name).toBe('AbortError')
    const [info] = await cancelled
    expect(info).toMatchObject({ path: '/api/pull' })
    expect((await client.list()).models.map((model) => model.name)).not.toContain('qwen2.5:1.5b')
  })

  it('throws the registry error of a pull mid-stream, with a hint', async () => {
    const error = await caught(() => collect(client.pull('no-such-model-anywhere')))
    expect(error).toBeInstanceOf(OllamaError)
    expect(error.code).toBe('OLLAMA_STREAM_ERROR')
    expect(error.ollamaMessage).toBe('pull model manifest: file does not exist')
    expect(error.hint).toMatch(/ollama\.com\/library/)
  })

  it('copies and deletes models', async () => {
    await client.copy(MODEL, 'llama-backup')
    expect((await client.list()).models.map((model) => model.name)).toContain('llama-backup:latest')
    await client.delete('llama-backup')
    expect((await client.list()).models.map((model) => model.name)).not.toContain(
      'llama-backup:latest',
    )
  })

  it('reports an unknown model as 404 with Ollama’s message and how to pull it', async () => {
    const error = await caught(() =>
      client.chat({ model: 'nope', messages: [{ role: 'user', content: 'hi' }] }),
    )
    expect(error).toBeInstanceOf(OllamaError)
    expect(error.status).toBe(404)
    expect(error.ollamaMessage).toBe("model 'nope' not found")
    expect(error.hint).toContain('add it to `models` in vite.config.ts, or run `ollama pull nope`')

    const shown = await caught(() => client.show('nope'))
    expect(shown.status).toBe(404)
    expect(shown.ollamaMessage).toBe("model 'nope:latest' not found")

    const deleted = await caught(() => client.delete('nope'))
    expect(deleted.status).toBe(404)
    expect(deleted.hint).toContain('nothing to delete')
  })

  it('reports a bad request as 400 with Ollama’s message', async () => {
    const error = await caught(() => client.chat({ model: '', messages: [] }))
    expect(error.status).toBe(400)
    expect(error.ollamaMessage).toBe('model is required')
    expect(error.hint).toBeTruthy()
  })

  it('closes the upstream stream on abort: the simulator sees it within 100 ms', async () => {
    sim.configure({ tokenDelayMs: 5 })
    const controller = new AbortController()
    const stream = await client.chat(
      {
        model: MODEL,
        messages: [{ role: 'user', content: PROMPT }],
        options: { num_predict: 10_000 },
        stream: true,
      },
      { signal: controller.signal },
    )
    const cancelled = once(sim.events, 'stream-cancel')
    const before = sim.stats.cancelledStreams
    let abortedAt = 0
    const error = await caught(async () => {
      for await (const chunk of stream) {
        if (!chunk.done && abortedAt === 0) {
          abortedAt = performance.now()
          controller.abort()
        }
      }
    })
    expect(error.name).toBe('AbortError')
    await cancelled
    expect(performance.now() - abortedAt).toBeLessThan(100)
    expect(sim.stats.cancelledStreams).toBe(before + 1)
  })

  it('closes the upstream stream when the consumer breaks out of the loop', async () => {
    sim.configure({ tokenDelayMs: 5 })
    const stream = await client.chat({
      model: MODEL,
      messages: [{ role: 'user', content: PROMPT }],
      options: { num_predict: 10_000 },
      stream: true,
    })
    const cancelled = once(sim.events, 'stream-cancel')
    for await (const _ of stream) break
    await cancelled
  })

  it('aborts a request still waiting for its first byte', async () => {
    sim.configure({ firstByteDelayMs: 5_000 })
    const controller = new AbortController()
    const started = once(sim.events, 'request')
    const pending = client.chat(
      { model: MODEL, messages: [{ role: 'user', content: PROMPT }] },
      { signal: controller.signal },
    )
    await started
    const cancelled = once(sim.events, 'stream-cancel')
    controller.abort()
    const error = await caught(() => pending)
    expect(error.name).toBe('AbortError')
    await cancelled
  })

  it('waits for a slow first byte longer than the connect timeout', async () => {
    const patient = new OllamaClient(sim.url, { connectTimeoutMs: 200 })
    try {
      sim.configure({ firstByteDelayMs: 700 })
      const stream = await patient.chat({
        model: MODEL,
        messages: [{ role: 'user', content: PROMPT }],
        stream: true,
      })
      const chunks = await collect(stream)
      expect(chunks.map((chunk) => chunk.message.content).join('')).toBe(
        simulatedReply(MODEL, PROMPT),
      )
    } finally {
      await patient.close()
    }
  })

  it('turns a connection cut mid-stream into OllamaError status 0, without retrying', async () => {
    sim.configure({ failAfterTokens: 3 })
    const before = sim.stats.requests['POST /api/chat'] ?? 0
    const error = await caught(async () =>
      collect(
        await client.chat({
          model: MODEL,
          messages: [{ role: 'user', content: PROMPT }],
          stream: true,
        }),
      ),
    )
    expect(error).toBeInstanceOf(OllamaError)
    expect(error.status).toBe(0)
    expect(error.code).toBeTruthy()
    expect(error.hint).toMatch(/closed the connection|crashed/)
    expect(sim.stats.requests['POST /api/chat']).toBe(before + 1)
  })

  it('shares one connection pool between clients of the same server', async () => {
    const origin = new URL(sim.url).origin
    const before = poolUsers(origin, 2_000)
    const second = new OllamaClient(`${sim.url}/`)
    expect(poolUsers(origin, 2_000)).toBe(before + 1)
    await second.close()
    await second.close()
    expect(poolUsers(origin, 2_000)).toBe(before)
    // The first client's pool survived the second's close.
    await expect(client.version()).resolves.toHaveProperty('version')
  })
})

describe('OllamaClient failures without a simulator', () => {
  it('reports a refused connection as status 0 with its code and a hint', async () => {
    const port = await closedPort()
    const client = new OllamaClient(`http://127.0.0.1:${port}`, { retries: 0 })
    try {
      const error = await caught(() => client.list())
      expect(error).toBeInstanceOf(OllamaError)
      expect(error.status).toBe(0)
      expect(error.code).toBe('ECONNREFUSED')
      expect(error.hint).toContain(`Ollama is not running at http://127.0.0.1:${port}`)
    } finally {
      await client.close()
    }
  })

  it('retries an idempotent call while the server is still starting', async () => {
    const port = await closedPort()
    const client = new OllamaClient(`http://127.0.0.1:${port}`, { retries: 6 })
    let sim: Simulator | undefined
    try {
      const refused = connectErrors()
      const version = client.version()
      // Start the server only once the first attempt was refused: it comes up during the backoff.
      expect(await refused).toBe('ECONNREFUSED')
      sim = await startSimulator({ port })
      await expect(version).resolves.toHaveProperty('version')
      expect(sim.stats.requests['GET /api/version']).toBe(1)
    } finally {
      await client.close()
      await sim?.close()
    }
  })

  it('retries idempotent calls on a reset connection, and never chat, generate or pull', async () => {
    let connections = 0
    const raw = await rawServer(() => {})
    raw.server.on('connection', (socket: Socket) => {
      connections++
      socket.destroy()
    })
    const client = new OllamaClient(raw.url, { retries: 2 })
    try {
      for (const call of [() => client.version(), () => client.ps(), () => client.show(MODEL)]) {
        connections = 0
        const error = await caught(call)
        expect(error.status).toBe(0)
        expect(connections).toBe(3)
      }
      const once = [
        () => client.chat({ model: MODEL, messages: [] }),
        async () => collect(await client.chat({ model: MODEL, messages: [], stream: true })),
        () => client.generate({ model: MODEL, prompt: 'x' }),
        () => collect(client.pull(MODEL)),
        () => client.embed({ model: MODEL, input: 'x' }),
      ]
      for (const call of once) {
        connections = 0
        const error = await caught(call)
        expect(error.status).toBe(0)
        expect(connections).toBe(1)
      }
    } finally {
      await client.close()
      await closeRaw(raw)
    }
  })

  it('throws OllamaError on an {"error":…} line mid-stream, after the chunks before it', async () => {
    const raw = await rawServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' })
      const chunk = {
        model: MODEL,
        created_at: '2026-08-21T10:00:00Z',
        response: 'can',
        done: false,
      }
      res.write(`${JSON.stringify(chunk)}\n`)
      res.end('{"error":"an error was encountered while running the model"}\n')
    })
    const client = new OllamaClient(raw.url)
    try {
      const seen: string[] = []
      const error = await caught(async () => {
        for await (const chunk of await client.generate({
          model: MODEL,
          prompt: 'x',
          stream: true,
        })) {
          seen.push(chunk.response)
        }
      })
      expect(seen).toEqual(['can'])
      expect(error).toBeInstanceOf(OllamaError)
      expect(error.status).toBe(200)
      expect(error.code).toBe('OLLAMA_STREAM_ERROR')
      expect(error.ollamaMessage).toBe('an error was encountered while running the model')
    } finally {
      await client.close()
      await closeRaw(raw)
    }
  })

  it('rejects a server that does not answer like Ollama', async () => {
    const raw = await rawServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' })
      res.end('<html>a captive portal</html>')
    })
    const client = new OllamaClient(raw.url)
    try {
      const error = await caught(() => client.version())
      expect(error.code).toBe('OLLAMA_BAD_RESPONSE')
      expect(error.hint).toContain('`url` in vite.config.ts')
    } finally {
      await client.close()
      await closeRaw(raw)
    }
  })

  it('uses the body text of a non-JSON error, like ollama-js', async () => {
    const raw = await rawServer((_req, res) => {
      res.writeHead(403)
      res.end()
    })
    const client = new OllamaClient(raw.url)
    try {
      const error = await caught(() => client.list())
      expect(error.status).toBe(403)
      expect(error.ollamaMessage).toBe('Error 403: Forbidden')
      expect(error.hint).toContain('OLLAMA_ORIGINS')
    } finally {
      await client.close()
      await closeRaw(raw)
    }
  })

  it('sends requests under a path prefix (a proxy such as /__ollama)', async () => {
    const paths: string[] = []
    const raw = await rawServer((req, res) => {
      paths.push(req.url ?? '')
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{"version":"0.9.0"}')
    })
    const client = new OllamaClient(`${raw.url}/__ollama/`)
    try {
      expect(client.baseUrl).toBe(`${raw.url}/__ollama`)
      await client.version()
      expect(paths).toEqual(['/__ollama/api/version'])
    } finally {
      await client.close()
      await closeRaw(raw)
    }
  })

  it('refuses calls after close', async () => {
    const client = new OllamaClient('http://127.0.0.1:1')
    await client.close()
    const error = await caught(() => client.version())
    expect(error.code).toBe('OLLAMA_CLIENT_CLOSED')
  })
})

describe('normalizeBaseUrl', () => {
  it('reads addresses the way ollama-js does', () => {
    expect(normalizeBaseUrl('localhost').href).toBe('http://localhost:11434/')
    expect(normalizeBaseUrl(':8080').href).toBe('http://127.0.0.1:8080/')
    expect(normalizeBaseUrl('http://example.com').href).toBe('http://example.com/')
    expect(normalizeBaseUrl('https://example.com/ollama').href).toBe('https://example.com/ollama')
    expect(normalizeBaseUrl(' 127.0.0.1:11434 ').href).toBe('http://127.0.0.1:11434/')
  })

  it('says how to fix an address that is not a URL', () => {
    expect(() => normalizeBaseUrl('http://')).toThrow(/`url` in vite.config.ts/)
    expect(() => normalizeBaseUrl('ftp://x')).toThrow(/http:\/\/ or https:\/\//)
  })
})
