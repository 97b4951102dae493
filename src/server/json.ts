import { fixedLimits } from '../limits.js'

/**
 * How deep `text` nests arrays and objects, counted without parsing it; stops counting past
 * `max`. A 100,000-deep body parses, but every recursive walk after (schema checks, stringify)
 * overflows the stack, so depth is refused before anything reads the value.
 */
export function jsonDepthExceeds(text: string, max: number = fixedLimits.jsonDepth): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92 /* \ */) i++
      else if (c === 34 /* " */) inString = false
    } else if (c === 34) inString = true
    else if (c === 91 /* [ */ || c === 123 /* { */) {
      if (++depth > max) return true
    } else if (c === 93 /* ] */ || c === 125 /* } */) depth--
  }
  return false
}
