// A /v1/responses request as the native api.ChatRequest Ollama makes of it (docs/simulator.md,
// "/v1/responses and /v1/messages"; Ollama's openai/responses.go FromResponsesRequest): input
// items to messages, instructions to a system message, max_output_tokens to num_predict,
// reasoning.effort to think, flat tools to function tools, text.format json_schema to format.
// Every failure is a 400 with Ollama's wording.

import { decodeGoJson } from './gojson.js'
import type { JsonObject } from './http.js'
import { badRequest, type NativeMessage } from './native-chat.js'

/** The native chat body for a Responses request (`stream` as the client asked, default false). */
export function nativeFromResponses(body: JsonObject): JsonObject {
  const messages: NativeMessage[] = []
  if (typeof body.instructions === 'string' && body.instructions !== '') {
    messages.push({ role: 'system', content: body.instructions })
  }
  messages.push(...inputMessages(body.input))
  const options: JsonObject = { temperature: body.temperature ?? 1.0 }
  if (body.top_p !== undefined && body.top_p !== null) options.top_p = body.top_p
  if (typeof body.max_output_tokens === 'number') options.num_predict = body.max_output_tokens
  const native: JsonObject = {
    model: body.model ?? '',
    messages,
    options,
    stream: body.stream === true,
  }
  const think = thinkFromEffort((body.reasoning as JsonObject | undefined)?.effort)
  if (think !== undefined) native.think = think
  const tools = (Array.isArray(body.tools) ? (body.tools as JsonObject[]) : []).flatMap(toolsOf)
  if (tools.length > 0) native.tools = tools
  const format = (body.text as JsonObject | undefined)?.format as JsonObject | undefined
  if (format?.type === 'json_schema' && format.schema !== undefined) native.format = format.schema
  return native
}

/** `input`: a string (one user message) or an array of items, each checked as Ollama does. */
function inputMessages(input: unknown): NativeMessage[] {
  if (input === undefined || input === null) return []
  if (typeof input === 'string') return input === '' ? [] : [{ role: 'user', content: input }]
  if (!Array.isArray(input)) {
    throw badRequest(`input must be a string or array: ${goTypeError(input, '[]json.RawMessage')}`)
  }
  const messages: NativeMessage[] = []
  let pendingThinking = ''
  input.forEach((raw, i) => {
    const item = (raw ?? {}) as JsonObject
    const type = typeof item.type === 'string' && item.type !== '' ? item.type : undefined
    const kind = type ?? (typeof item.role === 'string' && item.role !== '' ? 'message' : '')
    const last = messages[messages.length - 1]
    if (kind === 'reasoning') {
      pendingThinking = typeof item.encrypted_content === 'string' ? item.encrypted_content : ''
    } else if (kind === 'message') {
      const message = messageOf(item, i)
      if (message.role === 'assistant' && pendingThinking) {
        message.thinking = pendingThinking
        pendingThinking = ''
      }
      messages.push(message)
    } else if (kind === 'function_call') {
      const call = functionCallOf(item)
      if (last?.role === 'assistant') {
        last.tool_calls = [...(last.tool_calls ?? []), call]
        if (pendingThinking) last.thinking = pendingThinking
      } else {
        const message: NativeMessage = { role: 'assistant', content: '', tool_calls: [call] }
        if (pendingThinking) message.thinking = pendingThinking
        messages.push(message)
      }
      pendingThinking = ''
    } else if (kind === 'function_call_output') {
      const output = outputOf(item.output, i)
      const message: NativeMessage = { role: 'tool', content: output.content }
      if (output.images.length > 0) message.images = output.images
      if (typeof item.call_id === 'string') message.tool_call_id = item.call_id
      messages.push(message)
    } else if (kind === 'web_search_call') {
      // Ollama runs web search itself; a replayed call adds nothing to the conversation.
    } else if (kind === '') {
      throw badRequest(`input[${i}]: input item missing required 'type' field`)
    } else {
      throw badRequest(`input[${i}]: unknown input item type: ${JSON.stringify(kind)}`)
    }
  })
  if (pendingThinking) messages.push({ role: 'assistant', content: '', thinking: pendingThinking })
  return messages
}

function messageOf(item: JsonObject, i: number): NativeMessage {
  const role = typeof item.role === 'string' ? item.role : ''
  const { content, images } = contentOf(item.content, `input[${i}]: `)
  const message: NativeMessage = { role, content }
  if (images.length > 0) message.images = images
  return message
}

