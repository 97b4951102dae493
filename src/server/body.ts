import type { IncomingMessage, ServerResponse } from 'node:http'
import type { z } from 'zod'
import { problemText } from '../chat/framing.js'
import { fixedLimits, type Limits } from '../limits.js'
import { ProblemError, toProblem } from '../problem.js'
import { jsonDepthExceeds } from './json.js'

/** A problem the routes answer with its own status (a 4xx the client caused, a 503, Ollama's). */
export function isHttpProblem(err: unknown): err is ProblemError & { status: number } {
  return err instanceof ProblemError && err.status !== undefined && err.status >= 400
}

/** Sends a JSON answer; `Cache-Control: no-store` because state and errors change by the second. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const text = JSON.stringify(body)
  res.statusCode = status
  res.setHeader('Content-Type', 'application/json; charset=utf-8')
  res.setHeader('Content-Length', Buffer.byteLength(text))
  res.setHeader('Cache-Control', 'no-store')
  res.end(text)
}

/**
 * Answers `{ error, hint? }` with the problem's status, else a 500; as `text`, one line of plain
 * text (the AI SDK's `useChat` shows an error answer's body as `error.message`).
 */
export function sendError(res: ServerResponse, err: unknown, as: 'json' | 'text' = 'json'): void {
  let status = 500
  if (isHttpProblem(err)) {
    status = err.status
    for (const [name, value] of Object.entries(err.headers ?? {})) res.setHeader(name, value)
    // The rest of a body too large or too slow is unread: it must not be taken for the next
    // request on this keep-alive connection, so the connection closes after the answer.
    if (status === 408 || status === 413) res.shouldKeepAlive = false
  }
  const problem = toProblem(err)
  if (as === 'text') sendText(res, status, problemText(problem))
  else {
    const { message, hint } = problem
    sendJson(res, status, hint ? { error: message, hint } : { error: message })
  }
}

function sendText(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  res.statusCode = status
  res.setHeader('Content-Type', 'text/plain; charset=utf-8')
  res.setHeader('Content-Length', Buffer.byteLength(text))
  res.setHeader('Cache-Control', 'no-store')
  res.end(text)
}

/** `application/json` or any `+json` type, parameters allowed. */
export function isJsonContentType(value: string | undefined): boolean {
  if (!value) return false
  const type = value.split(';', 1)[0]!.trim().toLowerCase()
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'))
}

/** The bounds every body our routes read is held to: its size and the time it may take. */
export interface BodyBounds {
  /** Bytes; past it, 413. */
  maxBodySize: number
  limits: Pick<Limits, 'bodyTimeoutMs'>
}

/**
 * Reads a JSON body: 415 unless the `Content-Type` is JSON, 413 past `maxBodySize` bytes (counted
 * as the bytes arrive, so an endless body never sits in memory), 408 unless it is whole within
 * `limits.bodyTimeoutMs`, 400 when it nests deeper than the fixed depth or does not parse.
 */
export async function readJsonBody(req: IncomingMessage, bounds: BodyBounds): Promise<unknown> {
  if (!isJsonContentType(req.headers['content-type'])) {
    throw new ProblemError({
      status: 415,
      message: `Unsupported Content-Type "${req.headers['content-type'] ?? '(none)'}": send a JSON body`,
      hint: 'Set the header Content-Type: application/json (fetch: headers: { "Content-Type": "application/json" }).',
    })
  }
  const body = await readBody(req, bounds)
  if (body.length === 0)
    throw new ProblemError({ status: 400, message: 'Missing request body: send a JSON object' })
  const text = body.toString('utf8')
  // JSON.parse copes with any depth, but every recursive walk after it (the payload schema,
  // JSON.stringify) overflows the stack on a 100,000-deep body: refused before anything reads it
  // (docs/decisions.md, "Every store a request can grow has a bound").
  if (jsonDepthExceeds(text)) {
    throw new ProblemError({
      status: 400,
      message: `JSON body nested deeper than ${fixedLimits.jsonDepth} levels`,
      hint: `Send a flatter body: arrays and objects may nest at most ${fixedLimits.jsonDepth} deep.`,
    })
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new ProblemError({ status: 400, message: `Invalid JSON body: ${(err as Error).message}` })
  }
}

