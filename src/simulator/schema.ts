// A deterministic instance of a JSON Schema, filled from the user's words: the arguments of a
// simulated tool call (tools.ts) and the JSON of a structured answer (structured.ts). The rules
// are documented in docs/simulator.md ("Values from the prompt"); apps assert on them.

import type { JsonObject } from './http.js'

// Bounds that keep a hostile schema (deep, wide, or asking for a billion items) from making the
// answer explode; real schemas stay far below them.
const MAX_DEPTH = 8
const MAX_VALUES = 1000
const MAX_ITEMS = 100
const MAX_STRING = 10_000

/** The words of a prompt that values are taken from, consumed in order. */
export class PromptValues {
  private readonly numbers: number[]
  private readonly strings: string[]
  private readonly fallback: string
  /** Values left to make (MAX_VALUES per answer). */
  private budget = MAX_VALUES

  constructor(text: string) {
    this.numbers = (text.match(/-?\d+(?:\.\d+)?/g) ?? []).map(Number)
    this.strings = stringCandidates(text)
    this.fallback = text.replace(/\s+/g, ' ').trim().slice(0, 60) || 'example'
  }

  /** Takes one value from the budget; false once it is spent. */
  spend(): boolean {
    this.budget--
    return this.budget >= 0
  }

  nextNumber(): number | undefined {
    return this.numbers.shift()
  }

  nextString(): string {
    return this.strings.shift() ?? this.fallback
  }
}

/**
 * Quoted phrases first, then capitalised words that do not start a sentence ("weather in Oslo"
 * gives "Oslo"): what a model would copy into a string argument.
 */
function stringCandidates(text: string): string[] {
  const quoted = [...text.matchAll(/["“]([^"”]{1,80})["”]/g)].map((m) => m[1] ?? '')
  const names: string[] = []
  const word = "\\p{Lu}[\\p{L}\\p{M}'-]*"
  const runs = new RegExp(`(?<![.!?]\\s*|^\\s*)\\b(${word}(?:\\s+${word})*)`, 'gu')
  for (const match of text.matchAll(runs)) {
    if (match[1] && match[1] !== 'I') names.push(match[1])
  }
  return [...new Set([...quoted, ...names])].filter((s) => s.trim() !== '')
}

/** An instance of `schema` that validates against it, with values taken from `values`. */
export function instanceOf(
  schema: unknown,
  values: PromptValues,
  root = schema,
  depth = 0,
): unknown {
  if (typeof schema !== 'object' || schema === null || depth > MAX_DEPTH) return null
  if (!values.spend()) return null
  const s = schema as JsonObject
  if (typeof s.$ref === 'string')
    return instanceOf(resolveRef(root, s.$ref), values, root, depth + 1)
  if ('const' in s) return s.const
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0]
  const variants = (s.anyOf ?? s.oneOf) as unknown[] | undefined
  if (Array.isArray(variants) && variants.length > 0) {
    const chosen = variants.find((v) => (v as JsonObject)?.type !== 'null') ?? variants[0]
    return instanceOf(chosen, values, root, depth + 1)
  }
  if (Array.isArray(s.allOf) && s.allOf.length > 0) {
    return instanceOf(Object.assign({}, ...(s.allOf as object[])), values, root, depth + 1)
  }
  switch (typeOf(s)) {
    case 'object':
      return objectOf(s, values, root, depth)
    case 'array':
      return arrayOf(s, values, root, depth)
    case 'string':
      return stringOf(s, values)
    case 'integer':
      return numberOf(s, values, true)
    case 'number':
      return numberOf(s, values, false)
    case 'boolean':
      return true
    case 'null':
      return null
    default:
      return stringOf(s, values)
  }
}

function typeOf(s: JsonObject): string | undefined {
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type
  if (typeof type === 'string') return type
  if (s.properties) return 'object'
  if (s.items) return 'array'
  return undefined
}

function resolveRef(root: unknown, ref: string): unknown {
  if (ref === '#') return root
  if (!ref.startsWith('#/')) return null
  let node: unknown = root
  for (const part of ref.slice(2).split('/')) {
    node = (node as JsonObject | null)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')]
  }
  return node
}

/** Every property, required and optional, in the schema's order. */
function objectOf(s: JsonObject, values: PromptValues, root: unknown, depth: number): JsonObject {
  const out: JsonObject = {}
  const properties = (s.properties ?? {}) as JsonObject
  for (const [key, property] of Object.entries(properties)) {
    out[key] = instanceOf(property, values, root, depth + 1)
  }
  for (const key of (s.required as string[] | undefined) ?? []) {
    if (!(key in out)) out[key] = values.nextString()
  }
  return out
}

function arrayOf(s: JsonObject, values: PromptValues, root: unknown, depth: number): unknown[] {
  const min = typeof s.minItems === 'number' ? s.minItems : 1
  const max = typeof s.maxItems === 'number' ? s.maxItems : Math.max(1, min)
  const count = Math.min(Math.max(1, min), max, MAX_ITEMS)
  if (Array.isArray(s.prefixItems)) {
    return (s.prefixItems as unknown[])
      .slice(0, MAX_ITEMS)
      .map((item) => instanceOf(item, values, root, depth + 1))
  }
  const items: unknown[] = []
  for (let i = 0; i < count; i++) items.push(instanceOf(s.items, values, root, depth + 1))
  return items
}

const FORMATS: Record<string, string> = {
  email: 'user@example.com',
  uri: 'https://example.com/',
  url: 'https://example.com/',
  'date-time': '2025-01-01T00:00:00Z',
  date: '2025-01-01',
  time: '00:00:00',
  uuid: '00000000-0000-4000-8000-000000000000',
  ipv4: '127.0.0.1',
  hostname: 'example.com',
}

function stringOf(s: JsonObject, values: PromptValues): string {
  const format = typeof s.format === 'string' ? FORMATS[s.format] : undefined
  let text = format ?? values.nextString()
  const min = typeof s.minLength === 'number' ? s.minLength : 0
  const max = typeof s.maxLength === 'number' ? s.maxLength : Number.POSITIVE_INFINITY
  if (text.length > max) text = text.slice(0, max)
  if (text.length < min) text = text.padEnd(Math.min(min, MAX_STRING), '.')
  return text
}

function numberOf(s: JsonObject, values: PromptValues, integer: boolean): number {
  const lower = bound(s.minimum, s.exclusiveMinimum, 1, integer)
  const upper = bound(s.maximum, s.exclusiveMaximum, -1, integer)
  let n = values.nextNumber() ?? Math.max(lower ?? 1, Math.min(upper ?? 1, 1))
  if (integer) n = Math.round(n)
  if (lower !== undefined && n < lower) n = lower
  if (upper !== undefined && n > upper) n = upper
  return n
}

/** The inclusive bound of `minimum`/`exclusiveMinimum` (direction 1) or the maxima (-1). */
function bound(inclusive: unknown, exclusive: unknown, direction: 1 | -1, integer: boolean) {
  if (typeof exclusive === 'number') {
    if (!integer) return exclusive + direction * 0.5
    return direction === 1 ? Math.floor(exclusive) + 1 : Math.ceil(exclusive) - 1
  }
  return typeof inclusive === 'number' ? inclusive : undefined
}
