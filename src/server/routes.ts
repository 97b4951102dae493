import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Connect } from 'vite'
import { ProblemError } from '../problem.js'
import { isHttpProblem, isJsonContentType, sendError, sendJson } from './body.js'
import { requireUpstream } from './chat.js'
import { ollamaChatMiddleware } from './chat-route.js'
import type { RouteContext } from './context.js'
import { ollamaEngineRestartMiddleware } from './engine-route.js'
import { assertOwnOrigin, isUnsafeMethod, methodNotAllowed } from './guards.js'
import { proxiedChatUpstream, waitsForModel } from './model-wait.js'
import { networkRefusal } from './network.js'
import { createOllamaProxy } from './proxy.js'
import { cancelPullRoute, createPullRoute } from './pull-route.js'

/**
 * The plugin's HTTP routes under `ctx.base`, as one named middleware: `GET /status`, the
 * transparent proxy `/api/*` and `/v1/*`, `POST /chat`, `GET /chat/:id/stream`, `POST /pull`,
 * `DELETE /pull?model=`, `POST /engine/restart`. Anything else under the base is a JSON 404; requests outside it go to `next()`. Mounted as a pre-middleware, so it sees the
 * URL with Vite's `base` still on and runs after Vite's host check and CORS (Vite >= 7; see
 * docs/decisions.md, "Where our middleware sits").
 */
export function ollamaRoutes(ctx: RouteContext): Connect.NextHandleFunction {
  const proxy = createOllamaProxy()
  const routes: OwnRoutes = { pull: createPullRoute() }

  return function ollamaRoutesMiddleware(req, res, next) {
    const url = req.url ?? '/'
    const base = ctx.base
    if (!url.startsWith(base)) return next()
    const rest = url.slice(base.length)
    // '/__ollamafoo' belongs to someone else.
    const first = rest.charCodeAt(0)
    if (rest !== '' && first !== 47 /* / */ && first !== 63 /* ? */) return next()
    const query = rest.indexOf('?')
    const path = query === -1 ? rest : rest.slice(0, query)
    try {
      guardCaller(ctx, req, path)
    } catch (err) {
      refuse(ctx, req, res, err)
      return
    }

    if (path.startsWith('/api/') || path.startsWith('/v1/')) {
      try {
        guardProxiedBody(req)
        if (waitsForModel(ctx, req, path)) {
          proxy.forwardWhenReady(
            req,
            res,
            (body, signal) => proxiedChatUpstream(ctx, path, body, signal),
            rest,
            ctx.options(),
          )
          return
        }
        const upstream = requireUpstream(ctx)
        // An engine without this route (Docker Model Runner has no /api/embed) gets a 501 that
        // says what to use instead, not its bare 404.
        const missing = upstream.unsupportedRoute(path)
        if (missing) throw new ProblemError({ status: 501, ...missing })
        proxy.forward(req, res, upstream, rest, ctx.options())
      } catch (err) {
        refuse(ctx, req, res, err)
      }
      return
    }
    const search = query === -1 ? '' : rest.slice(query + 1)
    handleOwnRoute(routes, ctx, req, res, path, search).catch((err) => refuse(ctx, req, res, err))
  }
}

/** `GET /chat/:id/stream`, the AI SDK's resume request. */
const RESUME_PATH = /^\/chat\/[^/]+\/stream$/

/** The plugin's own routes that keep state across requests, made once per server. */
interface OwnRoutes {
  pull: ReturnType<typeof createPullRoute>
}

async function handleOwnRoute(
  routes: OwnRoutes,
  ctx: RouteContext,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  query: string,
): Promise<void> {
  if (RESUME_PATH.test(path)) {
    // The AI SDK's resume (`useChat({ resume: true })` GETs it on mount): nothing to resume, as
    // the SDK reads a 204 (docs/decisions.md, "The AI SDK's UI message stream").
    allowMethods(req, ['GET'])
    res.statusCode = 204
    res.end()
    return
  }
  switch (path) {
    case '/status':
      allowMethods(req, ['GET', 'HEAD'])
      sendJson(res, 200, ctx.snapshot())
      return
    case '/chat':
      allowMethods(req, ['POST'])
      return ollamaChatMiddleware(ctx, req, res)
    case '/pull':
      allowMethods(req, ['POST', 'DELETE'])
      if (req.method === 'DELETE') return cancelPullRoute(ctx, query, res)
      return routes.pull(ctx, req, res)
    case '/engine/restart':
      allowMethods(req, ['POST'])
      return ollamaEngineRestartMiddleware(ctx, req, res)
    case '/ws':
      // The WebSocket lives on the server's 'upgrade' event (ws/socket.ts); a plain GET lands here.
      throw new ProblemError({
        status: 426,
        message: 'This route speaks WebSocket only',
        hint: 'Open it with new WebSocket(), or use connect() from virtual:ollama.',
        headers: { Upgrade: 'websocket' },
      })
    default:
      throw new ProblemError({
        status: 404,
        message: `No route ${req.method ?? 'GET'} ${ctx.base}${path}`,
        hint: `vite-plugin-ollama serves ${ctx.base}/status, /api/*, /v1/*, POST /chat, GET /chat/:id/stream, POST and DELETE /pull, POST /engine/restart and WS /ws.`,
      })
  }
}

/**
 * Every route, reads included, answers only the dev server's own pages (or `allowedOrigins`), and
 * a peer on another machine only what `network` allows.
 */
function guardCaller(ctx: RouteContext, req: IncomingMessage, path: string): void {
  const options = ctx.options()
  assertOwnOrigin(req, options.allowedOrigins)
  const refusal = networkRefusal(req, path, options.network)
  if (refusal) throw refusal
}

/**
 * The proxied routes pass Ollama's answers through untouched, but a request that changes
 * something must carry JSON: a `text/plain` POST is exactly the CSRF that Vite's CORS lets
 * through, since it needs no preflight.
 */
function guardProxiedBody(req: IncomingMessage): void {
  if (!isUnsafeMethod(req.method)) return
  const hasBody =
    (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') ||
    req.headers['transfer-encoding'] !== undefined
  if (hasBody && !isJsonContentType(req.headers['content-type'])) {
    throw new ProblemError({
      status: 415,
      message: `Unsupported Content-Type "${req.headers['content-type'] ?? '(none)'}": Ollama's API takes JSON`,
      hint: 'Send the header Content-Type: application/json.',
    })
  }
}

function allowMethods(req: IncomingMessage, allow: readonly string[]): void {
  if (!allow.includes(req.method ?? 'GET')) throw methodNotAllowed(req.method, allow)
}

function refuse(ctx: RouteContext, req: IncomingMessage, res: ServerResponse, err: unknown): void {
  if (!isHttpProblem(err)) {
    ctx.logger?.error(
      `[vite-plugin-ollama] ${req.method} ${req.url} failed: ${(err as Error)?.stack ?? err}`,
    )
  }
  // sendError closes the connection after a 408 or 413, whose unread rest must not be taken
  // for the next request.
  if (!req.complete && req.readableFlowing === null) req.resume()
  sendError(res, err)
}
