// The HTTP edge of the simulator, as Ollama's gin router behaves (docs/decisions.md, "Ollama's HTTP
// edge", "Ollama's CORS and Host guard"): body parsing with Go's error texts, JSON/plain replies,
// CORS (gin-contrib/cors v1.7.2) and the DNS-rebinding Host guard.

import type { IncomingMessage, ServerResponse } from 'node:http'
import { hostname, networkInterfaces } from 'node:os'
import { jsonType } from './clock.js'
import { decodeGoJson } from './gojson.js'

/** An error answered as `{"error": message}` (native) or the OpenAI error object (`/v1`). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

const MAX_BODY_BYTES = 64 * 1024 * 1024

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'http: request body too large')
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}

export type JsonObject = Record<string, unknown>

/**
 * Parses a request body as gin's ShouldBindJSON does: an empty body is `missing request body`,
 * bad JSON gets Go's encoding/json wording, and the top level must be an object.
 */
export function parseJsonBody(text: string, struct: string): JsonObject {
  let value: unknown
  try {
    value = decodeGoJson(text)
  } catch (error) {
    const message = (error as Error).message
    throw new HttpError(400, message === 'EOF' ? 'missing request body' : message)
  }
  if (value === null) return {}
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new HttpError(
      400,
      `json: cannot unmarshal ${jsonType(value)} into Go value of type api.${struct}`,
    )
  }
  return value as JsonObject
}

/** Checks a field's JSON type as Go's decoder would, naming the struct field on mismatch. */
export function expectType(
  body: JsonObject,
  field: string,
  want: 'string' | 'bool' | 'number' | 'array' | 'object',
  struct: string,
  goType: string,
): void {
  const value = body[field]
  if (value === undefined || value === null) return
  const actual = jsonType(value)
  if (actual !== want) {
    throw new HttpError(
      400,
      `json: cannot unmarshal ${actual} into Go struct field ${struct}.${field} of type ${goType}`,
    )
  }
}

const HTML_UNSAFE = /[<>&\u2028\u2029]/g
const GO_ESCAPES: Record<string, string> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
}

/** JSON as Go's json.Marshal writes it: `<`, `>` and `&` escaped as \u003c, \u003e, \u0026. */
export function goStringify(value: unknown): string {
  const text = JSON.stringify(value)
  return /[<>&\u2028\u2029]/.test(text)
    ? text.replace(HTML_UNSAFE, (ch) => GO_ESCAPES[ch] ?? ch)
    : text
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = goStringify(body)
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
  })
  res.end(text)
}

/** A native error before any byte was streamed: `{"error":"…"}`. */
export function sendError(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, { error: message })
}

export function sendText(res: ServerResponse, status: number, text: string, head = false): void {
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
  })
  res.end(head ? undefined : text)
}

/** 200 with an empty body and no content type (`/api/delete`, `/api/copy`). */
export function sendEmpty(res: ServerResponse, status = 200): void {
  res.writeHead(status, { 'Content-Length': 0 })
  res.end()
}

/** gin's 403 for CORS and Host-guard refusals: empty body. */
export function sendForbidden(res: ServerResponse): void {
  res.writeHead(403, { 'Content-Length': 0 })
  res.end()
}

const LOCAL_HOSTS = ['localhost', '127.0.0.1', '0.0.0.0']
const APP_ORIGINS = ['app://*', 'file://*', 'tauri://*', 'vscode-webview://*', 'vscode-file://*']

/** Ollama's default CORS allow-list plus OLLAMA_ORIGINS entries (envconfig.AllowedOrigins). */
export function allowedOrigins(extra: string[] = []): string[] {
  const origins = [...extra]
  for (const host of LOCAL_HOSTS) {
    origins.push(`http://${host}`, `https://${host}`, `http://${host}:*`, `https://${host}:*`)
  }
  return [...origins, ...APP_ORIGINS]
}

