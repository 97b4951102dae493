// biome-ignore-all lint/suspicious/noExplicitAny: tests read wire payloads loosely, field by field
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Simulator, startSimulator } from '../src/simulator/index.js'

// Raw HTTP checks of the simulator's native API against Ollama's behaviour (docs/decisions.md, "The
// simulator copies Ollama's wire behaviour").

let sim: Simulator

beforeAll(async () => {
  sim = await startSimulator({ models: ['llama3.2', 'nomic-embed-text', 'qwen3:0.6b'] })
})
afterAll(() => sim.close())

function post(path: string, body: unknown, init: RequestInit = {}) {
  return fetch(sim.url + path, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  })
}

async function errorOf(res: Response): Promise<{ status: number; error: string; type: string }> {
  const body = (await res.json()) as { error: string }
  return { status: res.status, error: body.error, type: res.headers.get('content-type') ?? '' }
}

const HEX64 = /^[0-9a-f]{64}$/
const UTC_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z$/

describe('simulator: liveness and routing', () => {
  it('answers GET / with the 17-byte "Ollama is running"', async () => {
    const res = await fetch(sim.url + '/')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    expect(await res.text()).toBe('Ollama is running')
  })

  it('answers HEAD / with 200 and no body', async () => {
    const res = await fetch(sim.url + '/', { method: 'HEAD' })
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('')
  })

  it('reports a version', async () => {
    const res = await fetch(sim.url + '/api/version')
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8')
    expect(await res.json()).toEqual({ version: expect.stringMatching(/^\d+\.\d+\.\d+/) })
  })

  it('answers unknown paths with gin 404 text and wrong methods with 405 text', async () => {
    const missing = await fetch(sim.url + '/api/nope')
    expect(missing.status).toBe(404)
    expect(await missing.text()).toBe('404 page not found')
    const wrong = await fetch(sim.url + '/api/chat')
    expect(wrong.status).toBe(405)
    expect(await wrong.text()).toBe('405 method not allowed')
    expect((await fetch(sim.url + '/api/tags', { method: 'POST' })).status).toBe(405)
  })

  it('redirects a trailing slash as gin does', async () => {
    const res = await fetch(sim.url + '/api/tags/', { redirect: 'manual' })
    expect(res.status).toBe(301)
    expect(res.headers.get('location')).toBe('/api/tags')
  })

  it('counts requests by method and path and emits request events', async () => {
    const seen: string[] = []
    const onRequest = (method: string, path: string) => seen.push(`${method} ${path}`)
    sim.events.on('request', onRequest)
    const before = sim.stats.requests['GET /api/ps'] ?? 0
    await (await fetch(sim.url + '/api/ps?x=1')).text()
    sim.events.off('request', onRequest)
    expect(sim.stats.requests['GET /api/ps']).toBe(before + 1)
    expect(seen).toEqual(['GET /api/ps'])
  })
})

describe('simulator: request parsing errors', () => {
  it('rejects an empty body with "missing request body"', async () => {
    const res = await post('/api/chat', '')
    expect(await errorOf(res)).toMatchObject({ status: 400, error: 'missing request body' })
  })

  it('reports malformed JSON with Go encoding/json wording', async () => {
    expect((await errorOf(await post('/api/generate', 'x'))).error).toBe(
      "invalid character 'x' looking for beginning of value",
    )
    expect((await errorOf(await post('/api/generate', '{"model":'))).error).toBe('unexpected EOF')
    expect((await errorOf(await post('/api/generate', '{"model" 1}'))).error).toBe(
      "invalid character '1' after object key",
    )
  })

  it('reports a type mismatch naming the Go struct field', async () => {
    const res = await post('/api/generate', { model: 'llama3.2', prompt: 5 })
    expect(await errorOf(res)).toMatchObject({
      status: 400,
      error:
        'json: cannot unmarshal number into Go struct field GenerateRequest.prompt of type string',
    })
  })

  it('rejects a keep_alive string without a unit', async () => {
    const res = await post('/api/chat', { model: 'llama3.2', messages: [], keep_alive: '10' })
    expect(await errorOf(res)).toMatchObject({
      status: 400,
      error: 'time: missing unit in duration "10"',
    })
  })

  it('rejects an invalid think value', async () => {
    const res = await post('/api/chat', { model: 'llama3.2', messages: [], think: 'x' })
    expect((await errorOf(res)).error).toBe(
      'invalid think value: "x" (must be "high", "medium", "low", "max", true, or false)',
    )
  })
})