function functionCallOf(item: JsonObject): JsonObject {
  let args: unknown = {}
  if (typeof item.arguments === 'string' && item.arguments !== '') {
    try {
      args = decodeGoJson(item.arguments)
    } catch (error) {
      throw badRequest(`failed to parse function call arguments: ${(error as Error).message}`)
    }
  }
  return { id: item.call_id ?? '', function: { name: item.name ?? '', arguments: args } }
}

function outputOf(output: unknown, i: number): { content: string; images: string[] } {
  if (output === undefined || output === null) return { content: '', images: [] }
  if (typeof output === 'string') return { content: output, images: [] }
  if (!Array.isArray(output)) {
    throw badRequest(
      `input[${i}]: output must be a string or array: ${goTypeError(output, '[]json.RawMessage')}`,
    )
  }
  return contentOf(output, `input[${i}]: `, 'output')
}

/** Message content: a string, or parts (`input_text`, `output_text`, `input_image`, `input_file`). */
function contentOf(
  content: unknown,
  where: string,
  field = 'content',
): { content: string; images: string[] } {
  if (content === undefined || content === null) return { content: '', images: [] }
  if (typeof content === 'string') return { content, images: [] }
  if (!Array.isArray(content)) {
    throw badRequest(
      `${where}content must be a string or array: ${goTypeError(content, '[]json.RawMessage')}`,
    )
  }
  let text = ''
  const images: string[] = []
  content.forEach((raw, j) => {
    const part = (raw ?? {}) as JsonObject
    const type = part.type
    if (type === 'input_text' || type === 'output_text') {
      text += typeof part.text === 'string' ? part.text : ''
    } else if (type === 'input_image') {
      if (typeof part.image_url === 'string' && part.image_url !== '') {
        images.push(decodeImageUrl(part.image_url))
      }
    } else if (type !== 'input_file') {
      throw badRequest(`${where}${field}[${j}]: unknown content type: ${String(type ?? '')}`)
    }
  })
  if (content.some((part) => (part as JsonObject | null)?.type === 'input_file')) {
    throw badRequest('file inputs are not currently supported')
  }
  return { content: text, images }
}

const IMAGE_PREFIXES = ['data:;base64,', ...['jpeg', 'jpg', 'png', 'webp'].map(imagePrefix)]

function imagePrefix(type: string): string {
  return `data:image/${type};base64,`
}

/** Ollama's decodeImageURL: base64 data URLs of JPEG, PNG or WebP only. */
export function decodeImageUrl(url: string): string {
  if (url.startsWith('http://') || url.startsWith('https://')) {
    throw badRequest(
      'image URLs are not currently supported, please use base64 encoded data instead',
    )
  }
  const prefix = IMAGE_PREFIXES.find((p) => url.startsWith(p))
  if (!prefix) throw badRequest('invalid image input')
  const data = url.slice(prefix.length)
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(data) || data.length % 4 !== 0) {
    throw badRequest('invalid image input')
  }
  return data
}

/** `reasoning.effort` → `think` (openai.go thinkFromReasoningEffort). */
function thinkFromEffort(effort: unknown): boolean | string | undefined {
  if (effort === undefined || effort === null || effort === '') return undefined
  if (effort === 'none') return false
  if (effort === 'minimal') return 'low'
  if (effort === 'low' || effort === 'medium' || effort === 'high' || effort === 'max')
    return effort
  if (effort === 'xhigh' || effort === 'ultra') return 'max'
  throw badRequest(
    `invalid reasoning value: ${JSON.stringify(effort)} (must be "minimal", "low", "medium", "high", "xhigh", "ultra", "max", or "none")`,
  )
}

/** Flat Responses tools to native function tools; a `namespace` prefixes its members' names. */
function toolsOf(tool: JsonObject): JsonObject[] {
  if (tool.type === 'namespace') {
    const members = Array.isArray(tool.tools) ? (tool.tools as JsonObject[]) : []
    const prefix = typeof tool.name === 'string' && tool.name !== '' ? `${tool.name}.` : ''
    return members.flatMap(toolsOf).map((t) => {
      const fn = t.function as JsonObject
      const name = String(fn.name)
      return { ...t, function: { ...fn, name: name.startsWith(prefix) ? name : prefix + name } }
    })
  }
  const fn: JsonObject = { name: tool.name ?? '', description: tool.description ?? '' }
  if (tool.parameters !== undefined && tool.parameters !== null) fn.parameters = tool.parameters
  return [{ type: tool.type ?? 'function', function: fn }]
}

/** Go's message when a field of the wrong JSON type meets json.Unmarshal. */
function goTypeError(value: unknown, goType: string): string {
  const kind = typeof value === 'number' ? 'number' : typeof value === 'boolean' ? 'bool' : 'object'
  return `json: cannot unmarshal ${kind} into Go value of type ${goType}`
}
