// An Ollama chat (`/api/chat`: messages, tools, options, format, think) as an OpenAI chat
// completion, the route where Docker Model Runner serves every feature (its own `/api/chat` drops
// `format`, docs/decisions.md, "Docker Model Runner chats through /engines/v1"), and the
// completion's stream back as Ollama's chat chunks, so the routes and the WebSocket read a DMR
// answer exactly as they read Ollama's.

import { toOpenAiMessages } from '../../chat/openai-messages.js'
import type { ChatRequest } from '../../ollama/requests.js'
import type { ChatResponse, ToolCall } from '../../ollama/schemas.js'

type Json = Record<string, unknown>

/** Ollama's `options` that an OpenAI chat completion (llama.cpp's server) takes, renamed. */
const OPTION_NAMES: Record<string, string> = {
  temperature: 'temperature',
  top_p: 'top_p',
  top_k: 'top_k',
  min_p: 'min_p',
  num_predict: 'max_tokens',
  stop: 'stop',
  seed: 'seed',
  presence_penalty: 'presence_penalty',
  frequency_penalty: 'frequency_penalty',
  repeat_penalty: 'repeat_penalty',
}

/** The body of `POST /engines/v1/chat/completions` for an Ollama chat request. */
export function openAiChatBody(req: ChatRequest, dmrModel: string): Json {
  const body: Json = {
    model: dmrModel,
    messages: toOpenAiMessages(req.messages ?? []),
    stream: true,
    // The usage chunk carries the token counts the final Ollama chunk reports.
    stream_options: { include_usage: true },
  }
  if (req.tools?.length) body.tools = req.tools
  for (const [name, value] of Object.entries(req.options ?? {})) {
    const openAiName = OPTION_NAMES[name]
    if (openAiName && value !== undefined) body[openAiName] = value
  }
  if (req.format === 'json') body.response_format = { type: 'json_object' }
  else if (req.format && typeof req.format === 'object') {
    body.response_format = {
      type: 'json_schema',
      json_schema: { name: 'response', schema: req.format, strict: true },
    }
  }
  if (req.think === false) {
    body.reasoning_effort = 'none'
    body.chat_template_kwargs = { enable_thinking: false }
  } else if (req.think === true) {
    body.chat_template_kwargs = { enable_thinking: true }
  } else if (typeof req.think === 'string') {
    body.reasoning_effort = req.think === 'max' ? 'high' : req.think
    body.chat_template_kwargs = { enable_thinking: true }
  }
  return body
}

/** One streamed tool call being put together from its fragments. */
interface PartialCall {
  id?: string
  name: string
  arguments: string
}

/**
 * Turns one chat completion's stream, event by event, into Ollama chat chunks. `event()` takes the
 * JSON of one `data:` event and returns the chunks it stands for (none for a role-only delta);
 * `done()` is called on `data: [DONE]` and returns the final chunk with the metrics.
 */
export class OpenAiChatTranslation {
  private readonly calls = new Map<number, PartialCall>()
  private doneReason: string | undefined
  private usage: Json | undefined
  private timings: Json | undefined
  private readonly createdAt = new Date().toISOString()

  /** `model` is the app's name for the model, reported back in every chunk. */
  constructor(private readonly model: string) {}

  event(data: Json): Array<ChatResponse | { error: string }> {
    if (data.error !== undefined) return [{ error: errorText(data.error) }]
    if (isObject(data.usage)) this.usage = data.usage
    if (isObject(data.timings)) this.timings = data.timings
    const out: ChatResponse[] = []
    const choices = Array.isArray(data.choices) ? data.choices : []
    for (const choice of choices as Json[]) {
      const delta = isObject(choice.delta)
        ? choice.delta
        : isObject(choice.message)
          ? choice.message
          : {}
      const content = typeof delta.content === 'string' ? delta.content : ''
      // llama.cpp says `reasoning_content`; Ollama's own OpenAI API says `reasoning`.
      const thinking = stringOf(delta.reasoning_content) ?? stringOf(delta.reasoning) ?? ''
      if (content || thinking)
        out.push(this.chunk({ role: 'assistant', content, ...(thinking ? { thinking } : {}) }))
      if (Array.isArray(delta.tool_calls)) this.addCalls(delta.tool_calls as Json[])
      if (typeof choice.finish_reason === 'string') {
        this.doneReason = choice.finish_reason
        const calls = this.takeCalls()
        if (calls.length)
          out.push(this.chunk({ role: 'assistant', content: '', tool_calls: calls }))
      }
    }
    return out
  }

  /** The final chunk, `done: true`, with Ollama's metric fields from the usage and timings. */
  done(): ChatResponse {
    const calls = this.takeCalls()
    const final: ChatResponse = {
      ...this.chunk({
        role: 'assistant',
        content: '',
        ...(calls.length ? { tool_calls: calls } : {}),
      }),
      done: true,
      // Ollama says "stop" after tool calls too; "length" when num_predict ran out.
      done_reason: this.doneReason === 'length' ? 'length' : 'stop',
    }
    const promptTokens = numberOf(this.usage?.prompt_tokens) ?? numberOf(this.timings?.prompt_n)
    const evalTokens =
      numberOf(this.usage?.completion_tokens) ?? numberOf(this.timings?.predicted_n)
    if (promptTokens !== undefined) final.prompt_eval_count = promptTokens
    if (evalTokens !== undefined) final.eval_count = evalTokens
    const promptMs = numberOf(this.timings?.prompt_ms)
    const evalMs = numberOf(this.timings?.predicted_ms)
    if (promptMs !== undefined) final.prompt_eval_duration = Math.round(promptMs * 1e6)
    if (evalMs !== undefined) final.eval_duration = Math.round(evalMs * 1e6)
    return final
  }

  private chunk(message: ChatResponse['message']): ChatResponse {
    return { model: this.model, created_at: this.createdAt, message, done: false }
  }

  private addCalls(fragments: Json[]): void {
    for (const [position, fragment] of fragments.entries()) {
      const index = numberOf(fragment.index) ?? position
      const call = this.calls.get(index) ?? { name: '', arguments: '' }
      const fn = isObject(fragment.function) ? fragment.function : {}
      if (typeof fragment.id === 'string') call.id = fragment.id
      if (typeof fn.name === 'string') call.name += fn.name
      if (typeof fn.arguments === 'string') call.arguments += fn.arguments
      // A non-streaming reply has whole objects already.
      else if (isObject(fn.arguments)) call.arguments = JSON.stringify(fn.arguments)
      this.calls.set(index, call)
    }
  }

  /** The calls put together so far, as Ollama writes them (arguments an object), then forgotten. */
  private takeCalls(): ToolCall[] {
    const calls = [...this.calls.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, call]) => ({
        ...(call.id ? { id: call.id } : {}),
        function: { index, name: call.name, arguments: parseArguments(call.arguments) },
      }))
    this.calls.clear()
    return calls
  }
}

/** Tool arguments as an object; a model that wrote broken JSON gets it kept as `{ raw }`. */
function parseArguments(text: string): Record<string, unknown> {
  if (!text.trim()) return {}
  try {
    const value: unknown = JSON.parse(text)
    return isObject(value) ? value : { value }
  } catch {
    return { raw: text }
  }
}

function errorText(error: unknown): string {
  if (typeof error === 'string') return error
  if (isObject(error) && typeof error.message === 'string') return error.message
  return JSON.stringify(error)
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function stringOf(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined
}

function numberOf(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined
}
