// Runs a native /api/chat for a route that speaks another protocol (/v1/responses, /v1/messages),
// the way Ollama builds those routes (docs/simulator.md, "/v1/responses and /v1/messages"): a
// middleware turns the request into an api.ChatRequest, ChatHandler runs it, and a writer turns
// each native chunk into the route's own events. Here handleGeneration writes into a stand-in
// response whose lines go to a ChatSink, so tools, thinking, structured output, faults and
// cancellation behave exactly as on /api/chat.

import { EventEmitter } from 'node:events'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { handleGeneration } from './chat.js'
import type { SimContext } from './context.js'
import { HttpError, type JsonObject } from './http.js'

/** A message of the native api.ChatRequest the other protocols' requests become. */
export interface NativeMessage {
  role: string
  content: string
  images?: string[]
  thinking?: string
  tool_calls?: JsonObject[]
  tool_call_id?: string
}

/** A request the route refuses, as Ollama's middleware does: 400 with its wording. */
export const badRequest = (message: string) => new HttpError(400, message)

/** Receives what the native chat writes, already parsed. */
export interface ChatSink {
  /** One native chunk (streaming) or the whole reply (`stream: false`); false = socket full. */
  chunk(chunk: JsonObject): boolean
  /** The chat failed: before any byte (`status` as Ollama answers) or mid-stream (`status` 200). */
  error(status: number, message: string): void
  /** The native reply ended (after its last chunk). */
  end(): void
}

/** Runs `body` (an api.ChatRequest) through the simulator's /api/chat, into `sink`. */
export async function runNativeChat(
  ctx: SimContext,
  req: IncomingMessage,
  res: ServerResponse,
  body: JsonObject,
  sink: ChatSink,
  options: { ceiling?: boolean } = {},
): Promise<void> {
  const capture = new CapturedResponse(res, sink)
  try {
    await handleGeneration(ctx, req, capture as unknown as ServerResponse, 'chat', body, options)
  } catch (error) {
    if (!(error instanceof HttpError)) throw error
    if (!capture.headersSent) sink.error(error.status, error.message)
  }
}

/**
 * The parts of ServerResponse that the chat handler uses. Written lines are parsed and handed
 * on; back-pressure (`drain`), the client going away (`close`) and the socket (for the
 * connection-cutting faults) are the real response's.
 */
class CapturedResponse extends EventEmitter {
  statusCode = 200
  headersSent = false
  writableEnded = false
  writableFinished = false
  private pending = ''
  private failed = false

  constructor(
    private readonly real: ServerResponse,
    private readonly sink: ChatSink,
  ) {
    super()
    real.on('close', () => this.emit('close'))
    real.on('drain', () => this.emit('drain'))
  }

  get socket() {
    return this.real.socket
  }

  setHeader(): this {
    return this
  }

  writeHead(status: number): this {
    this.statusCode = status
    this.headersSent = true
    return this
  }

  write(chunk: string | Buffer): boolean {
    this.headersSent = true
    this.pending += chunk.toString()
    let ok = true
    let newline = this.pending.indexOf('\n')
    while (newline >= 0) {
      const line = this.pending.slice(0, newline)
      this.pending = this.pending.slice(newline + 1)
      if (line.trim() !== '') ok = this.line(line) && ok
      newline = this.pending.indexOf('\n')
    }
    return ok
  }

  end(chunk?: string | Buffer): this {
    if (chunk !== undefined) this.write(chunk)
    this.headersSent = true
    if (this.pending.trim() !== '') this.line(this.pending)
    this.pending = ''
    this.writableEnded = true
    this.writableFinished = true
    if (!this.failed) this.sink.end()
    this.emit('finish')
    return this
  }

  private line(text: string): boolean {
    const value = JSON.parse(text) as JsonObject
    if (typeof value.error === 'string') {
      this.failed = true
      this.sink.error(this.statusCode, value.error)
      return true
    }
    return this.sink.chunk(value)
  }
}