describe('simulator: model errors are exact (docs/decisions.md, "Ollama\'s error texts are exact")', () => {
  const cases: Array<[string, string, unknown, number, string]> = [
    ['chat without model', '/api/chat', { messages: [] }, 400, 'model is required'],
    ['generate without model', '/api/generate', { prompt: 'hi' }, 404, "model '' not found"],
    [
      'chat with unknown model',
      '/api/chat',
      { model: 'xyz', messages: [] },
      404,
      "model 'xyz' not found",
    ],
    [
      'generate, unknown, echoed as sent',
      '/api/generate',
      { model: 'Nope:1b', prompt: 'a' },
      404,
      "model 'Nope:1b' not found",
    ],
    [
      'chat with invalid name',
      '/api/chat',
      { model: 'bad name', messages: [] },
      400,
      'invalid model name',
    ],
    [
      'show with unknown model (normalised)',
      '/api/show',
      { model: 'xyz' },
      404,
      "model 'xyz:latest' not found",
    ],
    ['show without model', '/api/show', {}, 400, 'model is required'],
    [
      'copy with unknown source (double quotes)',
      '/api/copy',
      { source: 'xyz', destination: 'b' },
      404,
      'model "xyz" not found',
    ],
    [
      'copy to an invalid name',
      '/api/copy',
      { source: 'llama3.2', destination: 'a:b:c' },
      400,
      'destination "a:b:c" is invalid',
    ],
    [
      'embed with unknown model',
      '/api/embed',
      { model: 'xyz', input: 'a' },
      404,
      'model "xyz" not found, try pulling it first',
    ],
    ['embed without model', '/api/embed', { input: 'a' }, 404, "model '' not found"],
    ['embeddings without model', '/api/embeddings', { prompt: 'a' }, 400, 'model is required'],
    ['pull without a name', '/api/pull', {}, 400, 'invalid model name'],
    ['pull with an invalid name', '/api/pull', { model: 'a:b:c' }, 400, 'invalid model name'],
    [
      'chat with an embedding model',
      '/api/chat',
      { model: 'nomic-embed-text', messages: [{ role: 'user', content: 'a' }] },
      400,
      '"nomic-embed-text" does not support chat',
    ],
    [
      'think on a model without thinking',
      '/api/chat',
      { model: 'llama3.2', messages: [{ role: 'user', content: 'a' }], think: true },
      400,
      '"llama3.2" does not support thinking',
    ],
    [
      'suffix on a model without insert',
      '/api/generate',
      { model: 'llama3.2', prompt: 'a', suffix: 'b' },
      400,
      'registry.ollama.ai/library/llama3.2:latest does not support insert',
    ],
    [
      'raw with a system prompt',
      '/api/generate',
      { model: 'llama3.2', prompt: 'a', raw: true, system: 's' },
      400,
      'raw mode does not support template, system, or context',
    ],
  ]
  it.each(cases)('%s', async (_name, path, body, status, error) => {
    const res = await post(path, body)
    expect(await errorOf(res)).toEqual({ status, error, type: 'application/json; charset=utf-8' })
  })

  it('answers DELETE of an unknown model with the name as sent', async () => {
    const res = await fetch(sim.url + '/api/delete', {
      method: 'DELETE',
      body: JSON.stringify({ model: 'Missing' }),
    })
    expect(await errorOf(res)).toMatchObject({ status: 404, error: "model 'Missing' not found" })
  })
})

