import { type ChatTiming, chatMetrics, type Finish } from '../chat/metrics.js'
import type { ChatPart } from '../chat/parts.js'
import { type ChatPayload, parseChatPayload, payloadMessages } from '../chat/payload.js'
import { ProblemError, toProblem } from '../problem.js'
import type { ChatResult, ChatSseEvents, ToolCallEvent } from '../protocol.js'
import { type HandlerConfig, modelKey } from './config.js'
import { type RuntimeEnv, readEnv } from './env.js'
import { readJsonRequest } from './http.js'
import { UpstreamError } from './providers/index.js'

// `POST /chat` in production: the same payload and the same framings as the dev server's route
// (our Server-Sent Events, or one JSON answer), answered by the provider the app routes to, with
// its key read on the server at request time.

/** Proxies close idle connections after a minute or so; a comment every 15 s keeps ours open. */
const HEARTBEAT_MS = 15_000

const SSE_HEADERS = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  // `no-transform` keeps compression middleware from holding events back, `X-Accel-Buffering`
  // does the same for nginx (docs/decisions.md, "Buffering proxies hold event streams back").
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
}

/** Answers one chat request. `started` is when the request reached the handler (`performance.now()`). */
export async function answerChat(
  config: HandlerConfig,
  request: Request,
  env: RuntimeEnv,
  started: number,
): Promise<Response> {
  const payload = parseChatPayload(await readJsonRequest(request, config.maxBodySize))
  const appModel = payload.model ?? config.defaultModel
  const model = servedModel(config, appModel)
  const key = providerKey(config, env)
  const abort = new AbortController()
  const onClientGone = () => abort.abort(request.signal.reason)
  request.signal.addEventListener('abort', onClientGone, { once: true })
  const body = await callProvider(config, key, turnOf(config, payload, model), abort.signal)
  const parts = capped(config.kind.parts(body), config.maxTokens, abort)
  const done = (finish: Finish | undefined, timing: ChatTiming) =>
    chatMetrics(appModel ?? model, finish && { ...finish, model: appModel ?? finish.model }, timing)
  if (wantsJson(request)) {
    try {
      return Response.json(await collect(parts, started, done))
    } finally {
      request.signal.removeEventListener('abort', onClientGone)
    }
  }
  return new Response(sseBody(parts, started, done, abort), { headers: SSE_HEADERS })
}

/** The provider's name for the app's model; a 400 for a model this server does not serve. */
function servedModel(config: HandlerConfig, appModel: string | undefined): string {
  if (!appModel) {
    throw new ProblemError({
      status: 400,
      message: 'No model: the request names no "model" and no defaultModel is set',
      hint: 'Send "model", or set defaultModel (or models) in the options passed to createOllamaHandler.',
    })
  }
  const target = config.served.get(modelKey(appModel))
  if (target) return target
  throw new ProblemError({
    status: 400,
    message: `Model "${appModel}" is not served here`,
    hint: `This server serves ${config.modelNames.map((m) => `"${m}"`).join(', ') || 'no model'}. Add it to models, or map it in providers.${config.providerName}.models.`,
  })
}

const warnedMissingKeys = new Set<string>()

/** The provider's key from the environment; a 503 that names no secret when it is unset. */
export function providerKey(config: HandlerConfig, env: RuntimeEnv): string | undefined {
  const name = config.provider.apiKeyEnv
  if (!name) return undefined
  const key = readEnv(name, env)
  if (key) {
    warnedMissingKeys.delete(name)
    return key
  }
  // One line per variable, not per request: a busy server must not bury the log.
  if (!warnedMissingKeys.has(name)) {
    warnedMissingKeys.add(name)
    config.log(
      `[vite-plugin-ollama] ${name} is not set on this server: chats routed to provider "${config.providerName}" answer 503 until it is (providers.${config.providerName}.apiKeyEnv).`,
    )
  }
  throw new ProblemError({
    status: 503,
    message: 'The chat provider is not configured on this server',
    hint: "The server's log says what to set.",
  })
}

