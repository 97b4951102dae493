// OllamaClient: Ollama's native API over undici, on one shared keep-alive pool per origin.
import { setTimeout as sleep } from 'node:timers/promises'
import { debuglog } from 'node:util'
import type { Dispatcher } from 'undici'
import type { z } from 'zod'
import { normalizeModelName } from '../models/problems.js'
import type { Problem } from '../protocol.js'
import { acquirePool, type PoolLease } from './dispatcher.js'
import {
  badResponseError,
  connectionError,
  errorCode,
  httpError,
  OllamaError,
  type RequestSite,
} from './errors.js'
import type { ChatRequest, EmbedRequest, GenerateRequest } from './requests.js'
import {
  type ChatResponse,
  chatResponseSchema,
  type EmbedResponse,
  embedResponseSchema,
  type GenerateResponse,
  generateResponseSchema,
  type ListResponse,
  listResponseSchema,
  looksLikeChatChunk,
  looksLikeGenerateChunk,
  type PsResponse,
  type PullProgress,
  psResponseSchema,
  pullProgressSchema,
  type ShowResponse,
  showResponseSchema,
  type VersionResponse,
  versionSchema,
} from './schemas.js'
import { abortReason, OllamaStream, type StreamKind } from './stream.js'

const debug = debuglog('vite-plugin-ollama')

const DEFAULT_PORT = '11434'
const DEFAULT_CONNECT_TIMEOUT_MS = 2_000
const DEFAULT_RETRIES = 2
/** Metadata calls answer at once; past this Ollama is wedged, and a status poll must not hang. */
const METADATA_TIMEOUT_MS = 30_000
const USER_AGENT = 'vite-plugin-ollama'

/**
 * Transport errors that happen before any response, where repeating an idempotent call is safe:
 * Ollama is still starting (refused), or a kept-alive socket died under us (reset).
 */
const RETRYABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
])

export interface OllamaClientOptions {
  /**
   * How long to wait for the TCP connection. Short, because a local Ollama either accepts at
   * once or is not running; model loads are waited for without limit once connected.
   * @default 2000
   */
  connectTimeoutMs?: number
  /**
   * Retries of idempotent calls (version, list, ps, show) on connection errors, with backoff.
   * Never applied to pull, chat, generate, embed, delete or copy.
   * @default 2
   */
  retries?: number
  /**
   * Connections this client's pool opens to Ollama at most; more requests wait for a free one.
   * Clients with the same cap share one pool. The plugin passes `limits.upstreamConnections`.
   * @default unbounded
   */
  connections?: number
}

export interface CallOptions {
  /** Aborting closes the request (and its socket), so Ollama sees the disconnect. */
  signal?: AbortSignal
}

export interface PullOptions extends CallOptions {
  /** Allow a plain-http registry (Ollama's `insecure`). */
  insecure?: boolean
}

export interface ShowOptions extends CallOptions {
  /** Include the large tokenizer arrays in `model_info`. */
  verbose?: boolean
}

/** One request, as the client and its subclasses (src/engines/dmr/client.ts) describe it. */
export interface RequestSpec {
  method: 'GET' | 'POST' | 'DELETE'
  path: string
  body?: unknown
  model?: string
  signal?: AbortSignal
  /** Metadata calls get timeouts and retries; model calls neither. */
  idempotent: boolean
  stream?: boolean
  /** The Accept header, when the server needs another than NDJSON (streams) or JSON. */
  accept?: string
}

export const chatStreamKind: StreamKind<ChatResponse> = {
  expected: 'a chat chunk ending with done:true',
  isFinal: (value) => value.done === true,
  check: (value, final) =>
    final
      ? parsed(chatResponseSchema, value)
      : looksLikeChatChunk(value)
        ? (value as ChatResponse)
        : undefined,
}

const generateStreamKind: StreamKind<GenerateResponse> = {
  expected: 'a generate chunk ending with done:true',
  isFinal: (value) => value.done === true,
  check: (value, final) =>
    final
      ? parsed(generateResponseSchema, value)
      : looksLikeGenerateChunk(value)
        ? (value as GenerateResponse)
        : undefined,
}

