import Anthropic from '@anthropic-ai/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Simulator, simulatedReply, startSimulator } from '../src/simulator/index.js'
import { servePlugin, waitForStatus } from './helpers/faults.js'

// The Anthropic-compatible /v1/messages against the simulator, as Ollama serves it
// (docs/simulator.md, "/v1/responses and /v1/messages"), with the official @anthropic-ai/sdk:
// directly, and through the dev server's transparent proxy with the plugin running the simulator.

let sim: Simulator
let served: Awaited<ReturnType<typeof servePlugin>>

beforeAll(async () => {
  sim = await startSimulator({ models: ['llama3.2', 'qwen3'] })
  served = await servePlugin({
    engine: 'simulator',
    models: ['llama3.2'],
    overlay: false,
    simulator: { installed: ['llama3.2', 'qwen3'] },
  })
  await waitForStatus(served.url, (s) => s.phase === 'ready', 30_000, 'ready')
}, 60_000)
afterAll(async () => {
  await served?.close()
  await sim?.close()
})

const weather: Anthropic.Tool = {
  name: 'get_weather',
  description: 'The weather in a city',
  input_schema: {
    type: 'object',
    properties: { city: { type: 'string' } },
    required: ['city'],
  },
}

/** Event names, each with its block type where it has one, runs collapsed to one. */
function shape(events: Anthropic.MessageStreamEvent[]): string[] {
  const names = events.map((e) =>
    e.type === 'content_block_start' ? `${e.type}:${e.content_block.type}` : e.type,
  )
  return names.filter((name, i) => name !== names[i - 1])
}

const targets = [
  ['the simulator', () => sim.url],
  ['the dev server proxy', () => `${served.url}/__ollama`],
] as const

describe.each(targets)('/v1/messages through %s', (_name, baseURL) => {
  const client = () => new Anthropic({ baseURL: baseURL(), apiKey: 'ollama', maxRetries: 0 })
  const hello = [{ role: 'user' as const, content: 'Hello' }]

  it('answers one message', async () => {
    const message = await client().messages.create({
      model: 'llama3.2',
      max_tokens: 1024,
      messages: hello,
    })
    expect(message.id).toMatch(/^msg_[0-9a-f]{24}$/)
    expect(message).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'llama3.2',
      stop_reason: 'end_turn',
      content: [{ type: 'text', text: simulatedReply('llama3.2', 'Hello') }],
    })
    expect(message.usage.output_tokens).toBeGreaterThan(0)
  })

  it('stops at max_tokens with stop_reason max_tokens', async () => {
    const message = await client().messages.create({
      model: 'llama3.2',
      max_tokens: 3,
      messages: hello,
    })
    expect(message.stop_reason).toBe('max_tokens')
    expect(message.usage.output_tokens).toBe(3)
  })

  it('streams in Ollama’s event order, and the SDK assembles the final message', async () => {
    const stream = client().messages.stream({ model: 'llama3.2', max_tokens: 4, messages: hello })
    const events: Anthropic.MessageStreamEvent[] = []
    stream.on('streamEvent', (event) => events.push(event))
    const final = await stream.finalMessage()
    expect(events.map((e) => e.type)).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ])
    const text = events
      .map((e) =>
        e.type === 'content_block_delta' && e.delta.type === 'text_delta' ? e.delta.text : '',
      )
      .join('')
    expect(final.content).toEqual([{ type: 'text', text, citations: null }].map(withoutNull))
    expect(final.stop_reason).toBe('max_tokens')
    expect(final.usage.output_tokens).toBe(4)
  })

  it('streams a thinking block before the text of a thinking model', async () => {
    const stream = client().messages.stream({ model: 'qwen3', max_tokens: 1024, messages: hello })
    const events: Anthropic.MessageStreamEvent[] = []
    stream.on('streamEvent', (event) => events.push(event))
    const final = await stream.finalMessage()
    expect(shape(events)).toEqual([
      'message_start',
      'content_block_start:thinking',
      'content_block_delta',
      'content_block_stop',
      'content_block_start:text',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ])
    expect(final.content.map((block) => block.type)).toEqual(['thinking', 'text'])
    expect(
      events.some((e) => e.type === 'content_block_delta' && e.delta.type === 'signature_delta'),
    ).toBe(false)
  })

  it('calls a tool with one input_json_delta, and answers with the tool result', async () => {
    const ask = [{ role: 'user' as const, content: 'Use get_weather for Paris' }]
    const stream = client().messages.stream({
      model: 'llama3.2',
      max_tokens: 1024,
      tools: [weather],
      messages: ask,
    })
    const events: Anthropic.MessageStreamEvent[] = []
    stream.on('streamEvent', (event) => events.push(event))
    const final = await stream.finalMessage()
    expect(events.map((e) => e.type)).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ])
    expect(final.stop_reason).toBe('tool_use')
    const call = final.content[0]
    if (call?.type !== 'tool_use') throw new Error(`expected tool_use, got ${call?.type}`)
    expect(call.name).toBe('get_weather')
    expect(call.id).toMatch(/^call_[a-z0-9]{8}$/)
    expect(typeof (call.input as { city: unknown }).city).toBe('string')

    const answer = await client().messages.create({
      model: 'llama3.2',
      max_tokens: 1024,
      tools: [weather],
      messages: [
        ...ask,
        { role: 'assistant', content: final.content },
        {
          role: 'user',
          content: [{ type: 'tool_result', tool_use_id: call.id, content: '21 degrees' }],
        },
      ],
    })
    expect(answer.stop_reason).toBe('end_turn')
    expect(answer.content[0]?.type === 'text' && answer.content[0].text).toContain('21 degrees')
  })

  it('answers errors in Anthropic’s shape with Ollama’s messages', async () => {
    const cases: Array<[Anthropic.MessageCreateParamsNonStreaming, number, string, string]> = [
      [
        { model: 'llama3.2', max_tokens: 0, messages: hello },
        400,
        'invalid_request_error',
        'max_tokens is required and must be positive',
      ],
      [
        { model: 'llama3.2', max_tokens: 5, messages: [] },
        400,
        'invalid_request_error',
        'messages is required',
      ],
      [
        {
          model: 'llama3.2',
          max_tokens: 5,
          messages: [
            {
              role: 'user',
              content: [{ type: 'image', source: { type: 'url', url: 'https://x/y.png' } }],
            },
          ],
        },
        400,
        'invalid_request_error',
        'invalid image source type: url. Only base64 images are supported.',
      ],
      [
        { model: 'no-such-model', max_tokens: 5, messages: hello },
        404,
        'not_found_error',
        "model 'no-such-model' not found",
      ],
    ]
    for (const [params, status, type, message] of cases) {
      const error = await client()
        .messages.create(params)
        .catch((e: unknown) => e)
      expect(error, message).toBeInstanceOf(Anthropic.APIError)
      const apiError = error as InstanceType<typeof Anthropic.APIError>
      expect(apiError.status).toBe(status)
      expect(apiError.error).toMatchObject({ type: 'error', error: { type, message } })
      expect((apiError.error as { request_id: string }).request_id).toMatch(/^req_[0-9a-f]{24}$/)
    }
  })

  it('relaxes thinking for a model that cannot think, where /api/chat would refuse', async () => {
    const message = await client().messages.create({
      model: 'llama3.2',
      max_tokens: 1024,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      messages: hello,
    })
    expect(message.content.map((block) => block.type)).toEqual(['text'])
  })
})

/** The SDK leaves `citations` out of a streamed text block it assembles. */
function withoutNull(block: { type: string; text: string; citations: null }) {
  const { citations: _, ...rest } = block
  return rest
}
