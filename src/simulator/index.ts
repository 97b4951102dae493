// The Ollama simulator: an Ollama-compatible HTTP server with no model behind it. It is a product
// feature (chat UIs tested in CI with no GPU) and the only stand-in for Ollama in this project's
// tests, so it copies Ollama's wire behaviour exactly (docs/decisions.md, "The simulator copies
// Ollama's wire behaviour"). Only node: built-ins, because the same code runs in a bare container
// image (main.ts).

import { EventEmitter } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { debuglog } from 'node:util'
import { normalizeModelName } from '../models/name.js'
import { handleMessages, sendAnthropicError } from './anthropic.js'
import { BlobStore, handleHeadBlob, handlePostBlob } from './blobs.js'
import type { CatalogExtension } from './catalog.js'
import { handleGeneration } from './chat.js'
import type { LiveConfig, SimContext } from './context.js'
import { handleCreate } from './create.js'
import {
  dmrInferencePath,
  dmrModelName,
  dmrModelRoute,
  dmrRoutes,
  SIMULATED_DMR_VERSION,
} from './dmr.js'
import { handleEmbed, handleEmbeddings } from './embed.js'
import {
  allowedOrigins,
  applyCors,
  goStringify,
  HttpError,
  hostAllowed,
  isLoopbackHost,
  parseJsonBody,
  readBody,
  sendError,
  sendJson,
  sendText,
} from './http.js'
import { handleCopy, handleDelete, handlePs, handleShow, handleTags } from './models.js'
import { handleOpenAi, isOpenAiPath, sendOpenAiError } from './openai.js'
import { BlobDownloads, handlePull } from './pull.js'
import { handlePush } from './push.js'
import { ModelRegistry } from './registry.js'
import { handleResponses } from './responses.js'
import { openModelStore } from './store.js'

const debug = debuglog('vite-plugin-ollama')

export interface SimulatorOptions {
  /** Interface to listen on. @default '127.0.0.1' */
  host?: string
  /** Port; 0 picks a free one (the `simulate` CLI defaults to 11434). @default 0 */
  port?: number
  /** Models installed at start, e.g. `['llama3.2']` (stored as `llama3.2:latest`). @default [] */
  models?: string[]
  /**
   * Pullable models beyond the built-in catalog (llama3.2, qwen2.5, qwen3, gemma3, mistral,
   * nomic-embed-text, …), by name. Unlisted details default to a small Llama.
   * @default {}
   */
  catalog?: CatalogExtension
  /**
   * Simulated download speed of `/api/pull`, in bytes per second (`Infinity`: instant; `0`: a
   * stalled download that never progresses).
   * @default 2e9
   */
  pullBytesPerSecond?: number
  /** Delay between two streamed tokens. @default 0 */
  tokenDelayMs?: number
  /** Fault: destroy the connection after this many tokens of a chat/generate/completion. */
  failAfterTokens?: number
  /** Fault: wait this long before the first byte of a chat/generate reply (a cold model load). */
  firstByteDelayMs?: number
  /** Fault: `process.exit(1)` after this many tokens (crashes the container running main.ts). */
  exitAfterTokens?: number
  /**
   * Fault: after this many tokens, end the stream with Ollama's mid-stream error line
   * `{"error":"an error was encountered while running the model"}` (HTTP 500 with stream:false).
   */
  errorAfterTokens?: number
  /**
   * Fault: pulls of these models fail mid-stream with this error line, after the manifest and a
   * first progress line, as Ollama reports a failed download (docs/decisions.md, "How a pull
   * fails"), e.g.:
   * `{ 'llama3.2': 'write /root/.ollama/models/blobs/sha256-…-partial: no space left on device' }`.
   * Keys are model names in any spelling (`llama3.2` matches `llama3.2:latest`).
   */
  pullErrors?: Record<string, string>
  /**
   * Pretend the models run on a GPU: `/api/ps` reports `size_vram` equal to `size`. Off, they run
   * on the CPU (`size_vram` 0), as a GPU that went missing looks to Ollama's clients.
   * @default false
   */
  gpu?: boolean
  /**
   * A folder laid out like Ollama's `OLLAMA_MODELS`: the models whose manifests are there are
   * installed at start, a completed pull writes its manifest there and a delete removes it.
   */
  modelStore?: string
  /**
   * The context window (`num_ctx`) of a model loaded by a request that sets none, as Ollama's
   * `OLLAMA_CONTEXT_LENGTH`; never more than the model was trained for. A longer prompt is cut to
   * it, and `prompt_eval_count` counts what was kept.
   * @default 4096
   */
  contextLength?: number
  /** Extra CORS origins, as `OLLAMA_ORIGINS` (`['*']` allows every origin). @default [] */
  origins?: string[]
  /**
   * Require `Authorization: Bearer <apiKey>` on every route but `/`, as a hosted Ollama (Ollama
   * Cloud) or an OpenAI-compatible provider does: 401 without it, in the route's error shape.
   */
  apiKey?: string
  /**
   * Version reported by `/api/version` (with `flavor: 'dmr'`, by `/version`: DMR's
   * `/api/version` always says 0.1.0).
   * @default '0.32.6'
   */
  version?: string
  /**
   * Which server to play: Ollama, or Docker Model Runner (its `/` banner, `/models`,
   * `/models/create`, `/engines/v1/*` and partial `/api/*`, models named `ai/llama3.2:latest`).
   * @default 'ollama'
   */
  flavor?: 'ollama' | 'dmr'
  /** Receives one gin-style access line per request (main.ts prints them). */
  logger?: (line: string) => void
}

