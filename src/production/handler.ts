import { foreignOriginReason } from '../origin.js'
import { methodNotAllowed, ProblemError } from '../problem.js'
import type { StateSnapshot } from '../protocol.js'
import { answerChat } from './chat.js'
import { type HandlerConfig, type HandlerOptions, resolveHandlerConfig } from './config.js'
import type { RuntimeEnv } from './env.js'
import { problemResponse } from './http.js'
import { registerInProcess } from './in-process.js'
import { forwardRaw } from './passthrough.js'

// `createOllamaHandler(options)`: the routes of `virtual:ollama` as one Web-standard fetch handler
// (docs/decisions.md, "One handler, many hosts"), for `vite preview`, Vitest runs and the app's
// own server on Node, Workers, Deno, Bun and serverless functions. Only Request, Response,
// ReadableStream, AbortSignal and fetch: no Node built-in and no dependency on its path.

/** A fetch handler that knows where its routes are (`toNodeHandler` passes other paths on). */
export type OllamaHandler = ((request: Request, env?: RuntimeEnv) => Promise<Response>) & {
  /** The path prefix it serves, e.g. `'/__ollama'`. */
  readonly base: string
  /** The provider that answers, by name and type (never its key). */
  readonly provider: { name: string; type: string }
}

const CORS_METHODS = 'GET, HEAD, POST'

/**
 * The production routes under the base: `POST /chat` (our SSE, or JSON), `GET /status`, and
 * `GET /chat/:id/stream` (the AI SDK's resume: nothing to resume). Raw `/api/*` and `/v1/*` only
 * with `passthrough: true`. Pages of other origins are refused as in dev, `authorize` runs first,
 * and the provider's request is aborted when the client goes away.
 */
export function createOllamaHandler(options: HandlerOptions = {}): OllamaHandler {
  const config = resolveHandlerConfig(options)
  /** `inProcess`: the app's own server code calling through `virtual:ollama` (in-process.ts). */
  const serve = async (
    request: Request,
    env: RuntimeEnv | undefined,
    inProcess: boolean,
  ): Promise<Response> => {
    const started = performance.now()
    const url = new URL(request.url)
    const cors = corsHeaders(config, request)
    try {
      const path = routePath(config, url.pathname)
      if (path === null) {
        throw new ProblemError({
          status: 404,
          message: `No route ${request.method} ${url.pathname}`,
        })
      }
      const refusal = foreignOriginReason(
        {
          origin: request.headers.get('origin') ?? undefined,
          secFetchSite: request.headers.get('sec-fetch-site') ?? undefined,
          own: url.origin,
        },
        config.allowedOrigins,
      )
      if (refusal) {
        throw new ProblemError({
          status: 403,
          message: `Cross-origin request refused: ${refusal}`,
          hint: "Call these routes from the app's own pages, or add the page's origin to allowedOrigins.",
        })
      }
      if (request.method === 'OPTIONS' && cors)
        return new Response(null, { status: 204, headers: cors })
      // `authorize` judges the browser's requests; the server's own code needs no sign-in.
      const denied = inProcess ? null : await authorized(config, request, env)
      if (denied) return withHeaders(denied, cors)
      return withHeaders(await route(config, request, env, path, started), cors)
    } catch (err) {
      if (!(err instanceof ProblemError) || err.status === undefined)
        config.log(
          `[vite-plugin-ollama] ${request.method} ${url.pathname} failed: ${(err as Error)?.stack ?? err}`,
        )
      return problemResponse(err, cors)
    }
  }
  const handler = (request: Request, env?: RuntimeEnv) => serve(request, env, false)
  registerInProcess(config.base, (request) => serve(request, undefined, true))
  return Object.assign(handler, {
    base: config.base,
    provider: { name: config.providerName, type: config.provider.type },
  })
}

