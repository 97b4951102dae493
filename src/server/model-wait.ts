import type { IncomingMessage } from 'node:http'
import type { OllamaClient } from '../ollama/client.js'
import { ProblemError } from '../problem.js'
import type { ModelWaiting } from '../protocol.js'
import type { BodyHead } from './body.js'
import { type RouteContext, unavailableProblem } from './context.js'
import { topLevelString } from './json.js'

// A chat for a model that is still pulling, or sent while the engine starts, waits for it
// instead of reaching Ollama early and coming back with "model not found" (docs/decisions.md,
// "A chat waits for its model"). Shared by `POST /chat`, the WebSocket and the proxied chat routes.

/** Waiting reports go out at most this often: enough for a progress bar, never a flood. */
const REPORT_EVERY_MS = 500

/** What a chat for a model finds now: the client to send it to, or what it waits for. */
type Readiness = { ready: OllamaClient } | { waiting: ModelWaiting }

/**
 * Whether a chat for `model` can go now, must wait, or cannot run: throws the `ProblemError`
 * that says why (the engine is down, the model's pull failed, the model is in `models` but
 * nothing pulls it). A model the plugin does not know goes to Ollama, whose 404 hint fits it.
 * A context that cannot say when the state changes (no `watch`) cannot wait: it gets the 503.
 */
export function modelReadiness(ctx: RouteContext, model: string): Readiness {
  const readiness = readinessNow(ctx, model)
  if ('waiting' in readiness && !ctx.watch) throw unavailable(ctx)
  return readiness
}

function readinessNow(ctx: RouteContext, model: string): Readiness {
  const snapshot = ctx.snapshot()
  const { phase } = snapshot
  // A start under way is waited for; an engine that went down with a known problem (it crashed
  // while Docker is unreachable, say) is said at once, with that problem, as a 503.
  if ((phase === 'detecting' || phase === 'starting') && !snapshot.error) {
    return { waiting: { model, status: phase, percent: 0, etaSeconds: null } }
  }
  const upstream = phase === 'ready' || phase === 'pulling' ? ctx.upstream() : null
  if (!upstream) throw unavailable(ctx)
  const key = upstream.modelKey(model)
  const state = snapshot.models.find((m) => upstream.modelKey(m.name) === key)
  switch (state?.status) {
    case undefined:
    case 'present':
    case 'loaded':
      return { ready: upstream }
    case 'pulling': {
      const progress = state.progress
      return {
        waiting: {
          model,
          status: progress?.status ?? 'pulling',
          percent: progress?.percent ?? 0,
          etaSeconds: progress?.etaSeconds ?? null,
        },
      }
    }
    case 'error':
      throw new ProblemError({
        status: 502,
        message: state.error?.message ?? `The pull of ${state.name} failed`,
        hint: state.error?.hint ?? 'Retry the pull from the overlay, or POST /pull.',
      })
    case 'missing':
      // `ensureModels` is about to pull it (the phase says `pulling` before the pull starts).
      if (phase === 'pulling' && autoPulled(ctx, state.name)) {
        return { waiting: { model, status: 'queued', percent: 0, etaSeconds: null } }
      }
      throw notPulled(ctx, state.name)
  }
}

/** One of the app's models that the plugin pulls by itself. */
function autoPulled(ctx: RouteContext, name: string): boolean {
  const { autoPull, models } = ctx.options()
  return autoPull.includes(name) && models.includes(name)
}

/** A model in `models` that is not installed and not being pulled (autoPull off, or cancelled). */
function notPulled(ctx: RouteContext, name: string): ProblemError {
  return new ProblemError({
    status: 404,
    message: `Model "${name}" is in \`models\` but not installed, and no pull of it runs`,
    hint: `Pull it: the overlay's Pull button, POST ${ctx.base}/pull {"model":"${name}"}, or \`ollama pull ${name}\` (or add it to \`autoPull\` in vite.config.ts).`,
  })
}

/**
 * Resolves with the client to chat through once `model` is ready, calling `onWaiting` (at most
 * every half second) while it waits. Rejects with the reason it cannot run (see
 * `modelReadiness`), with a 504 after `limits.modelWaitMs`, or with the signal's reason when the
 * client goes away; every listener it added is removed when it settles.
 */
