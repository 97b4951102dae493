// The HTTP routes from the browser: chat (JSON), chatParts, chatStream and pull (Server-Sent
// Events), status.

import type { ChatSseEvents } from '../protocol.js'
import { readSse } from './sse.js'
import type {
  ChatInput,
  ChatOptions,
  ChatPart,
  ChatPartsOptions,
  ChatResult,
  ChatStreamOptions,
  ClientConfig,
  PullProgress,
  StateSnapshot,
} from './types.js'

/** A failed route call: the route's status (0 when the dev server could not be reached) and hint. */
export class OllamaRouteError extends Error {
  override name = 'OllamaRouteError'
  constructor(
    message: string,
    readonly status: number,
    readonly hint?: string,
  ) {
    super(message)
  }
}

/**
 * A route's URL under `base`, made absolute against the page (the socket needs a full URL). With
 * no page (server code) a relative URL is left to `config.fetch`, which knows where the routes are.
 */
export function resolveUrl(config: ClientConfig, path: string): string {
  const base = config.base ?? '/__ollama'
  const full = base.replace(/\/+$/, '') + path
  if (/^[a-z][a-z0-9+.-]*:/i.test(full)) return full
  const here = (globalThis as { location?: { href: string } }).location?.href
  if (here) return new URL(full, here).href
  if (config.fetch && path !== '/ws') return full
  throw new Error(
    path === '/ws'
      ? `vite-plugin-ollama: connect() needs a page (base "${base}" is relative): in server code use chat() or chatStream()`
      : `vite-plugin-ollama: base "${base}" is relative and there is no page URL. In server code import virtual:ollama through the plugin (its server-side module knows where the routes are), or use createOllamaClient({ base }) with an absolute URL`,
  )
}

/** The configured fetch (server code's way to the routes), else the global one. */
function send(config: ClientConfig, url: string, init: RequestInit): Promise<Response> {
  return config.fetch ? config.fetch(url, init) : fetch(url, init)
}

function chatBody(config: ClientConfig, input: ChatInput, opts: ChatOptions): string {
  const model = opts.model ?? config.defaultModel
  return JSON.stringify({
    ...(typeof input === 'string' ? { prompt: input } : { messages: input }),
    ...(model ? { model } : {}),
    ...(opts.options ? { options: opts.options } : {}),
    ...(opts.system !== undefined ? { system: opts.system } : {}),
    ...(opts.format !== undefined ? { format: opts.format } : {}),
    ...(opts.think !== undefined ? { think: opts.think } : {}),
    ...(opts.tools ? { tools: opts.tools } : {}),
  })
}

async function routeError(response: Response): Promise<OllamaRouteError> {
  let message = `${response.status} ${response.statusText}`
  let hint: string | undefined
  try {
    const body = (await response.json()) as { error?: unknown; hint?: unknown }
    if (typeof body.error === 'string') message = body.error
    else if (typeof (body.error as { message?: unknown })?.message === 'string')
      message = (body.error as { message: string }).message
    if (typeof body.hint === 'string') hint = body.hint
  } catch {
    // Not JSON: the status line says enough.
  }
  return new OllamaRouteError(message, response.status, hint)
}

async function post(
  config: ClientConfig,
  path: string,
  body: string,
  accept: string,
  signal?: AbortSignal,
): Promise<Response> {
  let response: Response
  try {
    response = await send(config, resolveUrl(config, path), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: accept },
      body,
      ...(signal ? { signal } : {}),
    })
  } catch (err) {
    if ((err as Error).name === 'AbortError' || err instanceof OllamaRouteError) throw err
    throw new OllamaRouteError(
      `The ${config.production ? 'server' : 'dev server'} did not answer: ${(err as Error).message}`,
      0,
      config.production ? 'Is the network up?' : 'Is `vite` still running?',
    )
  }
  if (!response.ok) throw await routeError(response)
  return response
}