async function route(
  config: HandlerConfig,
  request: Request,
  env: RuntimeEnv,
  path: string,
  started: number,
): Promise<Response> {
  if (path.startsWith('/api/') || path.startsWith('/v1/')) {
    if (!config.passthrough) {
      throw new ProblemError({
        status: 404,
        message: `Raw ${path.slice(0, 4)}* is not served in production`,
        hint: "Use POST /chat (chat() and chatStream() in virtual:ollama). To forward raw requests with the server's key, set passthrough: true and guard it with authorize.",
      })
    }
    return forwardRaw(config, request, env, path)
  }
  if (path === '/chat') {
    allow(request, ['POST'])
    return answerChat(config, request, env, started)
  }
  if (path === '/status') {
    allow(request, ['GET', 'HEAD'])
    return Response.json(snapshot(config))
  }
  if (/^\/chat\/[^/]+\/stream$/.test(path)) {
    allow(request, ['GET'])
    return new Response(null, { status: 204 })
  }
  if (path === '/pull' || path === '/ws') {
    throw new ProblemError({
      status: 501,
      message:
        path === '/pull'
          ? 'Pulling models is a development feature: in production the provider serves them'
          : 'WebSocket chat sessions (connect()) are served by the dev server only',
      hint:
        path === '/pull'
          ? 'Call pull() only in development (import.meta.env.DEV).'
          : 'Use chatStream() or chat() with the history in messages; they work in production too.',
    })
  }
  throw new ProblemError({
    status: 404,
    message: `No route ${request.method} ${config.base}${path}`,
    hint: `In production ${config.base} serves POST /chat and GET /status.`,
  })
}

/** The state as `status()` reads it: the provider's kind and the models served; never a key or a URL. */
function snapshot(config: HandlerConfig): StateSnapshot {
  return {
    phase: 'ready',
    engine: null,
    gpu: null,
    models: config.modelNames.map((name) => ({ name, status: 'present' as const })),
    ...(config.defaultModel ? { defaultModel: config.defaultModel } : {}),
    provider: { name: config.providerName, type: config.provider.type },
  }
}

/** The path under the base (`''` for the base itself), or null when the request is not ours. */
function routePath(config: HandlerConfig, pathname: string): string | null {
  if (!pathname.startsWith(config.base)) return null
  const rest = pathname.slice(config.base.length)
  return rest === '' || rest.startsWith('/') ? rest : null
}

async function authorized(
  config: HandlerConfig,
  request: Request,
  env: RuntimeEnv,
): Promise<Response | null> {
  if (!config.authorize) return null
  const verdict = await config.authorize(request, env)
  if (verdict instanceof Response) return verdict
  if (verdict === false) {
    return problemResponse(
      new ProblemError({ status: 401, message: 'Not authorized', hint: 'Sign in, then retry.' }),
    )
  }
  return null
}

/** CORS for the origins in `allowedOrigins` only: the app's own pages need none. */
function corsHeaders(config: HandlerConfig, request: Request): Record<string, string> | undefined {
  const origin = request.headers.get('origin')
  if (!origin || !config.allowedOrigins.includes(origin)) return undefined
  return {
    'Access-Control-Allow-Origin': origin,
    'Access-Control-Allow-Methods': CORS_METHODS,
    'Access-Control-Allow-Headers':
      request.headers.get('access-control-request-headers') ?? 'content-type',
    'Access-Control-Max-Age': '600',
    Vary: 'Origin',
  }
}

function withHeaders(response: Response, headers: Record<string, string> | undefined): Response {
  if (!headers) return response
  try {
    for (const [name, value] of Object.entries(headers)) response.headers.set(name, value)
    return response
  } catch {
    // A Response from fetch() (the passthrough) has immutable headers.
    const copy = new Response(response.body, response)
    for (const [name, value] of Object.entries(headers)) copy.headers.set(name, value)
    return copy
  }
}

function allow(request: Request, methods: readonly string[]): void {
  if (!methods.includes(request.method)) throw methodNotAllowed(request.method, methods)
}
