import { ProblemError } from '../problem.js'
import type { ChatMessage, ChatToolCall } from '../protocol.js'
import { type ChatPayload, parseChatPayload } from './payload.js'

// A `useChat` request body (`DefaultChatTransport`: `{ id, messages, trigger, messageId?, ...body }`,
// each message a UIMessage with `parts`) read as our chat payload, so `POST /chat` can answer it
// with the UI message stream (docs/decisions.md, "The AI SDK's UI message stream"). The app's
// extras from `body` (`model`, `options`, `system`, `think`, `format`, `tools`) sit next to the
// SDK's keys and are checked as in any chat payload.

/** A `useChat` request, as our payload plus what the reply needs to know. */
export interface UiChatRequest {
  payload: ChatPayload
  /**
   * The assistant message this reply continues: the last message when it is the assistant's
   * (the re-POST after a client-side tool's output), so the stream's `start` names it.
   */
  messageId?: string
}

type Path = (string | number)[]

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Whether a body is the AI SDK's: every message has `parts` (ours have `content`). */
export function isUiMessageBody(value: unknown): value is Record<string, unknown> {
  if (!isRecord(value) || !Array.isArray(value.messages) || value.messages.length === 0)
    return false
  return value.messages.every((m) => isRecord(m) && Array.isArray(m.parts))
}

/** The payload of a `useChat` body; a 400 naming the part that cannot go to Ollama. */
export function parseUiChatBody(body: Record<string, unknown>): UiChatRequest {
  const ui = body.messages as unknown[]
  const messages = ui.flatMap((message, i) => ollamaMessages(message, ['messages', i]))
  const payload = parseChatPayload({
    messages,
    ...pick(body, ['model', 'options', 'system', 'think', 'format', 'tools']),
  })
  const last = ui[ui.length - 1] as Record<string, unknown>
  return last.role === 'assistant' && typeof last.id === 'string' && last.id
    ? { payload, messageId: last.id }
    : { payload }
}

function pick(body: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const key of keys) if (body[key] !== undefined) out[key] = body[key]
  return out
}

function invalid(path: Path, message: string, hint?: string): ProblemError {
  return new ProblemError({
    status: 400,
    message: `Invalid request body: ${path.join('.')}: ${message}`,
    ...(hint ? { hint } : {}),
  })
}

/** One UIMessage as Ollama messages: one for a user or system message, one or more for the assistant's. */
function ollamaMessages(message: unknown, path: Path): ChatMessage[] {
  const parts = (message as { parts: unknown[] }).parts
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]
    if (!isRecord(part) || typeof part.type !== 'string')
      throw invalid([...path, 'parts', i], 'expected a part with a "type"')
  }
  const typed = parts as Record<string, unknown>[]
  const role = (message as { role?: unknown }).role
  if (role === 'system') return [{ role: 'system', content: joinedText(typed) }]
  if (role === 'user') return [userMessage(typed, path)]
  if (role === 'assistant') return assistantMessages(typed)
  throw invalid([...path, 'role'], 'expected "system", "user" or "assistant"')
}

function joinedText(parts: Record<string, unknown>[]): string {
  return parts
    .filter((part) => part.type === 'text' && typeof part.text === 'string')
    .map((part) => part.text as string)
    .join('\n')
}

/** Text parts joined into `content` (Ollama takes a string), image file parts as base64 `images`. */
function userMessage(parts: Record<string, unknown>[], path: Path): ChatMessage {
  const images: string[] = []
  parts.forEach((part, i) => {
    if (part.type === 'file') images.push(imageData(part, [...path, 'parts', i]))
  })
  const message: ChatMessage = { role: 'user', content: joinedText(parts) }
  if (images.length) message.images = images
  return message
}

/** A file part's image as the base64 Ollama takes: only `data:` URLs of images can be sent. */
function imageData(part: Record<string, unknown>, path: Path): string {
  const url = typeof part.url === 'string' ? part.url : ''
  const mediaType = typeof part.mediaType === 'string' ? part.mediaType : ''
  if (/^https?:/i.test(url)) {
    throw invalid(
      [...path, 'url'],
      'image URLs cannot be sent to Ollama, which takes images as base64 data',
      'Send the image as a data: URL: sendMessage({ text, files }) with a FileList or File objects reads them that way.',
    )
  }
  if (!mediaType.startsWith('image/')) {
    throw invalid(
      [...path, 'mediaType'],
      `"${mediaType || '(none)'}" files cannot be sent to Ollama, which takes images only`,
      'Send images (image/png, image/jpeg, image/webp), or put the text of other files in a text part.',
    )
  }
  const marker = url.indexOf(';base64,')
  if (!url.startsWith('data:') || marker === -1) {
    throw invalid(
      [...path, 'url'],
      'expected a base64 data: URL (data:image/png;base64,…)',
      'sendMessage({ text, files }) reads files as such URLs.',
    )
  }
  return url.slice(marker + ';base64,'.length)
}

/**
 * The assistant's UIMessage as Ollama's history: split at each `step-start` (one model call per
 * step), each step an assistant message with its text, reasoning and tool calls, followed by one
 * `tool` message per call that has a result. Without the split, the text the model wrote after a
 * tool result would come before it.
 */
function assistantMessages(parts: Record<string, unknown>[]): ChatMessage[] {
  const out: ChatMessage[] = []
  let step: Record<string, unknown>[] = []
  const flush = () => {
    out.push(...stepMessages(step))
    step = []
  }
  for (const part of parts) {
    if (part.type === 'step-start') flush()
    else step.push(part)
  }
  flush()
  return out
}

function stepMessages(parts: Record<string, unknown>[]): ChatMessage[] {
  const content = joinedText(parts)
  const thinking = parts
    .filter((part) => part.type === 'reasoning' && typeof part.text === 'string')
    .map((part) => part.text as string)
    .join('')
  const calls: ChatToolCall[] = []
  const results: ChatMessage[] = []
  for (const part of parts) {
    const name = toolName(part)
    // A call still streaming its input was never complete: nothing to send back.
    if (name === undefined || part.state === 'input-streaming') continue
    const id = typeof part.toolCallId === 'string' ? part.toolCallId : undefined
    calls.push({
      ...(id ? { id } : {}),
      function: { name, arguments: isRecord(part.input) ? part.input : {} },
    })
    const result = toolResult(part)
    if (result !== undefined)
      results.push({
        role: 'tool',
        content: result,
        tool_name: name,
        ...(id ? { tool_call_id: id } : {}),
      })
  }
  if (!content && !thinking && calls.length === 0) return []
  const message: ChatMessage = { role: 'assistant', content }
  if (thinking) message.thinking = thinking
  if (calls.length) message.tool_calls = calls
  return [message, ...results]
}

/** `tool-<name>` parts (tools the app declared) and `dynamic-tool` parts name their tool. */
function toolName(part: Record<string, unknown>): string | undefined {
  const type = part.type as string
  if (type === 'dynamic-tool') return typeof part.toolName === 'string' ? part.toolName : undefined
  return type.startsWith('tool-') ? type.slice('tool-'.length) : undefined
}

/** A tool part's result as the text of a `tool` message, or undefined while it has none. */
function toolResult(part: Record<string, unknown>): string | undefined {
  switch (part.state) {
    case 'output-available':
      return typeof part.output === 'string' ? part.output : JSON.stringify(part.output ?? null)
    case 'output-error':
      return typeof part.errorText === 'string' ? part.errorText : 'The tool failed.'
    case 'output-denied':
      return 'Tool call execution denied.'
    default:
      return undefined
  }
}
