import type { IncomingMessage, Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Connect, ViteDevServer } from 'vite'
import type { ResolvedOptions } from './options.js'
import type { RouteContext } from './server/context.js'
import { attachChatSocket } from './server/ws/socket.js'
import { processState } from './singleton.js'

// The HTTP server the routes are reached through (docs/decisions.md, "Middleware-mode hosts").
// Vite's own in `vite`; in middleware mode (Nuxt, Astro, Storybook, Express + Vite) the host's,
// which Vite is never told about: the chat WebSocket and the URL in the terminal are learned
// from the first request the host hands to Vite's middlewares. (Server code does not need it: it
// reaches the routes on their own loopback port, src/server/loopback.ts.)

/** Why the plugin does nothing in this server, with the option that changes it; `null` to run. */
export function middlewareModeDecline(
  server: ViteDevServer,
  options: ResolvedOptions,
): string | null {
  if (!server.config.server.middlewareMode || options.middlewareMode === true) return null
  if (options.middlewareMode === false) {
    return 'Vite runs in middleware mode and middlewareMode is false: no engine and no routes in this server. Remove middlewareMode: false from ollama() to run here.'
  }
  if (server.config.server.ws === false) {
    return "a Vite server in middleware mode without a WebSocket (server.ws: false) is a tool's own server: no engine and no routes in it. Set middlewareMode: true in ollama() to run there too."
  }
  return null
}

export interface HostBinding {
  /** Mounted before the routes: learns the host's server and URL from the first request. */
  middleware: Connect.NextHandleFunction
  /** The URL pages use, for the terminal; `undefined` until known. */
  pageOrigin(): string | undefined
  /** Detaches the chat WebSocket from the host's server. */
  close(): Promise<void>
}

/**
 * Binds the chat WebSocket and the dev server's URLs to the server that really serves the page:
 * Vite's `httpServer`; else a server the host handed Vite for its HMR socket (`server.ws.server`,
 * `server.hmr.server`); else the one the first request arrived on (`req.socket.server`).
 */
export function bindHost(server: ViteDevServer, ctx: RouteContext): HostBinding {
  const state = processState()
  let socket: { close(): Promise<void> } | undefined
  let bound: Server | undefined
  let closed = false
  let pageOrigin: string | undefined

  function attach(http: Server): void {
    if (bound || closed) return
    bound = http
    socket = attachChatSocket(http, ctx)
  }

  const own = server.httpServer as Server | null
  const given = hmrServerOf(server)
  if (own) {
    attach(own)
    const learn = () => {
      const local = server.resolvedUrls?.local[0]?.replace(/\/$/, '')
      const port = (own.address() as AddressInfo | null)?.port
      pageOrigin = local ?? (port ? `http://localhost:${port}` : undefined)
      if (pageOrigin) state.lastUrl = pageOrigin
    }
    if (own.listening) learn()
    else own.once('listening', learn)
  } else if (given) attach(given)

  return {
    middleware: function ollamaHostMiddleware(req, _res, next) {
      if (!own && !pageOrigin) {
        const http = (req.socket as { server?: Server }).server
        if (http && typeof http.on === 'function') attach(http)
        pageOrigin = requestOrigin(req)
        state.lastUrl = pageOrigin
      }
      next()
    },
    pageOrigin: () => pageOrigin,
    async close() {
      closed = true
      await socket?.close()
      socket = undefined
    },
  }
}

/** The server a host gave Vite for its HMR socket (Vite 8: `server.ws.server`; 7: `server.hmr.server`). */
function hmrServerOf(server: ViteDevServer): Server | undefined {
  const { ws, hmr } = server.config.server as {
    ws?: false | { server?: Server }
    hmr?: boolean | { server?: Server }
  }
  return (
    (ws ? ws.server : undefined) || (typeof hmr === 'object' ? hmr.server : undefined) || undefined
  )
}

/** The origin the page used (its `Host`), as the terminal should show it. */
function requestOrigin(req: IncomingMessage): string {
  const scheme = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http'
  return `${scheme}://${req.headers.host ?? 'localhost'}`
}
