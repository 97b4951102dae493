import type { Problem } from './types.js'

/**
 * An engine could not start. `problem` is what the user sees (what happened, what to do);
 * `logTail` keeps the engine's last log lines for the terminal and for bug reports.
 */
export class EngineStartError extends Error {
  override name = 'EngineStartError'
  readonly problem: Problem
  readonly logTail: string[]

  constructor(problem: Problem, opts: { cause?: unknown; logTail?: string[] } = {}) {
    super(problem.hint ? `${problem.message}\n${problem.hint}` : problem.message, {
      cause: opts.cause,
    })
    this.problem = problem
    this.logTail = opts.logTail ?? []
  }
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

/** The message of anything thrown, for logs and reasons. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message
  return String(err)
}
