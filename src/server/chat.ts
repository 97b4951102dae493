import { chatMetrics } from '../chat/metrics.js'
import { partsOfOllamaChunk } from '../chat/ollama-parts.js'
import type { ChatPart } from '../chat/parts.js'
import { TurnSummary } from '../chat/turn.js'
import type { OllamaClient } from '../ollama/client.js'
import { ProblemError } from '../problem.js'
import type { ChatMessage, ChatResult, ChatTool, ModelWaiting } from '../protocol.js'
import { type RouteContext, unavailableProblem } from './context.js'
import { checkContext, estimatePromptTokens } from './context-guard.js'
import { modelReadiness, waitForModel } from './model-wait.js'

// One chat turn against Ollama, shared by `POST /chat` (our SSE, the AI SDK's UI message stream,
// or JSON) and the WebSocket: the model default, the upstream stream read as parts
// (chat/parts.ts, the same parts the production handler reads from its providers) and the
// metrics the browser sees.

export interface ChatTurn {
  model: string
  messages: ChatMessage[]
  options?: Record<string, unknown> | undefined
  format?: unknown
  think?: unknown
  tools?: ChatTool[] | undefined
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

/**
 * Throws, before a response starts, what a chat for `model` would fail with at once (no engine,
 * a failed pull, a model in `models` that nothing pulls), so it gets its HTTP status; a chat that
 * will wait passes.
 */
export function assertChatCanRun(ctx: RouteContext, model: string): void {
  modelReadiness(ctx, model)
}

/** The client of the Ollama that is up, or the 503 that says why there is none. */
export function requireUpstream(ctx: RouteContext): OllamaClient {
  const upstream = ctx.upstream()
  if (upstream) return upstream
  const problem = unavailableProblem(ctx)
  throw new ProblemError({ status: 503, message: problem.message, hint: problem.hint })
}

/** Where a turn's parts go as they stream. */
export interface ChatSink {
  /** Each part as Ollama sends it; return a promise to hold the stream back (backpressure). */
  part(part: ChatPart): void | Promise<void>
  /** The model is still pulling or the engine starting (at most every half second). */
  waiting?(waiting: ModelWaiting): void
}

/**
 * Streams one turn: first waits for the model while it pulls or the engine starts (`sink.waiting`
 * hears how that goes), then `sink.part` gets each piece of reasoning, text and each tool call as
 * Ollama sends them, and the finish. Resolves with the whole reply and its metrics, timed from
 * the moment the model was ready; rejects with an `OllamaError` (upstream), a `ProblemError` (no
 * engine, a failed pull, a wait past `limits.modelWaitMs`: model-wait.ts), or the signal's reason
 * when aborted. Aborting `signal` closes the upstream request, so Ollama stops generating.
 */
export async function runChat(
  ctx: RouteContext,
  turn: ChatTurn,
  signal: AbortSignal,
  sink: ChatSink,
): Promise<ChatResult> {
  const upstream = await waitForModel(ctx, turn.model, signal, sink.waiting)
  const started = performance.now()
  const estimate = estimatePromptTokens(turn.messages)
  const request = {
    model: turn.model,
    messages: turn.messages,
    stream: true as const,
    keep_alive: ctx.options().keepAlive,
    ...(turn.options ? { options: turn.options } : {}),
    ...(turn.format !== undefined ? { format: turn.format } : {}),
    ...(turn.think !== undefined ? { think: turn.think } : {}),
    ...(turn.tools ? { tools: turn.tools } : {}),
  }
  const stream = await upstream.chat(
    request as Parameters<OllamaClient['chat']>[0] & { stream: true },
    { signal },
  )
  const summary = new TurnSummary()
  for await (const chunk of stream) {
    for (const part of partsOfOllamaChunk(chunk)) {
      summary.add(part)
      const wait = sink.part(part)
      if (wait) await wait
    }
  }
  signal.throwIfAborted()
  const metrics = chatMetrics(turn.model, summary.finish, summary.timing(started))
  const numCtx = turn.options?.num_ctx
  const warning = await checkContext(upstream, {
    model: turn.model,
    estimate,
    evaluated: metrics.promptTokens,
    requested: typeof numCtx === 'number' && Number.isFinite(numCtx) ? numCtx : undefined,
    signal,
  })
  if (warning) metrics.contextWarning = warning
  ctx.noteContext?.(turn.model, warning)
  return summary.result(metrics)
}