function turnOf(config: HandlerConfig, payload: ChatPayload, model: string) {
  return {
    model,
    messages: payloadMessages(payload),
    maxTokens: config.maxTokens,
    ...(payload.options ? { options: payload.options } : {}),
    ...(payload.format !== undefined ? { format: payload.format } : {}),
    ...(payload.think !== undefined ? { think: payload.think } : {}),
    ...(payload.tools ? { tools: payload.tools } : {}),
  }
}

/** Headers for every provider request: JSON, the key as a Bearer token, the provider's own headers. */
export function providerHeaders(config: HandlerConfig, key: string | undefined): Headers {
  const headers = new Headers(config.provider.headers)
  if (key) headers.set('Authorization', `Bearer ${key}`)
  return headers
}

/** Sends the turn; the streamed body, or the error answer its status calls for. */
async function callProvider(
  config: HandlerConfig,
  key: string | undefined,
  turn: Parameters<HandlerConfig['kind']['chatRequest']>[0],
  signal: AbortSignal,
): Promise<ReadableStream<Uint8Array>> {
  const { path, body } = config.kind.chatRequest(turn)
  const headers = providerHeaders(config, key)
  headers.set('Content-Type', 'application/json')
  headers.set('Accept', 'application/x-ndjson, text/event-stream')
  let response: Response
  try {
    response = await fetch(`${config.provider.baseURL}${path}`, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
      signal,
    })
  } catch (err) {
    signal.throwIfAborted()
    config.log(
      `[vite-plugin-ollama] provider "${config.providerName}" at ${config.provider.baseURL} could not be reached: ${(err as Error).message}`,
    )
    throw new ProblemError({
      status: 502,
      message: 'The chat provider could not be reached',
      hint: "The server's log says which address failed.",
    })
  }
  if (response.ok && response.body) return response.body
  const text = await response.text().catch(() => '')
  throw upstreamProblem(config, response, config.kind.errorMessage(text))
}

/**
 * The provider's error as the browser may see it. The request's own mistakes (400, 404, 422:
 * "does not support tools") pass with their message; a refused key, whose message can quote part
 * of it, is logged on the server and answered 502 without details.
 */
function upstreamProblem(
  config: HandlerConfig,
  response: Response,
  message: string | undefined,
): ProblemError {
  const status = response.status
  const said = message ?? `${status} ${response.statusText}`
  if (status === 401 || status === 403) {
    config.log(
      `[vite-plugin-ollama] provider "${config.providerName}" refused the server's credentials (${status}): ${said}. Check ${config.provider.apiKeyEnv ?? 'its key'}.`,
    )
    return new ProblemError({
      status: 502,
      message: "The chat provider refused this server's credentials",
      hint: "The server's log says more.",
    })
  }
  if (status === 429) {
    const retry = response.headers.get('retry-after')
    return new ProblemError({
      status: 429,
      message: `The chat provider is rate-limiting this server: ${said}`,
      ...(retry ? { headers: { 'Retry-After': retry } } : {}),
    })
  }
  if (status === 400 || status === 404 || status === 422)
    return new ProblemError({ status, message: said })
  config.log(`[vite-plugin-ollama] provider "${config.providerName}" answered ${status}: ${said}`)
  return new ProblemError({ status: 502, message: `The chat provider failed (${status}): ${said}` })
}

/** Stops the stream at `maxTokens` pieces even when a provider ignores the limit it was sent. */
async function* capped(
  parts: AsyncIterable<ChatPart[]>,
  maxTokens: number,
  abort: AbortController,
): AsyncGenerator<ChatPart[]> {
  let count = 0
  for await (const batch of parts) {
    const kept: ChatPart[] = []
    for (const part of batch) {
      if (part.type === 'text' || part.type === 'reasoning') {
        if (count === maxTokens) {
          abort.abort(new Error('maxTokens reached'))
          kept.push({ type: 'finish', finish: { doneReason: 'length' } })
          yield kept
          return
        }
        count++
      }
      kept.push(part)
    }
    yield kept
  }
}

type Done = (finish: Finish | undefined, timing: ChatTiming) => ChatResult['metrics']

