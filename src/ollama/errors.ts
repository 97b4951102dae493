import { STATUS_CODES } from 'node:http'
import { ProblemError } from '../problem.js'
import type { Problem } from '../protocol.js'

/** Where an error happened, so its message and hint can name the request and the server. */
export interface RequestSite {
  baseUrl: string
  method: string
  path: string
  /** The model the request named, for hints such as "pull it". */
  model?: string
}

export interface OllamaErrorInit {
  status: number
  ollamaMessage: string
  hint: string
  code?: string
  cause?: unknown
  message?: string
}

/**
 * Anything that went wrong talking to Ollama: an HTTP error (`status` >= 400), an `{"error":…}`
 * line inside a stream (`status` is the stream's HTTP status, `code` 'OLLAMA_STREAM_ERROR'), or a
 * connection problem (`status` 0, `code` from Node/undici such as 'ECONNREFUSED').
 */
export class OllamaError extends ProblemError {
  override name = 'OllamaError'
  /** HTTP status; 0 when no response arrived (connection errors). */
  declare readonly status: number
  /** Ollama's own words (`{"error": "…"}`), or the low-level error text for connection errors. */
  readonly ollamaMessage: string
  /** What the user should do about it, naming the option or command. */
  declare readonly hint: string
  /** e.g. 'ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'OLLAMA_STREAM_ERROR', 'OLLAMA_BAD_RESPONSE'. */
  readonly code?: string

  constructor(init: OllamaErrorInit) {
    super({
      message: init.message ?? init.ollamaMessage,
      hint: init.hint,
      status: init.status,
      cause: init.cause,
    })
    this.ollamaMessage = init.ollamaMessage
    if (init.code !== undefined) this.code = init.code
  }

  /** The shape the overlay and the state snapshot show. */
  toProblem(): Problem {
    return { message: this.message, hint: this.hint }
  }
}

export function isOllamaError(error: unknown): error is OllamaError {
  return error instanceof OllamaError
}

/** Builds the error for a non-2xx response from its status, content type and body text. */
export function httpError(
  site: RequestSite,
  status: number,
  contentType: string | undefined,
  bodyText: string,
): OllamaError {
  const ollamaMessage = errorBodyMessage(status, contentType, bodyText)
  return new OllamaError({
    status,
    ollamaMessage,
    hint: hintFor(ollamaMessage, status, site),
    message: `Ollama at ${site.baseUrl} answered ${status} to ${site.method} ${site.path}: ${ollamaMessage}`,
  })
}

/** An `{"error": "…"}` line after the stream began: Ollama cannot change the status any more. */
export function streamError(site: RequestSite, status: number, ollamaMessage: string): OllamaError {
  return new OllamaError({
    status,
    ollamaMessage,
    code: 'OLLAMA_STREAM_ERROR',
    hint: hintFor(ollamaMessage, 500, site),
    message: `Ollama reported an error during ${site.method} ${site.path}: ${ollamaMessage}`,
  })
}

/** A response that is not what Ollama sends (a proxy page, an unrelated server, a cut stream). */
export function badResponseError(site: RequestSite, status: number, detail: string): OllamaError {
  return new OllamaError({
    status,
    ollamaMessage: detail,
    code: 'OLLAMA_BAD_RESPONSE',
    hint:
      `The server at ${site.baseUrl} does not answer like Ollama. Check \`url\` in vite.config.ts, ` +
      'and that no proxy in between rewrites or buffers the NDJSON stream.',
    message: `Unexpected response to ${site.method} ${site.path} from ${site.baseUrl}: ${detail}`,
  })
}

/** Maps a Node/undici transport error (no usable response) onto status 0 with a hint. */
export function connectionError(site: RequestSite, cause: unknown): OllamaError {
  const code = errorCode(cause) ?? 'ECONNECTION'
  const low = cause instanceof Error ? cause.message : String(cause)
  return new OllamaError({
    status: 0,
    ollamaMessage: low,
    code,
    cause,
    hint: connectionHint(code, site.baseUrl),
    message: `Cannot reach Ollama at ${site.baseUrl} (${site.method} ${site.path}): ${low.includes(code) ? low : `${code} ${low}`}`,
  })
}

/** The error code of a transport error, looking through AggregateError (happy eyeballs). */
export function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string') return code
  if (error instanceof AggregateError) {
    for (const inner of error.errors) {
      const innerCode = errorCode(inner)
      if (innerCode) return innerCode
    }
  }
  const cause = (error as { cause?: unknown }).cause
  return cause === error ? undefined : errorCode(cause)
}

// Mirrors ollama-js `checkOk`: JSON `error` field, else the body text, else "Error <status>: <text>".
function errorBodyMessage(
  status: number,
  contentType: string | undefined,
  bodyText: string,
): string {
  if (contentType?.includes('application/json')) {
    try {
      const parsed: unknown = JSON.parse(bodyText)
      if (typeof parsed === 'object' && parsed !== null) {
        const error = (parsed as { error?: unknown }).error
        if (typeof error === 'string' && error) return error
        // The OpenAI-compatible endpoints nest it: {"error":{"message":…}}.
        if (typeof error === 'object' && error !== null) {
          const message = (error as { message?: unknown }).message
          if (typeof message === 'string' && message) return message
        }
      }
    } catch {
      // Not JSON after all: fall through to the raw text.
    }
  }
  const text = bodyText.trim()
  if (text) return text.length > 500 ? `${text.slice(0, 500)}…` : text
  return `Error ${status}: ${STATUS_CODES[status] ?? 'Unknown'}`
}

