// POST /api/embed and the legacy POST /api/embeddings (docs/decisions.md, "Embeddings"). Vectors
// are deterministic and meaningful enough for tests of retrieval code: each word adds a fixed
// pseudo-random direction, so texts that share words have a high cosine similarity.

import type { IncomingMessage, ServerResponse } from 'node:http'
import { parseModelName } from '../models/name.js'
import type { SimContext } from './context.js'
import { expectType, HttpError, type JsonObject, sendJson } from './http.js'
import type { InstalledModel } from './registry.js'
import { countTokens, hash32, tokenize } from './tokens.js'
import { keepAliveOf } from './validate.js'

/** The un-normalised vector of `text` for `model`, `dimensions` long. */
export function rawEmbedding(model: string, text: string, dimensions: number): number[] {
  const vector = new Array<number>(dimensions).fill(0)
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []
  // A small model-specific component, so two models never give identical vectors.
  addDirection(vector, hash32(`model:${model}`), 0.25)
  if (words.length === 0) addDirection(vector, hash32(`text:${text}`), 1)
  for (const word of words) addDirection(vector, hash32(word), 1)
  return vector
}

/** L2-normalised, as /api/embed and /v1/embeddings return them. */
export function embedding(model: string, text: string, dimensions: number): number[] {
  return normalize(rawEmbedding(model, text, dimensions))
}

export function normalize(vector: number[]): number[] {
  let sum = 0
  for (const v of vector) sum += v * v
  const norm = Math.sqrt(sum) || 1
  return vector.map((v) => v / norm)
}

function addDirection(vector: number[], seed: number, weight: number): void {
  let state = seed || 0x9e3779b9
  for (let i = 0; i < vector.length; i++) {
    // xorshift32: cheap, stable across platforms.
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    vector[i] = (vector[i] ?? 0) + weight * ((state >>> 0) / 0x80000000 - 1)
  }
}

/** The unknown-model message of the embed paths (through handleScheduleError: double quotes). */
export function findEmbedModel(ctx: SimContext, raw: string): InstalledModel {
  if (!parseModelName(raw)) throw new HttpError(400, 'invalid model name')
  const model = ctx.registry.find(raw)
  if (!model) throw new HttpError(404, `model "${raw}" not found, try pulling it first`)
  return model
}

/** Embeddings of `inputs`, truncated to the context (or refused when `truncate` is false). */
export function embedInputs(
  model: InstalledModel,
  raw: string,
  inputs: string[],
  dimensions: number | undefined,
  truncate: boolean,
): { embeddings: number[][]; promptTokens: number } {
  const native = model.spec.embeddingLength
  const size = dimensions && dimensions > 0 && dimensions < native ? dimensions : native
  let promptTokens = 0
  const embeddings = inputs.map((input) => {
    let text = input
    const tokens = countTokens(text)
    if (tokens > model.spec.contextLength) {
      if (!truncate) throw new HttpError(400, 'the input length exceeds the context length')
      text = tokenize(text).slice(0, model.spec.contextLength).join('')
    }
    promptTokens += Math.min(tokens, model.spec.contextLength)
    return embedding(raw, text, size)
  })
  return { embeddings, promptTokens }
}

/** POST /api/embed */
export function handleEmbed(ctx: SimContext, res: ServerResponse, body: JsonObject): void {
  const start = process.hrtime.bigint()
  expectType(body, 'model', 'string', 'EmbedRequest', 'string')
  expectType(body, 'dimensions', 'number', 'EmbedRequest', 'int')
  const keepAlive = keepAliveOf(body)
  const raw = typeof body.model === 'string' ? body.model : ''
  if (raw === '') throw new HttpError(404, "model '' not found")
  const inputs = inputsOf(body.input)
  const model = findEmbedModel(ctx, raw)
  const wasLoaded = ctx.registry.touch(model, keepAlive)
  const loaded = process.hrtime.bigint()
  if (inputs.length === 0) {
    sendJson(res, 200, { model: raw, embeddings: [] })
    return
  }
  const dims = typeof body.dimensions === 'number' ? body.dimensions : undefined
  const { embeddings, promptTokens } = embedInputs(
    model,
    raw,
    inputs,
    dims,
    body.truncate !== false,
  )
  if (keepAlive === 0n) ctx.registry.unload(model)
  const reply: JsonObject = {
    model: raw,
    embeddings,
    total_duration: Number(process.hrtime.bigint() - start),
  }
  if (!wasLoaded) reply.load_duration = Math.max(1, Number(loaded - start))
  reply.prompt_eval_count = promptTokens
  sendJson(res, 200, reply)
}

function inputsOf(input: unknown): string[] {
  if (input === undefined || input === null || input === '') return []
  if (typeof input === 'string') return [input]
  if (Array.isArray(input)) {
    if (!input.every((item) => typeof item === 'string')) {
      throw new HttpError(400, 'invalid input type')
    }
    return input as string[]
  }
  throw new HttpError(400, 'invalid input type')
}

/** POST /api/embeddings (legacy): one vector, float64, not normalised. */
export function handleEmbeddings(
  ctx: SimContext,
  _req: IncomingMessage,
  res: ServerResponse,
  body: JsonObject,
): void {
  expectType(body, 'model', 'string', 'EmbeddingRequest', 'string')
  expectType(body, 'prompt', 'string', 'EmbeddingRequest', 'string')
  const keepAlive = keepAliveOf(body)
  const raw = typeof body.model === 'string' ? body.model : ''
  if (raw === '') throw new HttpError(400, 'model is required')
  const model = findEmbedModel(ctx, raw)
  ctx.registry.touch(model, keepAlive)
  const prompt = typeof body.prompt === 'string' ? body.prompt : ''
  if (prompt === '') {
    sendJson(res, 200, { embedding: [] })
    return
  }
  sendJson(res, 200, { embedding: rawEmbedding(raw, prompt, model.spec.embeddingLength) })
}
