import type { IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { NetworkPolicy } from '../options.js'
import { ProblemError } from '../problem.js'
import { isLoopbackAddress } from './guards.js'

// What peers on other machines may do (docs/decisions.md, "The network policy"). Ollama has no
// authentication and the plugin publishes it on 127.0.0.1 only; `vite --host` must not undo that
// by handing the proxy to the whole network. The peer is judged by the socket's remote address,
// which no header can fake.

/**
 * The routes that change which models exist, start or stop their downloads (`/pull`: POST and
 * DELETE), or restart the engine, as paths under the route base, for every method: an entry
 * ending in "/" covers everything below it.
 */
export const MANAGEMENT_ROUTES = [
  '/api/pull',
  '/api/delete',
  '/api/create',
  '/api/copy',
  '/api/push',
  '/api/blobs/',
  '/pull',
  '/engine/',
] as const

export function isModelManagement(path: string): boolean {
  return MANAGEMENT_ROUTES.some((route) =>
    route.endsWith('/') ? path.startsWith(route) : path === route,
  )
}

/**
 * The 403 for a peer that is not on this machine when `network` does not let it use `path` (a
 * route path under the base, `/ws` for the WebSocket), else `null`.
 */
export function networkRefusal(
  req: IncomingMessage,
  path: string,
  network: NetworkPolicy,
): ProblemError | null {
  if (network === 'full' || isLoopbackAddress(req.socket.remoteAddress)) return null
  if (network === 'chat' && !isModelManagement(path)) return null
  const what = network === 'none' ? 'the Ollama routes are' : 'model management is'
  return new ProblemError({
    status: 403,
    message: `Refused for ${req.socket.remoteAddress ?? 'a peer'}: ${what} open to this machine only (network: '${network}')`,
    hint:
      network === 'none'
        ? "Set network: 'chat' in the ollama() options in vite.config.ts to let other devices chat."
        : "Manage models from this machine, or set network: 'full' in the ollama() options in vite.config.ts (anyone who reaches the port then controls Ollama).",
  })
}

/**
 * The start-up line for a dev server listening beyond loopback, else `null`: what peers on the
 * network get.
 */
export function exposureLine(
  address: AddressInfo | string | null,
  network: NetworkPolicy,
): string | null {
  if (!address || typeof address === 'string' || isLoopbackAddress(address.address)) return null
  switch (network) {
    case 'none':
      return "other devices on the network get none of the Ollama routes (network: 'none')"
    case 'chat':
      return "other devices on the network may chat, but not manage models (network: 'chat')"
    case 'full':
      return "other devices on the network may chat and manage models (network: 'full'): anyone who reaches this port controls Ollama"
  }
}
