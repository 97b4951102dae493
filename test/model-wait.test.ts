// A chat sent while its model still pulls waits for it (src/server/model-wait.ts): a real Vite
// dev server with the plugin, in front of the simulator, whose pulls are slowed down.
import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import ollama from '../src/index.js'
import type { ModelWaiting, StateSnapshot } from '../src/protocol.js'
import { type Simulator, type SimulatorOptions, startSimulator } from '../src/simulator/index.js'
import { processState } from '../src/singleton.js'
import { orderingProblem, readUiChunks, uiChatBody, userMessage } from './helpers/ui-stream.js'
import { makeApp, startVite, waitFor } from './helpers/vite.js'
import { ChatClient } from './helpers/ws-client.js'

const MODEL = 'llama3.2:1b'
const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

/** The plugin adopting a simulator whose pull of MODEL (1.3 GB) takes about six seconds. */
async function serve(
  sim: SimulatorOptions = {},
  models = [MODEL],
  plugin: Parameters<typeof ollama>[0] = {},
) {
  const simulator: Simulator = await startSimulator({ pullBytesPerSecond: 220e6, ...sim })
  cleanups.push(() => simulator.close())
  const app = makeApp()
  const { server, url } = await startVite({
    root: app.root,
    plugins: [ollama({ engine: 'external', url: simulator.url, models, warmup: false, ...plugin })],
  })
  cleanups.push(app.remove, () => server.close())
  return { url, base: `${url}/__ollama`, simulator }
}

async function status(base: string): Promise<StateSnapshot> {
  return (await (await fetch(`${base}/status`)).json()) as StateSnapshot
}

/** Resolves once MODEL's pull is past `percent`. */
async function pullPast(base: string, percent: number): Promise<void> {
  await waitFor(
    async () => {
      const model = (await status(base)).models.find((m) => m.name === MODEL)
      return model?.status === 'pulling' && (model.progress?.percent ?? 0) >= percent
    },
    30_000,
    `the pull past ${percent}%`,
  )
}

