import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import { PassThrough } from 'node:stream'
import { debuglog } from 'node:util'
import type { Dispatcher } from 'undici'
import type { OllamaClient } from '../ollama/client.js'
import { ProblemError } from '../problem.js'
import {
  type BodyBounds,
  type BodyHead,
  bodyTimeout,
  isHttpProblem,
  readHead,
  sendError,
} from './body.js'

const debug = debuglog('vite-plugin-ollama')

// Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and must not be forwarded; undici
// also refuses most of them on a request. `host` is set by undici from the upstream origin.
// `origin` is dropped on the way up because the routes' own guards already judged it, and Ollama
// would answer a non-localhost origin (the dev server opened on a LAN address) with an empty 403.
// `expect` is refused by undici.
const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
]
const DROP_REQUEST = new Set([...HOP_BY_HOP, 'host', 'origin', 'expect'])
const DROP_RESPONSE = new Set(HOP_BY_HOP)

/**
 * The streaming reverse proxy behind `${base}/api/*` and `${base}/v1/*`: one keep-alive pool per
 * upstream origin, request bodies up to `maxBodySize` read whole and longer ones streamed (blob
 * uploads always), answers passed through as they arrive with backpressure, the upstream request
 * aborted as soon as the client goes away.
 */
export interface OllamaProxy {
  /**
   * Forwards `req` to the Ollama behind `upstream` + `path` (path and query as Ollama sees them,
   * e.g. `/api/tags`), on that client's keep-alive pool. `bounds` decide how much of the body is
   * read before anything goes upstream, and how long the client may take or fall silent.
   */
  forward(
    req: IncomingMessage,
    res: ServerResponse,
    upstream: OllamaClient,
    path: string,
    bounds: BodyBounds,
  ): void
  /**
   * Like `forward`, for a request whose body decides when it may go (a chat waits for its
   * model): the body's head is read, then `whenReady` resolves the client to send it through,
   * and nothing is sent upstream before. `whenReady`'s signal aborts when the client goes away.
   */
  forwardWhenReady(
    req: IncomingMessage,
    res: ServerResponse,
    whenReady: (body: BodyHead, signal: AbortSignal) => Promise<OllamaClient>,
    path: string,
    bounds: BodyBounds,
  ): void
}

export function createOllamaProxy(): OllamaProxy {
  function forwardWhenReady(
    req: IncomingMessage,
    res: ServerResponse,
    whenReady: (body: BodyHead, signal: AbortSignal) => Promise<OllamaClient>,
    path: string,
    bounds: BodyBounds,
  ): void {
    const gone = new AbortController()
    const onClose = () => gone.abort(new DOMException('The client went away', 'AbortError'))
    res.once('close', onClose)
    readHead(req, bounds)
      .then(async (body) => {
        const upstream = await whenReady(body, gone.signal)
        res.off('close', onClose)
        send(req, res, upstream, path, payload(req, body, bounds))
      })
      .catch((err: unknown) => {
        res.off('close', onClose)
        if (gone.signal.aborted) res.destroy()
        else {
          if (!req.complete) req.resume()
          sendError(res, err)
        }
      })
  }

  function forward(
    req: IncomingMessage,
    res: ServerResponse,
    upstream: OllamaClient,
    path: string,
    bounds: BodyBounds,
  ): void {
    const method = req.method ?? 'GET'
    if (method === 'GET' || method === 'HEAD' || !hasBody(req)) {
      dispatch(null)
      return
    }
    // Model blobs (`ollama create` from a local GGUF) are gigabytes by design: streamed, with the
    // body deadline applied to silences instead of to the whole upload.
    if (path.startsWith('/api/blobs/')) {
      dispatch(streamBody(req, bounds.limits.bodyTimeoutMs))
      return
    }
    // Every other body's head is read first, bounded in time, so a client that trickles a usual
    // body never holds one of the pool's connections to Ollama (limits.upstreamConnections), and
    // undici sends headers and body in one write; a body past `maxBodySize` (a chat with photos)
    // streams on from there (docs/decisions.md, "The proxy streams what it cannot hold").
    readHead(req, bounds).then(
      (body) => dispatch(payload(req, body, bounds)),
      (err: unknown) => {
        if (isHttpProblem(err) && err.status !== 400) {
          if (!req.complete) req.resume()
          sendError(res, err)
        }
        // The client went away mid-body: nothing to send on, nobody to answer.
        else res.destroy()
      },
    )

    function dispatch(payload: Dispatcher.DispatchOptions['body']): void {
      send(req, res, upstream, path, payload)
    }
  }

  return { forward, forwardWhenReady }
}

