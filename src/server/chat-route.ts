import type { IncomingMessage, ServerResponse } from 'node:http'
import { debuglog } from 'node:util'
import { parseChatPayload, payloadMessages } from '../chat/payload.js'
import { OllamaError } from '../ollama/errors.js'
import { ProblemError, toProblem } from '../problem.js'
import type { ChatSseEvents } from '../protocol.js'
import { isHttpProblem, readJsonBody, sendError, sendJson } from './body.js'
import { assertChatCanRun, type ChatTurn, resolveModel, runChat } from './chat.js'
import type { RouteContext } from './context.js'
import { openSse } from './sse.js'

const debug = debuglog('vite-plugin-ollama')

/** `POST /chat`: `{ messages | prompt, model?, options? }` → SSE, or JSON for `Accept: application/json`. */
export async function ollamaChatMiddleware(
  ctx: RouteContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const body = parseChatPayload(await readJsonBody(req, ctx.options()))
  const turn: ChatTurn = {
    model: resolveModel(ctx, body.model),
    messages: payloadMessages(body),
    options: body.options,
    format: body.format,
    think: body.think,
    tools: body.tools,
  }
  if (wantsJson(req)) return answerChatAsJson(ctx, res, turn)
  return streamChatAsSse(ctx, req, res, turn)
}

/** JSON only when asked for without also accepting an event stream. */
function wantsJson(req: IncomingMessage): boolean {
  const accept = req.headers.accept ?? ''
  return accept.includes('application/json') && !accept.includes('text/event-stream')
}

/**
 * `POST /chat` as SSE: `waiting` while the model pulls, `token` `{content}` per piece of text,
 * then `done` or `error`.
 */
export async function streamChatAsSse(
  ctx: RouteContext,
  req: IncomingMessage,
  res: ServerResponse,
  turn: ChatTurn,
): Promise<void> {
  assertChatCanRun(ctx, turn.model)
  const sse = openSse<ChatSseEvents>(req, res)
  try {
    const { metrics } = await runChat(
      ctx,
      turn,
      sse.signal,
      (text) => {
        // Serialised by hand: this runs once per token, and it is `{ content }` exactly.
        sse.send('token', `{"content":${JSON.stringify(text)}}`)
        return sse.backpressure()
      },
      (waiting) => sse.send('waiting', JSON.stringify(waiting satisfies ChatSseEvents['waiting'])),
    )
    sse.send('done', JSON.stringify({ metrics } satisfies ChatSseEvents['done']))
  } catch (err) {
    if (sse.signal.aborted) {
      debug('chat: client went away, upstream request aborted')
      return
    }
    sse.send('error', JSON.stringify(toProblem(err) satisfies ChatSseEvents['error']))
  }
  sse.end()
}

/** `POST /chat` with `Accept: application/json`: one answer `{ content, metrics }`. */
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
    const result = await runChat(ctx, turn, abort.signal, noop)
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
