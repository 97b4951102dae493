// POST /v1/responses, OpenAI's Responses API as Ollama serves it since v0.13.3 (docs/simulator.md,
// "/v1/responses and /v1/messages"; Ollama's openai/responses.go and middleware/openai.go). The
// request becomes a native chat (responses-request.ts) and each native chunk becomes Responses
// events: `event: <type>\ndata: <json>\n\n` with an increasing `sequence_number`, no `[DONE]`;
// `stream` defaults to false, which answers one response object.

import type { IncomingMessage, ServerResponse } from 'node:http'
import type { SimContext } from './context.js'
import { HttpError, type JsonObject, parseJsonBody, readBody, sendJson } from './http.js'
import { type ChatSink, runNativeChat } from './native-chat.js'
import { sendOpenAiError } from './openai.js'
import { nativeFromResponses } from './responses-request.js'
import { EventWriter, goTimeSeconds, type ToolCall, toolCallsOf } from './sse.js'

/** Handles POST /v1/responses; every error answers in the OpenAI error shape. */
export async function handleResponses(
  ctx: SimContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  let request: JsonObject
  let native: JsonObject
  try {
    request = parseJsonBody(await readBody(req), 'ResponsesRequest')
    native = nativeFromResponses(request)
  } catch (error) {
    if (!(error instanceof HttpError)) throw error
    return sendOpenAiError(res, 400, error.message)
  }
  const ids = { response: `resp_${randomId()}`, message: `msg_${randomId()}` }
  const sink =
    request.stream === true
      ? new ResponsesStream(res, request, ids)
      : replyOnce(res, request, ids.response, ids.message)
  await runNativeChat(ctx, req, res, native, sink)
}

/** Ollama's ids: the prefix and rand.Intn(999999). */
function randomId(): number {
  return Math.floor(Math.random() * 999999)
}

/** `stream: false`: the one native reply becomes one response object (openai.ToResponse). */
function replyOnce(res: ServerResponse, request: JsonObject, id: string, itemId: string): ChatSink {
  return {
    chunk(reply) {
      const message = (reply.message ?? {}) as JsonObject
      const output: JsonObject[] = []
      const thinking = typeof message.thinking === 'string' ? message.thinking : ''
      if (thinking) output.push(reasoningItem(`rs_${id}`, thinking))
      const calls = toolCallsOf(message)
      output.push(...calls.map((call, i) => functionCallItem(`fc_${id}_${i}`, call)))
      if (calls.length === 0) output.push(messageItem(itemId, String(message.content ?? '')))
      const response = responseObject(request, id, 'completed', output, usageOf(reply))
      response.created_at = goTimeSeconds(reply.created_at)
      response.completed_at = Math.floor(Date.now() / 1000)
      sendJson(res, 200, response)
      return true
    },
    error: (status, message) => sendOpenAiError(res, status === 200 ? 500 : status, message),
    end() {},
  }
}

/** `stream: true`: Ollama's ResponsesStreamConverter, one native chunk at a time. */
class ResponsesStream implements ChatSink {
  private readonly out: EventWriter
  private first = true
  private outputIndex = 0
  private readonly completed: JsonObject[] = []
  private reasoning: { id: string; text: string } | undefined
  private text: string | undefined
  private toolCallsSent = false
  private usage: JsonObject | undefined

  constructor(
    res: ServerResponse,
    private readonly request: JsonObject,
    private readonly ids: { response: string; message: string },
  ) {
    this.out = new EventWriter(res)
  }

  private event(type: string, data: JsonObject): boolean {
    return this.out.event(type, { ...data, type, sequence_number: this.out.count })
  }

  chunk(chunk: JsonObject): boolean {
    const message = (chunk.message ?? {}) as JsonObject
    let ok = true
    if (this.first) {
      this.first = false
      const response = responseObject(this.request, this.ids.response, 'in_progress', [])
      this.event('response.created', { response })
      ok = this.event('response.in_progress', { response })
    }
    if (typeof message.thinking === 'string' && message.thinking !== '') {
      ok = this.thinking(message.thinking)
    }
    const calls = toolCallsOf(message)
    if (calls.length > 0) {
      ok = this.toolCalls(calls)
      this.toolCallsSent = true
    }
    const content = typeof message.content === 'string' ? message.content : ''
    // After the first tool call, later text is not streamed (responses.go Process).
    if (calls.length === 0 && !this.toolCallsSent && content !== '') ok = this.content(content)
    if (chunk.done === true) this.usage = usageOf(chunk)
    return ok
  }

  private thinking(delta: string): boolean {
    if (!this.reasoning) {
      this.reasoning = { id: `rs_${randomId()}`, text: '' }
      const item = { id: this.reasoning.id, type: 'reasoning', summary: [] }
      this.event('response.output_item.added', { output_index: this.outputIndex, item })
    }
    this.reasoning.text += delta
    return this.event('response.reasoning_summary_text.delta', {
      item_id: this.reasoning.id,
      output_index: this.outputIndex,
      summary_index: 0,
      delta,
    })
  }

  private finishReasoning(): void {
    const reasoning = this.reasoning
    if (!reasoning) return
    this.reasoning = undefined
    const item = reasoningItem(reasoning.id, reasoning.text)
    this.completed.push(item)
    const outputIndex = this.outputIndex++
    this.event('response.reasoning_summary_text.done', {
      item_id: reasoning.id,
      output_index: outputIndex,
      summary_index: 0,
      text: reasoning.text,
    })
    this.event('response.output_item.done', { output_index: outputIndex, item })
  }

