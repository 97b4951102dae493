// Structured output (docs/simulator.md, "Structured output"): native `format` ("json" or a JSON
// Schema) and `/v1` `response_format`, answered with JSON that parses and validates.

import { goStringify, HttpError, type JsonObject } from './http.js'
import { instanceOf, PromptValues } from './schema.js'

/** `"json"`, a JSON Schema object, or none. */
export type Format = 'json' | JsonObject | undefined

/**
 * Native `format`: `"json"`, a schema object, `null`/`""` for none; anything else is the 500
 * `invalid format` Ollama's runner gives before streaming (llm/llama_server.go:1583-1598).
 */
export function parseFormat(value: unknown): Format {
  if (value === undefined || value === null || value === '') return undefined
  if (value === 'json') return 'json'
  if (typeof value === 'object' && !Array.isArray(value)) return value as JsonObject
  const raw = goStringify(value)
  throw new HttpError(
    500,
    `invalid format: ${JSON.stringify(raw)}; expected "json" or a valid JSON Schema object`,
  )
}

/**
 * `/v1` `response_format` (openai/openai.go:684-697): `json_object` is "json", `json_schema` its
 * `json_schema.schema`; `text`, unknown types and a `json_schema` without its object mean none.
 * The type match ignores case and surrounding spaces.
 */
export function formatFromResponseFormat(value: unknown): Format {
  if (typeof value !== 'object' || value === null) return undefined
  const rf = value as JsonObject
  const type = typeof rf.type === 'string' ? rf.type.trim().toLowerCase() : ''
  if (type === 'json_object') return 'json'
  if (type !== 'json_schema') return undefined
  const schema = (rf.json_schema as JsonObject | undefined)?.schema
  return typeof schema === 'object' && schema !== null ? (schema as JsonObject) : undefined
}

/**
 * The JSON text of a structured answer: for a schema, an instance of it with values from `source`
 * (the user's words); for "json", `{"answer": reply}`.
 */
export function structuredText(format: 'json' | JsonObject, source: string, reply: string): string {
  if (format === 'json') return JSON.stringify({ answer: reply })
  return JSON.stringify(instanceOf(format, new PromptValues(source)))
}