// Pull lines come at most every 60 ms per layer, so each gets the full schema.
export const pullStreamKind: StreamKind<PullProgress> = {
  expected: 'progress lines ending with status "success"',
  isFinal: (value) => value.status === 'success',
  check: (value) => parsed(pullProgressSchema, value),
}

function parsed<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> | undefined {
  const result = schema.safeParse(value)
  return result.success ? result.data : undefined
}

export class OllamaClient {
  /** Normalised: scheme, host, port and any path prefix (a proxy), without a trailing slash. */
  readonly baseUrl: string
  readonly #pathPrefix: string
  readonly #retries: number
  readonly #lease: PoolLease
  #closed = false

  constructor(baseUrl: string, opts: OllamaClientOptions = {}) {
    const url = normalizeBaseUrl(baseUrl)
    this.#pathPrefix = url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, '')
    this.baseUrl = url.origin + this.#pathPrefix
    this.#retries = opts.retries ?? DEFAULT_RETRIES
    this.#lease = acquirePool(
      url.origin,
      opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      opts.connections,
    )
  }

  /**
   * The keep-alive pool this client talks through, for callers that stream raw bytes to the same
   * Ollama (the routes' transparent proxy): one pool per upstream, whoever sends.
   */
  get dispatcher(): Dispatcher {
    return this.#lease.pool
  }

  version(o: CallOptions = {}): Promise<VersionResponse> {
    return this.#get(versionSchema, '/api/version', o)
  }

  /** Installed models (`GET /api/tags`). */
  list(o: CallOptions = {}): Promise<ListResponse> {
    return this.#get(listResponseSchema, '/api/tags', o)
  }

  /** Models loaded in memory, with how much of each sits on the GPU. */
  ps(o: CallOptions = {}): Promise<PsResponse> {
    return this.#get(psResponseSchema, '/api/ps', o)
  }

  show(model: string, o: ShowOptions = {}): Promise<ShowResponse> {
    const body = o.verbose === undefined ? { model } : { model, verbose: o.verbose }
    return this.json(showResponseSchema, {
      method: 'POST',
      path: '/api/show',
      body,
      model,
      signal: o.signal,
      idempotent: true,
    })
  }

  /**
   * Progress of a download, ending with `{status: 'success'}`. The request starts when iteration
   * does; a missing model in the registry throws OllamaError (from the stream's error line).
   */
  async *pull(model: string, o: PullOptions = {}): AsyncGenerator<PullProgress, void, undefined> {
    const body = {
      model,
      stream: true,
      ...(o.insecure === undefined ? {} : { insecure: o.insecure }),
    }
    yield* await this.#stream(pullStreamKind, {
      method: 'POST',
      path: '/api/pull',
      body,
      model,
      signal: o.signal,
      idempotent: false,
      stream: true,
    })
  }

  async delete(model: string, o: CallOptions = {}): Promise<void> {
    await this.empty({
      method: 'DELETE',
      path: '/api/delete',
      body: { model },
      model,
      signal: o.signal,
      idempotent: false,
    })
  }

  async copy(source: string, destination: string, o: CallOptions = {}): Promise<void> {
    await this.empty({
      method: 'POST',
      path: '/api/copy',
      body: { source, destination },
      model: source,
      signal: o.signal,
      idempotent: false,
    })
  }

  /** One reply, or with `stream: true` the chunks (resolves once the response has started). */
  chat(req: ChatRequest & { stream: true }, o?: CallOptions): Promise<OllamaStream<ChatResponse>>
  chat(req: ChatRequest & { stream?: false }, o?: CallOptions): Promise<ChatResponse>
  chat(req: ChatRequest, o?: CallOptions): Promise<ChatResponse | OllamaStream<ChatResponse>>
  chat(req: ChatRequest, o: CallOptions = {}): Promise<ChatResponse | OllamaStream<ChatResponse>> {
    const spec: RequestSpec = {
      method: 'POST',
      path: '/api/chat',
      body: { ...req, stream: req.stream === true },
      model: req.model,
      signal: o.signal,
      idempotent: false,
      stream: req.stream === true,
    }
    return req.stream === true
      ? this.#stream(chatStreamKind, spec)
      : this.json(chatResponseSchema, spec)
  }

  /** One completion, or with `stream: true` the chunks (resolves once the response has started). */
  generate(
    req: GenerateRequest & { stream: true },
    o?: CallOptions,
  ): Promise<OllamaStream<GenerateResponse>>
  generate(req: GenerateRequest & { stream?: false }, o?: CallOptions): Promise<GenerateResponse>
  generate(
    req: GenerateRequest,
    o?: CallOptions,
  ): Promise<GenerateResponse | OllamaStream<GenerateResponse>>
  generate(
    req: GenerateRequest,
    o: CallOptions = {},
  ): Promise<GenerateResponse | OllamaStream<GenerateResponse>> {
    const spec: RequestSpec = {
      method: 'POST',
      path: '/api/generate',
      body: { ...req, stream: req.stream === true },
      model: req.model,
      signal: o.signal,
      idempotent: false,
      stream: req.stream === true,
    }
    return req.stream === true
      ? this.#stream(generateStreamKind, spec)
      : this.json(generateResponseSchema, spec)
  }

  embed(req: EmbedRequest, o: CallOptions = {}): Promise<EmbedResponse> {
    return this.json(embedResponseSchema, {
      method: 'POST',
      path: '/api/embed',
      body: req,
      model: req.model,
      signal: o.signal,
      idempotent: false,
    })
  }

  /**
   * The key this server files a model under: two spellings of one model (`llama3.2` and
   * `llama3.2:latest`) share it. Another engine's client names models its own way.
   */
  modelKey(name: string): string {
    return normalizeModelName(name)
  }

  /**
   * Why this server has no route at `path` (`/api/embed`), for a 501 that says what to use
   * instead; undefined when it has one. Ollama has them all.
   */
  unsupportedRoute(_path: string): Problem | undefined {
    return undefined
  }

  /** Lets go of the shared pool; the last client of an origin destroys it. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#lease.release()
  }

  /** Sends one request and parses its JSON answer with `schema`; throws OllamaError otherwise. */
  protected async json<S extends z.ZodType>(schema: S, spec: RequestSpec): Promise<z.infer<S>> {
    const { response, site } = await this.request(spec)
    let text: string
    try {
      text = await response.body.text()
    } catch (error) {
      throw transportFailure(site, error, spec.signal)
    }
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      throw badResponseError(site, response.statusCode, `not JSON: ${text.slice(0, 200)}`)
    }
    const result = schema.safeParse(value)
    if (!result.success) {
      const issues = result.error.issues
        .slice(0, 3)
        .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
        .join('; ')
      throw badResponseError(site, response.statusCode, `unexpected shape (${issues})`)
    }
    return result.data
  }

  /** Sends one request and drops its answer; throws OllamaError on a non-2xx status. */
  protected async empty(spec: RequestSpec): Promise<void> {
    const { response, site } = await this.request(spec)
    try {
      await response.body.dump()
    } catch (error) {
      throw transportFailure(site, error, spec.signal)
    }
  }

  async #stream<T>(kind: StreamKind<T>, spec: RequestSpec): Promise<OllamaStream<T>> {
    const { response, site } = await this.request(spec)
    return new OllamaStream(response.body, site, response.statusCode, kind, spec.signal)
  }

  /**
   * Sends one request (retrying idempotent calls on connection errors) and returns the response
   * once it has started, with the site its errors name; throws OllamaError on a non-2xx status.
   */
  protected async request(
    spec: RequestSpec,
  ): Promise<{ response: Dispatcher.ResponseData; site: RequestSite }> {
    const site = this.#site(spec)
    return { response: await this.#send(spec, site), site }
  }

  /** A metadata GET: idempotent, so retried on connection errors. */
  #get<S extends z.ZodType>(schema: S, path: string, o: CallOptions): Promise<z.infer<S>> {
    return this.json(schema, { method: 'GET', path, signal: o.signal, idempotent: true })
  }

  /** Sends the request (retrying idempotent calls on connection errors); throws on non-2xx. */
  async #send(spec: RequestSpec, site: RequestSite): Promise<Dispatcher.ResponseData> {
    const { signal } = spec
    if (this.#closed) {
      throw connectionError(
        site,
        Object.assign(new Error('client closed'), { code: 'OLLAMA_CLIENT_CLOSED' }),
      )
    }
    if (signal?.aborted) throw abortReason(signal)
    const retries = spec.idempotent ? this.#retries : 0
    // Model calls wait as long as the model takes to load (minutes from a cold disk): no header or
    // body timeout, or a slow first byte would cancel the load (docs/decisions.md, "Cold model
    // loads send no byte for minutes").
    const timeout = spec.idempotent ? METADATA_TIMEOUT_MS : 0
    const body = spec.body === undefined ? null : JSON.stringify(spec.body)
    const headers: Record<string, string> = {
      accept: spec.accept ?? (spec.stream ? 'application/x-ndjson' : 'application/json'),
      'user-agent': USER_AGENT,
    }
    if (body !== null) headers['content-type'] = 'application/json'
    for (let attempt = 0; ; attempt++) {
      let response: Dispatcher.ResponseData
      try {
        response = await this.#lease.pool.request({
          method: spec.method,
          path: this.#pathPrefix + spec.path,
          headers,
          body,
          signal: signal ?? null,
          headersTimeout: timeout,
          bodyTimeout: timeout,
          idempotent: spec.idempotent,
        })
      } catch (error) {
        if (signal?.aborted) throw abortReason(signal)
        const code = errorCode(error)
        if (attempt < retries && code !== undefined && RETRYABLE_CODES.has(code)) {
          const delayMs = backoffMs(attempt)
          debug(
            '%s %s failed with %s; retry %d in %d ms',
            spec.method,
            site.path,
            code,
            attempt + 1,
            delayMs,
          )
          await sleep(delayMs, undefined, { signal: signal ?? undefined }).catch(() => {
            throw abortReason(signal!)
          })
          continue
        }
        throw connectionError(site, error)
      }
      debug('%s %s -> %d', spec.method, site.path, response.statusCode)
      if (response.statusCode < 400) return response
      let text = ''
      try {
        text = await response.body.text()
      } catch (error) {
        throw transportFailure(site, error, signal)
      }
      throw httpError(
        site,
        response.statusCode,
        headerValue(response.headers['content-type']),
        text,
      )
    }
  }

  #site(spec: RequestSpec): RequestSite {
    const site: RequestSite = { baseUrl: this.baseUrl, method: spec.method, path: spec.path }
    if (spec.model !== undefined) site.model = spec.model
    return site
  }
}