export function waitForModel(
  ctx: RouteContext,
  model: string,
  signal: AbortSignal,
  onWaiting?: (waiting: ModelWaiting) => void,
): Promise<OllamaClient> {
  signal.throwIfAborted()
  const first = modelReadiness(ctx, model)
  if ('ready' in first) return Promise.resolve(first.ready)
  const watch = ctx.watch
  if (!watch) return Promise.reject(unavailable(ctx))
  return new Promise<OllamaClient>((resolve, reject) => {
    let reportedAt = 0
    let last: ModelWaiting | undefined
    const waitMs = ctx.options().limits.modelWaitMs
    const deadline = setTimeout(() => settle(() => reject(timedOut(model, waitMs))), waitMs)
    deadline.unref()
    // Before the watch: the overlay's news of this wait is a state change the watch would see.
    const stopNoting = ctx.noteWaiting?.(model)
    const unwatch = watch(check)
    signal.addEventListener('abort', onAbort, { once: true })
    report(first.waiting)

    function check(): void {
      let now: Readiness
      try {
        now = modelReadiness(ctx, model)
      } catch (err) {
        settle(() => reject(err))
        return
      }
      if ('ready' in now) settle(() => resolve(now.ready))
      else report(now.waiting)
    }
    function report(waiting: ModelWaiting): void {
      const at = performance.now()
      // A new stage goes out at once; the same stage's progress at most every REPORT_EVERY_MS.
      if (last?.status === waiting.status) {
        if (last.percent === waiting.percent || at - reportedAt < REPORT_EVERY_MS) return
      }
      reportedAt = at
      last = waiting
      onWaiting?.(waiting)
    }
    function onAbort(): void {
      settle(() => reject(signal.reason))
    }
    function settle(end: () => void): void {
      clearTimeout(deadline)
      unwatch()
      stopNoting?.()
      signal.removeEventListener('abort', onAbort)
      end()
    }
  })
}

/** The proxied routes that chat, whose requests wait for their model (body `model`). */
const CHAT_PATHS = new Set(['/api/chat', '/v1/chat/completions'])

/** A proxied chat with a body, in a context that can wait: it goes through `proxiedChatUpstream`. */
export function waitsForModel(ctx: RouteContext, req: IncomingMessage, path: string): boolean {
  return ctx.watch !== undefined && req.method === 'POST' && CHAT_PATHS.has(path)
}

/**
 * The client to send a proxied chat through, once the model its body names is ready. A body
 * that names none goes to Ollama as it is (its own 400 says what is wrong), unless no engine is up.
 */
export async function proxiedChatUpstream(
  ctx: RouteContext,
  path: string,
  body: BodyHead,
  signal: AbortSignal,
): Promise<OllamaClient> {
  const model = modelIn(body)
  const upstream = model ? await waitForModel(ctx, model, signal) : ctx.upstream()
  if (!upstream) throw unavailable(ctx)
  // An engine without this route gets a 501 that says what to use instead, not its bare 404.
  const missing = upstream.unsupportedRoute(path)
  if (missing) throw new ProblemError({ status: 501, ...missing })
  return upstream
}

/** The body's `model`: parsed when the body is whole, else found in its head (streamed bodies). */
function modelIn(body: BodyHead): string | undefined {
  const text = body.head.toString('utf8')
  let model: unknown
  try {
    model = body.complete
      ? (JSON.parse(text) as { model?: unknown } | null)?.model
      : topLevelString(text, 'model')
  } catch {
    return undefined
  }
  return typeof model === 'string' && model ? model : undefined
}

function unavailable(ctx: RouteContext): ProblemError {
  const problem = unavailableProblem(ctx)
  return new ProblemError({ status: 503, message: problem.message, hint: problem.hint })
}

function timedOut(model: string, waitMs: number): ProblemError {
  return new ProblemError({
    status: 504,
    message: `${model} was not ready within ${Math.round(waitMs / 1000)} s`,
    hint: 'See the overlay or the terminal for how the pull goes, then retry; `limits.modelWaitMs` in vite.config.ts sets how long a chat waits.',
  })
}

/** Listeners of a state source, fanned out from one subscription (no max-listener warnings). */
export function stateWatch(source: {
  on(event: 'state' | 'progress', listener: () => void): unknown
  off(event: 'state' | 'progress', listener: () => void): unknown
}): (listener: () => void) => () => void {
  const listeners = new Set<() => void>()
  function notify(): void {
    for (const listener of [...listeners]) listener()
  }
  return (listener) => {
    // A wrapper per call, so the same function watched twice is removed once per unwatch.
    const entry = () => listener()
    if (listeners.size === 0) {
      source.on('state', notify)
      source.on('progress', notify)
    }
    listeners.add(entry)
    return () => {
      if (!listeners.delete(entry) || listeners.size > 0) return
      source.off('state', notify)
      source.off('progress', notify)
    }
  }
}
