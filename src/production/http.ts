import { problemText } from '../chat/framing.js'
import { fixedLimits } from '../limits.js'
import { ProblemError, toProblem } from '../problem.js'
import { jsonDepthExceeds } from '../server/json.js'

// Requests in and answers out for the production handler, with Web-standard types only: JSON
// bodies read under a size cap, and errors in the dev server's shape `{ error, hint }`, so the
// browser client reads both the same way.

/** An error answer: `{ error, hint? }` with the status the problem carries (500 when none). */
export function problemResponse(err: unknown, headers?: HeadersInit): Response {
  const status = (err as ProblemError | null)?.status ?? 500
  const { message, hint } = toProblem(err)
  const response = Response.json(hint ? { error: message, hint } : { error: message }, {
    status,
    headers,
  })
  for (const [name, value] of Object.entries((err as ProblemError | null)?.headers ?? {}))
    response.headers.set(name, value)
  return response
}

/** An error answer as one line of plain text, for the AI SDK (it shows the body as `error.message`). */
export function problemTextResponse(err: unknown): Response {
  const status = (err as ProblemError | null)?.status ?? 500
  const headers = new Headers((err as ProblemError | null)?.headers)
  headers.set('Content-Type', 'text/plain; charset=utf-8')
  return new Response(problemText(toProblem(err)), { status, headers })
}

/** The body as JSON: 415 unless it says JSON, 413 past `limit` bytes, 400 when it is not JSON or nests too deep. */
export async function readJsonRequest(request: Request, limit: number): Promise<unknown> {
  const type = request.headers.get('content-type') ?? ''
  if (!/^application\/([\w.+-]+\+)?json\b/i.test(type.trim())) {
    throw new ProblemError({
      status: 415,
      message: `Unsupported Content-Type "${type || '(none)'}": send JSON`,
      hint: 'Send the header Content-Type: application/json.',
    })
  }
  const declared = Number(request.headers.get('content-length') ?? Number.NaN)
  if (declared > limit) throw tooLarge(limit)
  const text = await readText(request, limit)
  if (jsonDepthExceeds(text)) {
    throw new ProblemError({
      status: 400,
      message: `Invalid request body: JSON nested more than ${fixedLimits.jsonDepth} levels deep`,
    })
  }
  try {
    return JSON.parse(text)
  } catch {
    throw new ProblemError({ status: 400, message: 'Invalid request body: not JSON' })
  }
}

/** The body as text, counted as it arrives: a body without Content-Length is cut at `limit` too. */
async function readText(request: Request, limit: number): Promise<string> {
  if (!request.body) return ''
  const reader = request.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > limit) {
      await reader.cancel().catch(() => {})
      throw tooLarge(limit)
    }
    chunks.push(value)
  }
  const all = new Uint8Array(size)
  let at = 0
  for (const chunk of chunks) {
    all.set(chunk, at)
    at += chunk.byteLength
  }
  return new TextDecoder().decode(all)
}

function tooLarge(limit: number): ProblemError {
  return new ProblemError({
    status: 413,
    message: `Request body larger than ${limit} bytes`,
    hint: 'Raise maxBodySize in the options passed to createOllamaHandler (and ollama()), or send a smaller body.',
  })
}
