import { Ollama } from 'ollama'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Simulator, startSimulator } from '../src/simulator/index.js'
import { simulatedReply } from '../src/simulator/tokens.js'

// The official clients, pointed at the simulator, must behave as they do against Ollama.

let sim: Simulator
let ollama: Ollama
let openai: OpenAI

beforeAll(async () => {
  sim = await startSimulator({ models: ['llama3.2', 'nomic-embed-text'] })
  ollama = new Ollama({ host: sim.url })
  openai = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: 'ollama', maxRetries: 0 })
})
afterAll(() => sim.close())

const question = [{ role: 'user', content: 'What is Vite?' }]
const reply = simulatedReply('llama3.2', 'What is Vite?')

describe('fidelity: the official ollama client', () => {
  it('lists the installed models', async () => {
    const { models } = await ollama.list()
    expect(models.map((m) => m.name).sort()).toEqual(['llama3.2:latest', 'nomic-embed-text:latest'])
    expect(models.find((m) => m.name === 'llama3.2:latest')?.details.parameter_size).toBe('3.2B')
  })

  it('pulls with increasing progress ending in success, and the model is then listed', async () => {
    const statuses: string[] = []
    let last = 0
    for await (const part of await ollama.pull({ model: 'qwen2.5:0.5b', stream: true })) {
      statuses.push(part.status)
      if (part.completed && part.total > 1_000_000) {
        expect(part.completed).toBeGreaterThanOrEqual(last)
        last = part.completed
      }
    }
    expect(statuses[0]).toBe('pulling manifest')
    expect(statuses.at(-1)).toBe('success')
    expect(last).toBeGreaterThan(0)
    const { models } = await ollama.list()
    expect(models[0]?.name).toBe('qwen2.5:0.5b')
  })

  it('pulls without streaming', async () => {
    expect(await ollama.pull({ model: 'all-minilm' })).toEqual({ status: 'success' })
  })

  it('surfaces an unknown model in a streamed pull as a thrown error', async () => {
    const run = async () => {
      for await (const _ of await ollama.pull({ model: 'no-such-model', stream: true })) {
        // drain
      }
    }
    await expect(run()).rejects.toThrow('pull model manifest: file does not exist')
  })

  it('chats without streaming', async () => {
    const res = await ollama.chat({ model: 'llama3.2', messages: question })
    expect(res.message).toEqual({ role: 'assistant', content: reply })
    expect(res.done).toBe(true)
    expect(res.done_reason).toBe('stop')
    expect(res.eval_count).toBeGreaterThan(5)
    // ollama-js types it as Date but passes Go's RFC 3339 string through unchanged.
    expect(Number.isNaN(Date.parse(String(res.created_at)))).toBe(false)
  })

  it('chats with streaming', async () => {
    let text = ''
    let chunks = 0
    let done = false
    for await (const part of await ollama.chat({
      model: 'llama3.2',
      messages: question,
      stream: true,
    })) {
      text += part.message.content
      chunks++
      done = part.done
    }
    expect(text).toBe(reply)
    expect(chunks).toBeGreaterThan(5)
    expect(done).toBe(true)
  })

  it('generates with and without streaming', async () => {
    const flat = await ollama.generate({ model: 'llama3.2', prompt: 'What is Vite?' })
    expect(flat.response).toBe(reply)
    let text = ''
    for await (const part of await ollama.generate({
      model: 'llama3.2',
      prompt: 'What is Vite?',
      stream: true,
    })) {
      text += part.response
    }
    expect(text).toBe(reply)
  })

  it('aborts a stream with abort() and the simulator counts the cancellation', async () => {
    sim.configure({ tokenDelayMs: 10 })
    try {
      const stream = await ollama.chat({
        model: 'llama3.2',
        messages: question,
        stream: true,
        options: { num_predict: 1000 },
      })
      const cancelled = new Promise((resolve) => sim.events.once('stream-cancel', resolve))
      const run = async () => {
        for await (const _ of stream) stream.abort()
      }
      await expect(run()).rejects.toThrow()
      await cancelled
      expect(sim.stats.cancelledStreams).toBeGreaterThanOrEqual(1)
    } finally {
      sim.configure({ tokenDelayMs: 0 })
    }
  })

  it('embeds', async () => {
    const res = await ollama.embed({ model: 'nomic-embed-text', input: ['a', 'b'] })
    expect(res.embeddings).toHaveLength(2)
    expect(res.embeddings[0]).toHaveLength(768)
  })

  it('shows a model', async () => {
    const res = await ollama.show({ model: 'llama3.2' })
    expect(res.details.family).toBe('llama')
    expect(res.capabilities).toContain('completion')
    expect(res.model_info).toBeTypeOf('object')
  })

  it('copies and deletes', async () => {
    expect(await ollama.copy({ source: 'llama3.2', destination: 'my-copy' })).toEqual({
      status: 'success',
    })
    expect((await ollama.list()).models.map((m) => m.name)).toContain('my-copy:latest')
    expect(await ollama.delete({ model: 'my-copy' })).toEqual({ status: 'success' })
    expect((await ollama.list()).models.map((m) => m.name)).not.toContain('my-copy:latest')
  })

  it('lists loaded models with ps', async () => {
    await ollama.generate({ model: 'llama3.2', prompt: '', keep_alive: '10m' })
    const { models } = await ollama.ps()
    expect(models.map((m) => m.name)).toContain('llama3.2:latest')
    expect(Date.parse(String(models[0]?.expires_at))).toBeGreaterThan(Date.now())
  })

  it('throws a ResponseError with status 404 for an unknown model', async () => {
    const error = await ollama
      .chat({ model: 'missing-model', messages: question })
      .catch((e: unknown) => e)
    expect(error).toMatchObject({
      name: 'ResponseError',
      status_code: 404,
      error: "model 'missing-model' not found",
    })
  })
})