export interface SimulatorStats {
  /** Requests by `"METHOD /path"`, e.g. `'POST /api/chat'`. */
  requests: Record<string, number>
  /** Responses that produce tokens or pull progress (streamed or `stream:false`) in flight. */
  activeStreams: number
  completedStreams: number
  /** Streams the client abandoned before the end (counted the moment the socket closes). */
  cancelledStreams: number
  /** Streams cut on purpose by `failAfterTokens`. */
  faultedStreams: number
}

export interface Simulator {
  url: string
  port: number
  stats: SimulatorStats
  /**
   * `'request'` (method, path); `'stream-start'`, `'stream-end'`, `'stream-cancel'` with a
   * StreamInfo `{ id, method, path, model?, reason? }`.
   */
  events: EventEmitter
  /** Changes faults and delays on the running server (a key set to undefined clears it). */
  configure(faults: Partial<SimulatorOptions>): void
  close(): Promise<void>
}

export type { StreamInfo } from './context.js'
export { simulatedReply, tokenize } from './tokens.js'

/** The Ollama version the simulator reports (its /v1 stream format is the post-0.32.6 one). */
export const SIMULATED_VERSION = '0.32.6'

const LIVE_KEYS = [
  'tokenDelayMs',
  'pullBytesPerSecond',
  'failAfterTokens',
  'firstByteDelayMs',
  'exitAfterTokens',
  'errorAfterTokens',
  'pullErrors',
  'gpu',
] as const

/** Starts an Ollama-compatible server; resolves once it listens. */
export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const dmr = opts.flavor === 'dmr'
  const registry = new ModelRegistry(
    opts.catalog,
    dmr ? dmrModelName : normalizeModelName,
    opts.contextLength,
  )
  const store = opts.modelStore ? openModelStore(opts.modelStore) : undefined
  for (const name of store?.models() ?? []) registry.install(name)
  for (const raw of opts.models ?? []) {
    const name = registry.normalize(raw)
    if (!name)
      throw new Error(`Simulator option models: "${raw}" is not a valid Ollama model name.`)
    registry.install(name)
  }
  const config: LiveConfig = { tokenDelayMs: 0, pullBytesPerSecond: 2e9 }
  const ctx: SimContext = {
    config,
    registry,
    stats: {
      requests: {},
      activeStreams: 0,
      completedStreams: 0,
      cancelledStreams: 0,
      faultedStreams: 0,
    },
    events: new EventEmitter(),
    version: opts.version ?? (dmr ? SIMULATED_DMR_VERSION : SIMULATED_VERSION),
    options: opts,
  }
  if (store) ctx.store = store
  const configure = (faults: Partial<SimulatorOptions>) => {
    for (const key of LIVE_KEYS) {
      if (!(key in faults)) continue
      const value = faults[key]
      if (value === undefined) delete config[key]
      else Object.assign(config, { [key]: value })
    }
    if (config.tokenDelayMs === undefined) config.tokenDelayMs = 0
    if (config.pullBytesPerSecond === undefined) config.pullBytesPerSecond = 2e9
  }
  configure(opts)
  const downloads = new BlobDownloads(registry, () => config.pullBytesPerSecond)
  const host = opts.host ?? '127.0.0.1'
  const origins = allowedOrigins(opts.origins)
  const loopback = isLoopbackHost(host)

  const table = dmr ? dmrRoutes(downloads) : routes(downloads, new BlobStore(ctx))
  const server = createServer(function ollamaSimulator(req, res) {
    route(ctx, table, { origins, loopback }, req, res)
  })
  // Long generations (a 100k-token benchmark) must not be cut by Node's request timeout.
  server.requestTimeout = 0
  server.keepAliveTimeout = 5_000
  await listen(server, host, opts.port ?? 0)
  const port = (server.address() as AddressInfo).port
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host
  debug('simulator listening on %s:%d', host, port)

  let closed: Promise<void> | undefined
  return {
    url: `http://${urlHost}:${port}`,
    port,
    stats: ctx.stats,
    events: ctx.events,
    configure,
    close() {
      closed ??= new Promise<void>((resolve) => {
        downloads.stopAll()
        server.close(() => resolve())
        server.closeAllConnections()
      })
      return closed
    },
  }
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') {
        reject(
          new Error(
            `Port ${port} on ${host} is already in use. Stop the process holding it, or start the simulator with another port (option port, or --port for the simulate command).`,
          ),
        )
      } else reject(error)
    }
    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      resolve()
    })
  })
}

