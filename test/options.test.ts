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
      maxBodySize: 1024 * 1024,
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
