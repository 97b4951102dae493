// Request checks that Ollama applies before it schedules a model, with its exact messages
// (docs/decisions.md, "Ollama's HTTP edge" and "Ollama's error texts are exact"): think values,
// keep_alive, options types, images. `think` is in thinking.ts.

import { fullName, parseModelName } from '../models/name.js'
import { DurationError, parseKeepAlive } from './clock.js'
import { HttpError, type JsonObject } from './http.js'
import type { InstalledModel } from './registry.js'
import type { Think } from './thinking.js'

/** What a request asks of a model's capabilities. */
export interface CapabilityNeeds {
  tools: number
  think: Think
  suffix?: string
}

/**
 * The capability 400s (routes.go:211-213, 2610-2631): tools and insert name the full model name,
 * completion and thinking the name as sent (Go `%q`).
 */
export function checkCapabilities(
  model: InstalledModel,
  raw: string,
  kind: 'chat' | 'generate',
  needs: CapabilityNeeds,
): void {
  const caps = model.spec.capabilities
  if (!caps.includes('completion')) throw new HttpError(400, `"${raw}" does not support ${kind}`)
  const name = parseModelName(model.name)
  const qualified = name ? fullName(name) : model.name
  if (needs.tools > 0 && !caps.includes('tools')) {
    throw new HttpError(400, `${qualified} does not support tools`)
  }
  if (needs.suffix && !caps.includes('insert')) {
    throw new HttpError(400, `${qualified} does not support insert`)
  }
  if (needs.think !== undefined && needs.think !== false && !caps.includes('thinking')) {
    throw new HttpError(400, `"${raw}" does not support thinking`)
  }
}

/** keep_alive in ns; a Go duration error becomes a 400 with Go's text. */
export function keepAliveOf(body: JsonObject): bigint | undefined {
  try {
    return parseKeepAlive(body.keep_alive)
  } catch (error) {
    if (error instanceof DurationError) throw new HttpError(400, error.message)
    throw error
  }
}

const INT_OPTIONS = new Set([
  'num_predict',
  'num_ctx',
  'num_keep',
  'seed',
  'top_k',
  'num_batch',
  'num_gpu',
  'num_thread',
  'repeat_last_n',
])
const BOOL_OPTIONS = new Set([
  'numa',
  'low_vram',
  'f16_kv',
  'logits_all',
  'vocab_only',
  'use_mmap',
  'use_mlock',
  'penalize_newline',
])
const FLOAT_OPTIONS = new Set([
  'temperature',
  'top_p',
  'min_p',
  'typical_p',
  'repeat_penalty',
  'presence_penalty',
  'frequency_penalty',
])

/** `options`, type-checked as api.Options.FromMap does; unknown keys are ignored. */
export function optionsOf(body: JsonObject): JsonObject {
  const options = body.options
  if (options === undefined || options === null) return {}
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw new HttpError(
      400,
      `json: cannot unmarshal ${Array.isArray(options) ? 'array' : typeof options} into Go struct field of type map[string]interface {}`,
    )
  }
  const map = options as JsonObject
  for (const [key, value] of Object.entries(map)) {
    if (value === null) continue
    if (INT_OPTIONS.has(key) && typeof value !== 'number') {
      throw new HttpError(400, `option "${key}" must be of type integer`)
    }
    if (FLOAT_OPTIONS.has(key) && typeof value !== 'number') {
      throw new HttpError(400, `option "${key}" must be of type float32`)
    }
    if (BOOL_OPTIONS.has(key) && typeof value !== 'boolean') {
      throw new HttpError(400, `option "${key}" must be of type boolean`)
    }
    // `stop` is a []string: a bare string is refused, not wrapped (api.Options.FromMap).
    if (key === 'stop') {
      if (!Array.isArray(value)) throw new HttpError(400, `option "stop" must be of type array`)
      if (!value.every((item) => typeof item === 'string')) {
        throw new HttpError(400, `option "stop" must be of an array of strings`)
      }
    }
  }
  return map
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/** Standard base64 as Go's decoder reads it: line breaks are skipped. */
export function isStdBase64(text: string): boolean {
  const bare = text.replace(/[\r\n]/g, '')
  return bare.length % 4 === 0 && BASE64.test(bare)
}

/** `images` must be base64 (Go's `illegal base64 data at input byte N`). */
export function checkImages(images: unknown): void {
  if (!Array.isArray(images)) return
  for (const image of images) {
    if (typeof image !== 'string' || isStdBase64(image)) continue
    const bad = image.search(/[^A-Za-z0-9+/=\r\n]/)
    const at = bad >= 0 ? bad : image.length - (image.length % 4)
    throw new HttpError(400, `illegal base64 data at input byte ${at}`)
  }
}

/** `top_logprobs` must be between 0 and 20. */
export function checkTopLogprobs(body: JsonObject): void {
  const value = body.top_logprobs
  if (typeof value === 'number' && (value < 0 || value > 20)) {
    throw new HttpError(400, 'top_logprobs must be between 0 and 20')
  }
}