/** What to do about an Ollama error message; the status decides when the text says nothing. */
export function hintFor(message: string, status: number, site: RequestSite): string {
  const model = site.model ?? modelNamedIn(message) ?? '<model>'
  const lower = message.toLowerCase()
  if (lower.includes('pull model manifest') && lower.includes('file does not exist')) {
    return (
      `"${model}" is not in the Ollama registry: check the name and tag at https://ollama.com/library, ` +
      'then fix it in `models` in vite.config.ts.'
    )
  }
  if (/not found/.test(lower) && /model/.test(lower) && site.path === '/api/delete') {
    return `Model "${model}" is not installed, so there is nothing to delete: \`ollama list\` shows what is.`
  }
  if (/not found/.test(lower) && /model/.test(lower) && status !== 0) {
    return `Model "${model}" is not installed. Pull it: add it to \`models\` in vite.config.ts, or run \`ollama pull ${model}\`.`
  }
  if (lower.includes('no space left on device')) {
    return 'The disk holding the Ollama models is full: free space, or delete unused models with `ollama rm <model>`.'
  }
  if (lower.includes('max retries exceeded') || lower.includes('pull model manifest')) {
    return 'Ollama could not download from its registry: check the network (and proxy settings), then retry; a new pull resumes where this one stopped.'
  }
  if (lower.includes('does not support')) {
    return `"${model}" lacks that capability (${message}): pick a model that supports it, e.g. one tagged tools/vision/thinking on ollama.com/library.`
  }
  if (
    lower.includes('out of memory') ||
    lower.includes('failed to allocate') ||
    lower.includes('insufficient memory') ||
    lower.includes('requires more system memory')
  ) {
    return `"${model}" does not fit in memory: choose a smaller model or quantization, or lower \`num_ctx\` in options.`
  }
  if (lower.includes('runner has unexpectedly stopped')) {
    return 'The model runner crashed (often memory): check the Ollama server logs, then try a smaller model.'
  }
  if (lower.includes('server busy')) {
    return "Ollama's request queue is full: retry shortly, send fewer parallel requests, or raise OLLAMA_MAX_QUEUE."
  }
  if (lower.includes('invalid model name')) {
    return `"${model}" is not a valid model name: use name[:tag], e.g. llama3.2 or llama3.2:1b.`
  }
  if (lower.includes('request canceled')) {
    return 'The request was cancelled while the model was loading; send it again.'
  }
  if (lower.includes('may be incompatible with your version of ollama')) {
    return `Update Ollama (or \`docker.image\`), or re-pull the model with \`ollama pull ${model}\`.`
  }
  return hintForStatus(status, site)
}

function hintForStatus(status: number, site: RequestSite): string {
  if (status === 400)
    return `Ollama rejected the ${site.path} request as invalid: fix the fields it names.`
  if (status === 403) {
    return (
      `Ollama refused the request (its CORS origin or Host check). Call it through the Vite proxy, ` +
      `or allow the origin with OLLAMA_ORIGINS (docker.env in vite.config.ts).`
    )
  }
  if (status === 404) {
    return `${site.baseUrl} does not serve ${site.path}: check that \`url\` in vite.config.ts points at Ollama, and that Ollama is recent enough.`
  }
  if (status === 405)
    return `${site.baseUrl} does not accept ${site.method} ${site.path}: is \`url\` pointing at Ollama?`
  if (status >= 500)
    return 'Ollama failed on its side: check its server logs (or the container logs).'
  return 'Check the request and the Ollama server logs.'
}

function connectionHint(code: string, baseUrl: string): string {
  switch (code) {
    case 'ECONNREFUSED':
      return (
        `Ollama is not running at ${baseUrl}: start it with \`ollama serve\`, let the plugin start one ` +
        "(engine: 'auto'), or fix `url` in vite.config.ts."
      )
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `The host in ${baseUrl} does not resolve: fix \`url\` in vite.config.ts.`
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `Nothing answered at ${baseUrl} in time: check \`url\` in vite.config.ts and any firewall in between.`
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return `Ollama at ${baseUrl} accepted the connection but stopped answering: check its logs, or restart it.`
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return `Ollama at ${baseUrl} closed the connection: it may have crashed or restarted; check its logs.`
    case 'OLLAMA_CLIENT_CLOSED':
      return 'This OllamaClient was closed: create a new one.'
    default:
      return `Could not talk to Ollama at ${baseUrl}: check that it runs and that \`url\` in vite.config.ts is right.`
  }
}

// "model 'llama3.2:latest' not found" / 'model "x" not found, try pulling it first'
function modelNamedIn(message: string): string | undefined {
  const match = /model ['"]([^'"]+)['"]/.exec(message)
  return match?.[1]
}