describe('simulator: /api/tags, /api/show, /api/ps', () => {
  it('lists installed models with :tag names, bare digests and full details, newest first', async () => {
    const { models } = (await (await fetch(sim.url + '/api/tags')).json()) as {
      models: Array<Record<string, any>>
    }
    expect(models.map((m) => m.name)).toEqual([
      'qwen3:0.6b',
      'nomic-embed-text:latest',
      'llama3.2:latest',
    ])
    const llama = models[2]!
    expect(llama).toMatchObject({
      name: 'llama3.2:latest',
      model: 'llama3.2:latest',
      size: 2019393189,
      digest: 'a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72',
      details: {
        parent_model: '',
        format: 'gguf',
        family: 'llama',
        families: ['llama'],
        parameter_size: '3.2B',
        quantization_level: 'Q4_K_M',
      },
      capabilities: ['completion', 'tools'],
    })
    for (const model of models) {
      expect(model.digest).toMatch(HEX64)
      expect(model.modified_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/)
    }
  })

  it('returns {"models":[]} when nothing is installed or loaded', async () => {
    const empty = await startSimulator()
    try {
      expect(await (await fetch(empty.url + '/api/tags')).text()).toBe('{"models":[]}')
      expect(await (await fetch(empty.url + '/api/ps')).text()).toBe('{"models":[]}')
    } finally {
      await empty.close()
    }
  })

  it('shows a model with details, model_info, capabilities and parameters', async () => {
    const res = await post('/api/show', { name: 'llama3.2' })
    const show = (await res.json()) as Record<string, any>
    expect(show.details).toMatchObject({ family: 'llama', parameter_size: '3.2B' })
    expect(show.model_info).toMatchObject({
      'general.architecture': 'llama',
      'llama.context_length': 131072,
      'tokenizer.ggml.tokens': [],
    })
    expect(show.capabilities).toEqual(['completion', 'tools'])
    expect(show.parameters.split('\n')[0]).toBe(`${'stop'.padEnd(30)} "<|start_header_id|>"`)
    expect(show.modelfile).toContain('# FROM llama3.2:latest')
  })

  it('copies and deletes with empty 200 bodies', async () => {
    const copy = await post('/api/copy', { source: 'llama3.2', destination: 'backup' })
    expect(copy.status).toBe(200)
    expect(copy.headers.get('content-type')).toBeNull()
    expect(await copy.text()).toBe('')
    const tags = (await (await fetch(sim.url + '/api/tags')).json()) as {
      models: Array<{ name: string; digest: string }>
    }
    expect(tags.models[0]).toMatchObject({
      name: 'backup:latest',
      digest: 'a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72',
    })
    const del = await fetch(sim.url + '/api/delete', {
      method: 'DELETE',
      body: JSON.stringify({ name: 'BACKUP' }),
    })
    expect(del.status).toBe(200)
    expect(await del.text()).toBe('')
    const after = (await (await fetch(sim.url + '/api/tags')).json()) as {
      models: Array<{ name: string }>
    }
    expect(after.models.map((m) => m.name)).not.toContain('backup:latest')
  })
})

describe('simulator: load and unload', () => {
  it('loads on an empty chat (done_reason "load") and shows the model in /api/ps', async () => {
    const res = await post('/api/chat', { model: 'llama3.2', messages: [], keep_alive: '1h' })
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8')
    const body = (await res.json()) as Record<string, unknown>
    expect(body).toEqual({
      model: 'llama3.2',
      created_at: expect.stringMatching(UTC_TIME),
      message: { role: 'assistant', content: '' },
      done: true,
      done_reason: 'load',
    })
    const ps = (await (await fetch(sim.url + '/api/ps')).json()) as {
      models: Array<Record<string, any>>
    }
    const entry = ps.models.find((m) => m.name === 'llama3.2:latest')
    expect(entry).toMatchObject({
      model: 'llama3.2:latest',
      digest: 'a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72',
      size_vram: 0,
      context_length: 4096,
      details: { parent_model: '', family: 'llama' },
    })
    expect(entry!.size).toBeGreaterThan(2019393189)
    const expires = Date.parse(entry!.expires_at)
    expect(expires - Date.now()).toBeGreaterThan(59 * 60_000)
    expect(expires - Date.now()).toBeLessThanOrEqual(60 * 60_000)
  })

  it('keeps a model forever with a negative keep_alive (expires_at ~292 years ahead)', async () => {
    await (await post('/api/generate', { model: 'qwen3:0.6b', keep_alive: -1 })).json()
    const ps = (await (await fetch(sim.url + '/api/ps')).json()) as {
      models: Array<Record<string, any>>
    }
    expect(ps.models[0]?.name).toBe('qwen3:0.6b')
    expect(new Date(ps.models[0]!.expires_at).getFullYear()).toBeGreaterThan(
      new Date().getFullYear() + 290,
    )
  })

  it('unloads with keep_alive 0 (done_reason "unload")', async () => {
    const res = await post('/api/generate', { model: 'qwen3:0.6b', keep_alive: 0 })
    expect(await res.json()).toMatchObject({ response: '', done: true, done_reason: 'unload' })
    const ps = (await (await fetch(sim.url + '/api/ps')).json()) as {
      models: Array<{ name: string }>
    }
    expect(ps.models.map((m) => m.name)).not.toContain('qwen3:0.6b')
  })
})

