// How `virtual:ollama` in server code (loaders, actions, server routes) reaches the routes
// (docs/decisions.md, "virtual:ollama in server code"). It keeps the browser's base, so `chatUrl`
// and anything rendered with it match on both sides, and sends through one of these instead of
// resolving against a page. Web-standard only: the server build runs on any runtime.
import { inProcessBases, inProcessHandler } from '../production/in-process.js'
import { OllamaRouteError } from './http.js'

/**
 * In `vite`: the routes on the plugin's loopback port for server code (src/server/loopback.ts),
 * baked in when the module loaded.
 */
export function devServerFetch(
  origin: string,
): (url: string, init: RequestInit) => Promise<Response> {
  return (url, init) => fetch(new URL(url, origin), init)
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
