import { ProblemError } from '../problem.js'
import { providerHeaders, providerKey } from './chat.js'
import type { HandlerConfig } from './config.js'
import type { RuntimeEnv } from './env.js'

// Raw `/api/*` and `/v1/*` forwarded to the provider with the server's key, for apps that use the
// `ollama` or `openai` clients directly. Off unless `passthrough: true`: it lets a caller spend
// the key on any model and any route of the provider, so it belongs behind `authorize`.

/** Request headers that describe the hop to us, not the request to the provider. */
const HOP_HEADERS = [
  'host',
  'connection',
  'content-length',
  'cookie',
  'authorization',
  'origin',
  'referer',
]

export async function forwardRaw(
  config: HandlerConfig,
  request: Request,
  env: RuntimeEnv,
  path: string,
): Promise<Response> {
  const target = config.kind.passthroughPath(path)
  if (target === null) {
    throw new ProblemError({
      status: 404,
      message: `Provider "${config.providerName}" (${config.provider.type}) has no ${path.slice(0, 4)}* routes`,
      hint: 'An OpenAI-compatible provider serves /v1/* only.',
    })
  }
  const key = providerKey(config, env)
  const headers = providerHeaders(config, key)
  request.headers.forEach((value, header) => {
    if (!HOP_HEADERS.includes(header) && !headers.has(header)) headers.set(header, value)
  })
  const search = new URL(request.url).search
  const hasBody = request.method !== 'GET' && request.method !== 'HEAD'
  const upstream = await fetch(`${config.provider.baseURL}${target}${search}`, {
    method: request.method,
    headers,
    signal: request.signal,
    ...(hasBody ? { body: request.body, duplex: 'half' } : {}),
  } as RequestInit)
  const answer = new Headers(upstream.headers)
  for (const header of [
    'set-cookie',
    'content-encoding',
    'content-length',
    'transfer-encoding',
    'connection',
  ])
    answer.delete(header)
  return new Response(upstream.body, { status: upstream.status, headers: answer })
}
