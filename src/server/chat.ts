import { z } from 'zod'
import type { OllamaClient } from '../ollama/client.js'
import { modelNameSchema } from '../options.js'
import { ProblemError } from '../problem.js'
import type { ChatMetrics, ChatResult } from '../protocol.js'
import { type RouteContext, unavailableProblem } from './context.js'
import { checkContext, estimatePromptTokens } from './context-guard.js'

// One chat turn against Ollama, shared by `POST /chat` (SSE or JSON) and the WebSocket: the
// payload schema, the model default, the upstream stream and the metrics the browser sees.

export const chatMessageSchema = z.looseObject({
  role: z.enum(['system', 'user', 'assistant', 'tool']),
  content: z.string(),
  images: z.array(z.string()).optional(),
})

export type ChatMessage = z.output<typeof chatMessageSchema>

/** Ollama's `options` (temperature, num_predict, num_ctx…): passed through, Ollama checks them. */
export const modelOptionsSchema = z.record(z.string(), z.unknown())

/**
 * `POST /chat`: `{ messages, model?, options?, format?, think? }`, or `{ prompt }` as a shorthand
 * for `messages: [{ role: 'user', content: prompt }]` (`system` may be added to either).
 */
export const chatPayloadSchema = z
  .object({
    messages: z.array(chatMessageSchema).min(1, 'send at least one message').optional(),
    prompt: z.string().optional(),
    system: z.string().optional(),
    model: modelNameSchema.optional(),
    options: modelOptionsSchema.optional(),
    format: z.union([z.literal('json'), z.record(z.string(), z.unknown())]).optional(),
    think: z.union([z.boolean(), z.enum(['low', 'medium', 'high', 'max'])]).optional(),
  })
  .refine((body) => body.messages !== undefined || body.prompt !== undefined, {
    message: 'send "messages" (an array of {role, content}) or "prompt" (a string)',
    path: ['messages'],
  })

export type ChatPayload = z.output<typeof chatPayloadSchema>

/** The messages a payload stands for: `prompt` becomes one user message. */
export function payloadMessages(body: {
  messages?: ChatMessage[] | undefined
  prompt?: string | undefined
  system?: string | undefined
}): ChatMessage[] {
  const messages: ChatMessage[] = body.messages
    ? [...body.messages]
    : [{ role: 'user', content: body.prompt ?? '' }]
  if (body.system !== undefined) messages.unshift({ role: 'system', content: body.system })
  return messages
}

export interface ChatTurn {
  model: string
  messages: ChatMessage[]
  options?: Record<string, unknown> | undefined
  format?: unknown
  think?: unknown
}

/** The model a request names, else `defaultModel`; a 400 naming `model` when there is neither. */
export function resolveModel(ctx: RouteContext, requested: string | undefined): string {
  const model = requested ?? ctx.options().defaultModel
  if (model) return model
  throw new ProblemError({
    status: 400,
    message: 'No model: the request names no "model" and no defaultModel is set',
    hint: 'Send "model" in the request, or set defaultModel (or models) in the ollama() options in vite.config.ts.',
  })
}

/** The client of the Ollama that is up, or the 503 that says why there is none. */
export function requireUpstream(ctx: RouteContext): OllamaClient {
  const upstream = ctx.upstream()
  if (upstream) return upstream
  const problem = unavailableProblem(ctx)
  throw new ProblemError({ status: 503, message: problem.message, hint: problem.hint })
}

/**
 * Streams one turn: `onToken` gets each piece of text as Ollama sends it (return a promise to hold
 * the stream back, for backpressure). Resolves with the whole reply and its metrics; rejects with
 * an `OllamaError` (upstream), a `ProblemError` with status 503 (no engine), or the signal's reason when aborted.
 * Aborting `signal` closes the upstream request, so Ollama stops generating.
 */
export async function runChat(
  ctx: RouteContext,
  turn: ChatTurn,
  signal: AbortSignal,
  onToken: (text: string) => void | Promise<void>,
): Promise<ChatResult> {
  const started = performance.now()
  const upstream = requireUpstream(ctx)
  const estimate = estimatePromptTokens(turn.messages)
  const request = {
    model: turn.model,
    messages: turn.messages,
    stream: true as const,
    keep_alive: ctx.options().keepAlive,
    ...(turn.options ? { options: turn.options } : {}),
    ...(turn.format !== undefined ? { format: turn.format } : {}),
    ...(turn.think !== undefined ? { think: turn.think } : {}),
  }
  const stream = await upstream.chat(
    request as Parameters<OllamaClient['chat']>[0] & { stream: true },
    { signal },
  )
  let content = ''
  let chunks = 0
  let firstTokenAt = 0
  let final: Record<string, unknown> | undefined
  for await (const chunk of stream) {
    const text = chunk.message.content
    if (text) {
      if (chunks === 0) firstTokenAt = performance.now()
      chunks++
      content += text
      const wait = onToken(text)
      if (wait) await wait
    }
    if (chunk.done) final = chunk
  }
  signal.throwIfAborted()
  const ended = performance.now()
  const metrics = chatMetrics(turn.model, final, chunks, started, firstTokenAt, ended)
  const warning = await checkContext(upstream, {
    model: turn.model,
    estimate,
    evaluated: metrics.promptTokens,
    requested: numberField(turn.options, 'num_ctx'),
    signal,
  })
  if (warning) metrics.contextWarning = warning
  ctx.noteContext?.(turn.model, warning)
  return { content, metrics }
}

function chatMetrics(
  model: string,
  final: Record<string, unknown> | undefined,
  chunks: number,
  started: number,
  firstTokenAt: number,
  ended: number,
): ChatMetrics {
  const evalCount = numberField(final, 'eval_count')
  const evalDuration = numberField(final, 'eval_duration')
  const tokens = evalCount ?? chunks
  const ttftMs = round((firstTokenAt || ended) - started)
  const streamSeconds = (ended - (firstTokenAt || started)) / 1000
  const tokensPerSecond =
    evalCount !== undefined && evalDuration
      ? (evalCount / evalDuration) * 1e9
      : streamSeconds > 0
        ? tokens / streamSeconds
        : 0
  const metrics: ChatMetrics = {
    model: typeof final?.model === 'string' ? final.model : model,
    tokens,
    tokensPerSecond: round(tokensPerSecond),
    ttftMs,
    totalMs: round(ended - started),
  }
  const promptTokens = numberField(final, 'prompt_eval_count')
  if (promptTokens !== undefined) metrics.promptTokens = promptTokens
  const load = numberField(final, 'load_duration')
  if (load !== undefined) metrics.loadMs = round(load / 1e6)
  if (typeof final?.done_reason === 'string') metrics.doneReason = final.done_reason
  return metrics
}

function numberField(value: Record<string, unknown> | undefined, key: string): number | undefined {
  const field = value?.[key]
  return typeof field === 'number' && Number.isFinite(field) ? field : undefined
}

function round(value: number): number {
  return Math.round(value * 10) / 10
}
