import type { Problem } from './protocol.js'

// One error shape for the whole plugin: what happened and what to do (`Problem`), plus what the
// place that catches it needs — an HTTP status for the routes, headers such as `Allow`, the
// engine's last log lines for the terminal. Engines, the orchestrator, the routes and the CLI
// throw it; `toProblem` reads any thrown value back as a `Problem`.

export interface ProblemInit extends Problem {
  /** The HTTP status the routes answer with (4xx/5xx); none means "not an HTTP answer". */
  status?: number
  /** Headers for that answer (`Allow` on a 405, `Upgrade` on a 426). */
  headers?: Record<string, string>
  cause?: unknown
  /** The engine's last log lines, kept whole for bug reports; the hint shows a few. */
  logTail?: string[]
}

/** An error whose message and hint are written for the user. */
export class ProblemError extends Error {
  override name = 'ProblemError'
  readonly hint: string | undefined
  readonly status: number | undefined
  readonly headers: Record<string, string> | undefined
  readonly logTail: string[]

  constructor(init: ProblemInit) {
    super(init.message, { cause: init.cause })
    this.hint = init.hint
    this.status = init.status
    this.headers = init.headers
    this.logTail = init.logTail ?? []
  }

  /** What the user sees: the message and, when there is one, the hint. */
  get problem(): Problem {
    return this.hint ? { message: this.message, hint: this.hint } : { message: this.message }
  }
}

/** The message of anything thrown, for logs and reasons. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message
  return String(err)
}

/** Anything thrown, as a Problem: its message, and its hint when it carries one (OllamaError too). */
export function toProblem(err: unknown): Problem {
  const message = errorMessage(err)
  const hint = (err as { hint?: unknown } | null)?.hint
  return typeof hint === 'string' && hint ? { message, hint } : { message }
}

/** One problem as terminal lines: the message, then the hint indented below it. */
export function formatProblem(problem: Problem): string {
  return problem.hint ? `${problem.message}\n  ${problem.hint}` : problem.message
}

/** How many log lines a Problem shows; the full tail stays on the error. */
const PROBLEM_LOG_LINES = 30

/** Appends the last log lines to a hint, so a start error shows why the engine died. */
export function withLogTail(hint: string | undefined, lines: string[]): string | undefined {
  const tail = lines.slice(-PROBLEM_LOG_LINES).join('\n').trim()
  if (!tail) return hint
  const head = hint ? `${hint}\n` : ''
  return `${head}Last log lines:\n${tail}`
}

/** The 405 for a route called with another method, naming the ones it takes. */
export function methodNotAllowed(
  method: string | undefined,
  allow: readonly string[],
): ProblemError {
  return new ProblemError({
    status: 405,
    message: `Method ${method ?? '(none)'} not allowed here: use ${allow.join(' or ')}`,
    headers: { Allow: allow.join(', ') },
  })
}
