import type { ChatMetrics, ModelWaiting, Problem } from '../protocol.js'
import type { ChatPart } from './parts.js'

// How a streamed chat is written, once for every route that streams one: the dev server's
// `POST /chat` (Node response, with backpressure) and the production handler's (a Web
// ReadableStream) take the same parts and write the same strings. Two framings exist: our own
// Server-Sent Events (below) and the AI SDK's UI message stream (ui-stream.ts). Web-standard and
// dependency-free, so the production handler can use it on any runtime.

/** Headers of an event stream (docs/decisions.md, "Buffering proxies hold event streams back"). */
export const SSE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  // `no-transform` keeps compression middleware from holding events back, `X-Accel-Buffering`
  // does the same for nginx.
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
}

/** A chat's stream as text: each method returns what to write (possibly nothing). */
export interface ChatFraming {
  readonly headers: Readonly<Record<string, string>>
  /** What goes out as soon as the request is accepted, before the model is ready. */
  open(): string
  /** The model is still pulling or the engine starting. */
  waiting(waiting: ModelWaiting): string
  /** A piece of the turn; the finish part writes nothing (`done` does, with the metrics). */
  part(part: ChatPart): string
  /** The turn completed; the last thing written. */
  done(metrics: ChatMetrics): string
  /** The turn failed after the stream opened; the last thing written. */
  error(problem: Problem): string
}

/**
 * Our own events (`ChatSseEvents` in protocol.ts): `waiting`, `token`, `reasoning`, `tool-call`,
 * then `done` or `error`. Token and reasoning events are serialised by hand: they run once per
 * token and are `{ content }` exactly.
 */
export function createChatEventFraming(): ChatFraming {
  return {
    headers: SSE_HEADERS,
    open: () => '',
    waiting: (waiting) => `event: waiting\ndata: ${JSON.stringify(waiting)}\n\n`,
    part(part) {
      switch (part.type) {
        case 'text':
          return `event: token\ndata: {"content":${JSON.stringify(part.text)}}\n\n`
        case 'reasoning':
          return `event: reasoning\ndata: {"content":${JSON.stringify(part.text)}}\n\n`
        case 'tool-call':
          return `event: tool-call\ndata: ${JSON.stringify(part.call)}\n\n`
        case 'finish':
          return ''
      }
    },
    done: (metrics) => `event: done\ndata: ${JSON.stringify({ metrics })}\n\n`,
    error: (problem) => `event: error\ndata: ${JSON.stringify(problem)}\n\n`,
  }
}

/** A problem in one line of plain text: the message, then what to do. */
export function problemText(problem: Problem): string {
  if (!problem.hint) return problem.message
  const stop = /[.!?]$/.test(problem.message) ? '' : '.'
  return `${problem.message}${stop} ${problem.hint}`
}
