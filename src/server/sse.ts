import type { IncomingMessage, ServerResponse } from 'node:http'
import { SSE_HEADERS } from '../chat/framing.js'
import { disableNagle } from './proxy.js'

// Server-Sent Events framing only: headers, batched writes, heartbeat, backpressure, and the abort
// when the client goes away. What a route sends over it lives with the route (chat-route.ts,
// pull-route.ts).

/** Proxies close idle connections after a minute or so; a comment every 15 s keeps ours open. */
const HEARTBEAT_MS = 15_000

/**
 * A Server-Sent Events response. Events written within one tick go out as one `write`: a model
 * streams a token per chunk, and a syscall (plus an HTTP chunk header) per token would cost more
 * than everything else on the path.
 */
export interface SseWriter<Events extends object = Record<string, unknown>> {
  /**
   * Queues `event: <name>` with `data: <json>`; `json` must already be serialised, on one line.
   * `Events` (e.g. `ChatSseEvents` from protocol.ts) names the events a route may send.
   */
  send(event: keyof Events & string, json: string): void
  /** Queues text already framed as events (a chat framing's output, chat/framing.ts). */
  write(text: string): void
  /** Ends the response after what is queued and `last`. */
  end(last?: string): void
  /** Aborted when the client goes away before the end. */
  readonly signal: AbortSignal
  /** A promise when the client reads slower than we write (wait on it), else undefined. */
  backpressure(): Promise<void> | undefined
}

export function openSse<Events extends object = Record<string, unknown>>(
  req: IncomingMessage,
  res: ServerResponse,
  { heartbeatMs = HEARTBEAT_MS, headers = SSE_HEADERS } = {},
): SseWriter<Events> {
  const abort = new AbortController()
  let pending = ''
  let scheduled = false
  let ended = false

  res.statusCode = 200
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value)
  disableNagle(req)
  // An early comment flushes the headers through any proxy, so the browser's EventSource or fetch
  // resolves at once even when the model takes minutes to load.
  res.write(': ok\n\n')

  const heartbeat = setInterval(() => {
    if (!ended) res.write(': ping\n\n')
  }, heartbeatMs)
  heartbeat.unref()

  res.on('close', () => {
    clearInterval(heartbeat)
    ended = true
    if (!res.writableFinished) abort.abort(new DOMException('The client went away', 'AbortError'))
  })

  function flush(): void {
    scheduled = false
    if (pending === '' || res.destroyed) return
    const text = pending
    pending = ''
    res.write(text)
  }

  function write(text: string): void {
    if (ended || text === '') return
    pending += text
    if (!scheduled) {
      scheduled = true
      process.nextTick(flush)
    }
  }

  return {
    signal: abort.signal,
    send(event, json) {
      write(`event: ${event}\ndata: ${json}\n\n`)
    },
    write,
    end(last = '') {
      if (ended) return
      ended = true
      clearInterval(heartbeat)
      const text = pending + last
      pending = ''
      res.end(text)
    },
    backpressure() {
      if (!res.writableNeedDrain || res.destroyed) return undefined
      return new Promise<void>((resolve) => {
        function done(): void {
          res.off('drain', done)
          res.off('close', done)
          resolve()
        }
        res.on('drain', done)
        res.on('close', done)
      })
    },
  }
}
