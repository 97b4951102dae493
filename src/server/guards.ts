import type { IncomingMessage } from 'node:http'
import { isIP } from 'node:net'
import { ProblemError } from '../problem.js'

// Vite's CORS only stops a cross-site page from *reading* the answer: a `text/plain` POST from any
// site still runs the handler (docs/decisions.md, "CORS lets a text/plain POST through"). Our POST
// routes start chats and pull or delete models, so the request itself must be refused. Browsers
// always send `Origin` on a cross-origin POST and on WebSocket upgrades, and `Sec-Fetch-Site` in
// every modern engine; non-browser clients (curl, the ollama and openai SDKs) send neither and
// pass.

/** Methods whose requests change something and so need the cross-site guard. */
export function isUnsafeMethod(method: string | undefined): boolean {
  return method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS'
}

/** `localhost`, `*.localhost`, 127.0.0.0/8 and `::1`. */
export function isLoopbackHostname(hostname: string): boolean {
  const name = stripBrackets(hostname.toLowerCase())
  if (name === 'localhost' || name.endsWith('.localhost')) return true
  if (name === '::1') return true
  return isIP(name) === 4 && name.startsWith('127.')
}

function stripBrackets(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname
}

interface HostPort {
  hostname: string
  port: string
}

function parseHostHeader(host: string | undefined, secure: boolean): HostPort | null {
  if (!host) return null
  try {
    const url = new URL(`${secure ? 'https' : 'http'}://${host}`)
    return { hostname: url.hostname.toLowerCase(), port: url.port || (secure ? '443' : '80') }
  } catch {
    return null
  }
}

function parseOrigin(origin: string): HostPort | null {
  try {
    const url = new URL(origin)
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return null
    return {
      hostname: url.hostname.toLowerCase(),
      port: url.port || (url.protocol === 'https:' ? '443' : '80'),
    }
  } catch {
    return null
  }
}

/**
 * Why a request comes from another site, or `null` when it may proceed: no `Origin` (not a
 * browser, or a same-origin GET), an `Origin` naming the `Host` the request was sent to, or a
 * loopback origin talking to a loopback host (another local dev server, as Vite's own CORS
 * default allows).
 */
export function crossSiteReason(req: IncomingMessage): string | null {
  const fetchSite = req.headers['sec-fetch-site']
  if (fetchSite === 'cross-site') return 'Sec-Fetch-Site is cross-site'
  const origin = req.headers.origin
  if (origin === undefined) return null
  const from = parseOrigin(origin)
  if (!from) return `Origin "${origin}" is not a web page origin`
  const secure = Boolean((req.socket as { encrypted?: boolean }).encrypted)
  const to = parseHostHeader(req.headers.host ?? (req.headers[':authority'] as string), secure)
  if (to && from.hostname === to.hostname && from.port === to.port) return null
  if (to && isLoopbackHostname(from.hostname) && isLoopbackHostname(to.hostname)) return null
  return `Origin "${origin}" is another site than ${req.headers.host ?? 'this dev server'}`
}

/** Throws the 403 for a cross-site request. */
export function assertSameSite(req: IncomingMessage): void {
  const reason = crossSiteReason(req)
  if (reason) throw crossSiteError(reason)
}

export function crossSiteError(reason: string): ProblemError {
  return new ProblemError({
    status: 403,
    message: `Cross-site request refused: ${reason}`,
    hint: 'Call the vite-plugin-ollama routes from pages served by this dev server (same origin).',
  })
}

/**
 * Vite's `server.allowedHosts` rule, for the WebSocket upgrade that Vite's host check never sees:
 * localhost names and IP addresses always, entries by name, `.example.com` for a domain and its
 * subdomains, `true` for any host.
 */
export function isAllowedHost(
  host: string | undefined,
  allowed: readonly string[] | true = [],
): boolean {
  if (allowed === true) return true
  const parsed = parseHostHeader(host, false)
  if (!parsed) return false
  const name = parsed.hostname
  if (isLoopbackHostname(name) || isIP(stripBrackets(name)) !== 0) return true
  return allowed.some((entry) => {
    const want = entry.toLowerCase()
    if (want.startsWith('.')) return name === want.slice(1) || name.endsWith(want)
    return name === want
  })
}

/** The 405 for a route called with another method, naming the ones it takes. */
export function methodNotAllowed(
  method: string | undefined,
  allow: readonly string[],
): ProblemError {
  return new ProblemError({
    status: 405,
    message: `Method ${method ?? '(none)'} not allowed here: use ${allow.join(' or ')}`,
    headers: { Allow: allow.join(', ') },
  })
}
