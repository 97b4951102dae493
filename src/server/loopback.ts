import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Connect } from 'vite'
import { ProblemError } from '../problem.js'
import { sendError } from './body.js'
import { isAllowedHost } from './guards.js'

/**
 * The routes again, on a port of their own on 127.0.0.1, for server code's `virtual:ollama` in
 * `vite` (docs/decisions.md, "virtual:ollama in server code"). The port is known when the module
 * loads, so it is baked in: no page origin to learn first, and it works where the server code
 * runs in another thread or process than the plugin (Nuxt renders in Nitro's worker).
 */
export interface LoopbackRoutes {
  /** `http://127.0.0.1:PORT`, listening from the first call on. */
  origin(): Promise<string>
  close(): Promise<void>
}

export function loopbackRoutes(routes: Connect.NextHandleFunction): LoopbackRoutes {
  let server: http.Server | undefined
  let listening: Promise<string> | undefined
  return {
    origin() {
      listening ??= new Promise((resolve, reject) => {
        const own = http.createServer(function ollamaLoopbackRoutes(req, res) {
          // Vite's host check does not stand in front of this server: a page whose name resolves
          // to 127.0.0.1 (DNS rebinding) would pass the same-origin rule with its own Host.
          if (!isAllowedHost(req.headers.host, [])) {
            sendError(
              res,
              new ProblemError({
                status: 403,
                message: 'This port answers server code on this machine only',
              }),
            )
            return
          }
          routes(req as Connect.IncomingMessage, res, () =>
            sendError(
              res,
              new ProblemError({
                status: 404,
                message: `No route ${req.method ?? 'GET'} ${req.url ?? '/'}`,
                hint: "This port serves vite-plugin-ollama's routes to the app's server code; pages use the dev server's.",
              }),
            ),
          )
        })
        server = own
        own.once('error', reject)
        own.listen(0, '127.0.0.1', () =>
          resolve(`http://127.0.0.1:${(own.address() as AddressInfo).port}`),
        )
      })
      return listening
    },
    async close() {
      const own = server
      server = undefined
      listening = undefined
      if (!own) return
      own.closeAllConnections()
      await new Promise<void>((resolve) => own.close(() => resolve()))
    },
  }
}
