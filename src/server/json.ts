import { fixedLimits } from '../limits.js'

/**
 * How deep `text` nests arrays and objects, counted without parsing it; stops counting past
 * `max`. A 100,000-deep body parses, but every recursive walk after (schema checks, stringify)
 * overflows the stack, so depth is refused before anything reads the value.
 */
export function jsonDepthExceeds(text: string, max: number = fixedLimits.jsonDepth): boolean {
  let depth = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 34 /* " */) {
      // Strings are skipped by the engine's own search: a photo is megabytes of one string.
      i = stringEnd(text, i)
      if (i === -1) return false
    } else if (c === 91 /* [ */ || c === 123 /* { */) {
      if (++depth > max) return true
    } else if (c === 93 /* ] */ || c === 125 /* } */) depth--
  }
  return false
}

/**
 * The string value of `key` at the top level of the object `text` begins, found without parsing
 * the rest, so a body too long to hold (a chat with photos, streamed by the proxy) still says
 * which model it is for. Undefined when the key is not in `text`, or its value is not a string.
 * Keys match case-insensitively, as Go's encoding/json, which decodes Ollama's requests, matches them.
 */
export function topLevelString(text: string, key: string): string | undefined {
  let depth = 0
  let expectKey = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 34 /* " */) {
      const end = stringEnd(text, i)
      if (end === -1) return undefined
      if (depth === 1 && expectKey) {
        expectKey = false
        const value = afterColon(text, end + 1)
        if ((JSON.parse(text.slice(i, end + 1)) as string).toLowerCase() === key) {
          if (text.charCodeAt(value) !== 34) return undefined
          const valueEnd = stringEnd(text, value)
          return valueEnd === -1
            ? undefined
            : (JSON.parse(text.slice(value, valueEnd + 1)) as string)
        }
        i = value - 1
      } else i = end
    } else if (c === 123 /* { */ || c === 91 /* [ */) {
      depth++
      expectKey = depth === 1 && c === 123
    } else if (c === 125 /* } */ || c === 93 /* ] */) depth--
    else if (c === 44 /* , */ && depth === 1) expectKey = true
  }
  return undefined
}

/** The index of the quote that closes the string opening at `start`, or -1 if `text` ends first. */
function stringEnd(text: string, start: number): number {
  let quote = text.indexOf('"', start + 1)
  while (quote !== -1) {
    // A quote after an odd run of backslashes is escaped.
    let slashes = 0
    while (text.charCodeAt(quote - 1 - slashes) === 92 /* \ */) slashes++
    if (slashes % 2 === 0) return quote
    quote = text.indexOf('"', quote + 1)
  }
  return -1
}

/** The index of the first character after the `:` that follows a key. */
function afterColon(text: string, from: number): number {
  let i = from
  while (i < text.length && text.charCodeAt(i) !== 58 /* : */) i++
  i++
  while (i < text.length && /\s/.test(text[i]!)) i++
  return i
}
