// biome-ignore-all lint/suspicious/noExplicitAny: tests read wire payloads loosely, field by field
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Simulator, startSimulator } from '../src/simulator/index.js'
import { instanceOf, PromptValues } from '../src/simulator/schema.js'
import { namesTool } from '../src/simulator/tools.js'

// Deterministic tool calls on the wire (docs/simulator.md, "Tool calls").

let sim: Simulator
beforeAll(async () => {
  sim = await startSimulator({ models: ['llama3.2', 'qwen3:0.6b', 'gemma3:1b'] })
})
afterAll(() => sim.close())

async function post(path: string, body: unknown): Promise<{ status: number; text: string }> {
  const res = await fetch(sim.url + path, { method: 'POST', body: JSON.stringify(body) })
  return { status: res.status, text: await res.text() }
}
const lines = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
const frames = (text: string) =>
  text
    .split('\n\n')
    .filter((f) => f.startsWith('data: ') && f !== 'data: [DONE]')
    .map((f) => JSON.parse(f.slice(6)))

const dice = {
  type: 'function',
  function: {
    name: 'roll_dice',
    parameters: {
      type: 'object',
      properties: { sides: { type: 'integer', minimum: 2 }, count: { type: 'integer' } },
      required: ['sides'],
    },
  },
}
const weather = {
  type: 'function',
  function: {
    name: 'get_weather',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
}
const user = (content: string) => [{ role: 'user', content }]

describe('which tool a message names', () => {
  it.each([
    ['Roll a die', 'roll_dice', true],
    ['keep rolling', 'roll_dice', true],
    ['throw the dice', 'roll_dice', true],
    ['call roll_dice now', 'roll_dice', true],
    ["What's the weather in Oslo?", 'get_weather', true],
    ['what is the weatherman saying', 'get_weather', false],
    ['get me something', 'get_weather', false],
    ['look up the stock price', 'lookupStockPrice', true],
    ['hello there', 'roll_dice', false],
  ])('%j names %s: %s', (text, name, expected) => {
    expect(namesTool(text, name)).toBe(expected)
  })
})

describe('schema instances', () => {
  const make = (schema: unknown, text = '') => instanceOf(schema, new PromptValues(text))

  it('follows $ref, picks the non-null branch, and honours bounds and formats', () => {
    const schema = {
      type: 'object',
      properties: {
        point: { $ref: '#/$defs/point' },
        maybe: { anyOf: [{ type: 'null' }, { type: 'string', format: 'email' }] },
        above: { type: 'number', exclusiveMinimum: 5 },
        below: { type: 'integer', exclusiveMaximum: 0 },
        many: { type: 'array', items: { type: 'boolean' }, minItems: 2 },
        fixed: { const: 'x' },
      },
      $defs: { point: { type: 'object', properties: { x: { type: 'number' } } } },
    }
    expect(make(schema, 'go 7 steps')).toEqual({
      point: { x: 7 },
      maybe: 'user@example.com',
      above: 5.5,
      below: -1,
      many: [true, true],
      fixed: 'x',
    })
  })

  it('takes quoted phrases before names, and numbers in order', () => {
    const schema = {
      type: 'object',
      properties: { a: { type: 'string' }, b: { type: 'string' }, n: { type: 'integer' } },
    }
    expect(make(schema, 'Send "hi there" to Grace Hopper 3 times')).toEqual({
      a: 'hi there',
      b: 'Grace Hopper',
      n: 3,
    })
  })
})

describe('native /api/chat tool calls', () => {
  it('calls every named tool, in the order of tools, with ids and indexes', async () => {
    const res = await post('/api/chat', {
      model: 'llama3.2',
      stream: false,
      tools: [weather, dice],
      messages: user('Roll a 12-sided die, then tell me the weather in Lima'),
    })
    expect(res.status).toBe(200)
    const body = JSON.parse(res.text)
    expect(body.message.content).toBe('')
    expect(body.done_reason).toBe('stop')
    const calls = body.message.tool_calls
    expect(calls.map((c: any) => c.function)).toEqual([
      { index: 0, name: 'get_weather', arguments: { city: 'Lima' } },
      { index: 1, name: 'roll_dice', arguments: { sides: 12, count: 1 } },
    ])
    for (const call of calls) expect(call.id).toMatch(/^call_[a-z0-9]{8}$/)
    expect(calls[0].id).not.toBe(calls[1].id)
  })

  it('streams thinking, then each call in its own content-less chunk, then the final chunk', async () => {
    const res = await post('/api/chat', {
      model: 'qwen3:0.6b',
      tools: [dice],
      messages: user('roll it'),
    })
    const parts = lines(res.text)
    const callAt = parts.findIndex((p) => p.message.tool_calls)
    expect(callAt).toBe(parts.length - 2)
    expect(
      parts.slice(0, callAt).every((p) => p.message.thinking && p.message.content === ''),
    ).toBe(true)
    expect(parts[callAt]).toMatchObject({
      message: { role: 'assistant', content: '' },
      done: false,
    })
    const final = parts.at(-1)
    expect(final).toMatchObject({ done: true, done_reason: 'stop' })
    expect(final.message.tool_calls).toBeUndefined()
    expect(final.eval_count).toBeGreaterThan(callAt)
  })

  it('answers in text when no offered tool is named', async () => {
    const res = await post('/api/chat', {
      model: 'llama3.2',
      stream: false,
      tools: [dice],
      messages: user('hello'),
    })
    const body = JSON.parse(res.text)
    expect(body.message.tool_calls).toBeUndefined()
    expect(body.message.content).toContain('You wrote: "hello"')
  })

  it('quotes the tool results, naming each by tool_name or by the call it answers', async () => {
    const res = await post('/api/chat', {
      model: 'llama3.2',
      stream: false,
      tools: [dice, weather],
      messages: [
        ...user('roll and weather'),
        {
          role: 'assistant',
          content: '',
          tool_calls: [
            { id: 'call_a', function: { name: 'roll_dice', arguments: { sides: 6 } } },
            { id: 'call_b', function: { name: 'get_weather', arguments: { city: 'Rome' } } },
          ],
        },
        { role: 'tool', content: '4', tool_call_id: 'call_a' },
        { role: 'tool', content: 'sunny\n25 C', tool_name: 'get_weather' },
      ],
    })
    expect(JSON.parse(res.text).message.content).toBe(
      'The roll_dice tool returned: 4. The get_weather tool returned: sunny 25 C.',
    )
  })

  it('ends with "length" and no call when num_predict cannot hold the call', async () => {
    const res = await post('/api/chat', {
      model: 'llama3.2',
      stream: false,
      tools: [dice],
      options: { num_predict: 2 },
      messages: user('roll a die'),
    })
    const body = JSON.parse(res.text)
    expect(body.done_reason).toBe('length')
    expect(body.message.tool_calls).toBeUndefined()
  })
})

describe('/v1/chat/completions tool calls', () => {
  it('sends the role in the first delta, the call complete, and finish_reason tool_calls', async () => {
    const res = await post('/v1/chat/completions', {
      model: 'llama3.2',
      stream: true,
      tools: [weather],
      messages: user('weather in Bergen?'),
    })
    const chunks = frames(res.text)
    expect(chunks[0].choices[0].delta).toEqual({
      role: 'assistant',
      tool_calls: [
        {
          id: expect.stringMatching(/^call_[a-z0-9]{8}$/),
          index: 0,
          type: 'function',
          function: { name: 'get_weather', arguments: '{"city":"Bergen"}' },
        },
      ],
    })
    expect(chunks.at(-1).choices[0]).toEqual({ index: 0, delta: {}, finish_reason: 'tool_calls' })
    expect(res.text.endsWith('data: [DONE]\n\n')).toBe(true)
  })

  it('names a tool result by the tool_call_id of the earlier call', async () => {
    const res = await post('/v1/chat/completions', {
      model: 'llama3.2',
      tools: [weather],
      messages: [
        ...user('weather in Bergen?'),
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_x', type: 'function', function: { name: 'get_weather', arguments: '{}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_x', content: 'rain' },
      ],
    })
    const body = JSON.parse(res.text)
    expect(body.choices[0]).toMatchObject({
      finish_reason: 'stop',
      message: { role: 'assistant', content: 'The get_weather tool returned: rain.' },
    })
  })
})