/** `POST /chat` as SSE, read to its end: the events in order. */
async function chatSse(base: string, body: object, signal?: AbortSignal) {
  const res = await fetch(`${base}/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify(body),
    signal,
  })
  expect(res.status).toBe(200)
  const text = await res.text()
  return text
    .split('\n\n')
    .filter((block) => block.startsWith('event: '))
    .map((block) => {
      const [event, data] = block.split('\n')
      return { event: event!.slice(7), data: JSON.parse(data!.slice(6)) as unknown }
    })
}

/** Chat requests that reached the simulator before its pull of MODEL ended. */
function chatsBeforePulled(simulator: Simulator): string[] {
  let pulled = false
  const early: string[] = []
  simulator.events.on('stream-end', (info: { path: string }) => {
    if (info.path.startsWith('/api/pull')) pulled = true
  })
  simulator.events.on('request', (_method: string, path: string) => {
    if (/chat/.test(path) && !pulled) early.push(path)
  })
  return early
}

function progressListeners(): number {
  const orchestrator = processState().orchestrator
  if (!orchestrator) throw new Error('no orchestrator')
  return orchestrator.listenerCount('progress')
}

describe('a chat waits for its model', () => {
  it('over SSE: waiting events with the progress, then the answer', async () => {
    const { base } = await serve()
    await pullPast(base, 20)
    const events = await chatSse(base, { model: MODEL, prompt: 'hello' })
    const waiting = events.filter((e) => e.event === 'waiting').map((e) => e.data as ModelWaiting)
    expect(waiting.length).toBeGreaterThan(1)
    expect(waiting[0]).toMatchObject({ model: MODEL, percent: expect.any(Number) })
    const percents = waiting.map((w) => w.percent)
    expect(percents).toEqual([...percents].sort((a, b) => a - b))
    const names = events.map((e) => e.event)
    // Every waiting event comes before the first token, and the chat ends well.
    expect(names.lastIndexOf('waiting')).toBeLessThan(names.indexOf('token'))
    expect(names.at(-1)).toBe('done')
    expect(names).not.toContain('error')
    expect((await status(base)).models.find((m) => m.name === MODEL)?.status).not.toBe('pulling')
  })

  it('in the AI SDK stream: transient data-ollama-waiting parts, then the answer', async () => {
    const { base } = await serve()
    await pullPast(base, 20)
    const res = await fetch(`${base}/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(uiChatBody([userMessage('hello')], { model: MODEL })),
    })
    const { chunks } = await readUiChunks(res)
    expect(orderingProblem(chunks)).toBeNull()
    const types = chunks.map((c) => c.type)
    const waiting = chunks.filter((c) => c.type === 'data-ollama-waiting')
    expect(waiting.length).toBeGreaterThan(1)
    expect(waiting[0]).toMatchObject({
      transient: true,
      data: { model: MODEL, percent: expect.any(Number) },
    })
    expect(types.slice(0, 2)).toEqual(['start', 'start-step'])
    expect(types.lastIndexOf('data-ollama-waiting')).toBeLessThan(types.indexOf('text-start'))
    expect(chunks.at(-1)).toMatchObject({ type: 'finish', finishReason: 'stop' })
  })

  it('as JSON and through the proxied /api/chat and /v1/chat/completions: they just wait', async () => {
    const { base, simulator } = await serve()
    await pullPast(base, 10)
    const early = chatsBeforePulled(simulator)
    const json = fetch(`${base}/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ model: MODEL, prompt: 'hello' }),
    })
    const native = fetch(`${base}/api/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: MODEL,
        messages: [{ role: 'user', content: 'hi' }],
        stream: false,
      }),
    })
    const openai = fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }),
    })
    const [a, b, c] = await Promise.all([json, native, openai])
    expect(a.status).toBe(200)
    expect(((await a.json()) as { content: string }).content.length).toBeGreaterThan(0)
    expect(b.status).toBe(200)
    expect(((await b.json()) as { message: { content: string } }).message.content).toBeTruthy()
    expect(c.status).toBe(200)
    const completion = (await c.json()) as { choices: Array<{ message: { content: string } }> }
    expect(completion.choices[0]?.message.content).toBeTruthy()
    // Nothing went upstream before the model was there: the proxy held each request back.
    expect(early).toEqual([])
    expect(simulator.stats.requests['POST /api/chat']).toBeGreaterThan(0)
  })

  it('a proxied chat with photos past maxBodySize streams on, and still waits for its model', async () => {
    const { base, simulator } = await serve({}, [MODEL], { maxBodySize: 64 * 1024 })
    await pullPast(base, 10)
    const early = chatsBeforePulled(simulator)
    // Two "photos" of 1.5 MB each: JPEG's magic bytes, then noise.
    const photo = () =>
      Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(1_500_000)]).toString(
        'base64',
      )
    const body = JSON.stringify({
      model: MODEL,
      messages: [{ role: 'user', content: 'what is in these?', images: [photo(), photo()] }],
      stream: false,
    })
    expect(body.length).toBeGreaterThan(50 * 64 * 1024)
    const answer = await fetch(`${base}/api/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    })
    expect(answer.status).toBe(200)
    expect(((await answer.json()) as { message: { content: string } }).message.content).toBeTruthy()
    expect(early).toEqual([])
  })

  it('over the WebSocket: waiting frames with the chat id, then tokens', async () => {
    const { url, base } = await serve()
    await pullPast(base, 20)
    const ws = await ChatClient.open(`${url.replace('http', 'ws')}/__ollama/ws`)
    cleanups.push(() => ws.ws.close())
    ws.send({ type: 'chat', id: 7, model: MODEL, content: 'hello' })
    const done = await ws.next((f) => f.id === 7 && (f.type === 'done' || f.type === 'error'))
    expect(done.type).toBe('done')
    const mine = ws.frames.filter((f) => f.id === 7).map((f) => f.type)
    expect(mine.filter((t) => t === 'waiting').length).toBeGreaterThan(0)
    expect(mine.lastIndexOf('waiting')).toBeLessThan(mine.indexOf('token'))
    expect(ws.frames.find((f) => f.type === 'waiting')).toMatchObject({
      model: MODEL,
      percent: expect.any(Number),
    })
    expect(ws.text(7).length).toBeGreaterThan(0)
  })

  it("ends with the pull's own failure when the pull fails", async () => {
    // Two pulls at a time: BROKEN waits for a slot behind two slow pulls, then fails at once.
    const BROKEN = 'smollm2:135m'
    const failure = 'write /root/.ollama/models/blobs/sha256-1-partial: no space left on device'
    const { base } = await serve({ pullErrors: { [BROKEN]: failure } }, [
      MODEL,
      'smollm2:1.7b',
      BROKEN,
    ])
    await pullPast(base, 5)
    expect((await status(base)).models.find((m) => m.name === BROKEN)?.status).toBe('pulling')
    const events = await chatSse(base, { model: BROKEN, prompt: 'hello' })
    expect(events.map((e) => e.event)).toEqual([
      ...events.slice(0, -1).map(() => 'waiting'),
      'error',
    ])
    expect(events.length).toBeGreaterThan(1)
    const error = events.at(-1)!.data as { message: string; hint?: string }
    const modelError = (await status(base)).models.find((m) => m.name === BROKEN)?.error
    expect(modelError?.message).toBeTruthy()
    expect(error.message).toBe(modelError?.message)
    expect(error.hint ?? '').not.toMatch(/add it to `models`/)
    // A chat after the failure gets that failure at once, not "add it to models".
    const late = await fetch(`${base}/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ model: BROKEN, prompt: 'hello' }),
    })
    expect(late.status).toBe(502)
    const problem = (await late.json()) as { error: string; hint?: string }
    expect(problem.error).toBe(modelError?.message)
    expect(problem.hint ?? '').not.toMatch(/add it to `models`/)
  })

  it('leaves no listener behind when the client goes away during the wait', async () => {
    const { base, simulator } = await serve()
    await pullPast(base, 5)
    const before = progressListeners()
    const abort = new AbortController()
    const res = await fetch(`${base}/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ model: MODEL, prompt: 'hello' }),
      signal: abort.signal,
    })
    const reader = res.body!.getReader()
    // The first waiting event says the chat is waiting, and listening.
    let seen = ''
    while (!seen.includes('event: waiting'))
      seen += new TextDecoder().decode((await reader.read()).value)
    expect(progressListeners()).toBe(before + 1)
    abort.abort()
    await waitFor(() => progressListeners() === before, 10_000, 'the listener removed')
    // Nothing is sent to Ollama for it once the pull ends.
    await waitFor(async () => (await status(base)).phase === 'ready', 30_000, 'ready')
    expect(simulator.stats.requests['POST /api/chat'] ?? 0).toBe(0)
  })

  it('the state counts the waiting chats per model, for the overlay, until each stops waiting', async () => {
    const { base } = await serve()
    await pullPast(base, 5)
    expect((await status(base)).waitingChats).toBeUndefined()
    const leaving = new AbortController()
    const staying = chatSse(base, { model: MODEL, prompt: 'hello' })
    const left = chatSse(base, { model: MODEL, prompt: 'bye' }, leaving.signal).catch(
      () => 'aborted',
    )
    await waitFor(
      async () => (await status(base)).waitingChats?.[0]?.chats === 2,
      10_000,
      'two waiting chats',
    )
    expect((await status(base)).waitingChats).toEqual([{ model: MODEL, chats: 2 }])
    leaving.abort()
    expect(await left).toBe('aborted')
    await waitFor(
      async () => (await status(base)).waitingChats?.[0]?.chats === 1,
      10_000,
      'one waiting chat once the other left',
    )
    expect((await staying).at(-1)?.event).toBe('done')
    // Answered: no chat waits any more, and the field is gone.
    expect((await status(base)).waitingChats).toBeUndefined()
  })

  it('an unknown model gets a 404 that says to add it to models or pull it', async () => {
    const { base } = await serve({ models: [MODEL] })
    await waitFor(async () => (await status(base)).phase === 'ready', 30_000, 'ready')
    const res = await fetch(`${base}/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ model: 'qwen2.5:0.5b', prompt: 'hello' }),
    })
    expect(res.status).toBe(404)
    const problem = (await res.json()) as { error: string; hint: string }
    expect(problem.hint).toMatch(/`models`/)
    expect(problem.hint).toMatch(/pull/)
  })

  it('a model in models that nothing pulls gets a 404 that says how to pull it', async () => {
    const { base } = await serve({}, [MODEL], { autoPull: false })
    await waitFor(async () => (await status(base)).phase === 'ready', 30_000, 'ready')
    const res = await fetch(`${base}/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ model: MODEL, prompt: 'hello' }),
    })
    expect(res.status).toBe(404)
    const problem = (await res.json()) as { error: string; hint: string }
    expect(problem.error).toContain(MODEL)
    expect(problem.hint).toMatch(/POST \/__ollama\/pull/)
    expect(problem.hint).not.toMatch(/add it to `models`/)
  })
})
