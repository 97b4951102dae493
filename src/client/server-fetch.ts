// How `virtual:ollama` in server code (loaders, actions, server routes) reaches the routes
// (docs/decisions.md, "virtual:ollama in server code"). It keeps the browser's base, so `chatUrl`
// and anything rendered with it match on both sides, and sends through one of these instead of
// resolving against a page. Web-standard only: the server build runs on any runtime.
import { inProcessBases, inProcessHandler } from '../production/in-process.js'
import { OllamaRouteError } from './http.js'

/** Where the plugin, in this process, says the dev server is reached (src/host.ts sets it). */
function devOrigin(): string | undefined {
  const state = (globalThis as Record<symbol, { devOrigin?: string } | undefined>)[
    Symbol.for('vite-plugin-ollama')
  ]
  return state?.devOrigin
}

/**
 * In `vite`: the dev server's own origin, read at request time, because in middleware mode (Nuxt,
 * Express + Vite) it is learned from the first request the host hands to Vite.
 */
export async function devServerFetch(url: string, init: RequestInit): Promise<Response> {
  const origin = devOrigin()
  if (!origin) {
    throw new OllamaRouteError(
      `vite-plugin-ollama: the dev server's URL is not known yet, so server code cannot reach ${url}`,
      0,
      "In middleware mode it is learned from the first request the host passes to Vite's middlewares: call chat() while serving a request, after app.use(vite.middlewares).",
    )
  }
  return fetch(new URL(url, origin), init)
}

/** In the server build: the app's own `createOllamaHandler` in this process, with no network hop. */
export async function handlerFetch(url: string, init: RequestInit): Promise<Response> {
  // Any origin does: the handler routes by path, and a request with no Origin header is the
  // server's own (src/origin.ts).
  const request = new Request(new URL(url, 'http://in-process.invalid'), init)
  const serve = inProcessHandler(new URL(request.url).pathname)
  if (!serve) {
    const bases = inProcessBases()
    throw new OllamaRouteError(
      `vite-plugin-ollama: no handler in this process serves ${url}${bases.length ? ` (handlers serve ${bases.join(', ')})` : ''}`,
      0,
      "Server code's virtual:ollama calls the app's own handler in-process: create it with createOllamaHandler(options) in the server that imports this bundle, with the same base, or set productionBase to an absolute URL.",
    )
  }
  return serve(request)
}
