// Deterministic tool calls (docs/simulator.md, "Tool calls"): when a request offers tools and the
// last user message names one, the simulated model calls it with arguments that validate against
// the tool's JSON Schema; after a tool result it answers with text quoting the result.

import { randomInt } from 'node:crypto'
import { jsonType } from './clock.js'
import { HttpError, type JsonObject } from './http.js'
import { instanceOf, PromptValues } from './schema.js'

/** A tool the request offers: `{type:"function", function:{name, description, parameters}}`. */
export interface ToolSpec {
  name: string
  parameters: unknown
}

/** A call the simulated model makes. */
export interface SimToolCall {
  id: string
  index: number
  name: string
  arguments: JsonObject
}

/**
 * Checks `tools` as Go decodes `api.Tools` (docs/simulator.md, "Errors"): an array of objects
 * whose `function.name` is a string.
 */
export function toolsOf(tools: unknown, struct: string, listType = 'api.Tools'): ToolSpec[] {
  if (tools === undefined || tools === null) return []
  if (!Array.isArray(tools)) {
    throw new HttpError(
      400,
      `json: cannot unmarshal ${jsonType(tools)} into Go struct field ${struct}.tools of type ${listType}`,
    )
  }
  return tools.map((tool) => {
    if (typeof tool !== 'object' || tool === null || Array.isArray(tool)) {
      throw new HttpError(
        400,
        `json: cannot unmarshal ${jsonType(tool)} into Go struct field ${struct}.tools of type api.Tool`,
      )
    }
    const fn = ((tool as JsonObject).function ?? {}) as JsonObject
    if (fn.name !== undefined && fn.name !== null && typeof fn.name !== 'string') {
      throw new HttpError(
        400,
        `json: cannot unmarshal ${jsonType(fn.name)} into Go struct field ToolFunction.tools.function.name of type string`,
      )
    }
    return { name: typeof fn.name === 'string' ? fn.name : '', parameters: fn.parameters }
  })
}

/**
 * Native `messages[].tool_calls[].function.arguments` must be a JSON object (or null): Ollama
 * decodes it into an ordered map, whose decoder answers anything else with this error.
 */
export function checkNativeToolCalls(message: JsonObject): void {
  const calls = message.tool_calls
  if (!Array.isArray(calls)) return
  for (const call of calls) {
    const args = ((call as JsonObject | null)?.function as JsonObject | undefined)?.arguments
    if (args === undefined || args === null) continue
    if (typeof args !== 'object' || Array.isArray(args)) {
      throw new HttpError(400, "Value looks like object, but can't find closing '}' symbol")
    }
  }
}

// Words too common in tool names to count as naming the tool ("get_weather" is named by
// "weather", not by "get").
const GENERIC = new Set([
  'get',
  'set',
  'the',
  'and',
  'for',
  'with',
  'from',
  'run',
  'call',
  'use',
  'tool',
  'tools',
  'function',
  'make',
  'new',
  'do',
])

/** The words of a tool name: `roll_dice`, `rollDice` and `roll-dice` are all "roll", "dice". */
function nameWords(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((word) => word.length >= 3 && !GENERIC.has(word))
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/**
 * Whether `text` names the tool: its full name, or one of its name words as a word of the text
 * (with an -s, -es, -ed, -d or -ing ending), case-insensitive. "Roll a die" names `roll_dice`;
 * "What's the weather in Oslo?" names `get_weather`.
 */
export function namesTool(text: string, name: string): boolean {
  const lower = text.toLowerCase()
  if (name !== '' && lower.includes(name.toLowerCase())) return true
  return nameWords(name).some((word) =>
    new RegExp(`\\b${escapeRegExp(word)}(?:s|es|ed|d|ing)?\\b`).test(lower),
  )
}

/** The calls for `text`: one per tool it names, in the order of `tools`. */
export function plannedToolCalls(tools: ToolSpec[], text: string): SimToolCall[] {
  const values = new PromptValues(text)
  return tools
    .filter((tool) => tool.name !== '' && namesTool(text, tool.name))
    .map((tool, index) => ({
      id: toolCallId(),
      index,
      name: tool.name,
      arguments: argumentsOf(tool.parameters, values),
    }))
}

function argumentsOf(parameters: unknown, values: PromptValues): JsonObject {
  const value = instanceOf(parameters ?? { type: 'object' }, values)
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as JsonObject)
    : {}
}

const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789'

/** `call_` and 8 characters of [a-z0-9], random as Ollama's (routes.go:2305-2312). */
export function toolCallId(): string {
  let id = 'call_'
  for (let i = 0; i < 8; i++) id += ID_ALPHABET[randomInt(ID_ALPHABET.length)]
  return id
}

/** A tool result the conversation ends with: the tool's name and what it returned. */
export interface ToolResult {
  name: string
  content: string
}

/** The reply after tool results: it quotes each, so tests can see the result was used. */
export function toolResultReply(results: ToolResult[]): string {
  return results
    .map((r) => `The ${r.name || 'tool'} tool returned: ${quoteResult(r.content)}.`)
    .join(' ')
}

function quoteResult(content: string): string {
  const flat = content.replace(/\s+/g, ' ').trim()
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat
}

/** The native wire shape: `{id, function:{index, name, arguments: object}}`. */
export function nativeToolCall(call: SimToolCall): JsonObject {
  return {
    id: call.id,
    function: { index: call.index, name: call.name, arguments: call.arguments },
  }
}

/** The `/v1` wire shape: arguments as a JSON string (openai/openai.go:249-267). */
export function openAiToolCall(call: SimToolCall): JsonObject {
  return {
    id: call.id,
    index: call.index,
    type: 'function',
    function: { name: call.name, arguments: JSON.stringify(call.arguments) },
  }
}

/** Roughly what a call costs in tokens: its name and JSON arguments. */
export function toolCallTokens(call: SimToolCall): number {
  return 2 + Math.ceil((call.name.length + JSON.stringify(call.arguments).length) / 4)
}