/** 100 ms, 200 ms, 400 ms … capped at 2 s, with jitter so restarted clients do not align. */
function backoffMs(attempt: number): number {
  const base = Math.min(2_000, 100 * 2 ** attempt)
  return Math.round(base * (0.75 + Math.random() * 0.5))
}

function transportFailure(
  site: RequestSite,
  error: unknown,
  signal: AbortSignal | undefined,
): unknown {
  if (signal?.aborted) return abortReason(signal)
  return error instanceof OllamaError ? error : connectionError(site, error)
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

/**
 * Accepts what users type for Ollama's address, like ollama-js's `formatHost`: 'localhost:11434',
 * ':11434', 'http://host' (port 80), 'host' (port 11434), with or without a path prefix.
 */
export function normalizeBaseUrl(input: string): URL {
  let text = input.trim()
  if (text.startsWith(':')) text = `127.0.0.1${text}`
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text)
  if (!hasScheme) text = `http://${text}`
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new Error(
      `"${input}" is not a URL Ollama can be reached at: set \`url\` in vite.config.ts to e.g. http://127.0.0.1:11434.`,
    )
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`"${input}" must be an http:// or https:// URL: fix \`url\` in vite.config.ts.`)
  }
  if (!hasScheme && url.port === '') url.port = DEFAULT_PORT
  url.search = ''
  url.hash = ''
  return url
}
