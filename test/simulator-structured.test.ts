// biome-ignore-all lint/suspicious/noExplicitAny: tests read wire payloads loosely, field by field
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { type Simulator, startSimulator } from '../src/simulator/index.js'
import { simulatedReply, simulatedThinking, tokenize } from '../src/simulator/tokens.js'

// Structured output (docs/simulator.md, "Structured output").

let sim: Simulator
beforeAll(async () => {
  sim = await startSimulator({ models: ['llama3.2', 'qwen3:0.6b'] })
})
afterAll(() => sim.close())

async function post(path: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(sim.url + path, { method: 'POST', body: JSON.stringify(body) })
  return { status: res.status, body: JSON.parse(await res.text()) }
}
const prompt = 'Plan a trip to "Kyoto" for 4 days'
const chat = (body: Record<string, unknown>) =>
  post('/api/chat', { messages: [{ role: 'user', content: prompt }], stream: false, ...body })
const completions = (body: Record<string, unknown>) =>
  post('/v1/chat/completions', { messages: [{ role: 'user', content: prompt }], ...body })

const trip = z.object({
  city: z.string(),
  days: z.number().int().positive(),
  pace: z.enum(['slow', 'fast']),
  stops: z.array(z.object({ name: z.string(), booked: z.boolean() })).min(1),
  note: z.string().optional(),
})
const schema = z.toJSONSchema(trip)

describe('native format', () => {
  it('answers "json" with {"answer": reply}', async () => {
    const res = await chat({ model: 'llama3.2', format: 'json' })
    expect(JSON.parse(res.body.message.content)).toEqual({
      answer: simulatedReply('llama3.2', prompt),
    })
  })

  it('answers a schema with an instance of it, from the prompt', async () => {
    const res = await chat({ model: 'llama3.2', format: schema })
    expect(trip.parse(JSON.parse(res.body.message.content))).toEqual({
      city: 'Kyoto',
      days: 4,
      pace: 'slow',
      stops: [{ name: prompt, booked: true }],
      note: prompt,
    })
    expect(res.body.done_reason).toBe('stop')
  })

  it('applies to /api/generate too', async () => {
    const res = await post('/api/generate', {
      model: 'llama3.2',
      prompt,
      stream: false,
      format: schema,
    })
    expect(trip.safeParse(JSON.parse(res.body.response)).success).toBe(true)
  })

  it('streams the thinking, then the JSON, which has its own num_predict', async () => {
    const thinking = tokenize(simulatedThinking('qwen3:0.6b', prompt))
    const alone = await chat({ model: 'qwen3:0.6b', format: schema, think: false })
    const json = tokenize(alone.body.message.content).length
    expect(json).toBeGreaterThan(thinking.length)
    // Were thinking to eat the JSON's budget, a num_predict of exactly the JSON would cut it.
    const res = await chat({ model: 'qwen3:0.6b', format: schema, options: { num_predict: json } })
    expect(res.body.message.thinking).toBe(thinking.join(''))
    expect(res.body.message.content).toBe(alone.body.message.content)
    expect(res.body.done_reason).toBe('stop')
  })

  it('cuts the JSON with "length" when num_predict is smaller, and never pads it', async () => {
    const cut = await chat({ model: 'llama3.2', format: schema, options: { num_predict: 5 } })
    expect(cut.body.done_reason).toBe('length')
    expect(tokenize(cut.body.message.content)).toHaveLength(5)
    const roomy = await chat({
      model: 'llama3.2',
      format: 'json',
      options: { num_predict: 10_000 },
    })
    expect(roomy.body.done_reason).toBe('stop')
    expect(() => JSON.parse(roomy.body.message.content)).not.toThrow()
  })

  it.each([
    ['"xml"', 'xml', 'invalid format: "\\"xml\\""; expected "json" or a valid JSON Schema object'],
    ['a number', 5, 'invalid format: "5"; expected "json" or a valid JSON Schema object'],
  ])('answers %s with the runner’s 500', async (_what, format, error) => {
    expect(await chat({ model: 'llama3.2', format })).toEqual({ status: 500, body: { error } })
  })

  it('checks format only when generating: a load-only request ignores it', async () => {
    const res = await post('/api/chat', { model: 'llama3.2', messages: [], format: 'xml' })
    expect(res).toMatchObject({ status: 200, body: { done_reason: 'load' } })
  })

  it('keeps the answer to a hostile schema bounded', async () => {
    const wide = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, { $ref: '#' }]))
    for (const format of [
      { type: 'array', minItems: 1e9, items: { type: 'string', minLength: 1e9 } },
      { type: 'object', properties: wide },
    ]) {
      const res = await chat({ model: 'llama3.2', format })
      expect(res.status).toBe(200)
      expect(res.body.message.content.length).toBeLessThan(2_000_000)
      expect(() => JSON.parse(res.body.message.content)).not.toThrow()
    }
  })
})

describe('/v1 response_format', () => {
  it('maps json_object to JSON and json_schema to an instance of the schema', async () => {
    const object = await completions({
      model: 'llama3.2',
      response_format: { type: 'json_object' },
    })
    expect(JSON.parse(object.body.choices[0].message.content)).toHaveProperty('answer')
    const typed = await completions({
      model: 'llama3.2',
      response_format: { type: ' JSON_Schema ', json_schema: { name: 'trip', schema } },
    })
    expect(trip.parse(JSON.parse(typed.body.choices[0].message.content)).city).toBe('Kyoto')
  })

  it('answers prose for text, unknown types and json_schema without its object', async () => {
    for (const response_format of [{ type: 'text' }, { type: 'yaml' }, { type: 'json_schema' }]) {
      const res = await completions({ model: 'llama3.2', response_format })
      expect(res.body.choices[0].message.content).toBe(simulatedReply('llama3.2', prompt))
    }
  })
})
