import type { IncomingMessage, ServerResponse } from 'node:http'
import type { z } from 'zod'
import { ProblemError, toProblem } from '../problem.js'

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

/** Answers `{ error, hint? }` with the problem's status, else a 500. */
export function sendError(res: ServerResponse, err: unknown): void {
  let status = 500
  if (isHttpProblem(err)) {
    status = err.status
    for (const [name, value] of Object.entries(err.headers ?? {})) res.setHeader(name, value)
  }
  const { message, hint } = toProblem(err)
  sendJson(res, status, hint ? { error: message, hint } : { error: message })
}

/** `application/json` or any `+json` type, parameters allowed. */
export function isJsonContentType(value: string | undefined): boolean {
  if (!value) return false
  const type = value.split(';', 1)[0]!.trim().toLowerCase()
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'))
}

/**
 * Reads a JSON body: 415 unless the `Content-Type` is JSON, 413 past `limit` bytes (counted as
 * the bytes arrive, so an endless body never sits in memory), 400 when it does not parse.
 */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  if (!isJsonContentType(req.headers['content-type'])) {
    throw new ProblemError({
      status: 415,
      message: `Unsupported Content-Type "${req.headers['content-type'] ?? '(none)'}": send a JSON body`,
      hint: 'Set the header Content-Type: application/json (fetch: headers: { "Content-Type": "application/json" }).',
    })
  }
  const declared = Number(req.headers['content-length'])
  if (declared > limit) throw tooLarge(limit)
  const { chunks, size } = await collect(req, limit)
  if (size === 0)
    throw new ProblemError({ status: 400, message: 'Missing request body: send a JSON object' })
  const text = Buffer.concat(chunks, size).toString('utf8')
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new ProblemError({ status: 400, message: `Invalid JSON body: ${(err as Error).message}` })
  }
}

/**
 * Collects the body with listeners rather than `for await`, which would destroy the request (and
 * with it the socket) on overflow before the 413 could be written. Past the limit the rest is
 * drained and dropped.
 */
function collect(req: IncomingMessage, limit: number): Promise<{ chunks: Buffer[]; size: number }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    function onData(chunk: Buffer): void {
      size += chunk.length
      if (size <= limit) {
        chunks.push(chunk)
        return
      }
      cleanup()
      req.resume()
      reject(tooLarge(limit))
    }
    function onEnd(): void {
      cleanup()
      resolve({ chunks, size })
    }
    function onError(err: Error): void {
      cleanup()
      reject(err)
    }
    function cleanup(): void {
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
