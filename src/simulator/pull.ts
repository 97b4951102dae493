// POST /api/pull (docs/decisions.md, "A pull reports one layer at a time", "Pull progress repeats
// its last line every 60 ms", "An interrupted pull resumes"): "pulling manifest", then each layer
// in turn with {digest, total, completed} lines on a 60 ms ticker at `pullBytesPerSecond`, then
// "verifying sha256 digest", "writing manifest", "success". Pulls of one blob share one download; a
// pull whose clients all went away stops and keeps its partial bytes, so the next pull resumes.

import type { IncomingMessage, ServerResponse } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { displayName, parseModelName } from '../models/name.js'
import type { Layer } from './catalog.js'
import { beginStream, type SimContext } from './context.js'
import { expectType, goStringify, HttpError, type JsonObject, sendJson } from './http.js'
import type { ModelRegistry } from './registry.js'

/** Ollama's download ticker: one progress line per layer every 60 ms, changed or not. */
const TICK_MS = 60
/** How often a shared download advances its byte count. */
const STEP_MS = 15

interface Progress {
  status: string
  digest?: string
  total?: number
  completed?: number
}

/** One blob being downloaded, shared by every pull that needs it (server/download.go). */
class Download {
  completed: number
  waiters = 0
  readonly finished: Promise<void>
  private resolve!: () => void
  private timer: NodeJS.Timeout
  private last = performance.now()
  private stopped = false

  constructor(
    readonly layer: Layer,
    from: number,
    private readonly rate: () => number,
    private readonly onEnd: (download: Download) => void,
  ) {
    this.completed = from
    this.finished = new Promise((resolve) => {
      this.resolve = resolve
    })
    this.timer = setInterval(() => this.advance(), STEP_MS)
    if (this.done || rate() === Number.POSITIVE_INFINITY) this.advance()
  }

  get done(): boolean {
    return this.completed >= this.layer.size
  }

  /** Stopped before the end: every client left, or the simulator is closing. */
  get abandoned(): boolean {
    return this.stopped && !this.done
  }

  private advance(): void {
    const now = performance.now()
    const rate = this.rate()
    // Infinity completes at once; 0 stalls (a way to test a UI's stall detection).
    const bytes =
      rate === Number.POSITIVE_INFINITY ? rate : rate > 0 ? (rate * (now - this.last)) / 1000 : 0
    this.last = now
    this.completed = Math.min(this.layer.size, Math.floor(this.completed + bytes))
    if (this.done) this.stop()
  }

  /** Ends the download (finished, or abandoned by its last waiter). */
  stop(): void {
    if (this.stopped) return
    this.stopped = true
    clearInterval(this.timer)
    this.onEnd(this)
    this.resolve()
  }
}

/** The downloads in flight, by blob digest. */
export class BlobDownloads {
  private readonly active = new Map<string, Download>()

  constructor(
    private readonly registry: ModelRegistry,
    private readonly rate: () => number,
  ) {}

  join(layer: Layer): Download {
    let download = this.active.get(layer.digest)
    if (!download) {
      const from = this.registry.blobs.get(layer.digest) ?? 0
      download = new Download(layer, from, this.rate, (ended) => {
        this.active.delete(layer.digest)
        this.registry.blobs.set(layer.digest, ended.completed)
      })
      if (!download.done) this.active.set(layer.digest, download)
    }
    download.waiters++
    return download
  }

  leave(download: Download): void {
    download.waiters--
    // The last client went away: stop, keep the partial bytes for a later resume.
    if (download.waiters <= 0 && !download.done) download.stop()
  }

  stopAll(): void {
    for (const download of this.active.values()) download.stop()
  }
}

/** Handles POST /api/pull once the body is parsed. */
export async function handlePull(
  ctx: SimContext,
  downloads: BlobDownloads,
  req: IncomingMessage,
  res: ServerResponse,
  body: JsonObject,
): Promise<void> {
  expectType(body, 'model', 'string', 'PullRequest', 'string')
  expectType(body, 'name', 'string', 'PullRequest', 'string')
  expectType(body, 'stream', 'bool', 'PullRequest', 'bool')
  // ollama-js sends the deprecated `name`; curl users send `model`.
  const raw = (body.model || body.name || '') as string
  const name = raw === '' ? null : parseModelName(raw)
  if (!name) throw new HttpError(400, 'invalid model name')
  if (name.scheme === 'http' && body.insecure !== true) {
    throw new HttpError(500, 'insecure protocol http')
  }
  const display = displayName(name)
  const streaming = body.stream !== false
  const stream = beginStream(ctx, req, res, '/api/pull', display)
  let last: Progress = { status: '' }
  const send = (line: Progress): boolean => {
    last = line
    if (!streaming) return true
    if (!res.headersSent) res.writeHead(200, { 'Content-Type': 'application/x-ndjson' })
    return res.write(`${goStringify(line)}\n`)
  }
  const fail = (message: string) => {
    stream.complete()
    if (streaming) res.end(`${goStringify({ error: message })}\n`)
    else sendJson(res, 500, { error: message })
  }

  send({ status: 'pulling manifest' })
  const manifest = ctx.registry.manifest(display)
  if (!manifest) return fail('pull model manifest: file does not exist')
  const injected = pullErrorFor(ctx, display)
  if (injected !== undefined) {
    // A download that fails part-way: one progress line for the first layer, then the error line.
    const first = manifest.layers[0]
    if (first) {
      const status = `pulling ${first.digest.slice(7, 19)}`
      send({
        status,
        digest: first.digest,
        total: first.size,
        completed: Math.floor(first.size / 3),
      })
    }
    return fail(injected)
  }
  for (const layer of manifest.layers) {
    if (!(await pullLayer(downloads, layer, stream.signal, send))) return
  }
  send({ status: 'verifying sha256 digest' })
  send({ status: 'writing manifest' })
  const installed = ctx.registry.install(display)
  ctx.store?.save(installed)
  send({ status: 'success' })
  stream.complete()
  if (streaming) res.end()
  else sendJson(res, 200, last)
}

/** The `pullErrors` fault configured for this model, by any spelling of its name. */
function pullErrorFor(ctx: SimContext, display: string): string | undefined {
  const faults = ctx.config.pullErrors
  if (!faults) return undefined
  for (const [name, message] of Object.entries(faults)) {
    const parsed = parseModelName(name)
    if (name === display || (parsed && displayName(parsed) === display)) return message
  }
  return undefined
}

/** Streams one layer's progress; false when the client went away. */
async function pullLayer(
  downloads: BlobDownloads,
  layer: Layer,
  signal: AbortSignal,
  send: (line: Progress) => boolean,
): Promise<boolean> {
  const status = `pulling ${layer.digest.slice(7, 19)}`
  const line = (completed: number): Progress => {
    const out: Progress = { status, digest: layer.digest, total: layer.size }
    if (completed > 0) out.completed = completed // omitempty, as Go writes it
    return out
  }
  const download = downloads.join(layer)
  try {
    if (download.done) {
      // A blob already on disk gets exactly one line, complete.
      send(line(layer.size))
      return true
    }
    send(line(download.completed))
    while (!download.done) {
      await Promise.race([sleep(TICK_MS, undefined, { signal }), download.finished])
      if (signal.aborted || download.abandoned) return false
      send(line(download.completed))
    }
    return !signal.aborted
  } catch {
    return false
  } finally {
    downloads.leave(download)
  }
}
