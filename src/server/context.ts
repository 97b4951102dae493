import type { OllamaClient } from '../ollama/client.js'
import type { ResolvedOptions } from '../options.js'
import type {
  ContextWarning,
  EngineInfo,
  Problem,
  PullCancelResult,
  PullProgressEvent,
  StateSnapshot,
} from '../protocol.js'

/**
 * What the routes need from the plugin. Every member is a function so the routes always read the
 * latest value: options change across `vite.config.ts` restarts and the engine comes and goes while
 * the dev server keeps serving.
 */
export interface RouteContext {
  /** Full route prefix, Vite's `base` included, e.g. `'/__ollama'` or `'/app/__ollama'`. */
  base: string
  /** The latest resolved options. */
  options(): ResolvedOptions
  /**
   * The orchestrator's client of the Ollama that is up (its one connection pool), else `null`
   * (the routes then answer 503).
   */
  upstream(): OllamaClient | null
  /** The state snapshot, as `GET /status` and the overlay show it. */
  snapshot(): StateSnapshot
  /**
   * Calls `listener` whenever the snapshot or a pull's progress changes, until the returned
   * function is called: chats wait on it for their model (model-wait.ts). Absent, they do not wait.
   */
  watch?(listener: () => void): () => void
  /**
   * Pulls a model through the plugin's model manager (which also feeds the overlay). Throws an
   * `OllamaError` or an `Error` with a `hint` when the pull fails.
   */
  pull(model: string, signal: AbortSignal): AsyncIterable<PullProgressEvent>
  /**
   * Makes the engine the plugin started afresh (`POST /engine/restart`); resolves with its info
   * once it is back, throws a `ProblemError` (409 for an Ollama the plugin did not start).
   */
  restartEngine?(): Promise<EngineInfo>
  /**
   * Stops a model's pull, whoever started it, and settles its state at once; undefined when no
   * pull of that model runs.
   */
  cancelPull(model: string): PullCancelResult | undefined
  /**
   * A chat's context check, for the overlay: its warning, or undefined when its prompt fitted
   * (which clears an earlier warning about the same model). Absent where no overlay listens.
   */
  noteContext?(model: string, warning: ContextWarning | undefined): void
  /**
   * A chat starts waiting for `model` (model-wait.ts), for the overlay; the returned function
   * says it stopped waiting, whichever way. Absent where no overlay listens.
   */
  noteWaiting?(model: string): () => void
  /**
   * Hosts allowed besides localhost names and IP addresses, as Vite's `server.allowedHosts`
   * (`true` = any host). Only the WebSocket upgrade needs it: HTTP requests already passed Vite's
   * own host check before they reach the routes (Vite >= 7), upgrades do not.
   */
  allowedHosts?(): readonly string[] | true
  logger?: { info(m: string): void; warn(m: string): void; error(m: string): void }
}

/** Why the routes cannot reach Ollama now, for the 503 answer. */
export function unavailableProblem(ctx: RouteContext): Problem {
  const snapshot = ctx.snapshot()
  if (snapshot.error) return snapshot.error
  const phase = snapshot.phase
  if (phase === 'detecting' || phase === 'starting' || phase === 'pulling') {
    return {
      message: `Ollama is not ready yet (${phase})`,
      hint: 'Wait until the overlay or the terminal says ready, then retry.',
    }
  }
  return {
    message: `Ollama is not running (${phase})`,
    hint: 'See the vite-plugin-ollama lines in the terminal, or run `npx vite-plugin-ollama doctor`.',
  }
}
