// biome-ignore-all lint/suspicious/noExplicitAny: tests read wire payloads loosely, field by field
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Simulator, startSimulator } from '../src/simulator/index.js'
import { simulatedReply, tokenize } from '../src/simulator/tokens.js'

// Raw wire checks of the OpenAI-compatible endpoints (docs/decisions.md, "The OpenAI-compatible
// API").

let sim: Simulator

beforeAll(async () => {
  sim = await startSimulator({ models: ['llama3.2', 'all-minilm'] })
})
afterAll(() => sim.close())

function post(path: string, body: unknown) {
  return fetch(sim.url + path, {
    method: 'POST',
    headers: { Authorization: 'Bearer ollama' },
    body: JSON.stringify(body),
  })
}

const messages = [{ role: 'user', content: 'Say hi' }]

describe('simulator: /v1/chat/completions', () => {
  it('answers a non-streaming completion with usage', async () => {
    const res = await post('/v1/chat/completions', { model: 'llama3.2', messages })
    const body = (await res.json()) as Record<string, any>
    const tokens = tokenize(simulatedReply('llama3.2', 'Say hi'))
    expect(body).toEqual({
      id: expect.stringMatching(/^chatcmpl-\d{1,3}$/),
      object: 'chat.completion',
      created: expect.any(Number),
      model: 'llama3.2',
      system_fingerprint: 'fp_ollama',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: tokens.join('') },
          finish_reason: 'stop',
        },
      ],
      usage: {
        prompt_tokens: expect.any(Number),
        completion_tokens: tokens.length,
        total_tokens: expect.any(Number),
      },
    })
    expect(body.usage.total_tokens).toBe(body.usage.prompt_tokens + tokens.length)
  })

  it('streams SSE frames: role first, a delta:{} finish chunk, usage, then [DONE]', async () => {
    const res = await post('/v1/chat/completions', {
      model: 'llama3.2',
      messages,
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 4,
    })
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    const text = await res.text()
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true)
    const frames = text.split('\n\n').filter(Boolean)
    for (const frame of frames) expect(frame.startsWith('data: ')).toBe(true)
    const chunks = frames.slice(0, -1).map((f) => JSON.parse(f.slice(6)) as Record<string, any>)
    expect(chunks).toHaveLength(6)
    expect(chunks[0]!.choices[0].delta).toEqual({ role: 'assistant', content: expect.any(String) })
    expect(chunks[1]!.choices[0].delta).toEqual({ content: expect.any(String) })
    expect(chunks[4]!.choices).toEqual([{ index: 0, delta: {}, finish_reason: 'length' }])
    expect(chunks[5]).toMatchObject({ choices: [], usage: { completion_tokens: 4 } })
    const ids = new Set(chunks.map((c) => c.id))
    expect(ids.size).toBe(1)
    expect(new Set(chunks.map((c) => c.created)).size).toBe(1)
    expect(
      chunks.every(
        (c) => c.object === 'chat.completion.chunk' && c.system_fingerprint === 'fp_ollama',
      ),
    ).toBe(true)
  })

  it('leaves the usage chunk out without include_usage', async () => {
    const text = await (
      await post('/v1/chat/completions', { model: 'llama3.2', messages, stream: true })
    ).text()
    expect(text).not.toContain('"usage"')
  })

  it('answers errors in the OpenAI shape, keeping the native status', async () => {
    const missing = await post('/v1/chat/completions', { model: 'gpt-4o', messages })
    expect(missing.status).toBe(404)
    expect(await missing.json()).toEqual({
      error: {
        message: "model 'gpt-4o' not found",
        type: 'not_found_error',
        param: null,
        code: null,
      },
    })
    const empty = await post('/v1/chat/completions', { model: 'llama3.2', messages: [] })
    expect(empty.status).toBe(400)
    expect(await empty.json()).toEqual({
      error: {
        message: "[] is too short - 'messages'",
        type: 'invalid_request_error',
        param: null,
        code: null,
      },
    })
  })

  it('ends a stream broken by a mid-stream error with an empty delta and no [DONE]', async () => {
    sim.configure({ errorAfterTokens: 2 })
    try {
      const text = await (
        await post('/v1/chat/completions', { model: 'llama3.2', messages, stream: true })
      ).text()
      const frames = text.split('\n\n').filter(Boolean)
      expect(frames).toHaveLength(3)
      expect(text).not.toContain('[DONE]')
      expect(JSON.parse(frames[2]!.slice(6)).choices[0]).toEqual({
        index: 0,
        delta: { content: '' },
        finish_reason: null,
      })
      const flat = await post('/v1/chat/completions', { model: 'llama3.2', messages })
      expect(flat.status).toBe(500)
      expect(((await flat.json()) as { error: { type: string } }).error.type).toBe('api_error')
    } finally {
      sim.configure({ errorAfterTokens: undefined })
    }
  })

  it('refuses image URLs that are not base64 data', async () => {
    const res = await post('/v1/chat/completions', {
      model: 'llama3.2',
      messages: [
        { role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png' } }] },
      ],
    })
    expect(res.status).toBe(400)
    expect(((await res.json()) as any).error.message).toBe(
      'image URLs are not currently supported, please use base64 encoded data instead',
    )
  })
})

