import type { IncomingMessage } from 'node:http'
import { isIP } from 'node:net'
import { isHostAllowed } from 'host-validation-middleware'
import { foreignOriginReason as foreignOriginReasonOf } from '../origin.js'
import { ProblemError } from '../problem.js'

// Which pages may use the routes (docs/decisions.md, "Only the dev server's own pages").
// Vite's CORS default lets every loopback origin read answers, and its CORS never stops a request
// from running, so a page on another local port could chat, read the state and delete models.
// The routes therefore answer a browser only for a page of the dev server's own origin (exact
// scheme, host and port; `localhost`, `127.0.0.1` and `[::1]` are one host on the same port) or
// one the user listed in `allowedOrigins`. Non-browser clients (curl, the ollama and openai SDKs)
// send neither `Origin` nor `Sec-Fetch-Site` and pass; what they may do from another machine is
// the network policy's business (network.ts).

/** The origin the request was sent to: its socket's scheme and its `Host`. */
function ownOrigin(req: IncomingMessage): string | null {
  const host = req.headers.host ?? (req.headers[':authority'] as string | undefined)
  if (!host) return null
  const secure = Boolean((req.socket as { encrypted?: boolean }).encrypted)
  return `${secure ? 'https' : 'http'}://${host}`
}

/** Why the request comes from a page that may not use the routes, or `null` (origin.ts). */
export function foreignOriginReason(
  req: IncomingMessage,
  allowedOrigins: readonly string[],
): string | null {
  const site = req.headers['sec-fetch-site']
  return foreignOriginReasonOf(
    {
      origin: req.headers.origin,
      secFetchSite: typeof site === 'string' ? site : undefined,
      own: ownOrigin(req),
    },
    allowedOrigins,
  )
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

export { methodNotAllowed } from '../problem.js'
