import { describe, expect, it } from 'vitest'
import { displayName, parseModelName } from '../src/models/name.js'
import { simulatedReply, simulatedTokens, tokenize } from '../src/simulator/tokens.js'

describe('simulator: the deterministic reply', () => {
  it('is the same for the same model and prompt, and differs with the prompt', () => {
    expect(simulatedReply('llama3.2', 'hi')).toBe(simulatedReply('llama3.2', 'hi'))
    expect(simulatedReply('llama3.2', 'hi')).not.toBe(simulatedReply('llama3.2', 'hello'))
    expect(simulatedReply('llama3.2', 'hi')).toContain('You wrote: "hi".')
  })

  it('counts to N when asked', () => {
    expect(simulatedReply('m', 'count to 3')).toBe('1, 2, 3.')
    expect(tokenize(simulatedReply('m', 'count to 10000')).length).toBeGreaterThan(19_000)
  })

  it('gives exactly `limit` tokens, continuing past the natural reply', () => {
    const natural = simulatedTokens('m', 'x')
    expect(natural.doneReason).toBe('stop')
    const long = simulatedTokens('m', 'x', 100_000)
    expect(long.tokens).toHaveLength(100_000)
    expect(long.doneReason).toBe('length')
    expect(long.tokens.slice(0, natural.tokens.length)).toEqual(natural.tokens)
  })
})

describe('simulator: tokenize', () => {
  it.each([
    'Hello, world!',
    '  leading and trailing  ',
    'naïve café — 東京 🚀 12345',
    'line\nbreaks\n\n',
    '',
  ])('joins back to the exact text: %j', (text) => {
    expect(tokenize(text).join('')).toBe(text)
  })

  it('cuts like a BPE tokenizer: words with their leading space, digits by three', () => {
    expect(tokenize('Hi there, 12345.')).toEqual(['Hi', ' there', ',', ' 123', '45', '.'])
  })
})

describe('simulator: model names', () => {
  it.each([
    ['llama3.2', 'llama3.2:latest'],
    ['LLaMA3.2:1B', 'LLaMA3.2:1B'],
    ['myuser/mymodel', 'myuser/mymodel:latest'],
    ['registry.ollama.ai/library/qwen2.5:7b', 'qwen2.5:7b'],
    ['hf.co/bartowski/Foo-GGUF:Q4_K_M', 'hf.co/bartowski/Foo-GGUF:Q4_K_M'],
    ['myregistry:5000/ns/model', 'myregistry:5000/ns/model:latest'],
    ['llama3.2@sha256:abc', 'llama3.2:latest'],
  ])('displays %s as %s', (raw, display) => {
    const name = parseModelName(raw)
    expect(name).not.toBeNull()
    expect(displayName(name!)).toBe(display)
  })

  it.each(['', 'a:b:c', 'bad name', 'a/', '/a', 'a:', 'a/b/c/d', 'hf.co/model'])(
    'rejects %j',
    (raw) => {
      expect(parseModelName(raw)).toBeNull()
    },
  )
})
