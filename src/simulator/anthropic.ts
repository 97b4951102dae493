// POST /v1/messages, the Anthropic Messages API as Ollama serves it since v0.14.0
// (docs/simulator.md, "/v1/responses and /v1/messages"; Ollama's anthropic/anthropic.go and
// middleware/anthropic.go). The request becomes a native chat (anthropic-request.ts); the reply
// is one message, or the event sequence message_start, content blocks (thinking, text, tool_use)
// each with start/delta/stop, message_delta, message_stop. Errors use Anthropic's shape.

import { randomBytes } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { estimateInputTokens, nativeFromMessages } from './anthropic-request.js'
import type { SimContext } from './context.js'
import { HttpError, type JsonObject, parseJsonBody, readBody, sendJson } from './http.js'
import { type ChatSink, runNativeChat } from './native-chat.js'
import { EventWriter, toolCallsOf } from './sse.js'

/** Anthropic's error `type` by HTTP status (anthropic.go NewError). */
const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  429: 'rate_limit_error',
  503: 'overloaded_error',
  529: 'overloaded_error',
}

/** `{"type":"error","error":{"type","message"},"request_id":"req_…"}`. */
export function sendAnthropicError(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, {
    type: 'error',
    error: { type: ERROR_TYPES[status] ?? 'api_error', message },
    request_id: anthropicId('req'),
  })
}

