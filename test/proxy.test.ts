import http from 'node:http'
import { generateText, streamText } from 'ai'
import { Ollama } from 'ollama'
import { createOllama } from 'ollama-ai-provider-v2'
import OpenAI from 'openai'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { simulatedReply, tokenize } from '../src/simulator/index.js'
import { type Harness, nextCancel, rawRequest, startHarness } from './routes-harness.js'

describe('proxy /api/* and /v1/*', () => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness()
  })
  afterAll(() => h.close())
  afterEach(() => {
    h.sim.configure({ tokenDelayMs: 0, failAfterTokens: undefined })
    h.setUpstream(h.sim.url)
  })

  describe('the official ollama client, pointed at the dev server', () => {
    const client = () => new Ollama({ host: h.url })

    it('lists models', async () => {
      const list = await client().list()
      expect(list.models.map((m) => m.name)).toEqual(['llama3.2:latest'])
    })

    it('chats without streaming', async () => {
      const reply = await client().chat({
        model: 'llama3.2',
        messages: [{ role: 'user', content: 'hi there' }],
      })
      expect(reply.message.content).toBe(simulatedReply('llama3.2', 'hi there'))
      expect(reply.done).toBe(true)
    })

    it('chats with streaming', async () => {
      const stream = await client().chat({
        model: 'llama3.2',
        messages: [{ role: 'user', content: 'stream it' }],
        stream: true,
      })
      let text = ''
      let chunks = 0
      for await (const part of stream) {
        text += part.message.content
        chunks++
      }
      expect(text).toBe(simulatedReply('llama3.2', 'stream it'))
      expect(chunks).toBe(tokenize(text).length + 1)
    })

    it('pulls with progress', async () => {
      const statuses: string[] = []
      for await (const part of await client().pull({ model: 'qwen2.5:0.5b', stream: true }))
        statuses.push(part.status)
      expect(statuses[0]).toBe('pulling manifest')
      expect(statuses.at(-1)).toBe('success')
      const done = await client().pull({ model: 'qwen2.5:0.5b' })
      expect(done.status).toBe('success')
    })

    it('sees Ollama’s own errors unchanged', async () => {
      const err = await client()
        .chat({ model: 'not-installed', messages: [{ role: 'user', content: 'x' }] })
        .catch((e: unknown) => e as { name: string; status_code: number; error: string })
      expect(err).toMatchObject({
        name: 'ResponseError',
        status_code: 404,
        error: "model 'not-installed' not found",
      })
    })
  })

  describe("the Vercel AI SDK's Ollama provider, pointed at the dev server", () => {
    const model = () => createOllama({ baseURL: `${h.url}/api` })('llama3.2')

    it('generates text', async () => {
      const { text } = await generateText({ model: model(), prompt: 'ai sdk please' })
      expect(text).toBe(simulatedReply('llama3.2', 'ai sdk please'))
    })

    it('streams text', async () => {
      const result = streamText({ model: model(), prompt: 'ai sdk stream' })
      let text = ''
      let parts = 0
      for await (const delta of result.textStream) {
        text += delta
        parts++
      }
      expect(text).toBe(simulatedReply('llama3.2', 'ai sdk stream'))
      expect(parts).toBeGreaterThan(3)
    })
  })

  describe('the openai SDK, pointed at the dev server', () => {
    const client = () => new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'ollama' })

    it('lists models', async () => {
      const page = await client().models.list()
      expect(page.data.map((m) => m.id)).toContain('llama3.2:latest')
    })

    it('completes a chat without streaming', async () => {
      const completion = await client().chat.completions.create({
        model: 'llama3.2',
        messages: [{ role: 'user', content: 'openai please' }],
      })
      expect(completion.choices[0]?.message.content).toBe(
        simulatedReply('llama3.2', 'openai please'),
      )
    })

    it('streams a chat completion', async () => {
      const stream = await client().chat.completions.create({
        model: 'llama3.2',
        messages: [{ role: 'user', content: 'openai stream' }],
        stream: true,
      })
      let text = ''
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ''
      expect(text).toBe(simulatedReply('llama3.2', 'openai stream'))
    })

    it('sees OpenAI-shaped errors with their status', async () => {
      const err = await client()
        .chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] })
        .catch((e: unknown) => e)
      expect(err).toBeInstanceOf(OpenAI.NotFoundError)
      expect((err as InstanceType<typeof OpenAI.NotFoundError>).status).toBe(404)
    })
  })

  it('passes status codes and bodies through byte for byte', async () => {
    const viaProxy = await rawRequest(`${h.url}/api/show`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"model":"nope"}',
    })
    const direct = await rawRequest(`${h.sim.url}/api/show`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"model":"nope"}',
    })
    expect(viaProxy.status).toBe(404)
    expect(viaProxy.body).toBe(direct.body)
    expect(viaProxy.headers['content-type']).toBe(direct.headers['content-type'])
    const notFound = await rawRequest(`${h.url}/api/nothing-here`)
    expect(notFound).toMatchObject({ status: 404, body: '404 page not found' })
  })

  it('delivers each token as it is generated, not at the end', async () => {
    h.sim.configure({ tokenDelayMs: 15 })
    const arrivals: number[] = []
    await new Promise<void>((resolve, reject) => {
      const req = http.request(
        `${h.url}/api/chat`,
        { method: 'POST', headers: { 'Content-Type': 'application/json' } },
        (res) => {
          res.on('data', () => arrivals.push(performance.now()))
          res.on('end', resolve)
        },
      )
      req.on('error', reject)
      req.end(
        JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'slowly' }] }),
      )
    })
    const tokens = tokenize(simulatedReply('llama3.2', 'slowly')).length
    expect(arrivals.length).toBeGreaterThan(tokens / 2)
    expect(arrivals.at(-1)! - arrivals[0]!).toBeGreaterThan(15 * (tokens - 1) * 0.5)
  })

  it('aborts the upstream request within 100 ms when the client goes away', async () => {
    h.sim.configure({ tokenDelayMs: 20 })
    const cancelled = nextCancel(h.sim)
    const abortedAt = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        `${h.url}/api/chat`,
        { method: 'POST', headers: { 'Content-Type': 'application/json' } },
        (res) => {
          res.once('data', () => {
            const at = performance.now()
            req.destroy()
            resolve(at)
          })
        },
      )
      req.on('error', (err) => {
        if (!req.destroyed) reject(err)
      })
      req.end(
        JSON.stringify({
          model: 'llama3.2',
          messages: [{ role: 'user', content: 'count to 1000' }],
        }),
      )
    })
    expect((await cancelled) - abortedAt).toBeLessThan(100)
  })

  it('answers 502 with a hint when Ollama does not answer', async () => {
    const closed = http.createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as { port: number }).port
    await new Promise((resolve) => closed.close(resolve))
    h.setUpstream(`http://127.0.0.1:${port}`)
    const res = await rawRequest(`${h.url}/api/tags`)
    expect(res.status).toBe(502)
    const body = JSON.parse(res.body)
    expect(body.error).toContain(`127.0.0.1:${port}`)
    expect(body.hint).toEqual(expect.any(String))
  })

  it('cuts the connection when Ollama dies mid-stream', async () => {
    h.sim.configure({ failAfterTokens: 5, tokenDelayMs: 5 })
    const outcome = await new Promise<string>((resolve) => {
      const req = http.request(
        `${h.url}/api/chat`,
        { method: 'POST', headers: { 'Content-Type': 'application/json' } },
        (res) => {
          res.resume()
          res.on('end', () => resolve('end'))
          res.on('error', () => resolve('error'))
          res.on('close', () => resolve(res.complete ? 'end' : 'error'))
        },
      )
      req.on('error', () => resolve('error'))
      req.end(JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'break' }] }))
    })
    expect(outcome).toBe('error')
  })

  it('never adds a wildcard CORS header, nor passes Ollama’s', async () => {
    const res = await rawRequest(`${h.url}/api/tags`, {
      headers: { Origin: 'http://evil.example' },
    })
    expect(res.headers['access-control-allow-origin']).toBeUndefined()
    const local = await rawRequest(`${h.url}/api/tags`, {
      headers: { Origin: 'http://localhost:3000' },
    })
    // Vite's own CORS answer for a local origin, unchanged.
    expect(local.headers['access-control-allow-origin']).toBe('http://localhost:3000')
  })

  it('streams a body past maxBodySize on to Ollama, declared or chunked, instead of refusing it', async () => {
    h.setOptions({ maxBodySize: 64 * 1024 })
    try {
      const prompt = 'x'.repeat(1024 * 1024 + 10)
      const big = JSON.stringify({ model: 'llama3.2', prompt, stream: false })
      const declared = await rawRequest(`${h.url}/api/generate`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'Content-Length': String(Buffer.byteLength(big)),
        },
        body: big,
      })
      expect(declared.status).toBe(200)
      expect(JSON.parse(declared.body).response).toBe(simulatedReply('llama3.2', prompt))
      const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(
          `${h.url}/api/generate`,
          {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' },
          },
          (res) => {
            let body = ''
            res.setEncoding('utf8')
            res.on('data', (chunk: string) => {
              body += chunk
            })
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
          },
        )
        req.on('error', reject)
        for (let i = 0; i < 20; i++) req.write(big.slice(i * 60_000, (i + 1) * 60_000))
        req.end()
      })
      expect(chunked.status).toBe(200)
      expect(JSON.parse(chunked.body).response).toBe(simulatedReply('llama3.2', prompt))
    } finally {
      h.setOptions({})
    }
  })
})