describe('simulator: the context window', () => {
  const long = 'word '.repeat(6000)
  const chat = (model: string, content: string, options?: Record<string, unknown>) =>
    post('/api/chat', {
      model,
      stream: false,
      messages: [{ role: 'user', content }],
      ...(options ? { options } : {}),
    }).then((r) => r.json() as Promise<Record<string, any>>)
  const psContext = async (name: string) => {
    const ps = (await (await fetch(`${sim.url}/api/ps`)).json()) as {
      models: Array<{ name: string; context_length: number }>
    }
    return ps.models.find((m) => m.name === name)?.context_length
  }

  it('cuts a prompt longer than num_ctx without a word: prompt_eval_count is what was kept', async () => {
    const short = await chat('llama3.2', 'hello there')
    expect(short.prompt_eval_count).toBeLessThan(20)
    const cut = await chat('llama3.2', long)
    expect(cut.done_reason).toBe('stop')
    expect(cut.prompt_eval_count).toBe(4096)
    const wider = await chat('llama3.2', long, { num_ctx: 8192 })
    expect(wider.prompt_eval_count).toBe(6006)
    expect(await psContext('llama3.2:latest')).toBe(8192)
  })

  it('never runs a model with more context than it was trained for', async () => {
    const small = await startSimulator({
      models: ['tiny-ctx'],
      catalog: { 'tiny-ctx': { size: 500_000_000, contextLength: 2048 } },
      contextLength: 16384,
    })
    try {
      await fetch(`${small.url}/api/generate`, {
        method: 'POST',
        body: JSON.stringify({ model: 'tiny-ctx', prompt: long, stream: false }),
      }).then(async (r) => expect((await r.json()).prompt_eval_count).toBe(2048))
      const ps = (await (await fetch(`${small.url}/api/ps`)).json()) as {
        models: Array<{ context_length: number }>
      }
      expect(ps.models[0]?.context_length).toBe(2048)
      const show = (await (
        await fetch(`${small.url}/api/show`, {
          method: 'POST',
          body: JSON.stringify({ model: 'tiny-ctx' }),
        })
      ).json()) as { model_info: Record<string, unknown> }
      expect(show.model_info['llama.context_length']).toBe(2048)
    } finally {
      await small.close()
    }
  })

  it('loads models with contextLength (OLLAMA_CONTEXT_LENGTH) when a request sets no num_ctx', async () => {
    const wide = await startSimulator({ models: ['llama3.2'], contextLength: 16384 })
    try {
      await fetch(`${wide.url}/api/generate`, {
        method: 'POST',
        body: JSON.stringify({ model: 'llama3.2', prompt: long, stream: false }),
      }).then(async (r) => expect((await r.json()).prompt_eval_count).toBe(6011))
      const ps = (await (await fetch(`${wide.url}/api/ps`)).json()) as {
        models: Array<{ context_length: number }>
      }
      expect(ps.models[0]?.context_length).toBe(16384)
    } finally {
      await wide.close()
    }
  })
})