/** `<prefix>_<24 hex>` (anthropic.go generateID). */
function anthropicId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('hex')}`
}

/** Handles POST /v1/messages; every error answers in Anthropic's error shape. */
export async function handleMessages(
  ctx: SimContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  let request: JsonObject
  let native: JsonObject
  try {
    request = parseJsonBody(await readBody(req), 'MessagesRequest')
    native = nativeFromMessages(request)
  } catch (error) {
    if (!(error instanceof HttpError)) throw error
    return sendAnthropicError(res, 400, error.message)
  }
  // Ollama relaxes `thinking` to unset for models that cannot think on this route only, so
  // clients such as Claude Code work with any model (routes.go, "relax_thinking").
  const model = ctx.registry.find(String(native.model))
  if (native.think && model && !model.spec.capabilities.includes('thinking')) delete native.think
  const id = anthropicId('msg')
  const sink =
    request.stream === true
      ? new MessagesStream(res, id, String(request.model), estimateInputTokens(request))
      : replyOnce(res, id)
  // max_tokens is mandatory here and set high, so it caps the reply instead of filling it
  // (docs/simulator.md, "/v1/responses and /v1/messages").
  await runNativeChat(ctx, req, res, native, sink, { ceiling: true })
}

/** `stop_reason`: any tool call → tool_use; stop → end_turn; length → max_tokens. */
function stopReason(doneReason: unknown, toolCalls: boolean): string | undefined {
  if (toolCalls) return 'tool_use'
  if (doneReason === 'stop') return 'end_turn'
  if (doneReason === 'length') return 'max_tokens'
  return typeof doneReason === 'string' && doneReason !== '' ? 'stop_sequence' : undefined
}

/** `stream: false`: the native reply as one message (anthropic.go ToMessagesResponse). */
function replyOnce(res: ServerResponse, id: string): ChatSink {
  return {
    chunk(reply) {
      const message = (reply.message ?? {}) as JsonObject
      const content: JsonObject[] = []
      if (typeof message.thinking === 'string' && message.thinking !== '') {
        content.push({ type: 'thinking', thinking: message.thinking })
      }
      if (typeof message.content === 'string' && message.content !== '') {
        content.push({ type: 'text', text: message.content })
      }
      const calls = toolCallsOf(message)
      for (const call of calls) {
        content.push({ type: 'tool_use', id: call.id, name: call.name, input: call.input })
      }
      const out: JsonObject = { id, type: 'message', role: 'assistant', model: reply.model }
      out.content = content
      const reason = stopReason(reply.done_reason, calls.length > 0)
      if (reason) out.stop_reason = reason
      out.usage = {
        input_tokens: Number(reply.prompt_eval_count ?? 0),
        output_tokens: Number(reply.eval_count ?? 0),
      }
      sendJson(res, 200, out)
      return true
    },
    error: (status, message) => sendAnthropicError(res, status === 200 ? 500 : status, message),
    end() {},
  }
}

/** `stream: true`: Ollama's anthropic StreamConverter, one native chunk at a time. */
class MessagesStream implements ChatSink {
  private readonly out: EventWriter
  private first = true
  private index = 0
  private thinkingStarted = false
  private thinkingDone = false
  private textStarted = false
  private readonly toolCallsSent = new Set<string>()
  private final: JsonObject | undefined

  constructor(
    res: ServerResponse,
    private readonly id: string,
    private readonly model: string,
    private readonly estimatedInput: number,
  ) {
    this.out = new EventWriter(res)
  }

  private event(type: string, data: JsonObject): boolean {
    return this.out.event(type, { type, ...data })
  }

  private stopBlock(): void {
    this.event('content_block_stop', { index: this.index })
    this.index++
  }

  private startBlock(block: JsonObject): void {
    this.event('content_block_start', { index: this.index, content_block: block })
  }

  private delta(delta: JsonObject): boolean {
    return this.event('content_block_delta', { index: this.index, delta })
  }

  chunk(chunk: JsonObject): boolean {
    const message = (chunk.message ?? {}) as JsonObject
    let ok = true
    if (this.first) {
      this.first = false
      const input = Number(chunk.prompt_eval_count ?? 0) || this.estimatedInput
      ok = this.event('message_start', {
        message: {
          id: this.id,
          type: 'message',
          role: 'assistant',
          model: this.model,
          content: [],
          usage: { input_tokens: input, output_tokens: 0 },
        },
      })
    }
    const thinking = typeof message.thinking === 'string' ? message.thinking : ''
    if (thinking !== '' && !this.thinkingDone) {
      if (this.textStarted) {
        this.stopBlock()
        this.textStarted = false
      }
      if (!this.thinkingStarted) {
        this.thinkingStarted = true
        this.startBlock({ type: 'thinking', thinking: '' })
      }
      ok = this.delta({ type: 'thinking_delta', thinking })
    }
    const content = typeof message.content === 'string' ? message.content : ''
    if (content !== '') {
      this.endThinking()
      if (!this.textStarted) {
        this.textStarted = true
        this.startBlock({ type: 'text', text: '' })
      }
      ok = this.delta({ type: 'text_delta', text: content })
    }
    for (const call of toolCallsOf(message)) {
      if (this.toolCallsSent.has(call.id)) continue
      this.endThinking()
      if (this.textStarted) {
        this.stopBlock()
        this.textStarted = false
      }
      // One delta with the whole JSON (anthropic.go): the input is never streamed in pieces.
      this.startBlock({ type: 'tool_use', id: call.id, name: call.name, input: {} })
      this.delta({ type: 'input_json_delta', partial_json: call.arguments })
      this.stopBlock()
      this.toolCallsSent.add(call.id)
    }
    if (chunk.done === true) this.final = chunk
    return ok
  }

  private endThinking(): void {
    if (!this.thinkingStarted || this.thinkingDone) return
    this.thinkingDone = true
    this.stopBlock()
  }

  end(): void {
    const final = this.final ?? {}
    if (this.textStarted || (this.thinkingStarted && !this.thinkingDone)) {
      this.event('content_block_stop', { index: this.index })
    }
    const delta: JsonObject = {}
    const reason = stopReason(final.done_reason, this.toolCallsSent.size > 0)
    if (reason) delta.stop_reason = reason
    this.event('message_delta', {
      delta,
      usage: {
        input_tokens: Number(final.prompt_eval_count ?? 0),
        output_tokens: Number(final.eval_count ?? 0),
      },
    })
    this.event('message_stop', {})
    this.out.end()
  }

  error(status: number, message: string): void {
    // Before any event it is an Anthropic error; a native error line mid-stream converts to no
    // event (the middleware decodes it as an empty chunk), so the stream just ends.
    if (!this.out.started) sendAnthropicError(this.out.res, status === 200 ? 500 : status, message)
    else this.out.end()
  }
}
