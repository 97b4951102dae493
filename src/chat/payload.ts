import { isValidModelName } from '../models/name.js'
import { ProblemError } from '../problem.js'
import type { ChatMessage, ChatTool } from '../protocol.js'

// The body of `POST /chat`, checked once for the dev server's route, the WebSocket's chat frames
// and the production handler. Written without a schema library on purpose: the production
// handler (`vite-plugin-ollama/server`) must run on Workers, Deno and Bun with no dependency.
// The shapes are Ollama's native ones (`ChatMessage` in protocol.ts), so the dev server passes a
// turn to Ollama as it is and the production providers translate from one known form.

/** `POST /chat` after checking: `{ messages | prompt, system?, model?, options?, format?, think?, tools? }`. */
export interface ChatPayload {
  messages?: ChatMessage[]
  prompt?: string
  system?: string
  model?: string
  /** Ollama's `options` (temperature, num_predict, num_ctx…): passed on, the engine checks them. */
  options?: Record<string, unknown>
  /** `'json'` or a JSON schema the reply must follow (structured output). */
  format?: 'json' | Record<string, unknown>
  think?: boolean | 'low' | 'medium' | 'high' | 'max'
  tools?: ChatTool[]
}

/** One thing wrong with a body: where (`messages.0.content`) and what. */
export interface PayloadIssue {
  path: (string | number)[]
  message: string
}

const ROLES = ['system', 'user', 'assistant', 'tool'] as const
const THINK_LEVELS = ['low', 'medium', 'high', 'max'] as const

/** Checks one value at `path`: the first issue, or `null`. */
export type Check = (value: unknown, path: (string | number)[]) => PayloadIssue | null

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

const issue = (path: (string | number)[], message: string): PayloadIssue => ({ path, message })

const string: Check = (value, path) =>
  typeof value === 'string' ? null : issue(path, 'expected a string')

const record: Check = (value, path) => (isRecord(value) ? null : issue(path, 'expected an object'))

function optional(check: Check): Check {
  return (value, path) => (value === undefined ? null : check(value, path))
}

function arrayOf(check: Check, { min = 0, minMessage = '' } = {}): Check {
  return (value, path) => {
    if (!Array.isArray(value)) return issue(path, 'expected an array')
    if (value.length < min) return issue(path, minMessage)
    for (let i = 0; i < value.length; i++) {
      const found = check(value[i], [...path, i])
      if (found) return found
    }
    return null
  }
}

function fields(shape: Record<string, Check>): Check {
  return (value, path) => {
    if (!isRecord(value)) return issue(path, 'expected an object')
    for (const [key, check] of Object.entries(shape)) {
      const found = check(value[key], [...path, key])
      if (found) return found
    }
    return null
  }
}

const modelName: Check = (value, path) =>
  typeof value === 'string' && isValidModelName(value.trim())
    ? null
    : issue(path, 'use a name from ollama.com/library, such as "llama3.2" or "qwen2.5:7b"')

const toolCall = fields({
  id: optional(string),
  function: fields({ name: string, arguments: record }),
})

const message = fields({
  role: (value, path) =>
    ROLES.includes(value as never) ? null : issue(path, `expected one of ${ROLES.join(', ')}`),
  content: string,
  images: optional(arrayOf(string)),
  thinking: optional(string),
  tool_calls: optional(arrayOf(toolCall)),
  tool_name: optional(string),
  tool_call_id: optional(string),
})

/** Checks a messages array: the first issue, or `null` when it is a list of chat messages. */
export const checkMessages: Check = arrayOf(message, {
  min: 1,
  minMessage: 'send at least one message',
})

const tool: Check = fields({
  type: (value, path) => (value === 'function' ? null : issue(path, 'expected "function"')),
  function: fields({ name: string, description: optional(string), parameters: optional(record) }),
})

/** Checks `tools`: Ollama's (and OpenAI's) `{ type: 'function', function: { name, … } }` list. */
export const checkTools: Check = arrayOf(tool)

/** Checks `format`: `"json"` or a JSON schema. */
export const checkFormat: Check = (value, path) =>
  value === 'json' || isRecord(value) ? null : issue(path, 'use "json" or a JSON schema object')

/** Checks `think`: a boolean or one of Ollama's levels. */
export const checkThink: Check = (value, path) =>
  typeof value === 'boolean' || THINK_LEVELS.includes(value as never)
    ? null
    : issue(path, `use true, false or one of ${THINK_LEVELS.map((l) => `"${l}"`).join(', ')}`)

const payload = fields({
  messages: optional(checkMessages),
  prompt: optional(string),
  system: optional(string),
  model: optional(modelName),
  options: optional(record),
  format: optional(checkFormat),
  think: optional(checkThink),
  tools: optional(checkTools),
})

/** The first thing wrong with a chat body, or `null`. */
export function chatPayloadIssue(value: unknown): PayloadIssue | null {
  const found = payload(value, [])
  if (found) return found
  const body = value as ChatPayload
  if (body.messages === undefined && body.prompt === undefined) {
    return issue(
      ['messages'],
      'send "messages" (an array of {role, content}) or "prompt" (a string)',
    )
  }
  return null
}

/** A 400 that says where a body went wrong. */
export function invalidBody(found: PayloadIssue): ProblemError {
  const where = found.path.length ? found.path.join('.') : '(body)'
  return new ProblemError({
    status: 400,
    message: `Invalid request body: ${where}: ${found.message}`,
  })
}

/** The checked payload (known keys only, `model` trimmed), or a 400 naming the first bad field. */
export function parseChatPayload(value: unknown): ChatPayload {
  const found = chatPayloadIssue(value)
  if (found) throw invalidBody(found)
  const body = value as ChatPayload
  const known: ChatPayload = {}
  if (body.messages !== undefined) known.messages = body.messages
  if (body.prompt !== undefined) known.prompt = body.prompt
  if (body.system !== undefined) known.system = body.system
  if (body.model !== undefined) known.model = body.model.trim()
  if (body.options !== undefined) known.options = body.options
  if (body.format !== undefined) known.format = body.format
  if (body.think !== undefined) known.think = body.think
  if (body.tools !== undefined) known.tools = body.tools
  return known
}

/** The messages a payload stands for: `prompt` becomes one user message, `system` goes first. */
export function payloadMessages(body: ChatPayload): ChatMessage[] {
  const messages: ChatMessage[] = body.messages
    ? [...body.messages]
    : [{ role: 'user', content: body.prompt ?? '' }]
  if (body.system !== undefined) messages.unshift({ role: 'system', content: body.system })
  return messages
}
