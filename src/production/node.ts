import type { RuntimeEnv } from './env.js'
import type { OllamaHandler } from './handler.js'

// `toNodeHandler(handler)`: a fetch handler as Node `http` / Connect / Express middleware
// (docs/decisions.md, "One handler, many hosts"). Hand-written and dependency-free: the adapters on npm
// either replace the global Request and Response or need a newer Node. Node before 26.1 has no
// `req.signal`, so the abort comes from the response closing before it finished; the body is
// written with backpressure, and a client that goes away cancels it, which aborts the provider's
// request. Node's types are described structurally below, so this file imports nothing and the
// `vite-plugin-ollama/server` entry loads on Workers too.

/** The parts of Node's `IncomingMessage` used here. */
export interface NodeRequest {
  method?: string
  url?: string
  /** Express keeps the URL before its mount path here. */
  originalUrl?: string
  headers: Record<string, string | string[] | undefined>
  /** A TLS socket says `encrypted`. */
  socket: unknown
  on(event: 'data', listener: (chunk: Uint8Array) => void): unknown
  on(event: 'end' | 'close', listener: () => void): unknown
  on(event: 'error', listener: (error: Error) => void): unknown
  pause(): unknown
  resume(): unknown
}

/** The parts of Node's `ServerResponse` used here. */
export interface NodeResponse {
  statusCode: number
  readonly headersSent: boolean
  readonly writableFinished: boolean
  readonly destroyed: boolean
  setHeader(name: string, value: string | string[]): unknown
  flushHeaders(): void
  write(chunk: Uint8Array): boolean
  end(chunk?: Uint8Array | string): unknown
  destroy(error?: Error): unknown
  on(event: 'close' | 'drain', listener: () => void): unknown
  once(event: 'close' | 'drain', listener: () => void): unknown
  off(event: 'close' | 'drain', listener: () => void): unknown
}

export interface NodeHandlerOptions {
  /** Handed to the handler as its `env` (keys read from a `.env` file, say); `process.env` is read anyway. */
  env?: RuntimeEnv
}

/** The longest a response writes without letting the event loop turn. */
const TURN_MS = 4

export type NodeMiddleware = (
  req: NodeRequest,
  res: NodeResponse,
  next?: (err?: unknown) => void,
) => void

/**
 * Node middleware that serves `handler`'s routes. With `next` (Connect, Express, Vite's servers)
 * requests outside the handler's base go on to the next middleware; without it (a plain
 * `http.createServer`) the handler answers everything, 404 included.
 */
export function toNodeHandler(
  handler: OllamaHandler | ((request: Request, env?: RuntimeEnv) => Promise<Response>),
  options: NodeHandlerOptions = {},
): NodeMiddleware {
  const base = (handler as Partial<OllamaHandler>).base
  return function ollamaNodeHandler(req, res, next) {
    const path = req.originalUrl ?? req.url ?? '/'
    if (next && base !== undefined && !isUnder(path, base)) return next()
    const abort = new AbortController()
    res.once('close', () => {
      if (!res.writableFinished) abort.abort(new DOMException('The client went away', 'AbortError'))
    })
    let request: Request
    try {
      request = toRequest(req, path, abort.signal)
    } catch {
      res.statusCode = 400
      res.end()
      return
    }
    handler(request, options.env)
      .then((response) => writeResponse(response, res))
      .catch((err: unknown) => {
        if (!res.headersSent) {
          res.statusCode = 500
          res.setHeader('Content-Type', 'application/json')
          res.end(JSON.stringify({ error: (err as Error)?.message ?? 'Internal error' }))
        } else res.destroy()
      })
  }
}

function isUnder(path: string, base: string): boolean {
  if (!path.startsWith(base)) return false
  const next = path.charCodeAt(base.length)
  return Number.isNaN(next) || next === 47 /* / */ || next === 63 /* ? */
}

function header(req: NodeRequest, name: string): string | undefined {
  const value = req.headers[name]
  return Array.isArray(value) ? value[0] : value
}

/**
 * The request as a Web Request. The scheme and host a TLS-terminating proxy saw are taken from
 * `X-Forwarded-*`: only the origin check reads them, and a page cannot set them without a
 * preflight that check refuses.
 */
function toRequest(req: NodeRequest, path: string, signal: AbortSignal): Request {
  const proto =
    header(req, 'x-forwarded-proto')?.split(',')[0]?.trim() ||
    ((req.socket as { encrypted?: boolean } | null)?.encrypted ? 'https' : 'http')
  const host =
    header(req, 'x-forwarded-host')?.split(',')[0]?.trim() || header(req, 'host') || 'localhost'
  const headers = new Headers()
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name.startsWith(':')) continue
    if (Array.isArray(value)) for (const item of value) headers.append(name, item)
    else headers.set(name, value)
  }
  const method = req.method ?? 'GET'
  const hasBody = method !== 'GET' && method !== 'HEAD'
  return new Request(`${proto}://${host}${path}`, {
    method,
    headers,
    signal,
    ...(hasBody ? { body: bodyStream(req), duplex: 'half' } : {}),
  } as RequestInit)
}

/**
 * The request body as a Web stream that reads from Node only as fast as it is consumed. Once the
 * handler stops reading (a body over the limit), the rest is discarded: Node keeps emitting
 * `data`, and enqueuing into a cancelled stream throws.
 */
function bodyStream(req: NodeRequest): ReadableStream<Uint8Array> {
  let open = true
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        req.on('data', (chunk) => {
          if (!open) return
          controller.enqueue(new Uint8Array(chunk))
          if ((controller.desiredSize ?? 0) <= 0) req.pause()
        })
        req.on('end', () => {
          if (open) controller.close()
          open = false
        })
        req.on('error', (error) => {
          if (open) controller.error(error)
          open = false
        })
      },
      pull() {
        req.resume()
      },
      cancel() {
        open = false
        req.resume()
      },
    },
    { highWaterMark: 4 },
  )
}

async function writeResponse(response: Response, res: NodeResponse): Promise<void> {
  res.statusCode = response.status
  // A body refused for its size or its pace was not read to the end: the rest must not be taken
  // for the next request on this connection.
  if (response.status === 413 || response.status === 408) res.setHeader('Connection', 'close')
  const cookies = response.headers.getSetCookie?.() ?? []
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') res.setHeader(name, value)
  })
  if (cookies.length) res.setHeader('set-cookie', cookies)
  if (!response.body) {
    res.end()
    return
  }
  // Headers now: an event stream's client resolves its fetch before the first token.
  res.flushHeaders()
  const reader = response.body.getReader()
  let lastTurn = performance.now()
  // The first chunks (the opening comment, the first tokens) leave at once; then a turn every TURN_MS.
  let chunks = 0
  const onClose = () => void reader.cancel().catch(() => {})
  res.once('close', onClose)
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      if (res.destroyed) return
      if (!res.write(value)) await drained(res)
      else if (chunks++ < 2 || performance.now() - lastTurn > TURN_MS) {
        // A body whose chunks are already buffered upstream resolves read after read in one
        // microtask chain: without a turn of the event loop now and then, nothing else on this
        // server runs (other clients' requests, this socket's own flush) until the answer ends.
        await new Promise((resolve) => setImmediate(resolve))
        lastTurn = performance.now()
      }
    }
    res.end()
  } catch {
    res.destroy()
  } finally {
    res.off('close', onClose)
  }
}

function drained(res: NodeResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done)
      res.off('close', done)
      resolve()
    }
    res.on('drain', done)
    res.on('close', done)
  })
}
