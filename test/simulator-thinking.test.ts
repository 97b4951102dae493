// biome-ignore-all lint/suspicious/noExplicitAny: tests read wire payloads loosely, field by field
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Simulator, startSimulator } from '../src/simulator/index.js'
import { simulatedReply, simulatedThinking, tokenize } from '../src/simulator/tokens.js'

// Thinking, num_predict, stop sequences and logprobs (docs/simulator.md, "Thinking", "Stop
// sequences", "Logprobs").

let sim: Simulator
beforeAll(async () => {
  sim = await startSimulator({ models: ['llama3.2', 'qwen3:0.6b', 'gpt-oss:20b'] })
})
afterAll(() => sim.close())

async function post(path: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(sim.url + path, { method: 'POST', body: JSON.stringify(body) })
  const text = await res.text()
  return { status: res.status, body: text.startsWith('data:') ? text : JSON.parse(text) }
}
const chat = (body: Record<string, unknown>) =>
  post('/api/chat', { messages: [{ role: 'user', content: 'Why?' }], stream: false, ...body })
const completions = (body: Record<string, unknown>) =>
  post('/v1/chat/completions', { messages: [{ role: 'user', content: 'Why?' }], ...body })

describe('think', () => {
  it('is on by default for a thinking model and off with think:false', async () => {
    const on = await chat({ model: 'qwen3:0.6b' })
    expect(on.body.message.thinking).toBe(simulatedThinking('qwen3:0.6b', 'Why?'))
    expect(on.body.message.content).toBe(simulatedReply('qwen3:0.6b', 'Why?'))
    const off = await chat({ model: 'qwen3:0.6b', think: false })
    expect(off.body.message.thinking).toBeUndefined()
  })

  it('puts thinking at the top level of /api/generate', async () => {
    const res = await post('/api/generate', { model: 'qwen3:0.6b', prompt: 'Why?', stream: false })
    expect(res.body.thinking).toBe(simulatedThinking('qwen3:0.6b', 'Why?'))
    expect(res.body.response).toBe(simulatedReply('qwen3:0.6b', 'Why?'))
  })

  it('gives gpt-oss more reasoning at higher levels, ignores booleans, and caps max at high', async () => {
    const thinking = async (think: unknown) =>
      (await chat({ model: 'gpt-oss:20b', think })).body.message.thinking as string
    const [low = '', medium = '', high = '', max, off] = await Promise.all(
      ['low', 'medium', 'high', 'max', false].map(thinking),
    )
    expect(low.length).toBeLessThan(medium.length)
    expect(medium.length).toBeLessThan(high.length)
    expect(max).toBe(high)
    expect(off).toBe(medium)
  })

  it.each([
    [
      'a string',
      'x',
      'invalid think value: "x" (must be "high", "medium", "low", "max", true, or false)',
    ],
    [
      'a number',
      1,
      'think must be a boolean or string ("high", "medium", "low", "max", true, or false)',
    ],
  ])('rejects %s', async (_what, think, error) => {
    expect(await chat({ model: 'qwen3:0.6b', think })).toEqual({ status: 400, body: { error } })
  })

  it('rejects a level on a model without thinking, and accepts false', async () => {
    expect(await chat({ model: 'llama3.2', think: 'low' })).toEqual({
      status: 400,
      body: { error: '"llama3.2" does not support thinking' },
    })
    expect((await chat({ model: 'llama3.2', think: false })).status).toBe(200)
  })
})

describe('num_predict counts thinking', () => {
  it('ends inside the thinking with empty content and "length"', async () => {
    const res = await chat({ model: 'qwen3:0.6b', options: { num_predict: 4 } })
    expect(res.body).toMatchObject({
      message: { content: '' },
      done_reason: 'length',
      eval_count: 4,
    })
    expect(res.body.message.thinking).toBe(
      tokenize(simulatedThinking('qwen3:0.6b', 'Why?')).slice(0, 4).join(''),
    )
  })

  it('gives the answer what the thinking left', async () => {
    const thinking = tokenize(simulatedThinking('qwen3:0.6b', 'Why?')).length
    const res = await chat({ model: 'qwen3:0.6b', options: { num_predict: thinking + 3 } })
    expect(tokenize(res.body.message.content)).toHaveLength(3)
    expect(res.body.eval_count).toBe(thinking + 3)
  })

  it('applies max_tokens on /v1 the same way', async () => {
    const res = await completions({ model: 'qwen3:0.6b', max_tokens: 3 })
    expect(res.body.choices[0]).toMatchObject({
      message: { content: '' },
      finish_reason: 'length',
    })
    expect(res.body.choices[0].message.reasoning).toBeTruthy()
  })
})

