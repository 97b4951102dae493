import type { IncomingMessage, ServerResponse } from 'node:http'
import { debuglog } from 'node:util'
import { type ChatFraming, createChatEventFraming } from '../chat/framing.js'
import { type ChatPayload, parseChatPayload, payloadMessages } from '../chat/payload.js'
import { isUiMessageBody, parseUiChatBody } from '../chat/ui-messages.js'
import { createUiStreamFraming } from '../chat/ui-stream.js'
import { OllamaError } from '../ollama/errors.js'
import { ProblemError, toProblem } from '../problem.js'
import { isHttpProblem, readJsonBody, sendError, sendJson } from './body.js'
import { assertChatCanRun, type ChatTurn, resolveModel, runChat } from './chat.js'
import type { RouteContext } from './context.js'
import { openSse } from './sse.js'

const debug = debuglog('vite-plugin-ollama')

/**
 * `POST /chat`: `{ messages | prompt, model?, options?, tools?, think?, format? }` → our SSE, or
 * JSON for `Accept: application/json`; a `useChat` body (UIMessages with `parts`) → the AI SDK's
 * UI message stream, with errors before it opens as plain text (the SDK shows the body as
 * `error.message`).
 */
export async function ollamaChatMiddleware(
  ctx: RouteContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const body = await readJsonBody(req, ctx.options())
  if (isUiMessageBody(body)) {
    try {
      const { payload, messageId } = parseUiChatBody(body)
      return await streamChat(ctx, req, res, turnOf(ctx, payload), createUiStreamFraming(messageId))
    } catch (err) {
      sendError(res, asHttpError(err), 'text')
      return
    }
  }
  const turn = turnOf(ctx, parseChatPayload(body))
  if (wantsJson(req)) return answerChatAsJson(ctx, res, turn)
  return streamChat(ctx, req, res, turn, createChatEventFraming())
}

function turnOf(ctx: RouteContext, body: ChatPayload): ChatTurn {
  return {
    model: resolveModel(ctx, body.model),
    messages: payloadMessages(body),
    options: body.options,
    format: body.format,
    think: body.think,
    tools: body.tools,
  }
}

/** JSON only when asked for without also accepting an event stream. */
function wantsJson(req: IncomingMessage): boolean {
  const accept = req.headers.accept ?? ''
  return accept.includes('application/json') && !accept.includes('text/event-stream')
}

/**
 * A turn as an event stream in `framing` (ours or the AI SDK's): what the framing opens with,
 * `waiting` while the model pulls, each part as it comes (held back while the client reads
 * slower), then `done` or `error`. A client that goes away aborts the request to Ollama.
 */
export async function streamChat(
  ctx: RouteContext,
  req: IncomingMessage,
  res: ServerResponse,
  turn: ChatTurn,
  framing: ChatFraming,
): Promise<void> {
  assertChatCanRun(ctx, turn.model)
  const sse = openSse(req, res, { headers: framing.headers })
  sse.write(framing.open())
  try {
    const { metrics } = await runChat(ctx, turn, sse.signal, {
      part(part) {
        sse.write(framing.part(part))
        return sse.backpressure()
      },
      waiting: (waiting) => sse.write(framing.waiting(waiting)),
    })
    sse.end(framing.done(metrics))
  } catch (err) {
    if (sse.signal.aborted) {
      debug('chat: client went away, upstream request aborted')
      return
    }
    sse.end(framing.error(toProblem(err)))
  }
}

/** `POST /chat` with `Accept: application/json`: one answer `{ content, reasoning?, toolCalls?, metrics }`. */
async function answerChatAsJson(
  ctx: RouteContext,
  res: ServerResponse,
  turn: ChatTurn,
): Promise<void> {
  const abort = new AbortController()
  res.on('close', () => {
    if (!res.writableFinished) abort.abort(new DOMException('The client went away', 'AbortError'))
  })
  try {
    assertChatCanRun(ctx, turn.model)
    const result = await runChat(ctx, turn, abort.signal, { part: noop })
    sendJson(res, 200, result)
  } catch (err) {
    if (abort.signal.aborted) return
    sendError(res, asHttpError(err))
  }
}

function noop(): void {}

/** Ollama's status when it answered with one, 502 when it could not be reached. */
function asHttpError(err: unknown): unknown {
  if (isHttpProblem(err) || !(err instanceof OllamaError)) return err
  return new ProblemError({ ...err.problem, status: 502 })
}
