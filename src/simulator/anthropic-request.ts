// A /v1/messages request as the native api.ChatRequest Ollama makes of it (docs/simulator.md,
// "/v1/responses and /v1/messages"; Ollama's middleware/anthropic.go and anthropic/anthropic.go
// FromMessagesRequest): the checks in their order, system to a system message, content blocks to
// messages (tool results before the user's text), max_tokens to num_predict, stop_sequences to
// stop, thinking to think. Every failure is a 400 with Ollama's wording.

import type { JsonObject } from './http.js'
import { badRequest, type NativeMessage } from './native-chat.js'

/** Checks a Messages request and returns the native chat body. */
export function nativeFromMessages(body: JsonObject): JsonObject {
  if (typeof body.model !== 'string' || body.model === '') throw badRequest('model is required')
  if (typeof body.max_tokens !== 'number' || body.max_tokens <= 0) {
    throw badRequest('max_tokens is required and must be positive')
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    throw badRequest('messages is required')
  }
  const messages: NativeMessage[] = []
  const system = systemText(body.system)
  if (system !== '') messages.push({ role: 'system', content: system })
  for (const message of body.messages as JsonObject[]) messages.push(...convert(message ?? {}))
  const options: JsonObject = { num_predict: body.max_tokens }
  for (const [from, to] of [
    ['temperature', 'temperature'],
    ['top_p', 'top_p'],
    ['top_k', 'top_k'],
  ] as const) {
    if (body[from] !== undefined && body[from] !== null) options[to] = body[from]
  }
  if (Array.isArray(body.stop_sequences) && body.stop_sequences.length > 0) {
    options.stop = body.stop_sequences
  }
  const native: JsonObject = {
    model: body.model,
    messages,
    options,
    stream: body.stream === true,
  }
  const tools = (Array.isArray(body.tools) ? (body.tools as JsonObject[]) : []).map(toolOf)
  if (tools.length > 0) native.tools = tools
  const think = thinkOf(body)
  if (think !== undefined) native.think = think
  return native
}

/** `system`: a string, or text blocks joined. */
function systemText(system: unknown): string {
  if (typeof system === 'string') return system
  if (!Array.isArray(system)) return ''
  return system
    .filter((b) => b?.type === 'text' && typeof b.text === 'string')
    .map((b) => b.text as string)
    .join('')
}

/** One Anthropic message to native messages (anthropic.go convertMessage). */
function convert(message: JsonObject): NativeMessage[] {
  const role = String(message.role ?? '').toLowerCase()
  const blocks: JsonObject[] =
    typeof message.content === 'string'
      ? [{ type: 'text', text: message.content }]
      : Array.isArray(message.content)
        ? (message.content as JsonObject[])
        : []
  let text = ''
  let thinking = ''
  const images: string[] = []
  const toolCalls: JsonObject[] = []
  const toolResults: NativeMessage[] = []
  for (const block of blocks) {
    switch (block?.type) {
      case 'text':
        if (typeof block.text === 'string') text += block.text
        break
      case 'image':
        images.push(imageOf(block.source))
        break
      case 'tool_use':
        if (!block.id) throw badRequest("tool_use block missing required 'id' field")
        if (!block.name) throw badRequest("tool_use block missing required 'name' field")
        toolCalls.push({
          id: block.id,
          function: { name: block.name, arguments: block.input ?? {} },
        })
        break
      case 'tool_result':
        toolResults.push({
          role: 'tool',
          content: toolResultText(block.content),
          tool_call_id: String(block.tool_use_id ?? ''),
        })
        break
      case 'thinking':
        if (typeof block.thinking === 'string') thinking = block.thinking
        break
      default:
        // Unknown blocks are counted and skipped.
        break
    }
  }
  const out: NativeMessage[] = []
  if (role === 'user') out.push(...toolResults)
  if (text !== '' || images.length > 0 || toolCalls.length > 0 || thinking !== '') {
    const native: NativeMessage = { role, content: text }
    if (images.length > 0) native.images = images
    if (toolCalls.length > 0) native.tool_calls = toolCalls
    if (thinking !== '') native.thinking = thinking
    out.push(native)
  }
  if (role !== 'user') out.push(...toolResults)
  return out
}

/** Only base64 image sources (anthropic.go resolveImageSource). */
function imageOf(source: unknown): string {
  if (!source || typeof source !== 'object') throw badRequest('invalid image source')
  const { type, data } = source as JsonObject
  if (type !== 'base64') {
    throw badRequest(
      `invalid image source type: ${String(type ?? '')}. Only base64 images are supported.`,
    )
  }
  const text = typeof data === 'string' ? data : ''
  const badAt = text.search(/[^A-Za-z0-9+/=]/)
  if (badAt >= 0 || text.length % 4 !== 0) {
    const at = badAt >= 0 ? badAt : text.length - (text.length % 4)
    throw badRequest(`invalid base64 image data: illegal base64 data at input byte ${at}`)
  }
  return text
}

/** A tool result's content: a string, or its text blocks joined. */
function toolResultText(content: unknown): string {
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) return ''
  return content
    .filter((b) => b?.type === 'text' && typeof b.text === 'string')
    .map((b) => b.text as string)
    .join('')
}

function toolOf(tool: JsonObject): JsonObject {
  const fn: JsonObject = { name: tool.name ?? '', description: tool.description ?? '' }
  if (tool.input_schema !== undefined && tool.input_schema !== null) {
    fn.parameters = tool.input_schema
  }
  return { type: 'function', function: fn }
}

/** `thinking.type` enabled/disabled, else `output_config.effort` (xhigh → high). */
function thinkOf(body: JsonObject): boolean | string | undefined {
  const type = (body.thinking as JsonObject | undefined)?.type
  if (type === 'enabled') return true
  if (type === 'disabled') return false
  const raw = (body.output_config as JsonObject | undefined)?.effort
  const effort = typeof raw === 'string' ? raw.trim().toLowerCase() : ''
  const level = effort === 'xhigh' ? 'high' : effort
  return ['high', 'medium', 'low', 'max'].includes(level) ? level : undefined
}

/** Ollama's input estimate for `message_start`: characters / 4, at least 1 (EstimateInputTokens). */
export function estimateInputTokens(body: JsonObject): number {
  let length = contentLength(body.system)
  const messages = Array.isArray(body.messages) ? (body.messages as JsonObject[]) : []
  for (const message of messages) {
    length += String(message?.role ?? '').length + contentLength(message?.content)
  }
  for (const tool of Array.isArray(body.tools) ? (body.tools as JsonObject[]) : []) {
    length += String(tool.name ?? '').length + String(tool.description ?? '').length
    if (tool.input_schema) length += JSON.stringify(tool.input_schema).length
  }
  const tokens = Math.floor(length / 4)
  return tokens === 0 && (messages.length > 0 || body.system !== undefined) ? 1 : tokens
}

function contentLength(content: unknown): number {
  if (typeof content === 'string') return content.length
  if (!Array.isArray(content)) return 0
  let length = 0
  for (const block of content as JsonObject[]) {
    if (typeof block?.text === 'string') length += block.text.length
    if (typeof block?.thinking === 'string') length += block.thinking.length
    if (block?.input) length += JSON.stringify(block.input).length
    if (block?.content !== undefined) length += contentLength(block.content)
  }
  return length
}