  private toolCalls(calls: ToolCall[]): boolean {
    this.finishReasoning()
    let ok = true
    calls.forEach((call, i) => {
      const outputIndex = this.outputIndex + i
      const id = `fc_${randomId()}_${i}`
      const item = functionCallItem(id, call)
      this.completed.push(item)
      const added = { ...item, status: 'in_progress', arguments: '' }
      const at = { item_id: id, output_index: outputIndex }
      this.event('response.output_item.added', { output_index: outputIndex, item: added })
      this.event('response.function_call_arguments.delta', { ...at, delta: call.arguments })
      this.event('response.function_call_arguments.done', { ...at, arguments: call.arguments })
      ok = this.event('response.output_item.done', { output_index: outputIndex, item })
    })
    this.outputIndex += calls.length
    return ok
  }

  private content(delta: string): boolean {
    this.finishReasoning()
    const at = { item_id: this.ids.message, output_index: this.outputIndex, content_index: 0 }
    if (this.text === undefined) {
      this.text = ''
      const item = { ...messageItem(this.ids.message, ''), status: 'in_progress', content: [] }
      this.event('response.output_item.added', { output_index: this.outputIndex, item })
      this.event('response.content_part.added', { ...at, part: outputText('') })
    }
    this.text += delta
    return this.event('response.output_text.delta', { ...at, delta, logprobs: [] })
  }

  end(): void {
    this.finishReasoning()
    const output = [...this.completed]
    if (!this.toolCallsSent && this.text !== undefined) {
      const text = this.text
      const at = { item_id: this.ids.message, output_index: this.outputIndex, content_index: 0 }
      const item = messageItem(this.ids.message, text)
      this.event('response.output_text.done', { ...at, text, logprobs: [] })
      this.event('response.content_part.done', { ...at, part: outputText(text) })
      this.event('response.output_item.done', { output_index: this.outputIndex, item })
    }
    if (this.text !== undefined) output.push(messageItem(this.ids.message, this.text))
    const response = responseObject(
      this.request,
      this.ids.response,
      'completed',
      output,
      this.usage,
    )
    response.completed_at = Math.floor(Date.now() / 1000)
    this.event('response.completed', { response })
    this.out.end()
  }

  error(status: number, message: string): void {
    // Before any event it is a plain OpenAI error; mid-stream Ollama's writer has nothing to say
    // for a native error line, so the stream just ends.
    if (!this.out.started) sendOpenAiError(this.out.res, status === 200 ? 500 : status, message)
    else this.out.end()
  }
}

function outputText(text: string): JsonObject {
  return { type: 'output_text', text, annotations: [], logprobs: [] }
}

function messageItem(id: string, text: string): JsonObject {
  return {
    id,
    type: 'message',
    status: 'completed',
    role: 'assistant',
    content: [outputText(text)],
  }
}

function reasoningItem(id: string, text: string): JsonObject {
  return {
    id,
    type: 'reasoning',
    summary: [{ type: 'summary_text', text }],
    encrypted_content: text,
  }
}

function functionCallItem(id: string, call: ToolCall): JsonObject {
  return {
    id,
    type: 'function_call',
    status: 'completed',
    call_id: call.id,
    name: call.name,
    arguments: call.arguments,
  }
}

function usageOf(reply: JsonObject): JsonObject {
  const input = Number(reply.prompt_eval_count ?? 0)
  const output = Number(reply.eval_count ?? 0)
  return {
    input_tokens: input,
    output_tokens: output,
    total_tokens: input + output,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens_details: { reasoning_tokens: 0 },
  }
}

/** The response object, echoing the request's settings as Ollama's buildResponseObject does. */
function responseObject(
  request: JsonObject,
  id: string,
  status: string,
  output: JsonObject[],
  usage?: JsonObject,
): JsonObject {
  const reasoning = (request.reasoning ?? {}) as JsonObject
  const text = (request.text ?? {}) as JsonObject
  const tools = Array.isArray(request.tools) ? (request.tools as JsonObject[]) : []
  return {
    id,
    object: 'response',
    created_at: Math.floor(Date.now() / 1000),
    completed_at: null,
    status,
    incomplete_details: null,
    model: request.model ?? '',
    previous_response_id: null,
    instructions: request.instructions || null,
    output,
    error: null,
    tools: tools.map((t) => ({
      type: t.type,
      name: t.name,
      description: t.description ?? null,
      strict: t.strict ?? null,
      parameters: t.parameters ?? null,
    })),
    tool_choice: 'auto',
    truncation: request.truncation ?? 'disabled',
    parallel_tool_calls: true,
    text: { format: text.format ?? { type: 'text' } },
    top_p: request.top_p ?? 1.0,
    presence_penalty: 0,
    frequency_penalty: 0,
    top_logprobs: 0,
    temperature: request.temperature ?? 1.0,
    reasoning:
      reasoning.effort || reasoning.summary
        ? { effort: reasoning.effort || null, summary: reasoning.summary || null }
        : null,
    usage: usage ?? null,
    max_output_tokens: request.max_output_tokens ?? null,
    max_tool_calls: null,
    store: false,
    background: request.background === true,
    service_tier: 'default',
    metadata: {},
    safety_identifier: null,
    prompt_cache_key: null,
  }
}
