import type { IncomingMessage, ServerResponse } from 'node:http'
import { debuglog } from 'node:util'
import { ProblemError, toProblem } from '../problem.js'
import { isHttpProblem, sendError, sendJson } from './body.js'
import { type ChatTurn, requireUpstream, runChat } from './chat.js'
import type { RouteContext } from './context.js'
import { disableNagle } from './proxy.js'

const debug = debuglog('vite-plugin-ollama')

/** Proxies close idle connections after a minute or so; a comment every 15 s keeps ours open. */
const HEARTBEAT_MS = 15_000

/**
 * A Server-Sent Events response. Events written within one tick go out as one `write`: a model
 * streams a token per chunk, and a syscall (plus an HTTP chunk header) per token would cost more
 * than everything else on the path.
 */
export interface SseWriter {
  /** Queues `event: <name>` with `data: <json>`; `json` must already be serialised, on one line. */
  send(event: string, json: string): void
  /** Ends the response after what is queued. */
  end(): void
  /** Aborted when the client goes away before the end. */
  readonly signal: AbortSignal
  /** A promise when the client reads slower than we write (wait on it), else undefined. */
  backpressure(): Promise<void> | undefined
}

export function openSse(
  req: IncomingMessage,
  res: ServerResponse,
  heartbeatMs = HEARTBEAT_MS,
): SseWriter {
  const abort = new AbortController()
  let pending = ''
  let scheduled = false
  let ended = false

  res.statusCode = 200
  res.setHeader('Content-Type', 'text/event-stream; charset=utf-8')
  // `no-transform` stops compression middleware from holding events back, `X-Accel-Buffering` does
  // the same for nginx (docs/decisions.md, "Buffering proxies hold event streams back").
  res.setHeader('Cache-Control', 'no-cache, no-transform')
  res.setHeader('X-Accel-Buffering', 'no')
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

  return {
    signal: abort.signal,
    send(event, json) {
      if (ended) return
      pending += `event: ${event}\ndata: ${json}\n\n`
      if (!scheduled) {
        scheduled = true
        process.nextTick(flush)
      }
    },
    end() {
      if (ended) return
      ended = true
      clearInterval(heartbeat)
      const text = pending
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

/** `POST /chat` as SSE: `token` `{content}` per piece of text, then `done` or `error`. */
export async function streamChatAsSse(
  ctx: RouteContext,
  req: IncomingMessage,
  res: ServerResponse,
  turn: ChatTurn,
): Promise<void> {
  requireUpstream(ctx)
  const sse = openSse(req, res)
  try {
    const { metrics } = await runChat(ctx, turn, sse.signal, (text) => {
      sse.send('token', `{"content":${JSON.stringify(text)}}`)
      return sse.backpressure()
    })
    sse.send('done', JSON.stringify({ metrics }))
  } catch (err) {
    if (sse.signal.aborted) {
      debug('chat: client went away, upstream request aborted')
      return
    }
    sse.send('error', JSON.stringify(toProblem(err)))
  }
  sse.end()
}

/** `POST /chat` with `Accept: application/json`: one answer `{ content, metrics }`. */
export async function answerChatAsJson(
  ctx: RouteContext,
  res: ServerResponse,
  turn: ChatTurn,
): Promise<void> {
  const abort = new AbortController()
  res.on('close', () => {
    if (!res.writableFinished) abort.abort(new DOMException('The client went away', 'AbortError'))
  })
  try {
    const result = await runChat(ctx, turn, abort.signal, noop)
    sendJson(res, 200, result)
  } catch (err) {
    if (abort.signal.aborted) return
    sendError(res, asHttpError(err))
  }
}

function noop(): void {}

/** Ollama's status when it answered with one, 502 when it could not be reached. */
function asHttpError(err: unknown): unknown {
  if (isHttpProblem(err)) return err
  const status = (err as { status?: unknown } | null)?.status
  if (typeof status !== 'number') return err
  const { message, hint } = toProblem(err)
  return new ProblemError({ status: status >= 400 && status < 600 ? status : 502, message, hint })
}

/** `POST /pull` as SSE: `progress` (PullProgressEvent) while it runs, then `done` or `error`. */
export async function streamPullAsSse(
  ctx: RouteContext,
  req: IncomingMessage,
  res: ServerResponse,
  model: string,
): Promise<void> {
  requireUpstream(ctx)
  const sse = openSse(req, res)
  try {
    let last: unknown
    for await (const progress of ctx.pull(model, sse.signal)) {
      last = progress
      sse.send('progress', JSON.stringify(progress))
      const wait = sse.backpressure()
      if (wait) await wait
    }
    sse.signal.throwIfAborted()
    sse.send('done', JSON.stringify({ model, status: 'success', progress: last ?? null }))
  } catch (err) {
    if (sse.signal.aborted) {
      debug('pull: client went away, pull of %s abandoned', model)
      return
    }
    sse.send('error', JSON.stringify(toProblem(err)))
  }
  sse.end()
}