/**
 * Reads a whole body, bounded in size (413) and in time (408): a client that sends its headers and
 * then trickles, or stalls, holds nothing past `limits.bodyTimeoutMs`, Node's own request timeout
 * being five minutes. A client that leaves mid-body rejects with a 400 nobody reads.
 */
function readBody(req: IncomingMessage, bounds: BodyBounds): Promise<Buffer> {
  const limit = bounds.maxBodySize
  const declared = Number(req.headers['content-length'])
  if (declared > limit) return Promise.reject(tooLarge(limit))
  return collect(req, limit, bounds.limits.bodyTimeoutMs, 'reject')
}

/** The first bytes of a body, and whether they are all of it. */
export interface BodyHead {
  head: Buffer
  /** False when the body goes on past `maxBodySize`: the rest is still unread on the request, paused. */
  complete: boolean
}

/**
 * Reads a body whole when it fits in `maxBodySize`, like `readBody`, but a longer one is no error:
 * it resolves with what arrived so far and leaves the rest paused on `req`, for a proxy to stream
 * on (docs/decisions.md, "The proxy streams what it cannot hold"). The deadline covers the head only.
 */
export function readHead(req: IncomingMessage, bounds: BodyBounds): Promise<BodyHead> {
  return collect(req, bounds.maxBodySize, bounds.limits.bodyTimeoutMs, 'stop').then((head) =>
    Buffer.isBuffer(head) ? { head, complete: true } : head,
  )
}

/**
 * Collects the body with listeners rather than `for await`, which would destroy the request (and
 * with it the socket) on overflow before the 413 could be written. Past the deadline, or past the
 * limit with `overflow: 'reject'`, the rest is drained and dropped; `sendError` then closes the
 * connection. With `overflow: 'stop'` the request is paused there instead, for someone to read on.
 */
function collect(
  req: IncomingMessage,
  limit: number,
  timeoutMs: number,
  overflow: 'reject',
): Promise<Buffer>
function collect(
  req: IncomingMessage,
  limit: number,
  timeoutMs: number,
  overflow: 'stop',
): Promise<Buffer | BodyHead>
function collect(
  req: IncomingMessage,
  limit: number,
  timeoutMs: number,
  overflow: 'reject' | 'stop',
): Promise<Buffer | BodyHead> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const timer = setTimeout(onTimeout, timeoutMs)
    function onData(chunk: Buffer): void {
      size += chunk.length
      if (size <= limit) {
        chunks.push(chunk)
        return
      }
      cleanup()
      if (overflow === 'stop') {
        req.pause()
        chunks.push(chunk)
        resolve({ head: Buffer.concat(chunks, size), complete: false })
        return
      }
      req.resume()
      reject(tooLarge(limit))
    }
    function onEnd(): void {
      cleanup()
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size))
    }
    function onError(err: Error): void {
      cleanup()
      reject(err)
    }
    function onTimeout(): void {
      cleanup()
      req.resume()
      reject(bodyTimeout(timeoutMs))
    }
    function cleanup(): void {
      clearTimeout(timer)
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onError)
      req.off('close', onClose)
    }
    function onClose(): void {
      cleanup()
      reject(
        new ProblemError({
          status: 400,
          message: 'The request body ended early: the client went away',
        }),
      )
    }
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onError)
    req.on('close', onClose)
  })
}

/** A body still arriving at the deadline (or, for a streamed one, silent that long). */
export function bodyTimeout(timeoutMs: number): ProblemError {
  return new ProblemError({
    status: 408,
    message: `Request body not complete within ${timeoutMs} ms`,
    hint: 'Send the whole body at once, or raise limits.bodyTimeoutMs in the ollama() options in vite.config.ts.',
  })
}

export function tooLarge(limit: number): ProblemError {
  return new ProblemError({
    status: 413,
    message: `Request body larger than ${limit} bytes`,
    hint: 'Send less, or raise maxBodySize in the ollama() options in vite.config.ts.',
  })
}

/** Validates a parsed body; the 400 names the first field that is wrong. */
export function parsePayload<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const parsed = schema.safeParse(value)
  if (parsed.success) return parsed.data
  const issues = parsed.error.issues.map(
    (issue) => `${issue.path.length ? issue.path.join('.') : '(body)'}: ${issue.message}`,
  )
  throw new ProblemError({ status: 400, message: `Invalid request body: ${issues.join('; ')}` })
}