describe('simulator: /v1/completions, /v1/embeddings, /v1/models', () => {
  it('streams text_completion chunks ending with finish_reason and [DONE]', async () => {
    const text = await (
      await post('/v1/completions', { model: 'llama3.2', prompt: 'x', stream: true, max_tokens: 3 })
    ).text()
    const frames = text.split('\n\n').filter(Boolean)
    expect(frames.at(-1)).toBe('data: [DONE]')
    const chunks = frames.slice(0, -1).map((f) => JSON.parse(f.slice(6)) as Record<string, any>)
    expect(chunks).toHaveLength(4)
    expect(chunks[0]).toMatchObject({
      object: 'text_completion',
      choices: [{ index: 0, finish_reason: null }],
    })
    expect(chunks[3]!.choices[0]).toEqual({ text: '', index: 0, finish_reason: 'length' })
  })

  it('answers a non-streaming completion', async () => {
    const body = (await (
      await post('/v1/completions', { model: 'llama3.2', prompt: 'x' })
    ).json()) as Record<string, any>
    expect(body).toMatchObject({
      id: expect.stringMatching(/^cmpl-\d+$/),
      object: 'text_completion',
      choices: [{ text: simulatedReply('llama3.2', 'x'), index: 0, finish_reason: 'stop' }],
    })
  })

  it('returns float embeddings, and base64 little-endian float32 on request', async () => {
    const floats = (await (
      await post('/v1/embeddings', { model: 'all-minilm', input: ['a b', 'c'] })
    ).json()) as Record<string, any>
    expect(floats).toMatchObject({
      object: 'list',
      model: 'all-minilm',
      usage: { prompt_tokens: 3, total_tokens: 3 },
    })
    expect(floats.data).toHaveLength(2)
    expect(floats.data[1]).toMatchObject({ object: 'embedding', index: 1 })
    const vector = floats.data[0].embedding as number[]
    expect(vector).toHaveLength(384)
    const b64 = (await (
      await post('/v1/embeddings', { model: 'all-minilm', input: 'a b', encoding_format: 'base64' })
    ).json()) as Record<string, any>
    const bytes = Buffer.from(b64.data[0].embedding as string, 'base64')
    const decoded = Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(i * 4))
    for (const [i, value] of decoded.entries()) expect(value).toBeCloseTo(vector[i]!, 6)
  })

  it('rejects a bad encoding_format and an empty input', async () => {
    const bad = await post('/v1/embeddings', {
      model: 'all-minilm',
      input: 'x',
      encoding_format: 'hex',
    })
    expect(((await bad.json()) as any).error.message).toBe(
      "Invalid value for 'encoding_format' = hex. Supported values: ['float', 'base64'].",
    )
    const empty = await post('/v1/embeddings', { model: 'all-minilm', input: [] })
    expect(((await empty.json()) as any).error).toMatchObject({
      message: 'invalid input',
      type: 'invalid_request_error',
    })
  })

  it('lists models, retrieves one, and 404s an unknown one', async () => {
    const list = (await (await fetch(sim.url + '/v1/models')).json()) as Record<string, any>
    expect(list.object).toBe('list')
    expect(list.data).toContainEqual({
      id: 'llama3.2:latest',
      object: 'model',
      created: expect.any(Number),
      owned_by: 'library',
    })
    const one = await fetch(sim.url + '/v1/models/llama3.2')
    expect(await one.json()).toMatchObject({ id: 'llama3.2:latest', object: 'model' })
    const missing = await fetch(sim.url + '/v1/models/nope')
    expect(missing.status).toBe(404)
    expect(((await missing.json()) as any).error.type).toBe('not_found_error')
  })

  it('lists data:null when no model is installed', async () => {
    const empty = await startSimulator()
    try {
      expect(await (await fetch(empty.url + '/v1/models')).json()).toEqual({
        object: 'list',
        data: null,
      })
    } finally {
      await empty.close()
    }
  })
})