describe('/v1 reasoning', () => {
  it('sends message.reasoning by default and none with reasoning_effort "none"', async () => {
    const on = await completions({ model: 'qwen3:0.6b' })
    expect(on.body.choices[0].message.reasoning).toBe(simulatedThinking('qwen3:0.6b', 'Why?'))
    const off = await completions({ model: 'qwen3:0.6b', reasoning_effort: 'none' })
    expect(off.body.choices[0].message.reasoning).toBeUndefined()
  })

  it('lets reasoning.effort win over reasoning_effort', async () => {
    const res = await completions({
      model: 'qwen3:0.6b',
      reasoning_effort: 'none',
      reasoning: { effort: 'high' },
    })
    expect(res.body.choices[0].message.reasoning).toBeTruthy()
  })

  it('streams delta.reasoning before delta.content', async () => {
    const res = await completions({ model: 'qwen3:0.6b', stream: true })
    const deltas = (res.body as string)
      .split('\n\n')
      .filter((f) => f.startsWith('data: {'))
      .map((f) => JSON.parse(f.slice(6)).choices[0]?.delta ?? {})
    const lastReasoning = deltas.findLastIndex((d) => d.reasoning)
    const firstContent = deltas.findIndex((d) => d.content)
    expect(lastReasoning).toBeGreaterThan(0)
    expect(firstContent).toBeGreaterThan(lastReasoning)
  })

  it('rejects an unknown effort, and an effort on a model without thinking', async () => {
    const bad = await completions({ model: 'qwen3:0.6b', reasoning_effort: 'huge' })
    expect(bad.status).toBe(400)
    expect(bad.body.error.message).toBe(
      'invalid reasoning value: "huge" (must be "minimal", "low", "medium", "high", "xhigh", "ultra", "max", or "none")',
    )
    const plain = await completions({ model: 'llama3.2', reasoning_effort: 'low' })
    expect(plain).toEqual({
      status: 400,
      body: {
        error: {
          message: '"llama3.2" does not support thinking',
          type: 'invalid_request_error',
          param: null,
          code: null,
        },
      },
    })
    expect((await completions({ model: 'llama3.2', reasoning_effort: 'none' })).status).toBe(200)
  })
})

describe('stop sequences', () => {
  const reply = simulatedReply('llama3.2', 'Why?')
  const cut = reply.slice(0, reply.indexOf(' '))

  it('cut the native answer before the first sequence, with done_reason "stop"', async () => {
    const res = await chat({ model: 'llama3.2', options: { stop: [' ', 'zzz'] } })
    expect(res.body).toMatchObject({ message: { content: cut }, done_reason: 'stop' })
  })

  it('take a string or an array on /v1, dropping non-strings', async () => {
    for (const stop of [' ', [' ', 5]]) {
      const res = await completions({ model: 'llama3.2', stop })
      expect(res.body.choices[0]).toMatchObject({
        message: { content: cut },
        finish_reason: 'stop',
      })
    }
  })

  it.each([
    ['a string', ' ', 'option "stop" must be of type array'],
    ['numbers', [1], 'option "stop" must be of an array of strings'],
  ])('reject %s in options.stop', async (_what, stop, error) => {
    expect(await chat({ model: 'llama3.2', options: { stop } })).toEqual({
      status: 400,
      body: { error },
    })
  })
})

describe('logprobs', () => {
  it('come per chunk natively, with top_logprobs alternatives and bytes', async () => {
    const res = await fetch(`${sim.url}/api/chat`, {
      method: 'POST',
      body: JSON.stringify({
        model: 'llama3.2',
        messages: [{ role: 'user', content: 'Why?' }],
        logprobs: true,
        top_logprobs: 3,
        options: { num_predict: 4 },
      }),
    })
    const parts = (await res.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    const tokens = parts.slice(0, -1)
    expect(tokens).toHaveLength(4)
    for (const part of tokens) {
      const [entry] = part.logprobs
      expect(entry.token).toBe(part.message.content)
      expect(entry.bytes).toEqual([...Buffer.from(entry.token)])
      expect(entry.logprob).toBeLessThanOrEqual(0)
      expect(entry.top_logprobs).toHaveLength(3)
      expect(entry.top_logprobs[0].token).toBe(entry.token)
    }
    expect(parts.at(-1).logprobs).toBeUndefined()
  })

  it('are concatenated without streaming, and absent unless asked', async () => {
    const res = await chat({ model: 'llama3.2', logprobs: true, options: { num_predict: 5 } })
    expect(res.body.logprobs.map((l: any) => l.token).join('')).toBe(res.body.message.content)
    expect(res.body.logprobs[0].top_logprobs).toBeUndefined()
    expect((await chat({ model: 'llama3.2' })).body.logprobs).toBeUndefined()
  })

  it('come as choices[0].logprobs.content on /v1', async () => {
    const res = await completions({
      model: 'llama3.2',
      logprobs: true,
      top_logprobs: 2,
      max_tokens: 3,
    })
    const content = res.body.choices[0].logprobs.content
    expect(content.map((l: any) => l.token).join('')).toBe(res.body.choices[0].message.content)
    expect(content[0].top_logprobs).toHaveLength(2)
  })

  it('reject top_logprobs above 20', async () => {
    expect(await chat({ model: 'llama3.2', logprobs: true, top_logprobs: 21 })).toEqual({
      status: 400,
      body: { error: 'top_logprobs must be between 0 and 20' },
    })
  })
})
