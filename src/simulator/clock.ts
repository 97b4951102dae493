// Time as Ollama writes it (docs/decisions.md, "Timestamps and durations"): Go's RFC 3339 with
// nanoseconds, trailing zeros trimmed; `created_at` in UTC with `Z`, `modified_at`/`expires_at` in
// local time with an offset. Durations are integer nanoseconds, and `keep_alive` follows Go's
// `time.ParseDuration`.

const NS_PER_MS = 1_000_000n

// Wall-clock origin of the monotonic clock, so timestamps have nanosecond digits and never go
// backwards between two chunks of one stream.
const ORIGIN_NS = BigInt(Date.now()) * NS_PER_MS - process.hrtime.bigint()

/** Wall-clock time in nanoseconds. */
export function nowNs(): bigint {
  return ORIGIN_NS + process.hrtime.bigint()
}

/** `2025-10-26T17:15:24.097767Z` (utc) or `2025-05-04T17:37:44.706015396-07:00` (local). */
export function goTime(ns: bigint, zone: 'utc' | 'local' = 'utc'): string {
  const ms = Number(ns / NS_PER_MS)
  const date = new Date(ms)
  const offsetMin = zone === 'local' ? -date.getTimezoneOffset() : 0
  const shifted = new Date(ms + offsetMin * 60_000)
  const base = shifted.toISOString().slice(0, 19)
  const fraction = (ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '')
  return `${base}${fraction ? `.${fraction}` : ''}${offsetSuffix(offsetMin)}`
}

function offsetSuffix(offsetMin: number): string {
  if (offsetMin === 0) return 'Z'
  const sign = offsetMin > 0 ? '+' : '-'
  const abs = Math.abs(offsetMin)
  const hh = String(Math.floor(abs / 60)).padStart(2, '0')
  const mm = String(abs % 60).padStart(2, '0')
  return `${sign}${hh}:${mm}`
}

/** "Forever": Go's MaxInt64 nanoseconds, about 292 years. */
export const FOREVER_NS = 9_223_372_036_854_775_807n

export class DurationError extends Error {}

const UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  μs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
}

/**
 * `keep_alive` as Ollama reads it: a number is seconds, a string is a Go duration ("5m",
 * "1h30m", "0"), anything negative is forever. Returns nanoseconds; throws a DurationError with
 * Go's message (`time: missing unit in duration "10"`) for a bad string.
 */
export function parseKeepAlive(value: unknown): bigint | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value === 'number') {
    return value < 0 ? FOREVER_NS : BigInt(Math.round(value * 1e9))
  }
  if (typeof value !== 'string') {
    throw new DurationError(
      `json: cannot unmarshal ${jsonType(value)} into Go value of type float64`,
    )
  }
  const ns = parseGoDuration(value)
  return ns < 0 ? FOREVER_NS : BigInt(Math.round(ns))
}

function parseGoDuration(text: string): number {
  const quoted = JSON.stringify(text)
  let rest = text
  let sign = 1
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest.startsWith('-')) sign = -1
    rest = rest.slice(1)
  }
  if (rest === '0') return 0
  if (rest === '') throw new DurationError(`time: invalid duration ${quoted}`)
  let total = 0
  while (rest !== '') {
    const number = /^(\d+(?:\.\d*)?|\.\d+)/.exec(rest)
    if (!number?.[1]) throw new DurationError(`time: invalid duration ${quoted}`)
    rest = rest.slice(number[1].length)
    const unit = /^[^\d.]+/.exec(rest)?.[0]
    if (!unit) throw new DurationError(`time: missing unit in duration ${quoted}`)
    const factor = UNIT_NS[unit]
    if (factor === undefined) {
      throw new DurationError(`time: unknown unit ${JSON.stringify(unit)} in duration ${quoted}`)
    }
    total += Number(number[1]) * factor
    rest = rest.slice(unit.length)
  }
  return sign * total
}

/** The JSON type word Go's encoding/json uses in its error messages. */
export function jsonType(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  if (typeof value === 'object') return 'object'
  if (typeof value === 'boolean') return 'bool'
  return typeof value
}
