// The simulator's "model": a deterministic text generator, so tests and CI runs can assert the
// exact text a chat UI will show. Only node: built-ins here (the simulator runs in a bare image).

/**
 * The reply the simulator gives when nothing limits its length (`done_reason: "stop"`).
 *
 * It depends only on `model` and `prompt` (for chat, the content of the last `user` message;
 * for generate, `prompt`; the system prompt and earlier turns do not matter):
 *
 * - A prompt containing `count to N` (N a positive integer up to 1,000,000, commas allowed)
 *   gets `"1, 2, 3, …, N."`: an easy way to ask for a long, predictable stream
 *   (`count to 10000` streams about 20,000 tokens).
 * - Any other prompt gets three sentences: an opener naming the model, a quote of the prompt
 *   (its first 60 characters, whitespace collapsed), and a closing sentence. The opener and the
 *   closing sentence are picked by a hash of `model + "\n" + prompt`, so different prompts get
 *   visibly different replies and the same prompt always gets the same one.
 *
 * To stream an exact number of tokens, set `options.num_predict` (native API) or `max_tokens`
 * (OpenAI API): see {@link simulatedTokens}.
 */
export function simulatedReply(model: string, prompt: string): string {
  const count = countTarget(prompt)
  if (count !== null) return countingReply(count)
  const seed = hash32(`${model}\n${prompt}`)
  const opener = pick(OPENERS, seed).replace('{model}', model)
  const closer = pick(CLOSERS, seed >>> 8)
  const quoted = quote(prompt)
  const middle = quoted === '' ? 'You sent an empty message.' : `You wrote: "${quoted}".`
  return `${opener} ${middle} ${closer}`
}

/**
 * The reasoning text of a model with the `thinking` capability (streamed in `thinking` before the
 * reply, when `think` is on, which is the default for such models as in Ollama).
 */
export function simulatedThinking(model: string, prompt: string): string {
  const quoted = quote(prompt)
  return `The user asked ${model}: "${quoted}". A short, friendly and deterministic answer will do.`
}

/**
 * The tokens of a generation, as streamed.
 *
 * Without `limit` (or with `limit` <= 0) these are `tokenize(simulatedReply(model, prompt))` and
 * the generation ends with `done_reason: "stop"`. With a positive `limit` (`options.num_predict`,
 * or `max_tokens` on `/v1`) exactly `limit` tokens are produced and the generation ends with
 * `done_reason: "length"`: the reply is cut short, or continued with deterministic filler
 * sentences until it is long enough. That makes `num_predict: 20000` a 20,000-token stream.
 */
export function simulatedTokens(
  model: string,
  prompt: string,
  limit?: number,
): { tokens: string[]; doneReason: 'stop' | 'length' } {
  const tokens = tokenize(simulatedReply(model, prompt))
  if (limit === undefined || !Number.isFinite(limit) || limit <= 0) {
    return { tokens, doneReason: 'stop' }
  }
  return { tokens: fillTokens(`${model}\n${prompt}`, tokens, limit), doneReason: 'length' }
}

/**
 * Exactly `limit` tokens: `tokens` cut short, or continued with deterministic filler sentences
 * (seeded by `seed`) until long enough.
 */
export function fillTokens(seed: string, tokens: string[], limit: number): string[] {
  const out = [...tokens]
  const wanted = Math.floor(limit)
  let sentence = hash32(`${seed}\nmore`)
  while (out.length < wanted) {
    for (const token of tokenize(` ${fillerSentence(sentence)}`)) out.push(token)
    sentence = (sentence + 1) >>> 0
  }
  out.length = wanted
  return out
}

// A word with the whitespace before it, a run of up to three digits, or one punctuation mark:
// roughly how BPE tokenizers cut English, and join('') gives back the text exactly.
const TOKEN = /\s*[\p{L}\p{M}]+|\s*\p{N}{1,3}|\s*[^\s\p{L}\p{M}\p{N}]|\s+/gu

/** Splits text into the chunks the simulator streams; `tokenize(t).join('') === t`. */
export function tokenize(text: string): string[] {
  return text.match(TOKEN) ?? []
}

/** How many tokens a prompt counts for (`prompt_eval_count`, `usage.prompt_tokens`). */
export function countTokens(text: string): number {
  let count = 0
  TOKEN.lastIndex = 0
  while (TOKEN.exec(text) !== null) count++
  return count
}

/** A stable token id for `context` arrays (Llama 3 has a 128k vocabulary). */
export function tokenId(token: string): number {
  return hash32(token) % 128_000
}

/** FNV-1a: a fast, stable 32-bit hash (the exact values are part of the documented replies). */
export function hash32(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

const MAX_COUNT = 1_000_000

function countTarget(prompt: string): number | null {
  const match = /count (?:from 1 )?to ([\d,_]+)/i.exec(prompt)
  if (!match?.[1]) return null
  const n = Number(match[1].replace(/[,_]/g, ''))
  return Number.isInteger(n) && n >= 1 && n <= MAX_COUNT ? n : null
}

function countingReply(n: number): string {
  const parts: string[] = []
  for (let i = 1; i <= n; i++) parts.push(String(i))
  return parts.join(', ') + '.'
}

function quote(prompt: string): string {
  const flat = prompt.replace(/\s+/g, ' ').trim()
  return flat.length > 60 ? `${flat.slice(0, 60)}…` : flat
}

function pick(list: readonly string[], seed: number): string {
  return list[seed % list.length] ?? ''
}

function fillerSentence(seed: number): string {
  const words: string[] = []
  const length = 8 + (seed % 9)
  let state = seed || 1
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0
    words.push(FILLER[(state >>> 8) % FILLER.length] ?? 'token')
  }
  const text = words.join(' ')
  return text.charAt(0).toUpperCase() + text.slice(1) + '.'
}

const OPENERS = [
  'Hello! This is {model}, running in the Ollama simulator.',
  'Hi there, {model} here (simulated, no GPU involved).',
  'Greetings from the simulated {model}.',
  'Thanks for your message; {model} is answering from the simulator.',
] as const

const CLOSERS = [
  'Every reply is deterministic, so your tests can check it word for word.',
  'Tokens arrive one at a time, just like a real model stream.',
  'Nothing here was generated by a neural network, but the wire format is exact.',
  'Ask again and you will get exactly the same answer.',
  'Set options.num_predict to get a reply of any length.',
] as const

const FILLER = [
  'the',
  'simulator',
  'streams',
  'tokens',
  'at',
  'a',
  'steady',
  'pace',
  'while',
  'your',
  'interface',
  'renders',
  'each',
  'word',
  'as',
  'it',
  'arrives',
  'and',
  'tests',
  'measure',
  'latency',
  'throughput',
  'with',
  'deterministic',
  'text',
  'so',
  'that',
  'benchmarks',
  'stay',
  'repeatable',
  'across',
  'machines',
  'model',
  'output',
  'buffer',
  'network',
  'chunk',
  'reply',
  'server',
  'client',
  'browser',
  'layout',
  'scroll',
  'frame',
  'render',
  'line',
  'long',
  'quiet',
] as const