/** One complete reply: `{ content, reasoning?, toolCalls?, metrics }`. */
export async function chatWith(
  config: ClientConfig,
  input: ChatInput,
  opts: ChatOptions = {},
): Promise<ChatResult> {
  const response = await post(
    config,
    '/chat',
    chatBody(config, input, opts),
    'application/json',
    opts.signal,
  )
  return (await response.json()) as ChatResult
}

/**
 * The reply as it is generated, part by part: text, reasoning, tool calls, and `waiting` while the
 * model is not ready yet. Stop early with `break` or `signal`; both close the request, so the
 * model stops too.
 */
export async function* chatPartsWith(
  config: ClientConfig,
  input: ChatInput,
  opts: ChatPartsOptions = {},
): AsyncGenerator<ChatPart, void, undefined> {
  const response = await post(
    config,
    '/chat',
    chatBody(config, input, opts),
    'text/event-stream',
    opts.signal,
  )
  if (!response.body) throw new OllamaRouteError('The chat answer has no body', response.status)
  for await (const { event, data } of readSse(response.body)) {
    switch (event as keyof ChatSseEvents) {
      case 'token':
        yield { type: 'text', text: (JSON.parse(data) as ChatSseEvents['token']).content }
        break
      case 'reasoning':
        yield { type: 'reasoning', text: (JSON.parse(data) as ChatSseEvents['reasoning']).content }
        break
      case 'tool-call':
        yield { type: 'tool-call', ...(JSON.parse(data) as ChatSseEvents['tool-call']) }
        break
      case 'waiting':
        yield { type: 'waiting', ...(JSON.parse(data) as ChatSseEvents['waiting']) }
        break
      case 'done':
        opts.onDone?.((JSON.parse(data) as ChatSseEvents['done']).metrics)
        return
      case 'error': {
        const { message, hint } = JSON.parse(data) as ChatSseEvents['error']
        throw new OllamaRouteError(message, 200, hint)
      }
    }
  }
  throw new OllamaRouteError(
    'The chat stream ended without a done event',
    200,
    'The dev server may have restarted: retry.',
  )
}

/** The reply's text as it is generated (the other parts go to `onWaiting`, or nowhere). */
export async function* chatStreamWith(
  config: ClientConfig,
  input: ChatInput,
  opts: ChatStreamOptions = {},
): AsyncGenerator<string, void, undefined> {
  for await (const part of chatPartsWith(config, input, opts)) {
    if (part.type === 'text') yield part.text
    else if (part.type === 'waiting') {
      const { type: _, ...waiting } = part
      opts.onWaiting?.(waiting)
    }
  }
}

/** The plugin's state: phase, engine, GPU, models (what the overlay shows). */
export async function statusWith(
  config: ClientConfig,
  signal?: AbortSignal,
): Promise<StateSnapshot> {
  const response = await send(config, resolveUrl(config, '/status'), signal ? { signal } : {})
  if (!response.ok) throw await routeError(response)
  return (await response.json()) as StateSnapshot
}

/**
 * `{ model }` pull through the plugin (progress also shows in the overlay). Aborting `signal`
 * closes the request, and the server cancels a pull whose last reader left (docs/decisions.md,
 * "A pull lasts while someone wants it"): nothing more is needed here.
 */
export async function* pullWith(
  config: ClientConfig,
  model: string,
  opts: { signal?: AbortSignal } = {},
): AsyncGenerator<PullProgress, void, undefined> {
  const response = await post(
    config,
    '/pull',
    JSON.stringify({ model }),
    'text/event-stream',
    opts.signal,
  )
  if (!response.body) throw new OllamaRouteError('The pull answer has no body', response.status)
  for await (const { event, data } of readSse(response.body)) {
    if (event === 'progress') yield JSON.parse(data) as PullProgress
    else if (event === 'done') return
    else if (event === 'error') {
      const { message, hint } = JSON.parse(data) as { message: string; hint?: string }
      throw new OllamaRouteError(message, 200, hint)
    }
  }
  throw new OllamaRouteError('The pull stream ended without a done event', 200)
}
