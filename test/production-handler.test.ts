// createOllamaHandler and toNodeHandler against the simulator, standing in for each provider type:
// its native API (an Ollama host; Ollama Cloud wants a Bearer key) and its OpenAI-compatible /v1.
// The official `openai` client goes through the opt-in passthrough unchanged.
import { readdirSync, readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createOllamaHandler, type HandlerOptions, toNodeHandler } from '../src/production/index.js'
import { ollamaKind } from '../src/production/providers/ollama.js'
import { openaiKind } from '../src/production/providers/openai.js'
import { type Simulator, startSimulator } from '../src/simulator/index.js'
import { repo } from './helpers/prod.js'

const KEY = 'sk-handler-test'
let sim: Simulator
const servers: Server[] = []

beforeAll(async () => {
  sim = await startSimulator({ models: ['llama3.2', 'qwen3'], apiKey: KEY })
  process.env.HANDLER_TEST_KEY = KEY
})
afterAll(async () => {
  delete process.env.HANDLER_TEST_KEY
  for (const server of servers) server.close()
  await sim.close()
})

function providers(type: 'ollama' | 'openai'): HandlerOptions {
  return {
    models: ['llama3.2', 'qwen3'],
    providers: {
      up: {
        type,
        baseURL: type === 'openai' ? `${sim.url}/v1` : sim.url,
        apiKeyEnv: 'HANDLER_TEST_KEY',
        models: { chat: 'llama3.2' },
      },
    },
    routing: { production: 'up' },
  }
}