describe('fidelity: the openai SDK', () => {
  it('creates a chat completion', async () => {
    const res = await openai.chat.completions.create({
      model: 'llama3.2',
      messages: [{ role: 'user', content: 'What is Vite?' }],
    })
    expect(res.choices[0]?.message.content).toBe(reply)
    expect(res.choices[0]?.finish_reason).toBe('stop')
    expect(res.usage?.completion_tokens).toBeGreaterThan(5)
  })

  it('streams a chat completion', async () => {
    const stream = await openai.chat.completions.create({
      model: 'llama3.2',
      messages: [{ role: 'user', content: 'What is Vite?' }],
      stream: true,
      stream_options: { include_usage: true },
    })
    let text = ''
    let finish: string | null | undefined
    let usage: unknown
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? ''
      finish = chunk.choices[0]?.finish_reason ?? finish
      usage = chunk.usage ?? usage
    }
    expect(text).toBe(reply)
    expect(finish).toBe('stop')
    expect(usage).toMatchObject({ completion_tokens: expect.any(Number) })
  })

  it('creates embeddings (the SDK asks for base64 and decodes it)', async () => {
    const res = await openai.embeddings.create({
      model: 'nomic-embed-text',
      input: ['hello', 'world'],
    })
    expect(res.data).toHaveLength(2)
    expect(res.data[0]?.embedding).toHaveLength(768)
    const norm = Math.sqrt(res.data[0]!.embedding.reduce((s, x) => s + x * x, 0))
    expect(norm).toBeCloseTo(1, 5)
  })

  it('lists models', async () => {
    const ids: string[] = []
    for await (const model of openai.models.list()) ids.push(model.id)
    expect(ids).toContain('llama3.2:latest')
  })

  it('raises NotFoundError for an unknown model', async () => {
    const error = await openai.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(OpenAI.NotFoundError)
    expect((error as InstanceType<typeof OpenAI.NotFoundError>).status).toBe(404)
  })
})
