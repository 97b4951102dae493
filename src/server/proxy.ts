import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import { debuglog } from 'node:util'
import type { Dispatcher } from 'undici'
import type { OllamaClient } from '../ollama/client.js'
import { ProblemError } from '../problem.js'
import { isHttpProblem, sendError, tooLarge } from './body.js'

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
 * upstream origin, bytes passed through as they arrive with backpressure both ways, the upstream
 * request aborted as soon as the client goes away.
 */
export interface OllamaProxy {
  /**
   * Forwards `req` to the Ollama behind `upstream` + `path` (path and query as Ollama sees them,
   * e.g. `/api/tags`), on that client's keep-alive pool.
   */
  forward(
    req: IncomingMessage,
    res: ServerResponse,
    upstream: OllamaClient,
    path: string,
    maxBodySize: number,
  ): void
}

export function createOllamaProxy(): OllamaProxy {
  function forward(
    req: IncomingMessage,
    res: ServerResponse,
    upstream: OllamaClient,
    path: string,
    maxBodySize: number,
  ): void {
    const target = parseUpstream(upstream.baseUrl)
    const method = req.method ?? 'GET'
    // Model blobs (`ollama create` from a local GGUF) are gigabytes by design.
    const limit = path.startsWith('/api/blobs/') ? Number.POSITIVE_INFINITY : maxBodySize
    let body: Dispatcher.DispatchOptions['body'] = null
    if (method !== 'GET' && method !== 'HEAD' && hasBody(req)) {
      const declared = Number(req.headers['content-length'])
      if (declared > limit) {
        refuseTooLarge(req, res, limit)
        return
      }
      body = Number.isFinite(declared) ? req : Readable.from(limitBody(req, limit))
      // A chat request is a few hundred bytes: read it whole, so undici sends headers and body
      // in one write instead of pumping a stream (saves ticks before the first token).
      if (declared <= SMALL_BODY) {
        readSmallBody(req, declared).then(
          (buffer) => dispatch(buffer),
          () => res.destroy(),
        )
        return
      }
    }
    dispatch(body)

    function dispatch(payload: Dispatcher.DispatchOptions['body']): void {
      disableNagle(req)
      const handler = new ProxyHandler(req, res, upstream.baseUrl)
      try {
        upstream.dispatcher.dispatch(
          {
            method,
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
  }

  return { forward }
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

/** Bodies up to this size are read whole before they are sent on. */
const SMALL_BODY = 64 * 1024

function readSmallBody(req: IncomingMessage, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length)))
    req.once('error', reject)
    // A client that leaves mid-body: nothing to send on.
    req.once('close', () => {
      if (!req.complete) reject(new Error('the client went away before its body was complete'))
    })
  })
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length']
  if (length !== undefined) return length !== '0'
  return req.headers['transfer-encoding'] !== undefined
}

/** A chunked body has no length up front: count it as it streams through. */
async function* limitBody(req: IncomingMessage, limit: number): AsyncGenerator<Buffer> {
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) throw tooLarge(limit)
    yield chunk
  }
}

function refuseTooLarge(req: IncomingMessage, res: ServerResponse, limit: number): void {
  // Close the connection after the answer: the unread body would otherwise be parsed as the next
  // request on this keep-alive connection.
  res.shouldKeepAlive = false
  sendError(res, tooLarge(limit))
  req.resume()
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
      if (err.status === 413) res.shouldKeepAlive = false
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
