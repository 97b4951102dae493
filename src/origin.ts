// Which pages may call the routes, decided on header values alone (docs/decisions.md, "Only the
// dev server's own pages"): the dev server's guards (server/guards.ts) and the production handler
// (production/guards.ts) ask the same function, so dev and production refuse the same pages.
// Web-standard only: the production handler runs on Workers, Deno and Bun.

/** The names a page on this machine may use for it: the same server on the same port. */
const LOOPBACK_ALIASES = new Set(['localhost', '127.0.0.1', '[::1]'])

export interface ParsedOrigin {
  /** Serialised as browsers send it, for the `allowedOrigins` comparison. */
  origin: string
  protocol: string
  hostname: string
  port: string
}

/** Scheme, host and port, the default port filled in; `null` for anything but an http(s) URL. */
export function parseOrigin(value: string): ParsedOrigin | null {
  try {
    const url = new URL(value)
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return null
    const port = url.port || (url.protocol === 'https:' ? '443' : '80')
    return { origin: url.origin, protocol: url.protocol, hostname: url.hostname, port }
  } catch {
    return null
  }
}

function sameOrigin(a: ParsedOrigin, b: ParsedOrigin): boolean {
  if (a.protocol !== b.protocol || a.port !== b.port) return false
  return (
    a.hostname === b.hostname ||
    (LOOPBACK_ALIASES.has(a.hostname) && LOOPBACK_ALIASES.has(b.hostname))
  )
}

/** What a request says about the page that sent it, and where it was sent. */
export interface CallerHeaders {
  origin: string | undefined
  secFetchSite: string | undefined
  /** The origin the request was sent to (its scheme and `Host`), `null` when unknown. */
  own: string | null
}

/**
 * Why the request comes from a page that may not use the routes, or `null` when it may proceed.
 * With `Origin` (every cross-origin request, every POST and every WebSocket upgrade a browser
 * sends) the origin alone decides. Without it, a browser still says `Sec-Fetch-Site` on a no-cors
 * request (`<script src>`, `<img src>`), and only `same-origin` and `none` (typed in the address
 * bar) are the user's own. Non-browser clients send neither and pass.
 */
export function foreignOriginReason(
  caller: CallerHeaders,
  allowedOrigins: readonly string[],
): string | null {
  const { origin, secFetchSite } = caller
  if (origin === undefined) {
    return secFetchSite === 'cross-site' || secFetchSite === 'same-site'
      ? `Sec-Fetch-Site is ${secFetchSite}`
      : null
  }
  const from = parseOrigin(origin)
  if (!from) return `Origin "${origin}" is not a web page origin`
  if (allowedOrigins.includes(from.origin)) return null
  const own = caller.own === null ? null : parseOrigin(caller.own)
  if (own && sameOrigin(from, own)) return null
  return `Origin "${origin}" is another site than ${caller.own ?? 'this server'}`
}