/** The whole body when it was read whole, else its head followed by the rest as it arrives. */
function payload(
  req: IncomingMessage,
  body: BodyHead,
  bounds: BodyBounds,
): Dispatcher.DispatchOptions['body'] {
  return body.complete ? body.head : streamBody(req, bounds.limits.bodyTimeoutMs, body.head)
}

/** Sends the request on `upstream`'s pool and streams the answer back. */
function send(
  req: IncomingMessage,
  res: ServerResponse,
  upstream: OllamaClient,
  path: string,
  payload: Dispatcher.DispatchOptions['body'],
): void {
  disableNagle(req)
  const target = parseUpstream(upstream.baseUrl)
  const handler = new ProxyHandler(req, res, upstream.baseUrl)
  try {
    upstream.dispatcher.dispatch(
      {
        method: req.method ?? 'GET',
        path: target.prefix + path,
        headers: requestHeaders(req.headers),
        body: payload,
        // A cold model load sends no byte for minutes (docs/decisions.md, "Cold model loads
        // send no byte for minutes"), and a pull can stall between layers: no headers or
        // body timeout, the client decides when to give up.
        headersTimeout: 0,
        bodyTimeout: 0,
      },
      handler,
    )
  } catch (err) {
    handler.onResponseError(null, err as Error)
  }
}

let lastUpstream: { url: string; origin: string; prefix: string } | undefined

/** Origin and path prefix of the upstream URL, parsed once per engine rather than per request. */
function parseUpstream(upstream: string): { origin: string; prefix: string } {
  if (lastUpstream?.url === upstream) return lastUpstream
  const url = new URL(upstream)
  lastUpstream = { url: upstream, origin: url.origin, prefix: url.pathname.replace(/\/+$/, '') }
  return lastUpstream
}

/**
 * Tokens are small writes that must leave at once: no Nagle delay. HTTP/2 (Vite with `https`)
 * multiplexes one socket, which Node does not let a stream touch.
 */
export function disableNagle(req: IncomingMessage): void {
  if (req.httpVersionMajor === 1) req.socket.setNoDelay(true)
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length']
  if (length !== undefined) return length !== '0'
  return req.headers['transfer-encoding'] !== undefined
}

/**
 * A body passed through as it arrives (after `head`, the part already read), with backpressure. A
 * client silent for `stallMs` (while Ollama is ready for more) fails the body with a 408, which
 * aborts the upstream request; the silence Ollama causes by not reading does not count.
 */
function streamBody(req: IncomingMessage, stallMs: number, head?: Buffer): PassThrough {
  const body = new PassThrough()
  if (head) body.write(head)
  let timer = setTimeout(onStall, stallMs)
  function onStall(): void {
    if (body.writableNeedDrain) {
      timer = setTimeout(onStall, stallMs)
      return
    }
    req.unpipe(body)
    req.resume()
    body.destroy(bodyTimeout(stallMs))
  }
  req.on('data', () => timer.refresh())
  req.once('end', () => clearTimeout(timer))
  req.once('close', () => {
    clearTimeout(timer)
    // A client that leaves mid-upload: the upstream request must not wait for the rest.
    if (!req.complete) body.destroy(new Error('the client went away before its body was complete'))
  })
  req.pipe(body)
  return body
}

