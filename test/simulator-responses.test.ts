import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Simulator, simulatedReply, startSimulator } from '../src/simulator/index.js'
import { servePlugin, waitForStatus } from './helpers/faults.js'

// OpenAI's Responses API against the simulator, as Ollama serves it (docs/simulator.md,
// "/v1/responses and /v1/messages"), with the official openai client: directly, and through the
// dev server's transparent proxy with the plugin running the simulator.

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

const weather = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'The weather in a city',
  strict: true,
  parameters: {
    type: 'object',
    properties: { city: { type: 'string' } },
    required: ['city'],
    additionalProperties: false,
  },
}

/** Event types with runs of the same type collapsed to one. */
function collapsed(types: string[]): string[] {
  return types.filter((type, i) => type !== types[i - 1])
}

const targets = [
  ['the simulator', () => `${sim.url}/v1`],
  ['the dev server proxy', () => `${served.url}/__ollama/v1`],
] as const

describe.each(targets)('/v1/responses through %s', (_name, baseURL) => {
  const client = () => new OpenAI({ baseURL: baseURL(), apiKey: 'ollama', maxRetries: 0 })

  it('answers one response object without streaming (the default)', async () => {
    const response = await client().responses.create({ model: 'llama3.2', input: 'Hi there' })
    expect(response.object).toBe('response')
    expect(response.id).toMatch(/^resp_\d+$/)
    expect(response.status).toBe('completed')
    expect(response.output_text).toBe(simulatedReply('llama3.2', 'Hi there'))
    expect(response.output).toHaveLength(1)
    expect(response.output[0]).toMatchObject({ type: 'message', role: 'assistant' })
    expect(response.output[0]?.id).toMatch(/^msg_\d+$/)
    expect(response.usage?.output_tokens).toBeGreaterThan(0)
    expect(response.usage?.total_tokens).toBe(
      (response.usage?.input_tokens ?? 0) + (response.usage?.output_tokens ?? 0),
    )
  })

  it('streams text in Ollama’s event order with increasing sequence numbers', async () => {
    const stream = await client().responses.create({
      model: 'llama3.2',
      input: 'Count',
      max_output_tokens: 3,
      stream: true,
    })
    const events: Array<{ type: string; sequence_number: number }> = []
    let text = ''
    for await (const event of stream) {
      events.push(event)
      if (event.type === 'response.output_text.delta') text += event.delta
    }
    expect(events.map((e) => e.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ])
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i))
    const completed = events.at(-1) as OpenAI.Responses.ResponseCompletedEvent
    expect(completed.response.status).toBe('completed')
    expect(completed.response.output).toEqual([
      expect.objectContaining({
        type: 'message',
        content: [{ type: 'output_text', text, annotations: [], logprobs: [] }],
      }),
    ])
    expect(completed.response.usage?.output_tokens).toBe(3)
  })

  it('streams a thinking model’s reasoning item before its message', async () => {
    const stream = await client().responses.create({ model: 'qwen3', input: 'Why?', stream: true })
    const types: string[] = []
    let reasoning = ''
    let completed: OpenAI.Responses.Response | undefined
    for await (const event of stream) {
      types.push(event.type)
      if (event.type === 'response.reasoning_summary_text.delta') reasoning += event.delta
      if (event.type === 'response.completed') completed = event.response
    }
    expect(collapsed(types)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ])
    expect(reasoning.length).toBeGreaterThan(0)
    expect(completed?.output.map((item) => item.type)).toEqual(['reasoning', 'message'])
  })

  it('calls a tool, streamed and not, and answers with its result', async () => {
    const input = 'Use get_weather for Paris'
    const response = await client().responses.create({ model: 'llama3.2', input, tools: [weather] })
    const call = response.output.find((item) => item.type === 'function_call')
    expect(call).toMatchObject({ type: 'function_call', name: 'get_weather', status: 'completed' })
    if (call?.type !== 'function_call') throw new Error('no function call')
    expect(call.call_id).toMatch(/^call_[a-z0-9]{8}$/)
    expect(typeof JSON.parse(call.arguments).city).toBe('string')
    expect(response.output.some((item) => item.type === 'message')).toBe(false)

    const stream = await client().responses.create({
      model: 'llama3.2',
      input,
      tools: [weather],
      stream: true,
    })
    const types: string[] = []
    for await (const event of stream) types.push(event.type)
    expect(types).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ])

    const answer = await client().responses.create({
      model: 'llama3.2',
      tools: [weather],
      input: [
        { role: 'user', content: input },
        call,
        { type: 'function_call_output', call_id: call.call_id, output: '21 degrees and sunny' },
      ],
    })
    expect(answer.output_text).toContain('21 degrees and sunny')
  })

  it('answers text.format json_schema with JSON that fits the schema', async () => {
    const response = await client().responses.create({
      model: 'llama3.2',
      input: 'Describe a city',
      text: {
        format: {
          type: 'json_schema',
          name: 'city',
          schema: {
            type: 'object',
            properties: { name: { type: 'string' }, population: { type: 'integer' } },
            required: ['name', 'population'],
          },
        },
      },
    })
    const city = JSON.parse(response.output_text)
    expect(typeof city.name).toBe('string')
    expect(Number.isInteger(city.population)).toBe(true)
  })

  it('answers Ollama’s 400s and 404s in the OpenAI error shape', async () => {
    const unknown = await client()
      .responses.create({
        model: 'llama3.2',
        input: [{ type: 'x' } as unknown as OpenAI.Responses.ResponseInputItem],
      })
      .catch((e: unknown) => e)
    expect(unknown).toBeInstanceOf(OpenAI.BadRequestError)
    expect((unknown as Error).message).toContain('input[0]: unknown input item type: "x"')

    const effort = await client()
      .responses.create({
        model: 'qwen3',
        input: 'x',
        reasoning: { effort: 'huge' as 'high' },
      })
      .catch((e: unknown) => e)
    expect(effort).toBeInstanceOf(OpenAI.BadRequestError)
    expect((effort as Error).message).toContain('invalid reasoning value: "huge"')

    const image = (url: string) =>
      client()
        .responses.create({
          model: 'llama3.2',
          input: [
            { role: 'user', content: [{ type: 'input_image', image_url: url, detail: 'auto' }] },
          ],
        })
        .catch((e: unknown) => e)
    expect(((await image('data:image/gif;base64,R0lGODlh')) as Error).message).toContain(
      'invalid image input',
    )
    expect(((await image('https://example.com/cat.png')) as Error).message).toContain(
      'image URLs are not currently supported, please use base64 encoded data instead',
    )
    const png = await client().responses.create({
      model: 'llama3.2',
      input: [
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'What is this?' },
            {
              type: 'input_image',
              image_url: 'data:image/png;base64,iVBORw0KGgo=',
              detail: 'auto',
            },
          ],
        },
      ],
    })
    expect(png.output_text).toBe(simulatedReply('llama3.2', 'What is this?'))

    const missing = await client()
      .responses.create({ model: 'no-such-model', input: 'x', stream: true })
      .catch((e: unknown) => e)
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError)
    expect((missing as Error).message).toContain("model 'no-such-model' not found")
  })

  it('frames events as `event:` and `data:` lines, with no [DONE]', async () => {
    const res = await fetch(`${baseURL()}/responses`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'llama3.2', input: 'x', stream: true, max_output_tokens: 2 }),
    })
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    const text = await res.text()
    const frames = text.trim().split('\n\n')
    expect(frames[0]).toMatch(/^event: response\.created\ndata: \{/)
    expect(frames.at(-1)).toMatch(/^event: response\.completed\ndata: \{/)
    expect(text).not.toContain('[DONE]')
  })
})

describe('/v1/responses and a client that goes away', () => {
  it('stops generating the moment the stream is aborted', async () => {
    sim.configure({ tokenDelayMs: 20 })
    try {
      const client = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: 'ollama', maxRetries: 0 })
      const controller = new AbortController()
      const cancelled = new Promise((resolve) => sim.events.once('stream-cancel', resolve))
      const stream = await client.responses.create(
        { model: 'llama3.2', input: 'Go on', max_output_tokens: 500, stream: true },
        { signal: controller.signal },
      )
      let deltas = 0
      await (async () => {
        for await (const event of stream) {
          if (event.type !== 'response.output_text.delta') continue
          deltas++
          controller.abort()
        }
      })().catch(() => undefined)
      expect(await cancelled).toMatchObject({ path: '/v1/responses', model: 'llama3.2' })
      expect(deltas).toBeLessThan(500)
    } finally {
      sim.configure({ tokenDelayMs: 0 })
    }
  })
})
