// A `/v1/chat/completions` body read as Ollama's OpenAI layer converts it to a native chat request
// (openai/openai.go; docs/simulator.md): message contents and images, tool calls and results,
// `response_format`, `reasoning_effort`, `stop` and `logprobs`, with the 400s it gives.

import type { Turn } from './answer.js'
import { HttpError, type JsonObject } from './http.js'
import { type LogprobRequest, logprobRequest } from './logprobs.js'
import { type Format, formatFromResponseFormat } from './structured.js'
import { type Think, thinkFromEffort } from './thinking.js'
import { countTokens } from './tokens.js'
import { type ToolSpec, toolsOf } from './tools.js'
import { isStdBase64 } from './validate.js'

export interface OpenAiChat {
  turns: Turn[]
  prompt: string
  promptTokens: number
  tools: ToolSpec[]
  format: Format
  think: Think
  stop: string[]
  logprobs: LogprobRequest | undefined
}

interface ChatMessage {
  role?: string
  content?: unknown
  name?: string
  tool_call_id?: string
  tool_calls?: unknown
}

/** Converts and checks the body; throws the 400s Ollama's conversion gives. */
export function readOpenAiChat(body: JsonObject): OpenAiChat {
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    throw new HttpError(400, `${JSON.stringify(body.messages ?? [])} is too short - 'messages'`)
  }
  const turns: Turn[] = []
  const callNames = new Map<string, string>()
  let prompt = ''
  let promptTokens = 1
  for (const message of body.messages as ChatMessage[]) {
    const calls = toolCallsOf(message?.tool_calls)
    for (const [id, name] of calls) callNames.set(id, name)
    const content = contentText(message?.content, message?.tool_calls != null)
    const role = typeof message?.role === 'string' ? message.role.toLowerCase() : ''
    if (role === 'user') prompt = content
    promptTokens += countTokens(content) + 4
    // A tool message's name comes from `name`, else from the call it answers (openai.go:551-558).
    const toolName =
      message?.name || (message?.tool_call_id ? callNames.get(message.tool_call_id) : undefined)
    turns.push({ role, content, toolName })
  }
  return {
    turns,
    prompt,
    promptTokens,
    tools: toolsOf(body.tools, 'ChatCompletionRequest', '[]api.Tool'),
    format: formatFromResponseFormat(body.response_format),
    think: thinkFromEffort(body),
    stop: stopOf(body.stop),
    logprobs: logprobRequest(body),
  }
}

/**
 * Text of a message's content: a string, or the parts of an array (`text`, `image_url`,
 * `input_audio`). `null` or another type is allowed only beside tool calls (openai.go:626-631).
 */
function contentText(content: unknown, hasToolCalls: boolean): string {
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) {
    if (hasToolCalls) return ''
    throw new HttpError(400, `invalid message content type: ${goTypeName(content)}`)
  }
  let text = ''
  for (const part of content as unknown[]) {
    if (typeof part !== 'object' || part === null)
      throw new HttpError(400, 'invalid message format')
    const p = part as JsonObject
    if (p.type === 'text') {
      if (typeof p.text !== 'string') throw new HttpError(400, 'invalid message format')
      text += p.text
    } else if (p.type === 'image_url') {
      const url = (p.image_url as JsonObject | undefined)?.url ?? p.image_url
      if (typeof url !== 'string') throw new HttpError(400, 'invalid message format')
      checkImageUrl(url)
    } else if (p.type !== 'input_audio') {
      throw new HttpError(400, 'invalid message format')
    }
  }
  return text
}

/** Go's `%T` of a decoded JSON value. */
function goTypeName(value: unknown): string {
  if (value === null || value === undefined) return '<nil>'
  if (typeof value === 'number') return 'float64'
  if (typeof value === 'boolean') return 'bool'
  return 'map[string]interface {}'
}

const IMAGE_PREFIXES = ['data:;base64,', 'jpeg', 'jpg', 'png', 'webp'].map((t) =>
  t.startsWith('data:') ? t : `data:image/${t};base64,`,
)

/**
 * `image_url` must be a base64 data URL of JPEG, PNG or WebP, or `data:;base64,`
 * (openai.go:739-770): http(s) URLs, GIF and broken base64 are 400s.
 */
export function checkImageUrl(url: string): void {
  if (/^https?:\/\//i.test(url)) {
    throw new HttpError(
      400,
      'image URLs are not currently supported, please use base64 encoded data instead',
    )
  }
  const prefix = IMAGE_PREFIXES.find((p) => url.startsWith(p))
  const data = prefix ? url.slice(prefix.length) : undefined
  if (data === undefined || !isStdBase64(data)) throw new HttpError(400, 'invalid image input')
}

/**
 * Assistant `tool_calls`: ids and names, for the tool results that follow. Arguments must parse
 * as JSON (openai.go:772-785).
 */
function toolCallsOf(calls: unknown): Array<[string, string]> {
  if (!Array.isArray(calls)) return []
  const out: Array<[string, string]> = []
  for (const call of calls as JsonObject[]) {
    const fn = (call?.function ?? {}) as JsonObject
    if (typeof fn.arguments === 'string') {
      try {
        JSON.parse(fn.arguments)
      } catch {
        throw new HttpError(400, 'invalid tool call arguments')
      }
    }
    if (typeof call?.id === 'string' && typeof fn.name === 'string') out.push([call.id, fn.name])
  }
  return out
}

/** `stop`: a string or an array; non-string elements are dropped (openai.go:643-655). */
export function stopOf(stop: unknown): string[] {
  if (typeof stop === 'string') return [stop]
  if (Array.isArray(stop)) return stop.filter((s): s is string => typeof s === 'string')
  return []
}