/** What the parts add up to, and when the first piece of answer came. */
class Turn {
  content = ''
  reasoning = ''
  toolCalls: ToolCallEvent[] = []
  finish: Finish | undefined
  firstTokenAt = 0
  chunks = 0

  add(part: ChatPart): void {
    if (part.type === 'finish') {
      this.finish = { ...this.finish, ...part.finish }
      return
    }
    if (!this.firstTokenAt) this.firstTokenAt = performance.now()
    if (part.type === 'text') {
      this.chunks++
      this.content += part.text
    } else if (part.type === 'reasoning') {
      this.chunks++
      this.reasoning += part.text
    } else this.toolCalls.push(part.call)
  }

  timing(started: number): ChatTiming {
    return {
      started,
      firstTokenAt: this.firstTokenAt,
      ended: performance.now(),
      chunks: this.chunks,
    }
  }
}

async function collect(
  parts: AsyncIterable<ChatPart[]>,
  started: number,
  done: Done,
): Promise<ChatResult> {
  const turn = new Turn()
  for await (const batch of parts) for (const part of batch) turn.add(part)
  if (!turn.finish) throw endedEarly()
  return {
    content: turn.content,
    ...(turn.reasoning ? { reasoning: turn.reasoning } : {}),
    ...(turn.toolCalls.length ? { toolCalls: turn.toolCalls } : {}),
    metrics: done(turn.finish, turn.timing(started)),
  }
}

function endedEarly(): UpstreamError {
  return new UpstreamError('The chat provider ended the answer before it was complete', 200)
}

/** Our Server-Sent Events from the parts, a batch per write; cancelling the body aborts the provider. */
function sseBody(
  parts: AsyncIterable<ChatPart[]>,
  started: number,
  done: Done,
  abort: AbortController,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder()
  const iterator = parts[Symbol.asyncIterator]()
  const turn = new Turn()
  let heartbeat: ReturnType<typeof setInterval> | undefined
  const event = <K extends keyof ChatSseEvents>(name: K, data: ChatSseEvents[K]) =>
    `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`
  return new ReadableStream<Uint8Array>({
    start(controller) {
      // An early comment gets the headers through any proxy before the first token.
      controller.enqueue(encoder.encode(': ok\n\n'))
      heartbeat = setInterval(() => {
        try {
          controller.enqueue(encoder.encode(': ping\n\n'))
        } catch {
          clearInterval(heartbeat)
        }
      }, HEARTBEAT_MS)
    },
    // Each call must enqueue or close: a pull that enqueues nothing is not called again, and
    // the reader would wait for the next heartbeat (a batch of only a finish part, say).
    async pull(controller) {
      let text = ''
      let end = false
      try {
        while (!text && !end) {
          const next = await iterator.next()
          if (next.done) {
            if (!turn.finish) throw endedEarly()
            text = event('done', { metrics: done(turn.finish, turn.timing(started)) })
            end = true
          } else {
            for (const part of next.value) {
              turn.add(part)
              // Serialised by hand: this runs once per token, and it is `{ content }` exactly.
              if (part.type === 'text')
                text += `event: token\ndata: {"content":${JSON.stringify(part.text)}}\n\n`
              else if (part.type === 'reasoning')
                text += `event: reasoning\ndata: {"content":${JSON.stringify(part.text)}}\n\n`
              else if (part.type === 'tool-call') text += event('tool-call', part.call)
            }
          }
        }
      } catch (err) {
        if (abort.signal.aborted && !turn.finish) return
        text += event('error', toProblem(err))
        end = true
      }
      if (text) controller.enqueue(encoder.encode(text))
      if (end) {
        clearInterval(heartbeat)
        controller.close()
      }
    },
    cancel(reason) {
      clearInterval(heartbeat)
      abort.abort(reason)
      void iterator.return?.(undefined)
    },
  })
}

/** JSON only when asked for without also accepting an event stream (as the dev route decides). */
function wantsJson(request: Request): boolean {
  const accept = request.headers.get('accept') ?? ''
  return accept.includes('application/json') && !accept.includes('text/event-stream')
}
