// Log probabilities (docs/simulator.md, "Logprobs"): deterministic per token, in Ollama's shape
// `{token, logprob, bytes, top_logprobs}` (api/types.go:498-518).

import type { JsonObject } from './http.js'
import { hash32 } from './tokens.js'

/** Alternatives offered in `top_logprobs` after the chosen token. */
const ALTERNATIVES = [' the', ' a', ',', '.', ' and', ' to', ' of', ' is', ' in', ' it']

function entry(token: string, logprob: number): JsonObject {
  const out: JsonObject = { token, logprob }
  // `bytes` is omitted for an empty token (omitempty).
  if (token !== '') out.bytes = [...Buffer.from(token, 'utf8')]
  return out
}

/** The logprob of `token` with `top` alternatives (0 to 20), the chosen token first. */
export function tokenLogprob(token: string, top: number): JsonObject {
  const chosen = -((hash32(token) % 1000) / 10_000)
  const out = entry(token, chosen)
  if (top > 0) {
    const others = [token, ...ALTERNATIVES.filter((t) => t !== token)]
    while (others.length < top) others.push(` option${others.length}`)
    out.top_logprobs = others
      .slice(0, top)
      .map((t, i) => entry(t, i === 0 ? chosen : chosen - 1 - i * 0.5))
  }
  return out
}

/** The logprobs a request asked for: `logprobs: true`, `top_logprobs` alternatives. */
export interface LogprobRequest {
  top: number
}

/** Native and `/v1` both ask with `logprobs: true` and an optional `top_logprobs`. */
export function logprobRequest(body: JsonObject): LogprobRequest | undefined {
  if (body.logprobs !== true) return undefined
  const top = typeof body.top_logprobs === 'number' ? Math.floor(body.top_logprobs) : 0
  return { top }
}
