// The row buttons' requests. Pull and Retry: POST `${base}/pull` and read its Server-Sent Events to
// the end; Cancel: DELETE `${base}/pull?model=`. The overlay's rows follow the `ollama:progress` /
// `ollama:state` HMR events, so a request only matters for how it ends: an `event: error` or a
// refused request becomes the row's message.
import type { Problem } from '../protocol.js'

export class PullRequestError extends Error {
  readonly hint: string | undefined
  constructor(problem: Problem) {
    super(problem.message)
    this.name = 'PullRequestError'
    this.hint = problem.hint
  }
}

export function pullUrl(base: string): string {
  return `${base.replace(/\/+$/, '')}/pull`
}

/** Resolves when the server's stream ends with `done`; rejects with what went wrong otherwise. */
export async function requestPull(base: string, model: string): Promise<void> {
  const response = await fetch(pullUrl(base), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
    body: JSON.stringify({ model }),
  })
  if (!response.ok) {
    throw new PullRequestError(problemFromBody(await response.text(), response.status))
  }
  if (!response.body) return
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    buffer += value
    // SSE events end with a blank line; keep the unfinished tail for the next chunk.
    const events = buffer.split(/\r?\n\r?\n/)
    buffer = events.pop() ?? ''
    for (const event of events) {
      const problem = sseError(event)
      if (problem) {
        await reader.cancel().catch(() => {})
        throw new PullRequestError(problem)
      }
    }
  }
  const problem = sseError(buffer)
  if (problem) throw new PullRequestError(problem)
}

/**
 * Stops the model's pull, whoever started it (DELETE /pull). A pull that ended meanwhile (404) is
 * not a failure: there is nothing left to stop.
 */
export async function requestCancel(base: string, model: string): Promise<void> {
  const response = await fetch(`${pullUrl(base)}?model=${encodeURIComponent(model)}`, {
    method: 'DELETE',
    headers: { Accept: 'application/json' },
  })
  // Read to the end either way, so the connection is free for the next request.
  const body = await response.text()
  if (response.ok || response.status === 404) return
  throw new PullRequestError(problemFromBody(body, response.status))
}

/** The `{ message, hint }` of an `event: error` block, if this block is one. */
function sseError(block: string): Problem | undefined {
  let event = 'message'
  const data: string[] = []
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith('event:')) event = line.slice(6).trim()
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''))
  }
  if (event !== 'error') return undefined
  return problemFromBody(data.join('\n'), 0)
}

/** Our routes answer errors as JSON `{ error | message, hint? }`; anything else is shown as text. */
export function problemFromBody(body: string, status: number): Problem {
  const prefix = status ? `HTTP ${status}: ` : ''
  try {
    const parsed = JSON.parse(body) as { error?: unknown; message?: unknown; hint?: unknown }
    const message = typeof parsed.message === 'string' ? parsed.message : parsed.error
    if (typeof message === 'string') {
      return {
        message: prefix + message,
        hint: typeof parsed.hint === 'string' ? parsed.hint : undefined,
      }
    }
  } catch {
    // not JSON: fall through to the raw text
  }
  const text = body.trim().slice(0, 300)
  return { message: prefix + (text || 'the pull request failed') }
}
