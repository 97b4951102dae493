// POST /chat with a `useChat` body answers the AI SDK's UI message stream, from the dev server and
// from createOllamaHandler alike (one framing, src/chat/ui-stream.ts): read with the SDK's own
// parser, schema and readUIMessageStream (ai@5), and held to the client's ordering rules.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { UIMessage } from 'ai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createOllamaHandler, toNodeHandler } from '../src/production/index.js'
import { simulatedReply } from '../src/simulator/index.js'
import {
  orderingProblem,
  readUiChunks,
  uiChatBody,
  uiMessageOf,
  userMessage,
} from './helpers/ui-stream.js'
import { type Harness, startHarness } from './routes-harness.js'

const DICE = {
  type: 'function',
  function: {
    name: 'roll_dice',
    description: 'Rolls a die',
    parameters: {
      type: 'object',
      properties: { sides: { type: 'integer', description: 'How many sides' } },
      required: ['sides'],
    },
  },
}

/** A 1×1 PNG. */
const PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=='

let h: Harness
let production: { url: string; server: Server }

beforeAll(async () => {
  h = await startHarness({ sim: { models: ['llama3.2', 'qwen3'] } })
  const handler = createOllamaHandler({ url: h.sim.url, models: ['llama3.2', 'qwen3'] })
  const server = createServer(toNodeHandler(handler))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  production = {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${handler.base}`,
  }
})
afterAll(async () => {
  production.server.close()
  await h.close()
})

function post(url: string, body: unknown, signal?: AbortSignal): Promise<Response> {
  // No Accept header: DefaultChatTransport sends none.
  return fetch(`${url}/chat`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  })
}

const sides = [
  ['dev server', () => h.url],
  ['production handler', () => production.url],
] as const

describe.each(sides)('POST /chat with a useChat body (%s)', (_name, base) => {
  it('streams text in the UI message stream, with the headers and metrics', async () => {
    const prompt = 'Why is the sky blue?'
    const res = await post(base(), uiChatBody([userMessage(prompt)], { model: 'llama3.2' }))
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
    expect(res.headers.get('x-vercel-ai-ui-message-stream')).toBe('v1')
    const { chunks } = await readUiChunks(res)
    expect(orderingProblem(chunks)).toBeNull()
    const types = chunks.map((c) => c.type)
    expect(types.slice(0, 3)).toEqual(['start', 'start-step', 'text-start'])
    expect(types.slice(-3)).toEqual(['text-end', 'finish-step', 'finish'])
    const finish = chunks.at(-1) as {
      finishReason: string
      messageMetadata: { metrics: { tokens: number } }
    }
    expect(finish.finishReason).toBe('stop')
    expect(finish.messageMetadata.metrics.tokens).toBeGreaterThan(0)
    const message = await uiMessageOf(chunks)
    expect(message.parts.filter((p) => p.type === 'text')).toEqual([
      { type: 'text', text: simulatedReply('llama3.2', prompt), state: 'done' },
    ])
    expect(message.metadata).toMatchObject({ metrics: { model: 'llama3.2' } })
  })

  it('streams a thinking model’s reasoning before its answer, timed apart', async () => {
    const res = await post(base(), uiChatBody([userMessage('Think about it')], { model: 'qwen3' }))
    const { chunks } = await readUiChunks(res)
    expect(orderingProblem(chunks)).toBeNull()
    const message = await uiMessageOf(chunks)
    const kinds = message.parts.map((p) => p.type)
    expect(kinds).toEqual(['step-start', 'reasoning', 'text'])
    const reasoning = message.parts[1] as { text: string }
    expect(reasoning.text.length).toBeGreaterThan(0)
    const metrics = (message.metadata as { metrics: Record<string, number> }).metrics
    expect(metrics.firstReasoningMs).toBeLessThanOrEqual(metrics.firstAnswerMs as number)
    expect(metrics.ttftMs).toBe(metrics.firstReasoningMs)
  })

  it('stops at a client-side tool call, then continues the same message with its result', async () => {
    const user = userMessage('Please roll the dice with 6 sides')
    const first = await post(base(), uiChatBody([user], { model: 'llama3.2', tools: [DICE] }))
    const { chunks } = await readUiChunks(first)
    expect(orderingProblem(chunks)).toBeNull()
    expect(chunks.at(-1)).toMatchObject({ type: 'finish', finishReason: 'tool-calls' })
    const call = chunks.find((c) => c.type === 'tool-input-available') as {
      toolCallId: string
      input: { sides: number }
    }
    expect(call).toMatchObject({
      toolName: 'roll_dice',
      toolCallId: expect.stringMatching(/^call_/),
    })
    expect(typeof call.input.sides).toBe('number')
    const asked = await uiMessageOf(chunks)
    const tool = asked.parts.find((p) => p.type === 'tool-roll_dice') as Record<string, unknown>
    expect(tool).toMatchObject({ state: 'input-available', toolCallId: call.toolCallId })

    // What addToolOutput leaves in the message (useChat gave it an id), re-POSTed by
    // sendAutomaticallyWhen.
    const answered: UIMessage = {
      ...asked,
      id: 'assistant-1',
      parts: asked.parts.map((p) =>
        p === tool ? { ...tool, state: 'output-available', output: { rolled: 4 } } : p,
      ) as UIMessage['parts'],
    }
    const second = await post(
      base(),
      uiChatBody([user, answered], { model: 'llama3.2', tools: [DICE] }),
    )
    const next = await readUiChunks(second)
    expect(orderingProblem(next.chunks)).toBeNull()
    expect(next.chunks[0]).toEqual({ type: 'start', messageId: 'assistant-1' })
    const final = await uiMessageOf(next.chunks, answered)
    expect(final.id).toBe('assistant-1')
    const text = final.parts
      .filter((p) => p.type === 'text')
      .map((p) => (p as { text: string }).text)
    expect(text.join('')).toContain('{"rolled":4}')
    expect(final.parts.map((p) => p.type)).toEqual([
      'step-start',
      'tool-roll_dice',
      'step-start',
      'text',
    ])
  })

  it('sends an error chunk, then finish, when the model server dies mid-stream', async () => {
    h.sim.configure({ failAfterTokens: 3 })
    try {
      const res = await post(base(), uiChatBody([userMessage('hi there')], { model: 'llama3.2' }))
      const { chunks } = await readUiChunks(res)
      expect(orderingProblem(chunks)).toBeNull()
      const types = chunks.map((c) => c.type)
      expect(types).toContain('text-delta')
      expect(types.slice(-3)).toEqual(['error', 'finish-step', 'finish'])
      expect(chunks.at(-1)).toEqual({ type: 'finish', finishReason: 'error' })
      expect((chunks.at(-3) as { errorText: string }).errorText.length).toBeGreaterThan(0)
    } finally {
      h.sim.configure({ failAfterTokens: undefined })
    }
  })

  it('sends an image file part to the model as base64', async () => {
    const res = await post(
      base(),
      uiChatBody(
        [
          userMessage('What is in this picture?', [
            { type: 'file', mediaType: 'image/png', url: `data:image/png;base64,${PNG}` },
          ]),
        ],
        { model: 'llama3.2' },
      ),
    )
    expect(res.status).toBe(200)
    expect(orderingProblem((await readUiChunks(res)).chunks)).toBeNull()
  })

  it('answers a request it cannot run with plain text naming the fix', async () => {
    const image = await post(
      base(),
      uiChatBody([
        userMessage('Look', [
          { type: 'file', mediaType: 'image/png', url: 'https://example.com/cat.png' },
        ]),
      ]),
    )
    expect(image.status).toBe(400)
    expect(image.headers.get('content-type')).toMatch(/^text\/plain/)
    expect(await image.text()).toMatch(/messages\.0\.parts\.1\.url: image URLs .* data: URL/)

    const think = await post(base(), uiChatBody([userMessage('hi')], { think: 'hard' }))
    expect(think.status).toBe(400)
    expect(await think.text()).toMatch(/^Invalid request body: think: use true, false/)
  })

  it('answers the resume request with 204', async () => {
    const res = await fetch(`${base()}/chat/chat-1/stream`)
    expect(res.status).toBe(204)
  })
})

describe('POST /chat in the dev server, for the other framings', () => {
  it('sends reasoning and tool-call events in our SSE', async () => {
    const res = await fetch(`${h.url}/chat`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
      body: JSON.stringify({
        model: 'qwen3',
        messages: [{ role: 'user', content: 'Roll the dice for me' }],
        tools: [DICE],
      }),
    })
    const text = await res.text()
    const events = [...text.matchAll(/^event: (.+)$/gm)].map((m) => m[1])
    expect(events).toContain('reasoning')
    expect(events).toContain('tool-call')
    expect(events.at(-1)).toBe('done')
    expect(events.indexOf('reasoning')).toBeLessThan(events.indexOf('tool-call'))
    const call = JSON.parse(/event: tool-call\ndata: (.+)/.exec(text)?.[1] ?? '{}')
    expect(call).toMatchObject({ name: 'roll_dice', id: expect.stringMatching(/^call_/) })
  })

  it('answers JSON with the reasoning and the tool calls', async () => {
    const res = await fetch(`${h.url}/chat`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ model: 'qwen3', prompt: 'Roll the dice', tools: [DICE] }),
    })
    const result = await res.json()
    expect(result.reasoning.length).toBeGreaterThan(0)
    expect(result.toolCalls).toEqual([
      { id: expect.stringMatching(/^call_/), name: 'roll_dice', arguments: expect.any(Object) },
    ])
    expect(result.metrics.firstReasoningMs).toBeGreaterThanOrEqual(0)
  })

  it('cancels the model’s stream when the useChat request is aborted', async () => {
    const abort = new AbortController()
    const res = await post(
      h.url,
      uiChatBody([userMessage('a long one')], {
        model: 'llama3.2',
        options: { num_predict: 5000 },
      }),
      abort.signal,
    )
    const reader = (res.body as ReadableStream<Uint8Array>).getReader()
    let seen = ''
    while (!seen.includes('text-delta')) {
      const { value, done } = await reader.read()
      if (done) throw new Error(`ended before any text: ${seen}`)
      seen += new TextDecoder().decode(value)
    }
    const cancelled = new Promise<number>((resolve) =>
      h.sim.events.once('stream-cancel', () => resolve(performance.now())),
    )
    const abortedAt = performance.now()
    abort.abort()
    await reader.cancel().catch(() => {})
    expect((await cancelled) - abortedAt).toBeLessThan(1000)
  })
})
