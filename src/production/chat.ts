import { type ChatFraming, createChatEventFraming } from '../chat/framing.js'
import { type ChatTiming, chatMetrics, type Finish } from '../chat/metrics.js'
import type { ChatPart } from '../chat/parts.js'
import { type ChatPayload, parseChatPayload, payloadMessages } from '../chat/payload.js'
import { TurnSummary } from '../chat/turn.js'
import { isUiMessageBody, parseUiChatBody } from '../chat/ui-messages.js'
import { createUiStreamFraming } from '../chat/ui-stream.js'
import { ProblemError, toProblem } from '../problem.js'
import type { ChatResult } from '../protocol.js'
import { type HandlerConfig, modelKey } from './config.js'
import { type RuntimeEnv, readEnv } from './env.js'
import { problemTextResponse, readJsonRequest } from './http.js'
import { UpstreamError } from './providers/index.js'

// `POST /chat` in production: the same payload and the same framings as the dev server's route
// (our Server-Sent Events, the AI SDK's UI message stream for a `useChat` body, or one JSON
// answer; chat/framing.ts writes them for both), answered by the provider the app routes to,
// with its key read on the server at request time.

/** Proxies close idle connections after a minute or so; a comment every 15 s keeps ours open. */
const HEARTBEAT_MS = 15_000

/** Answers one chat request. `started` is when the request reached the handler (`performance.now()`). */
export async function answerChat(
  config: HandlerConfig,
  request: Request,
  env: RuntimeEnv,
  started: number,
): Promise<Response> {
  const body = await readJsonRequest(request, config.maxBodySize)
  if (!isUiMessageBody(body)) {
    const framing = wantsJson(request) ? null : createChatEventFraming()
    return answerPayload(config, request, env, started, parseChatPayload(body), framing)
  }
  // The AI SDK shows an error answer's body as `error.message`: plain text, not our JSON.
  try {
    const { payload, messageId } = parseUiChatBody(body)
    return await answerPayload(
      config,
      request,
      env,
      started,
      payload,
      createUiStreamFraming(messageId),
    )
  } catch (err) {
    if (!(err instanceof ProblemError) || err.status === undefined)
      config.log(`[vite-plugin-ollama] POST /chat failed: ${(err as Error)?.stack ?? err}`)
    return problemTextResponse(err)
  }
}

/** One checked payload, streamed in `framing`, or answered as JSON when there is none. */
async function answerPayload(
  config: HandlerConfig,
  request: Request,
  env: RuntimeEnv,
  started: number,
  payload: ChatPayload,
  framing: ChatFraming | null,
): Promise<Response> {
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
  if (!framing) {
    try {
      return Response.json(await collect(parts, started, done))
    } finally {
      request.signal.removeEventListener('abort', onClientGone)
    }
  }
  return new Response(streamBody(parts, started, done, abort, framing), {
    headers: framing.headers,
  })
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

async function collect(
  parts: AsyncIterable<ChatPart[]>,
  started: number,
  done: Done,
): Promise<ChatResult> {
  const turn = new TurnSummary()
  for await (const batch of parts) for (const part of batch) turn.add(part)
  if (!turn.finish) throw endedEarly()
  return turn.result(done(turn.finish, turn.timing(started)))
}

function endedEarly(): UpstreamError {
  return new UpstreamError('The chat provider ended the answer before it was complete', 200)
}

/**
 * The parts as an event stream in `framing` (ours or the AI SDK's), a batch per write; cancelling
 * the body aborts the provider.
 */
function streamBody(
  parts: AsyncIterable<ChatPart[]>,
  started: number,
  done: Done,
  abort: AbortController,
  framing: ChatFraming,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder()
  const iterator = parts[Symbol.asyncIterator]()
  const turn = new TurnSummary()
  let heartbeat: ReturnType<typeof setInterval> | undefined
  return new ReadableStream<Uint8Array>({
    start(controller) {
      // An early comment gets the headers through any proxy before the first token.
      controller.enqueue(encoder.encode(`: ok\n\n${framing.open()}`))
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
            text = framing.done(done(turn.finish, turn.timing(started)))
            end = true
          } else {
            for (const part of next.value) {
              turn.add(part)
              text += framing.part(part)
            }
          }
        }
      } catch (err) {
        if (abort.signal.aborted && !turn.finish) return
        text += framing.error(toProblem(err))
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
