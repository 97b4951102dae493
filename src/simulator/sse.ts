// The event stream that /v1/responses and /v1/messages share (docs/simulator.md, "/v1/responses
// and /v1/messages"): `event: <type>\ndata: <json>\n\n`, each written at once, no `[DONE]`, with
// the headers Ollama's middlewares set; and the native tool call as both routes read it.

import type { ServerResponse } from 'node:http'
import { goStringify, type JsonObject } from './http.js'

export class EventWriter {
  /** Events written so far (the Responses API's `sequence_number` of the next one). */
  count = 0

  constructor(readonly res: ServerResponse) {}

  get started(): boolean {
    return this.res.headersSent
  }

  /** Writes one event; false when the socket is full (the generation then waits for `drain`). */
  event(type: string, data: JsonObject): boolean {
    if (this.res.writableEnded) return true
    if (!this.res.headersSent) {
      this.res.writeHead(200, {
        'Content-Type': 'text/event-stream',
        'Cache-Control': 'no-cache',
        Connection: 'keep-alive',
      })
    }
    this.count++
    return this.res.write(`event: ${type}\ndata: ${goStringify(data)}\n\n`)
  }

  end(): void {
    if (!this.res.writableEnded) this.res.end()
  }
}

/** A native tool call, its arguments both as the object and as Go marshals it. */
export interface ToolCall {
  id: string
  name: string
  input: JsonObject
  arguments: string
}

/** `message.tool_calls` of a native chunk (`[{id, function: {index, name, arguments}}]`). */
export function toolCallsOf(message: JsonObject): ToolCall[] {
  const calls = Array.isArray(message.tool_calls) ? (message.tool_calls as JsonObject[]) : []
  return calls.map((call) => {
    const fn = (call.function ?? {}) as JsonObject
    const input = (fn.arguments ?? {}) as JsonObject
    return {
      id: typeof call.id === 'string' ? call.id : '',
      name: typeof fn.name === 'string' ? fn.name : '',
      input,
      arguments: goStringify(input),
    }
  })
}

/** A native `created_at` (RFC 3339) as Unix seconds, or now. */
export function goTimeSeconds(value: unknown): number {
  const ms = typeof value === 'string' ? Date.parse(value) : Number.NaN
  return Math.floor((Number.isNaN(ms) ? Date.now() : ms) / 1000)
}
