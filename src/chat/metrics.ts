import type { ChatMetrics } from '../protocol.js'

// The `done` metrics of a chat, from what the model server reported and what the route measured.
// Shared by the dev server (Ollama's final chunk) and the production handler (Ollama's final
// chunk, or an OpenAI-compatible `usage`), so the browser reads the same figures in both.

/** What the model server said about a finished turn, in one form whatever the provider. */
export interface Finish {
  model?: string
  /** Tokens generated (Ollama's `eval_count`, OpenAI's `usage.completion_tokens`). */
  tokens?: number
  evalDurationNs?: number
  promptTokens?: number
  loadDurationNs?: number
  doneReason?: string
}

/**
 * When the route saw the request (or its model was ready), the first token of any kind, the first
 * reasoning and the first answer token, and the end (`performance.now()`, 0 for what never came),
 * and the chunks.
 */
export interface ChatTiming {
  started: number
  firstTokenAt: number
  firstReasoningAt?: number
  firstAnswerAt?: number
  ended: number
  chunks: number
}

/** Ollama's final chunk (`done: true`) as a Finish. */
export function finishFromOllama(final: Record<string, unknown> | undefined): Finish | undefined {
  if (!final) return undefined
  return {
    ...(typeof final.model === 'string' ? { model: final.model } : {}),
    ...numberAs(final, 'eval_count', 'tokens'),
    ...numberAs(final, 'eval_duration', 'evalDurationNs'),
    ...numberAs(final, 'prompt_eval_count', 'promptTokens'),
    ...numberAs(final, 'load_duration', 'loadDurationNs'),
    ...(typeof final.done_reason === 'string' ? { doneReason: final.done_reason } : {}),
  }
}

export function chatMetrics(model: string, finish: Finish | undefined, t: ChatTiming): ChatMetrics {
  const tokens = finish?.tokens ?? t.chunks
  const firstTokenAt = t.firstTokenAt || t.ended
  const streamSeconds = (t.ended - (t.firstTokenAt || t.started)) / 1000
  const tokensPerSecond =
    finish?.tokens !== undefined && finish.evalDurationNs
      ? (finish.tokens / finish.evalDurationNs) * 1e9
      : streamSeconds > 0
        ? tokens / streamSeconds
        : 0
  const metrics: ChatMetrics = {
    model: finish?.model ?? model,
    tokens,
    tokensPerSecond: round(tokensPerSecond),
    ttftMs: round(firstTokenAt - t.started),
    totalMs: round(t.ended - t.started),
  }
  if (t.firstReasoningAt) metrics.firstReasoningMs = round(t.firstReasoningAt - t.started)
  if (t.firstAnswerAt) metrics.firstAnswerMs = round(t.firstAnswerAt - t.started)
  if (finish?.promptTokens !== undefined) metrics.promptTokens = finish.promptTokens
  if (finish?.loadDurationNs !== undefined) metrics.loadMs = round(finish.loadDurationNs / 1e6)
  if (finish?.doneReason !== undefined) metrics.doneReason = finish.doneReason
  return metrics
}

function numberAs<K extends keyof Finish>(
  value: Record<string, unknown>,
  key: string,
  as: K,
): Partial<Finish> {
  const field = value[key]
  return typeof field === 'number' && Number.isFinite(field) ? { [as]: field } : {}
}

function round(value: number): number {
  return Math.round(value * 10) / 10
}