export type Handler = (
  ctx: SimContext,
  req: IncomingMessage,
  res: ServerResponse,
  body: () => Promise<Record<string, unknown>>,
) => unknown

export interface RouteTable {
  [path: string]: Partial<Record<'GET' | 'HEAD' | 'POST' | 'DELETE', Handler>>
}

function routes(downloads: BlobDownloads, blobs: BlobStore): RouteTable {
  return {
    '/': {
      GET: (_c, _q, res) => sendText(res, 200, 'Ollama is running'),
      HEAD: (_c, _q, res) => sendText(res, 200, 'Ollama is running', true),
    },
    '/api/version': {
      GET: (ctx, _q, res) => sendJson(res, 200, { version: ctx.version }),
      HEAD: (ctx, _q, res) => sendJson(res, 200, { version: ctx.version }),
    },
    '/api/tags': {
      GET: (ctx, _q, res) => handleTags(ctx, res, false),
      HEAD: (ctx, _q, res) => handleTags(ctx, res, true),
    },
    '/api/ps': { GET: (ctx, _q, res) => handlePs(ctx, res) },
    '/api/show': { POST: async (ctx, _q, res, body) => handleShow(ctx, res, await body()) },
    '/api/pull': {
      POST: async (ctx, req, res, body) => handlePull(ctx, downloads, req, res, await body()),
    },
    '/api/push': {
      POST: async (ctx, req, res, body) => handlePush(ctx, req, res, await body()),
    },
    '/api/create': {
      POST: async (ctx, req, res, body) => handleCreate(ctx, blobs, req, res, await body()),
    },
    '/api/blobs/:digest': {
      HEAD: (_c, req, res) => handleHeadBlob(blobs, res, pathOf(req)),
      POST: async (_c, req, res) => handlePostBlob(blobs, req, res, pathOf(req)),
    },
    '/api/delete': { DELETE: async (ctx, _q, res, body) => handleDelete(ctx, res, await body()) },
    '/api/copy': { POST: async (ctx, _q, res, body) => handleCopy(ctx, res, await body()) },
    '/api/chat': {
      POST: async (ctx, req, res, body) => handleGeneration(ctx, req, res, 'chat', await body()),
    },
    '/api/generate': {
      POST: async (ctx, req, res, body) =>
        handleGeneration(ctx, req, res, 'generate', await body()),
    },
    '/v1/responses': { POST: (ctx, req, res) => handleResponses(ctx, req, res) },
    '/v1/messages': { POST: (ctx, req, res) => handleMessages(ctx, req, res) },
    '/api/embed': { POST: async (ctx, _q, res, body) => handleEmbed(ctx, res, await body()) },
    '/api/embeddings': {
      POST: async (ctx, req, res, body) => handleEmbeddings(ctx, req, res, await body()),
    },
  }
}

const STRUCTS: Record<string, string> = {
  '/api/show': 'ShowRequest',
  '/api/pull': 'PullRequest',
  '/api/delete': 'DeleteRequest',
  '/api/copy': 'CopyRequest',
  '/api/push': 'PushRequest',
  '/api/create': 'CreateRequest',
  '/api/chat': 'ChatRequest',
  '/api/generate': 'GenerateRequest',
  '/api/embed': 'EmbedRequest',
  '/api/embeddings': 'EmbeddingRequest',
}

