import { describe, expect, it } from 'vitest'
import { OllamaOptionsError, resolveOptions } from '../src/options.js'

describe('resolveOptions', () => {
  it('fills in the documented defaults', () => {
    const o = resolveOptions()
    expect(o).toMatchObject({
      enabled: true,
      url: 'http://127.0.0.1:11434',
      engine: 'auto',
      fallback: 'none',
      models: [],
      defaultModel: undefined,
      autoStart: true,
      autoPull: [],
      keepAlive: '30m',
      warmup: true,
      base: '/__ollama',
      overlay: { position: 'bottom-right', collapsed: false },
      maxBodySize: 20 * 1024 * 1024,
      docker: {
        image: 'ollama/ollama:latest',
        containerName: 'vite-plugin-ollama',
        volume: 'ollama',
        hostPort: 11434,
        gpu: 'auto',
        env: {},
        pullImage: 'missing',
        stopOnExit: true,
      },
    })
  })

  it('makes the first model the default and pulls every model by default', () => {
    const o = resolveOptions({ models: ['llama3.2', 'nomic-embed-text'] })
    expect(o.defaultModel).toBe('llama3.2')
    expect(o.autoPull).toEqual(['llama3.2', 'nomic-embed-text'])
  })

  it('adds a defaultModel that is not in models, so it gets pulled', () => {
    const o = resolveOptions({ models: ['llama3.2'], defaultModel: 'qwen2.5:0.5b' })
    expect(o.models).toEqual(['llama3.2', 'qwen2.5:0.5b'])
    expect(o.defaultModel).toBe('qwen2.5:0.5b')
  })

  it('takes autoPull as a subset of models', () => {
    const o = resolveOptions({ models: ['a', 'b'], autoPull: ['b'] })
    expect(o.autoPull).toEqual(['b'])
    expect(resolveOptions({ models: ['a'], autoPull: false }).autoPull).toEqual([])
  })

  it('strips a trailing slash from url and keeps overlay: false', () => {
    const o = resolveOptions({ url: 'http://localhost:11434/', overlay: false })
    expect(o.url).toBe('http://localhost:11434')
    expect(o.overlay).toBe(false)
  })

  it.each([
    [{ engine: 'podman' }, /engine/],
    [{ url: 'ftp://x' }, /url: use an http\(s\) URL/],
    [{ models: ['bad name'] }, /models\.0: use a name from ollama\.com\/library/],
    [{ docker: { hostPort: 70000 } }, /docker\.hostPort/],
    [{ docker: { gpu: 'arc' } }, /docker\.gpu/],
    [
      { docker: { hostModels: 'models' } },
      /docker\.hostModels: use 'auto', false, or the absolute path/,
    ],
    [{ keepAlive: 'forever' }, /keepAlive: use a duration/],
    [{ base: '/__ollama/' }, /base: use a path/],
    [{ modles: ['llama3.2'] }, /unknown option "modles"/],
    [{ models: ['a'], autoPull: ['b'] }, /autoPull: b is not in models/],
  ])('stops start-up on %j with a message naming the option', (input, message) => {
    expect(() => resolveOptions(input as never)).toThrow(OllamaOptionsError)
    expect(() => resolveOptions(input as never)).toThrow(message)
  })
})

describe('production options', () => {
  it('names each provider mistake and its fix, as the handler does', () => {
    let message = ''
    try {
      resolveOptions({
        providers: {
          ollama: { type: 'ollama', baseURL: 'http://x' },
          cloud: {
            type: 'openai',
            baseURL: 'https://user:pass@api.example.com/v1',
            apiKeyEnv: 'sk-live-123',
          },
          leaky: {
            type: 'openai',
            baseURL: 'https://api.openai.com/v1',
            apiKey: 'sk-123',
          } as never,
        },
        routing: { development: 'cloud', production: 'nowhere' },
        productionBase: 'api/ai',
      })
    } catch (error) {
      expect(error).toBeInstanceOf(OllamaOptionsError)
      message = (error as Error).message
    }
    expect(message).toMatch(/providers\.ollama: the name "ollama" always means the Ollama at url/)
    expect(message).toMatch(/providers\.cloud\.baseURL: take the credentials out of the URL/)
    expect(message).toMatch(/providers\.cloud\.apiKeyEnv: the name of an environment variable/)
    expect(message).toMatch(/providers\.leaky\.apiKey: never put a key in options/)
    expect(message).toMatch(/routing\.development: the dev server answers with the local engine/)
    expect(message).toMatch(/routing\.production: "nowhere" is not a provider/)
    expect(message).toMatch(/productionBase: use a path such as "\/api\/ai"/)
  })

  it('takes a provider routed to in production', () => {
    const o = resolveOptions({
      providers: {
        groq: {
          type: 'openai',
          baseURL: 'https://api.groq.com/openai/v1',
          apiKeyEnv: 'GROQ_API_KEY',
        },
      },
      routing: { production: 'groq' },
      productionBase: 'https://api.example.com/ai',
    })
    expect(o.routing).toEqual({ development: 'ollama', production: 'groq' })
    expect(o.productionBase).toBe('https://api.example.com/ai')
  })
})
