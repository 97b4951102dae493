// `engine: 'dmr'` in a real Vite dev server, with the simulator playing Docker Model Runner: the
// app's model pulled with progress over the HMR socket, then the plugin's whole chat protocol
// (POST /chat as SSE and JSON, the WebSocket) answered through DMR's OpenAI-compatible route, and
// the Ollama routes DMR lacks answered 501 with a hint.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import ollama from '../src/index.js'
import type { PullProgressEvent, StateSnapshot } from '../src/protocol.js'
import { type Simulator, simulatedReply, startSimulator } from '../src/simulator/index.js'
import {
  connectHmr,
  type HmrMessage,
  makeApp,
  memoryLogger,
  startVite,
  waitFor,
} from './helpers/vite.js'
import { ChatClient } from './helpers/ws-client.js'
import { parseSse } from './routes-harness.js'

const JSON_HEADERS = { 'Content-Type': 'application/json' }
/** What the simulator says to a prompt, for the model DMR files `llama3.2` under. */
const reply = (prompt: string) => simulatedReply('ai/llama3.2:latest', prompt)

describe("engine: 'dmr' in a real dev server", () => {
  let sim: Simulator
  let url: string
  let hmr: Awaited<ReturnType<typeof connectHmr>>
  let ready: StateSnapshot
  const logger = memoryLogger()
  const cleanups: Array<() => unknown> = []

  beforeAll(async () => {
    // llama3.2 is 2 GB: about two seconds of progress at 1 GB/s.
    sim = await startSimulator({ flavor: 'dmr', pullBytesPerSecond: 1e9 })
    cleanups.push(() => sim.close())
    const app = makeApp()
    const started = await startVite({
      root: app.root,
      customLogger: logger,
      logLevel: 'info',
      plugins: [ollama({ engine: 'dmr', dmr: { url: sim.url }, models: ['llama3.2'] })],
    })
    url = started.url
    cleanups.push(app.remove, () => started.server.close())
    hmr = await connectHmr(url)
    cleanups.push(() => hmr.close())
    ready = await waitFor(
      async () => {
        const s = (await (await fetch(`${url}/__ollama/status`)).json()) as StateSnapshot
        return s.phase === 'ready' ? s : null
      },
      30_000,
      'phase ready',
    )
  }, 60_000)

  afterAll(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn()
  })

  it('pulls the missing model through DMR, with progress in the terminal and the overlay', () => {
    expect(ready.engine).toMatchObject({
      kind: 'dmr',
      url: sim.url,
      version: '1.0.11',
      simulated: false,
      label: 'Model Runner',
    })
    expect(ready.models).toEqual([expect.objectContaining({ name: 'llama3.2', status: 'loaded' })])
    expect(sim.stats.requests['POST /models/create']).toBe(1)

    const progress = hmr.messages
      .filter((m: HmrMessage) => m.event === 'ollama:progress')
      .map((m) => m.data as PullProgressEvent)
      .filter((p) => p.model === 'llama3.2')
    expect(progress.some((p) => p.percent > 0 && p.percent < 100)).toBe(true)
    expect(progress.at(-1)).toMatchObject({ status: 'success', percent: 100 })
    const lines = logger.lines.join('\n')
    const engineLine = logger.lines.find((l) => l.includes('engine: '))
    expect(engineLine).toMatch(
      new RegExp(
        `engine: Docker Model Runner 1\\.0\\.11 at ${sim.url} \\(chat through its OpenAI-compatible API\\)$`,
      ),
    )
    expect(lines).toMatch(/ready \(llama3\.2\)/)
  })

  it('streams a chat through /__ollama/chat as SSE, from DMR’s OpenAI-compatible route', async () => {
    const before = sim.stats.requests['POST /engines/v1/chat/completions'] ?? 0
    const res = await fetch(`${url}/__ollama/chat`, {
      method: 'POST',
      headers: JSON_HEADERS,
      body: JSON.stringify({ prompt: 'hello from dmr' }),
    })
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
    const events = parseSse(await res.text())
    const tokens = events.filter((e) => e.event === 'token')
    expect(tokens.length).toBeGreaterThan(5)
    expect(tokens.map((e) => JSON.parse(e.data).content).join('')).toBe(reply('hello from dmr'))
    const done = events.at(-1)!
    expect(done.event).toBe('done')
    expect(JSON.parse(done.data).metrics).toMatchObject({
      model: 'llama3.2',
      tokens: tokens.length,
      promptTokens: expect.any(Number),
      doneReason: 'stop',
    })
    expect(sim.stats.requests['POST /engines/v1/chat/completions']).toBe(before + 1)
    expect(sim.stats.requests['POST /api/chat']).toBeUndefined()
  })

  it('answers a chat as one JSON reply with Accept: application/json', async () => {
    const res = await fetch(`${url}/__ollama/chat`, {
      method: 'POST',
      headers: { ...JSON_HEADERS, Accept: 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'json please' }] }),
    })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({
      content: reply('json please'),
      metrics: { model: 'llama3.2' },
    })
  })

  it('names a model DMR does not have in a 404 that says where to look', async () => {
    const res = await fetch(`${url}/__ollama/chat`, {
      method: 'POST',
      headers: { ...JSON_HEADERS, Accept: 'application/json' },
      body: JSON.stringify({ model: 'no-such-model', prompt: 'hi' }),
    })
    expect(res.status).toBe(404)
    const body = (await res.json()) as { error: string; hint: string }
    expect(body.error).toMatch(/Docker Model Runner has no model 'no-such-model'/)
    expect(body.hint).toContain('docker model pull ai/no-such-model:latest')
  })

  it('chats over the WebSocket', async () => {
    const client = await ChatClient.open(`${url.replace(/^http/, 'ws')}/__ollama/ws`)
    cleanups.push(() => client.ws.terminate())
    client.send({ type: 'chat', id: 1, content: 'hello socket' })
    const done = await client.end(1)
    expect(done.type).toBe('done')
    expect(client.text(1)).toBe(reply('hello socket'))
    expect(done.metrics).toMatchObject({ model: 'llama3.2' })
  })

  it('answers the Ollama routes DMR lacks with 501 and what to use instead', async () => {
    const lacking: Array<[string, string, RegExp]> = [
      ['POST', '/api/embed', /v1\/embeddings/],
      ['POST', '/api/embeddings', /v1\/embeddings/],
      ['POST', '/api/create', /docker model package/],
      ['POST', '/api/copy', /docker model tag/],
      ['POST', '/api/push', /docker model push/],
      ['HEAD', '/api/blobs/sha256:0123', /docker model package --gguf/],
      ['POST', '/api/blobs/sha256:0123', /docker model package --gguf/],
    ]
    const seen = { ...sim.stats.requests }
    for (const [method, path, hint] of lacking) {
      const res = await fetch(`${url}/__ollama${path}`, {
        method,
        headers: JSON_HEADERS,
        ...(method === 'POST' ? { body: '{"model":"llama3.2"}' } : {}),
      })
      expect(res.status, path).toBe(501)
      if (method === 'HEAD') continue
      const body = (await res.json()) as { error: string; hint: string }
      expect(body.error, path).toContain('Docker Model Runner has no')
      expect(body.hint, path).toMatch(hint)
    }
    // Refused here: none of them reached DMR.
    expect(sim.stats.requests).toEqual(seen)
  })

  it('passes the routes DMR has straight through', async () => {
    const version = await fetch(`${url}/__ollama/api/version`)
    expect(await version.json()).toEqual({ version: '0.1.0' })
    const tags = (await (await fetch(`${url}/__ollama/api/tags`)).json()) as {
      models: Array<{ name: string }>
    }
    expect(tags.models.map((m) => m.name)).toEqual(['ai/llama3.2:latest'])
    const completion = await fetch(`${url}/__ollama/v1/chat/completions`, {
      method: 'POST',
      headers: JSON_HEADERS,
      body: JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'v1' }] }),
    })
    expect(completion.status).toBe(200)
    const answer = (await completion.json()) as { choices: Array<{ message: { content: string } }> }
    // The OpenAI route passed through untouched: the model keeps the name the request gave it.
    expect(answer.choices[0]?.message.content).toBe(simulatedReply('llama3.2', 'v1'))
  })
})