async function route(
  ctx: SimContext,
  table: RouteTable,
  guard: { origins: string[]; loopback: boolean },
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const started = process.hrtime.bigint()
  const method = req.method ?? 'GET'
  const requested = (req.url ?? '/').split('?')[0] ?? '/'
  const dmr = ctx.options.flavor === 'dmr'
  const path = dmr ? dmrInferencePath(requested) : requested
  // Counted and logged as asked for (`/engines/v1/…`), then served by the route it aliases.
  const key = `${method} ${requested}`
  ctx.stats.requests[key] = (ctx.stats.requests[key] ?? 0) + 1
  ctx.events.emit('request', method, requested)
  res.on('finish', () => logAccess(ctx, req, res, started, method, requested))
  res.on('close', () => {
    if (!res.writableFinished) logAccess(ctx, req, res, started, method, requested)
  })
  try {
    // gin runs the CORS middleware first, then the Host guard, for every route (even 404/405).
    if (applyCors(req, res, guard.origins)) return
    if (!hostAllowed(req, guard.loopback)) {
      res.writeHead(403, { 'Content-Length': 0 })
      res.end()
      return
    }
    if (ctx.options.apiKey !== undefined && path !== '/' && !hasKey(req, ctx.options.apiKey)) {
      if (isOpenAiPath(path) || path === '/v1/responses') {
        sendOpenAiError(res, 401, 'Incorrect API key provided')
      } else if (path === '/v1/messages') sendAnthropicError(res, 401, 'invalid x-api-key')
      else sendError(res, 401, 'unauthorized')
      return
    }
    if (isOpenAiPath(path)) {
      await handleOpenAi(ctx, req, res, method, path)
      return
    }
    const entry = table[tablePath(path)] ?? (dmr ? dmrModelRoute(path) : undefined)
    // DMR is Go's net/http ServeMux, not gin: plain 404s and 405s, no trailing-slash redirect.
    if (!entry && dmr) return sendText(res, 404, '404 page not found\n')
    if (!entry) return notFound(req, res, path, table)
    const handler = entry[method as keyof typeof entry]
    if (!handler && dmr) return sendText(res, 405, 'Method Not Allowed\n')
    if (!handler) return sendText(res, 405, '405 method not allowed')
    const struct = STRUCTS[path] ?? 'Request'
    await handler(ctx, req, res, async () => parseJsonBody(await readBody(req), struct))
  } catch (error) {
    if (dmr) answerDmrError(res, error)
    else answerError(res, path, error)
  }
}

function pathOf(req: IncomingMessage): string {
  return (req.url ?? '/').split('?')[0] ?? '/'
}

/** The table's key for a path: `/api/blobs/<anything>` is gin's `/api/blobs/:digest`. */
function tablePath(path: string): string {
  return /^\/api\/blobs\/[^/]+$/.test(path) ? '/api/blobs/:digest' : path
}

function hasKey(req: IncomingMessage, key: string): boolean {
  return req.headers.authorization === `Bearer ${key}`
}

/** DMR answers failures with Go's `http.Error`: the message as plain text, on every route. */
function answerDmrError(res: ServerResponse, error: unknown): void {
  const status = error instanceof HttpError ? error.status : 500
  const message = error instanceof Error ? error.message : String(error)
  if (!res.headersSent) sendText(res, status, `${message}\n`)
  else if (!res.writableEnded) res.end(`${message}\n`)
}

function notFound(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  table: RouteTable,
): void {
  // gin's RedirectTrailingSlash: /api/tags/ → /api/tags (301 for GET, 307 otherwise).
  if (path.length > 1 && path.endsWith('/') && table[path.slice(0, -1)]) {
    const status = req.method === 'GET' ? 301 : 307
    res.writeHead(status, { Location: path.slice(0, -1) })
    res.end()
    return
  }
  sendText(res, 404, '404 page not found')
}

export function answerError(res: ServerResponse, path: string, error: unknown): void {
  const status = error instanceof HttpError ? error.status : 500
  const message = error instanceof Error ? error.message : String(error)
  if (!(error instanceof HttpError)) debug('simulator: %s failed: %s', path, message)
  if (res.headersSent) {
    // Mid-stream failures are a final {"error"} line with the 200 kept (docs/decisions.md, "A
    // stream that fails midway keeps its 200").
    if (!res.writableEnded) res.end(`${goStringify({ error: message })}\n`)
    return
  }
  if (isOpenAiPath(path)) sendOpenAiError(res, status, message)
  else sendError(res, status, message)
}

function logAccess(
  ctx: SimContext,
  req: IncomingMessage,
  res: ServerResponse,
  started: bigint,
  method: string,
  path: string,
): void {
  const log = ctx.options.logger
  if (!log) return
  const elapsed = formatGoDuration(Number(process.hrtime.bigint() - started))
  const now = new Date()
  const pad = (n: number) => String(n).padStart(2, '0')
  const stamp = `${now.getFullYear()}/${pad(now.getMonth() + 1)}/${pad(now.getDate())} - ${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}`
  const status = res.writableFinished ? res.statusCode : 499
  const client = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '')
  log(
    `[GIN] ${stamp} | ${status} | ${elapsed.padStart(14)} | ${client.padStart(15)} | ${method.padEnd(7)} ${JSON.stringify(path)}`,
  )
}

/** Go's time.Duration String(): 51.678951803s, 1.2ms, 850µs. */
function formatGoDuration(ns: number): string {
  if (ns < 1e3) return `${ns}ns`
  if (ns < 1e6) return `${trim(ns / 1e3)}µs`
  if (ns < 1e9) return `${trim(ns / 1e6)}ms`
  return `${trim(ns / 1e9)}s`
}

function trim(value: number): string {
  return String(Number(value.toFixed(9)))
}
