// Docker Model Runner's pulls, as the simulator plays them (model-runner
// `pkg/inference/models/manager.go` Pull, `pkg/distribution/internal/store/store.go` Write,
// `pkg/distribution/internal/progress/reporter.go`): every layer downloads at once, each reporting
// `{"type":"progress","total":<image bytes>,"layer":{"id","size","current"}}` at most every 100 ms,
// then `{"type":"success","message":"Model pulled successfully"}`; a model already there gets one
// "Using cached model" line. `POST /models/create` writes these lines (HTML-escaped text unless
// `Accept` is exactly `application/json`); `POST /api/pull` rewrites them as Ollama's, as DMR's
// adapter does (`pkg/ollama/http_handler.go` ollamaProgressWriter). Partial layers are kept, so a
// later pull resumes.

import type { IncomingMessage, ServerResponse } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { beginStream, type SimContext } from './context.js'
import { HttpError, type JsonObject, readBody, sendJson } from './http.js'
import type { BlobDownloads } from './pull.js'

/** The reporter's interval (progress.UpdateInterval). */
const UPDATE_MS = 100

interface ProgressMessage {
  type: 'progress' | 'success' | 'warning' | 'error'
  message: string
  total: number
  layer: { id?: string; size: number; current: number }
  mode: 'pull'
}

/** Writes one pull's messages somewhere; false when the client is gone. */
type Writer = (message: ProgressMessage) => boolean

/** POST /models/create `{"from": "ai/smollm2"}`. */
export async function handleModelsCreate(
  ctx: SimContext,
  downloads: BlobDownloads,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  let body: JsonObject
  try {
    body = JSON.parse(await readBody(req)) as JsonObject
  } catch {
    throw new HttpError(400, 'invalid request body')
  }
  const from = typeof body?.from === 'string' ? body.from : ''
  const json = req.headers.accept === 'application/json'
  await pull(ctx, downloads, req, res, from, {
    contentType: json ? 'application/json' : 'text/plain',
    line: (message) => {
      const text = `${JSON.stringify(message)}\n`
      return json ? text : escapeHtml(text)
    },
    // Go's http.Error after the status is out: the text lands in the body.
    failure: (message) => `error while pulling model: writing image to store: ${message}\n`,
  })
}

/** POST /api/pull `{"model": "…"}`: the same pull, in Ollama's lines. */
export async function handleDmrApiPull(
  ctx: SimContext,
  downloads: BlobDownloads,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  let body: JsonObject
  try {
    body = JSON.parse(await readBody(req)) as JsonObject
  } catch (error) {
    throw new HttpError(400, `Invalid request: ${(error as Error).message}`)
  }
  const name = (body?.name || body?.model || '') as string
  try {
    await pull(ctx, downloads, req, res, name, {
      contentType: 'application/x-ndjson',
      line: (message) => {
        const out = ollamaLine(message)
        return out ? `${JSON.stringify(out)}\n` : ''
      },
      failure: (message) => `${JSON.stringify({ error: `Failed to pull model: ${message}` })}\n`,
    })
  } catch (error) {
    if (!(error instanceof HttpError)) throw error
    sendJson(res, 500, { error: `Failed to pull model: ${error.message}` })
  }
}

interface Format {
  contentType: string
  line(message: ProgressMessage): string
  /** The trailing text of a pull that failed after the stream began. */
  failure(message: string): string
}

async function pull(
  ctx: SimContext,
  downloads: BlobDownloads,
  req: IncomingMessage,
  res: ServerResponse,
  raw: string,
  format: Format,
): Promise<void> {
  const ref = raw.trim() === '' ? null : ctx.registry.normalize(raw)
  if (!ref) throw new HttpError(400, 'Invalid model reference')
  const manifest = ctx.registry.manifest(ref)
  if (!manifest) throw new HttpError(404, 'Model not found')
  const stream = beginStream(ctx, req, res, req.url ?? '', ref)
  const write: Writer = (message) => {
    if (!res.headersSent) {
      res.writeHead(200, { 'Content-Type': format.contentType, 'Cache-Control': 'no-cache' })
    }
    const text = format.line(message)
    return text ? res.write(text) : true
  }
  const done = (message: ProgressMessage) => {
    write(message)
    stream.complete()
    res.end()
  }
  if (ctx.registry.find(ref)) {
    return done(success(`Using cached model: ${(manifest.size / 1e9).toFixed(2)} GB`))
  }
  const total = manifest.size
  const injected = pullErrorFor(ctx, ref)
  if (injected !== undefined) {
    const first = manifest.layers[0]
    if (first) write(progress(total, first.digest, first.size, Math.floor(first.size / 3)))
    write({ ...success(''), type: 'error', message: `Error: ${injected}` })
    stream.complete()
    res.end(format.failure(injected))
    return
  }
  const joined = manifest.layers.map((layer) => ({ layer, download: downloads.join(layer) }))
  const reported = new Map<string, number>()
  try {
    for (;;) {
      for (const { layer, download } of joined) {
        if (reported.get(layer.digest) === download.completed) continue
        reported.set(layer.digest, download.completed)
        write(progress(total, layer.digest, layer.size, download.completed))
      }
      if (joined.every(({ download }) => download.done)) break
      await sleep(UPDATE_MS, undefined, { signal: stream.signal })
      if (joined.some(({ download }) => download.abandoned)) return
    }
  } catch {
    return // the client went away: the downloads keep their bytes for the next pull
  } finally {
    for (const { download } of joined) downloads.leave(download)
  }
  ctx.registry.install(ref)
  done(success('Model pulled successfully'))
}

function progress(total: number, id: string, size: number, current: number): ProgressMessage {
  return {
    type: 'progress',
    message: `Downloaded: ${(current / 1024 / 1024).toFixed(2)} MB`,
    total,
    layer: { id, size, current },
    mode: 'pull',
  }
}

function success(message: string): ProgressMessage {
  return { type: 'success', message, total: 0, layer: { size: 0, current: 0 }, mode: 'pull' }
}

/** A DMR message as DMR's Ollama adapter writes it (fields omitted when empty). */
function ollamaLine(message: ProgressMessage): JsonObject | undefined {
  switch (message.type) {
    case 'progress': {
      const id = message.layer.id
      const out: JsonObject = {
        status: id?.startsWith('sha256:') ? `pulling ${id.slice(7, 19)}` : 'pulling manifest',
      }
      if (id) out.digest = id
      if (message.layer.size) out.total = message.layer.size
      if (message.layer.current) out.completed = message.layer.current
      return out
    }
    case 'success':
      return { status: 'success' }
    case 'error':
      return { error: message.message }
    case 'warning':
      return { status: message.message }
  }
}

/** The `pullErrors` fault for this model, by any spelling of its name. */
function pullErrorFor(ctx: SimContext, ref: string): string | undefined {
  for (const [name, message] of Object.entries(ctx.config.pullErrors ?? {})) {
    if (ctx.registry.normalize(name) === ref) return message
  }
  return undefined
}

const HTML_ESCAPES: Record<string, string> = {
  '<': '&lt;',
  '>': '&gt;',
  '&': '&amp;',
  "'": '&#39;',
  '"': '&#34;',
}

/** Go's html.EscapeString: what `/models/create` does to each line without the JSON Accept. */
function escapeHtml(text: string): string {
  return text.replace(/[<>&'"]/g, (ch) => HTML_ESCAPES[ch] ?? ch)
}