/** The handler on a plain Node server; resolves with its base URL. */
async function serve(options: HandlerOptions): Promise<string> {
  const handler = createOllamaHandler(options)
  const server = createServer(toNodeHandler(handler))
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}${handler.base}`
}

/** An event's data, as the tests read it (JSON of any shape). */
// biome-ignore lint/suspicious/noExplicitAny: the tests read fields of every event kind
type EventData = any

async function sse(url: string, body: object): Promise<{ event: string; data: EventData }[]> {
  const res = await fetch(`${url}/chat`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  })
  expect(res.status).toBe(200)
  const events = []
  for (const block of (await res.text()).split('\n\n')) {
    const event = /^event: (.+)$/m.exec(block)?.[1]
    const data = /^data: (.+)$/m.exec(block)?.[1]
    if (event && data) events.push({ event, data: JSON.parse(data) })
  }
  return events
}

describe.each(['ollama', 'openai'] as const)('a %s provider', (type) => {
  let url: string
  beforeAll(async () => {
    url = await serve(providers(type))
  })

  it('streams our SSE: tokens then done, with metrics under the app’s model name', async () => {
    const events = await sse(url, { model: 'chat', prompt: 'hi' })
    const text = events
      .filter((e) => e.event === 'token')
      .map((e) => e.data.content)
      .join('')
    expect(text).toContain('You wrote: "hi"')
    const done = events.at(-1)
    expect(done?.event).toBe('done')
    expect(done?.data.metrics).toMatchObject({ model: 'chat', doneReason: 'stop' })
    expect(done?.data.metrics.tokens).toBeGreaterThan(5)
  })

  it('answers JSON on Accept: application/json, with the reasoning of a thinking model', async () => {
    const res = await fetch(`${url}/chat`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({
        model: 'qwen3',
        messages: [{ role: 'user', content: 'why?' }],
        think: true,
      }),
    })
    const result = await res.json()
    expect(res.status).toBe(200)
    expect(result.content).toContain('You wrote: "why?"')
    expect(result.reasoning).toContain('The user asked qwen3')
  })

  it('holds num_predict to maxTokens, and stops a stream past it', async () => {
    const capped = await serve({ ...providers(type), maxTokens: 7 })
    const asked = await sse(capped, { model: 'chat', prompt: 'hi', options: { num_predict: 500 } })
    expect(asked.filter((e) => e.event === 'token')).toHaveLength(7)
    const unasked = await sse(capped, { model: 'chat', prompt: 'tell me everything' })
    expect(unasked.filter((e) => e.event === 'token').length).toBeLessThanOrEqual(8)
    expect(unasked.at(-1)?.data.metrics.doneReason).toBe('length')
  })

  it('ends the stream with an error event when the provider dies mid-stream', async () => {
    sim.configure({ failAfterTokens: 3 })
    try {
      const events = await sse(url, { model: 'chat', prompt: 'hi' })
      expect(events.at(-1)?.event).toBe('error')
      expect(events.filter((e) => e.event === 'token').length).toBeGreaterThan(0)
    } finally {
      sim.configure({ failAfterTokens: undefined })
    }
  })
})

describe('requests the handler refuses', () => {
  let url: string
  beforeAll(async () => {
    url = await serve({ ...providers('openai'), maxBodySize: 1024 })
  })
  const post = (body: BodyInit, headers: Record<string, string> = {}) =>
    fetch(`${url}/chat`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body,
    })

  it('says what is wrong with a body: 400, 413, 415', async () => {
    expect((await post('{"messages":[{"role":"user"}]}')).status).toBe(400)
    expect((await (await post('{"messages":[{"role":"user"}]}')).json()).error).toBe(
      'Invalid request body: messages.0.content: expected a string',
    )
    expect((await post('not json')).status).toBe(400)
    expect((await post(`{"a":${'['.repeat(100)}${']'.repeat(100)}}`)).status).toBe(400)
    expect((await post(JSON.stringify({ prompt: 'x'.repeat(2000) }))).status).toBe(413)
    expect((await post('prompt=hi', { 'Content-Type': 'text/plain' })).status).toBe(415)
    expect((await fetch(`${url}/chat`)).status).toBe(405)
  })

  it('answers a chunked body past the limit 413, closes that connection, and keeps serving', async () => {
    const { request } = await import('node:http')
    const status = await new Promise<{ code?: number; connection?: string }>((resolve, reject) => {
      const req = request(
        `${url}/chat`,
        { method: 'POST', headers: { 'Content-Type': 'application/json' } },
        (res) => {
          res.resume()
          resolve({ code: res.statusCode, connection: res.headers.connection })
        },
      )
      req.on('error', reject)
      // No Content-Length: the handler finds out while reading, mid-body.
      for (let i = 0; i < 64; i++) req.write('x'.repeat(16384))
      req.end()
    })
    expect(status).toEqual({ code: 413, connection: 'close' })
    expect((await fetch(`${url}/status`)).status).toBe(200)
  })

  it('serves raw /api and /v1 only when passthrough is on, and never pulls or opens sockets', async () => {
    expect((await fetch(`${url}/v1/models`)).status).toBe(404)
    expect((await fetch(`${url}/api/tags`)).status).toBe(404)
    expect(
      (
        await post('{"model":"llama3.2"}'.replace('', ''), {}).then(() =>
          fetch(`${url}/pull`, { method: 'POST' }),
        )
      ).status,
    ).toBe(501)
    expect((await fetch(`${url}/ws`)).status).toBe(501)
    expect((await fetch(`${url}/chat/abc/stream`)).status).toBe(204)
  })
})

describe('authorize, origins and CORS', () => {
  it('asks authorize first: false is 401, a Response is the answer', async () => {
    const url = await serve({
      ...providers('openai'),
      authorize: (request) => {
        const token = request.headers.get('x-token')
        if (token === 'teapot') return new Response('short and stout', { status: 418 })
        return token === 'ok'
      },
    })
    expect((await fetch(`${url}/status`)).status).toBe(401)
    expect((await fetch(`${url}/status`, { headers: { 'x-token': 'teapot' } })).status).toBe(418)
    expect((await fetch(`${url}/status`, { headers: { 'x-token': 'ok' } })).status).toBe(200)
  })

  it('refuses other sites, and lets allowedOrigins read answers with CORS', async () => {
    const url = await serve({ ...providers('openai'), allowedOrigins: ['https://app.example.com'] })
    const foreign = await fetch(`${url}/status`, { headers: { Origin: 'https://evil.example' } })
    expect(foreign.status).toBe(403)
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull()
    const preflight = await fetch(`${url}/chat`, {
      method: 'OPTIONS',
      headers: {
        Origin: 'https://app.example.com',
        'Access-Control-Request-Headers': 'content-type',
      },
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://app.example.com')
    const allowed = await fetch(`${url}/status`, { headers: { Origin: 'https://app.example.com' } })
    expect(allowed.status).toBe(200)
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example.com')
  })
})

describe('passthrough (opt-in)', () => {
  it('forwards the official openai client with the server’s key, which the client never has', async () => {
    const url = await serve({ ...providers('openai'), passthrough: true })
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'not-the-key' })
    const completion = await client.chat.completions.create({
      model: 'llama3.2',
      messages: [{ role: 'user', content: 'hi' }],
    })
    expect(completion.choices[0]?.message.content).toContain('You wrote: "hi"')
  })
})

describe('options', () => {
  it('refuses bad options with one message naming each and its fix', () => {
    expect(() =>
      createOllamaHandler({
        providers: {
          x: { type: 'anthropic' as never, baseURL: 'ftp://x', apiKeyEnv: 'sk-123-abc' },
        },
        routing: { production: 'y' },
        maxTokens: 0,
      }),
    ).toThrowError(
      /providers\.x\.type: use "ollama" or "openai"[\s\S]*providers\.x\.baseURL[\s\S]*providers\.x\.apiKeyEnv[\s\S]*routing\.production: "y" is not a provider[\s\S]*maxTokens/,
    )
  })
})

describe('translation of wire formats the simulator does not produce', () => {
  const body = (text: string) =>
    new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode(text))
        c.close()
      },
    })
  const collect = async (parts: AsyncIterable<unknown[]>) => {
    const all: unknown[] = []
    for await (const batch of parts) all.push(...batch)
    return all
  }

  it('reads OpenAI tool calls whose arguments come in fragments (docs/ollama-modern.md, Tools)', async () => {
    const chunks = [
      {
        choices: [
          {
            index: 0,
            delta: {
              tool_calls: [
                { index: 0, id: 'call_1', function: { name: 'get_weather', arguments: '{"ci' } },
              ],
            },
          },
        ],
      },
      {
        choices: [
          {
            index: 0,
            delta: { tool_calls: [{ index: 0, function: { arguments: 'ty":"Oslo"}' } }] },
          },
        ],
      },
      {
        choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }],
        usage: { completion_tokens: 9, prompt_tokens: 3 },
      },
    ]
    const text = `${chunks.map((c) => `data: ${JSON.stringify(c)}\n\n`).join('')}data: [DONE]\n\n`
    expect(await collect(openaiKind.parts(body(text)))).toEqual([
      {
        type: 'tool-call',
        call: { id: 'call_1', name: 'get_weather', arguments: { city: 'Oslo' } },
      },
      { type: 'finish', finish: { doneReason: 'stop', tokens: 9, promptTokens: 3 } },
    ])
  })

  it('reads Ollama native tool calls (arguments as an object)', async () => {
    const lines = [
      {
        model: 'qwen3',
        message: {
          role: 'assistant',
          content: '',
          tool_calls: [
            {
              id: 'call_k3j9x0qa',
              function: { index: 0, name: 'get_weather', arguments: { city: 'Oslo' } },
            },
          ],
        },
        done: false,
      },
      {
        model: 'qwen3',
        message: { role: 'assistant', content: '' },
        done: true,
        done_reason: 'stop',
        eval_count: 4,
      },
    ]
    const parts = await collect(
      ollamaKind.parts(body(lines.map((l) => JSON.stringify(l)).join('\n'))),
    )
    expect(parts[0]).toEqual({
      type: 'tool-call',
      call: { id: 'call_k3j9x0qa', name: 'get_weather', arguments: { city: 'Oslo' } },
    })
  })

  it('writes tool results, images and structured output in OpenAI’s shape', () => {
    const { body: request } = openaiKind.chatRequest({
      model: 'gpt-4o-mini',
      maxTokens: 100,
      format: { type: 'object', properties: { a: { type: 'string' } } },
      messages: [
        { role: 'user', content: 'look', images: ['iVBORw0KGgo='] },
        {
          role: 'assistant',
          content: '',
          tool_calls: [{ function: { name: 'f', arguments: { x: 1 } } }],
        },
        { role: 'tool', content: '42', tool_name: 'f' },
      ],
    }) as { body: Record<string, EventData> }
    expect(request.messages[0].content[1]).toEqual({
      type: 'image_url',
      image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' },
    })
    expect(request.messages[1].tool_calls[0].function.arguments).toBe('{"x":1}')
    expect(request.messages[2].tool_call_id).toBe(request.messages[1].tool_calls[0].id)
    expect(request.response_format.type).toBe('json_schema')
    expect(request.max_tokens).toBeUndefined()
  })
})

describe('vite-plugin-ollama/server', () => {
  it('imports no Node built-in and no package on its path (it runs on Workers, Deno, Bun)', () => {
    const dist = path.join(repo, 'dist')
    const seen = new Set<string>()
    const visit = (file: string) => {
      if (seen.has(file)) return
      seen.add(file)
      const source = readFileSync(file, 'utf8')
      for (const m of source.matchAll(/^(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
        const spec = m[1] as string
        expect(spec.startsWith('.'), `${path.relative(dist, file)} imports ${spec}`).toBe(true)
        visit(path.resolve(path.dirname(file), spec))
      }
    }
    visit(path.join(dist, 'production/index.js'))
    expect(seen.size).toBeGreaterThan(5)
    expect(readdirSync(path.join(dist, 'production'))).toContain('node.js')
  })
})

describe('a key the provider refuses', () => {
  it('is logged on the server and answered 502 without the provider’s words', async () => {
    const lines: string[] = []
    process.env.WRONG_KEY = 'sk-wrong-1234'
    try {
      const url = await serve({
        ...providers('openai'),
        providers: { up: { type: 'openai', baseURL: `${sim.url}/v1`, apiKeyEnv: 'WRONG_KEY' } },
        log: (line) => lines.push(line),
      })
      const res = await fetch(`${url}/chat`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: '{"prompt":"hi"}',
      })
      expect(res.status).toBe(502)
      expect(await res.text()).not.toMatch(/Incorrect API key|sk-wrong/)
      expect(lines.join('\n')).toMatch(
        /refused the server's credentials \(401\): Incorrect API key provided\. Check WRONG_KEY/,
      )
    } finally {
      delete process.env.WRONG_KEY
    }
  })
})
