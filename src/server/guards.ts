import type { IncomingMessage } from 'node:http'
import { isIP } from 'node:net'
import { isHostAllowed } from 'host-validation-middleware'
import { ProblemError } from '../problem.js'

// Which pages may use the routes (docs/decisions.md, "Only the dev server's own pages").
// Vite's CORS default lets every loopback origin read answers, and its CORS never stops a request
// from running, so a page on another local port could chat, read the state and delete models.
// The routes therefore answer a browser only for a page of the dev server's own origin (exact
// scheme, host and port; `localhost`, `127.0.0.1` and `[::1]` are one host on the same port) or
// one the user listed in `allowedOrigins`. Non-browser clients (curl, the ollama and openai SDKs)
// send neither `Origin` nor `Sec-Fetch-Site` and pass; what they may do from another machine is
// the network policy's business (network.ts).

/** The names a page on this machine may use for it: the same server on the same port. */
const LOOPBACK_ALIASES = new Set(['localhost', '127.0.0.1', '[::1]'])

interface Origin {
  /** Serialised as browsers send it, for the `allowedOrigins` comparison. */
  origin: string
  protocol: string
  hostname: string
  port: string
}

/** Scheme, host and port, the default port filled in; `null` for anything but an http(s) URL. */
function parseOrigin(value: string): Origin | null {
  try {
    const url = new URL(value)
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return null
    const port = url.port || (url.protocol === 'https:' ? '443' : '80')
    return { origin: url.origin, protocol: url.protocol, hostname: url.hostname, port }
  } catch {
    return null
  }
}

/** The origin the request was sent to: its socket's scheme and its `Host`. */
function ownOrigin(req: IncomingMessage): Origin | null {
  const host = req.headers.host ?? (req.headers[':authority'] as string | undefined)
  if (!host) return null
  const secure = Boolean((req.socket as { encrypted?: boolean }).encrypted)
  return parseOrigin(`${secure ? 'https' : 'http'}://${host}`)
}

function sameOrigin(a: Origin, b: Origin): boolean {
  if (a.protocol !== b.protocol || a.port !== b.port) return false
  return (
    a.hostname === b.hostname ||
    (LOOPBACK_ALIASES.has(a.hostname) && LOOPBACK_ALIASES.has(b.hostname))
  )
}

/**
 * Why the request comes from a page that may not use the routes, or `null` when it may proceed.
 * With `Origin` (every cross-origin request, every POST and every WebSocket upgrade a browser
 * sends) the origin alone decides. Without it, a browser still says `Sec-Fetch-Site` on a no-cors
 * request (`<script src>`, `<img src>`), and only `same-origin` and `none` (typed in the address
 * bar) are the user's own.
 */
export function foreignOriginReason(
  req: IncomingMessage,
  allowedOrigins: readonly string[],
): string | null {
  const origin = req.headers.origin
  if (origin === undefined) {
    const site = req.headers['sec-fetch-site']
    return site === 'cross-site' || site === 'same-site' ? `Sec-Fetch-Site is ${site}` : null
  }
  const from = parseOrigin(origin)
  if (!from) return `Origin "${origin}" is not a web page origin`
  if (allowedOrigins.includes(from.origin)) return null
  const own = ownOrigin(req)
  if (own && sameOrigin(from, own)) return null
  return `Origin "${origin}" is another site than ${own ? `${own.protocol}//${req.headers.host}` : 'this dev server'}`
}

/** Throws the 403 for a page of another origin. */
export function assertOwnOrigin(req: IncomingMessage, allowedOrigins: readonly string[]): void {
  const reason = foreignOriginReason(req, allowedOrigins)
  if (reason) throw foreignOriginError(reason)
}

export function foreignOriginError(reason: string): ProblemError {
  return new ProblemError({
    status: 403,
    message: `Cross-origin request refused: ${reason}`,
    hint: "Call the vite-plugin-ollama routes from pages this dev server serves, or add the page's origin to allowedOrigins in the ollama() options in vite.config.ts.",
  })
}

/**
 * Vite's own host check (the DNS-rebinding guard), for the WebSocket upgrade that its middleware
 * never sees: the same function from the same package Vite's HMR socket calls, so `127.1` or
 * `2130706433` is refused here exactly as Vite refuses it over HTTP.
 */
export function isAllowedHost(
  host: string | undefined,
  allowed: readonly string[] | true,
): boolean {
  return allowed === true || isHostAllowed(host, allowed)
}

/** Whether a peer address is this machine: 127.0.0.0/8 or `::1`, IPv4-mapped or not. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false
  const ip = address.startsWith('::ffff:') ? address.slice(7) : address
  if (ip === '::1') return true
  return isIP(ip) === 4 && ip.startsWith('127.')
}

/** Methods whose requests change something. */
export function isUnsafeMethod(method: string | undefined): boolean {
  return method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS'
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