function connectionListed(headers: IncomingHttpHeaders): Set<string> | null {
  const value = headers.connection
  if (!value) return null
  return new Set(value.split(',').map((name) => name.trim().toLowerCase()))
}

function requestHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const listed = connectionListed(headers)
  const out: Record<string, string | string[]> = {}
  for (const name in headers) {
    const value = headers[name]
    // `:authority` and friends: Vite on HTTPS speaks HTTP/2, whose pseudo-headers are not headers.
    if (value === undefined || DROP_REQUEST.has(name) || name.charCodeAt(0) === 58) continue
    if (listed?.has(name)) continue
    out[name] = value
  }
  return out
}

function responseHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const listed = connectionListed(headers)
  const out: Record<string, string | string[]> = {}
  for (const name in headers) {
    const value = headers[name]
    if (value === undefined || DROP_RESPONSE.has(name) || listed?.has(name)) continue
    // Vite's CORS middleware has already set its answer on `res`; upstream's must not widen it.
    if (name.startsWith('access-control-')) continue
    out[name] = value
  }
  return out
}

class ClientGoneError extends Error {
  override name = 'AbortError'
  constructor() {
    super('The client went away')
  }
}

/**
 * Writes undici's response into `res`. undici parses a whole socket read at once and hands over
 * one chunk per upstream flush (one per token); the chunks of one tick are joined and written as
 * one, so the client parses one HTTP chunk per socket read instead of one per token. That keeps
 * the relay's per-token cost near zero on both sides (bench: relay-throughput-ratio). They still
 * leave within the same tick: nothing waits on a timer.
 */
class ProxyHandler implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | null = null
  private pending: Buffer[] = []
  private clientGone = false
  /** HTTP/1 only: an HTTP/2 stream takes no status message. */
  private readonly corkable: boolean

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly upstream: string,
  ) {
    this.corkable = req.httpVersionMajor === 1
    res.on('close', () => {
      if (res.writableFinished) return
      this.clientGone = true
      this.controller?.abort(new ClientGoneError())
    })
    res.on('drain', () => this.controller?.resume())
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller
    if (this.clientGone) controller.abort(new ClientGoneError())
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    statusMessage?: string,
  ): void {
    if (statusCode < 200 || this.clientGone) return
    const res = this.res
    if (statusMessage && this.corkable)
      res.writeHead(statusCode, statusMessage, responseHeaders(headers))
    else res.writeHead(statusCode, responseHeaders(headers))
    res.flushHeaders()
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.clientGone) return
    if (this.pending.push(chunk) === 1) process.nextTick(flush, this)
  }

  onResponseEnd(): void {
    if (this.clientGone) return
    this.flush()
    this.res.end()
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, err: Error): void {
    if (this.clientGone || err instanceof ClientGoneError) return
    const res = this.res
    if (res.headersSent) {
      // Status and part of the body are out: cutting the connection is the only honest signal.
      debug('proxy: upstream failed mid-response for %s: %s', this.req.url, err.message)
      res.destroy(err)
      return
    }
    if (isHttpProblem(err)) {
      sendError(res, err)
      return
    }
    const code = (err as { code?: string }).code
    debug('proxy: upstream %s failed: %s', this.upstream, code ?? err.message)
    sendError(
      res,
      new ProblemError({
        status: 502,
        message: `Ollama did not answer at ${this.upstream}: ${err.message}${code && !err.message.includes(code) ? ` (${code})` : ''}`,
        hint: 'The engine may have stopped or be restarting: see the vite-plugin-ollama lines in the terminal, or run `npx vite-plugin-ollama doctor`.',
      }),
    )
  }

  flush(): void {
    const chunks = this.pending
    if (chunks.length === 0 || this.clientGone) return
    this.pending = []
    const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
    // Backpressure: a slow client pauses the upstream read until `res` drains.
    if (!this.res.write(data)) this.controller?.pause()
  }
}

function flush(handler: ProxyHandler): void {
  handler.flush()
}