const ALLOW_HEADERS = [
  'Authorization',
  'Content-Type',
  'User-Agent',
  'Accept',
  'X-Requested-With',
  'Openai-Beta',
  'X-Stainless-Arch',
  'X-Stainless-Async',
  'X-Stainless-Custom-Poll-Interval',
  'X-Stainless-Helper-Method',
  'X-Stainless-Lang',
  'X-Stainless-Os',
  'X-Stainless-Package-Version',
  'X-Stainless-Poll-Helper',
  'X-Stainless-Retry-Count',
  'X-Stainless-Runtime',
  'X-Stainless-Runtime-Version',
  'X-Stainless-Timeout',
].join(',')

function originAllowed(origin: string, origins: string[]): boolean {
  for (const rule of origins) {
    const star = rule.indexOf('*')
    if (star < 0) {
      if (rule === origin) return true
      continue
    }
    const prefix = rule.slice(0, star)
    const suffix = rule.slice(star + 1)
    if (origin.length >= prefix.length + suffix.length) {
      if (origin.startsWith(prefix) && origin.endsWith(suffix)) return true
    }
  }
  return false
}

/**
 * CORS as gin-contrib/cors v1.7.2 does it. Returns true when the request was answered here
 * (a 403 for a refused origin, or the 204 of a preflight).
 */
export function applyCors(req: IncomingMessage, res: ServerResponse, origins: string[]): boolean {
  const origin = req.headers.origin
  if (!origin) return false
  const host = req.headers.host ?? ''
  if (origin === `http://${host}` || origin === `https://${host}`) return false
  const allowAll = origins.includes('*')
  if (!allowAll && !originAllowed(origin, origins)) {
    sendForbidden(res)
    return true
  }
  if (req.method === 'OPTIONS') {
    res.setHeader('Access-Control-Allow-Methods', 'GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS')
    res.setHeader('Access-Control-Allow-Headers', ALLOW_HEADERS)
    res.setHeader('Access-Control-Max-Age', '43200')
    res.setHeader('Vary', [
      'Origin',
      'Access-Control-Request-Method',
      'Access-Control-Request-Headers',
    ])
  } else {
    res.setHeader('Vary', 'Origin')
  }
  res.setHeader('Access-Control-Allow-Origin', allowAll ? '*' : origin)
  if (req.method === 'OPTIONS') {
    res.writeHead(204)
    res.end()
    return true
  }
  return false
}

/**
 * Ollama's DNS-rebinding guard, on only when it listens on a loopback address: a Host that is not
 * local gets an empty 403 (the 403s users see behind tunnels, #3269).
 */
export function hostAllowed(req: IncomingMessage, boundToLoopback: boolean): boolean {
  if (!boundToLoopback) return true
  const raw = req.headers.host ?? ''
  const host = stripPort(raw).toLowerCase()
  if (isLocalAddress(host)) return true
  return (
    host === '' ||
    host === 'localhost' ||
    host === hostname().toLowerCase() ||
    host.endsWith('.localhost') ||
    host.endsWith('.local') ||
    host.endsWith('.internal')
  )
}

function stripPort(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']')
    return end > 0 ? host.slice(1, end) : host.slice(1)
  }
  const colon = host.lastIndexOf(':')
  // One colon: host:port. More: a bare IPv6 address without brackets.
  return colon >= 0 && host.indexOf(':') === colon ? host.slice(0, colon) : host
}

/** Loopback, private, unspecified, or an address of one of this machine's interfaces. */
export function isLocalAddress(host: string): boolean {
  if (/^127\.|^10\.|^192\.168\.|^172\.(1[6-9]|2\d|3[01])\.|^0\.0\.0\.0$/.test(host)) return true
  if (host === '::1' || host === '::' || /^f[cd]/i.test(host)) return true
  if (/^::ffff:/i.test(host)) return isLocalAddress(host.slice(7))
  for (const list of Object.values(networkInterfaces())) {
    for (const info of list ?? []) if (info.address.toLowerCase() === host) return true
  }
  return false
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host)
}