describe('simulator: embeddings', () => {
  function norm(v: number[]) {
    return Math.sqrt(v.reduce((s, x) => s + x * x, 0))
  }
  function cosine(a: number[], b: number[]) {
    return a.reduce((s, x, i) => s + x * (b[i] ?? 0), 0) / (norm(a) * norm(b))
  }

  it('returns deterministic L2-normalised vectors of the model dimension', async () => {
    const body = { model: 'nomic-embed-text', input: ['the cat sat on the mat', 'the cat sat'] }
    const first = (await (await post('/api/embed', body)).json()) as Record<string, any>
    const again = (await (await post('/api/embed', body)).json()) as Record<string, any>
    expect(first.model).toBe('nomic-embed-text')
    expect(first.embeddings).toHaveLength(2)
    expect(first.embeddings[0]).toHaveLength(768)
    expect(norm(first.embeddings[0])).toBeCloseTo(1, 6)
    expect(first.embeddings).toEqual(again.embeddings)
    expect(first.prompt_eval_count).toBe(9)
    expect(Number.isInteger(first.total_duration)).toBe(true)
  })

  it('gives texts sharing words a higher similarity than unrelated texts', async () => {
    const input = ['a cat on a mat', 'the cat on the mat', 'quarterly revenue forecast']
    const { embeddings } = (await (
      await post('/api/embed', { model: 'nomic-embed-text', input })
    ).json()) as {
      embeddings: number[][]
    }
    expect(cosine(embeddings[0]!, embeddings[1]!)).toBeGreaterThan(
      cosine(embeddings[0]!, embeddings[2]!) + 0.3,
    )
  })

  it('truncates to `dimensions` and normalises again', async () => {
    const res = await post('/api/embed', { model: 'nomic-embed-text', input: 'x', dimensions: 64 })
    const { embeddings } = (await res.json()) as { embeddings: number[][] }
    expect(embeddings[0]).toHaveLength(64)
    expect(norm(embeddings[0]!)).toBeCloseTo(1, 6)
  })

  it('answers an empty input with no embeddings (a load)', async () => {
    const res = await post('/api/embed', { model: 'nomic-embed-text' })
    expect(await res.json()).toEqual({ model: 'nomic-embed-text', embeddings: [] })
  })

  it('rejects a non-string input element', async () => {
    const res = await post('/api/embed', { model: 'nomic-embed-text', input: ['a', 1] })
    expect(await errorOf(res)).toMatchObject({ status: 400, error: 'invalid input type' })
  })

  it('serves legacy /api/embeddings with one unnormalised vector', async () => {
    const res = await post('/api/embeddings', { model: 'nomic-embed-text', prompt: 'hello world' })
    const { embedding } = (await res.json()) as { embedding: number[] }
    expect(embedding).toHaveLength(768)
    expect(norm(embedding)).toBeGreaterThan(1.5)
    const empty = await post('/api/embeddings', { model: 'nomic-embed-text', prompt: '' })
    expect(await empty.json()).toEqual({ embedding: [] })
  })
})

describe('simulator: CORS and Host guard', () => {
  it('echoes an allowed localhost origin with Vary: Origin', async () => {
    const res = await fetch(sim.url + '/api/version', {
      headers: { Origin: 'http://localhost:5173' },
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('access-control-allow-origin')).toBe('http://localhost:5173')
    expect(res.headers.get('vary')).toBe('Origin')
  })

  it('refuses another origin with an empty 403', async () => {
    const res = await fetch(sim.url + '/api/version', {
      headers: { Origin: 'http://192.168.1.10:5173' },
    })
    expect(res.status).toBe(403)
    expect(await res.text()).toBe('')
  })

  it('answers an allowed preflight with 204 and Ollama headers', async () => {
    const res = await fetch(sim.url + '/api/chat', {
      method: 'OPTIONS',
      headers: { Origin: 'http://127.0.0.1:3000', 'Access-Control-Request-Method': 'POST' },
    })
    expect(res.status).toBe(204)
    expect(res.headers.get('access-control-allow-methods')).toBe(
      'GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS',
    )
    expect(res.headers.get('access-control-allow-headers')).toContain('Content-Type')
    expect(res.headers.get('access-control-max-age')).toBe('43200')
  })

  it('allows every origin with origins ["*"] (OLLAMA_ORIGINS=*)', async () => {
    const open = await startSimulator({ origins: ['*'] })
    try {
      const res = await fetch(open.url + '/api/version', {
        headers: { Origin: 'https://example.com' },
      })
      expect(res.status).toBe(200)
      expect(res.headers.get('access-control-allow-origin')).toBe('*')
    } finally {
      await open.close()
    }
  })

  it('refuses a non-local Host header while bound to loopback', async () => {
    const { request } = await import('node:http')
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        sim.url + '/api/version',
        { headers: { Host: 'evil.example.com' } },
        (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        },
      )
      req.on('error', reject)
      req.end()
    })
    expect(status).toBe(403)
  })
})
