// The async iterator over an Ollama NDJSON response (chat, generate, pull).
//
// Written as a small state machine on the body's 'data' events rather than as an async generator
// over `for await (chunk of body)`: a stream can carry 100,000 tokens, and each layer of generator
// and Readable iterator costs promises per chunk. Here a chunk's lines are parsed in one go into a
// queue, and `next()` hands them out with already-resolved promises.
import type { Readable } from 'node:stream'
import {
  badResponseError,
  connectionError,
  OllamaError,
  type RequestSite,
  streamError,
} from './errors.js'
import { NdjsonParseError, NdjsonSplitter, parseNdjsonLine } from './ndjson.js'

/** How one kind of stream recognises and checks its chunks. */
export interface StreamKind<T> {
  /** The chunk that ends the stream: `done: true` (chat, generate), `status: 'success'` (pull). */
  isFinal(value: Record<string, unknown>): boolean
  /** Checks a chunk; returns it (possibly normalised) or undefined when it is malformed. */
  check(value: Record<string, unknown>, final: boolean): T | undefined
  /** Said when the body ends before the final chunk. */
  expected: string
}

/** Parsed chunks waiting for the consumer before the body is paused. */
const QUEUE_HIGH_WATER = 1024

interface Waiter<T> {
  resolve(result: IteratorResult<T, undefined>): void
  reject(error: unknown): void
}

/**
 * The chunks of one streamed response. Ends after the final chunk; throws OllamaError on an
 * `{"error":…}` line, a malformed line, a cut connection, or a body that ends too early. Leaving
 * the loop early (break, throw, `return()`) or aborting the request's signal destroys the body,
 * so Ollama sees the disconnect and stops generating.
 */
export class OllamaStream<T> implements AsyncIterableIterator<T, undefined> {
  readonly #body: Readable
  readonly #site: RequestSite
  readonly #status: number
  readonly #kind: StreamKind<T>
  readonly #signal: AbortSignal | undefined
  readonly #splitter = new NdjsonSplitter()
  #queue: T[] = []
  #head = 0
  #waiter: Waiter<T> | undefined
  #failure: unknown
  #failed = false
  /** The final chunk was parsed: nothing after it matters. */
  #complete = false
  #started = false
  #paused = false
  /** The consumer called return(): every later next() is done. */
  #returned = false

  constructor(
    body: Readable,
    site: RequestSite,
    status: number,
    kind: StreamKind<T>,
    signal?: AbortSignal,
  ) {
    this.#body = body
    this.#site = site
    this.#status = status
    this.#kind = kind
    this.#signal = signal
    // Listen for errors at once: a Readable that errors with no listener crashes the process,
    // and an abort can arrive before the consumer starts iterating.
    body.on('error', (error) => this.#onError(error))
  }

  [Symbol.asyncIterator](): this {
    return this
  }

  next(): Promise<IteratorResult<T, undefined>> {
    if (this.#returned) return Promise.resolve({ value: undefined, done: true })
    if (!this.#started) this.#start()
    if (this.#head < this.#queue.length) {
      const value = this.#queue[this.#head++]!
      if (this.#head === this.#queue.length) {
        this.#queue.length = 0
        this.#head = 0
        if (this.#paused) {
          this.#paused = false
          this.#body.resume()
        }
      }
      return Promise.resolve({ value, done: false })
    }
    if (this.#failed) return Promise.reject(this.#failure)
    if (this.#complete) return Promise.resolve({ value: undefined, done: true })
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject }
    })
  }

  /** Stops early: closes the upstream request unless the stream already completed. */
  return(): Promise<IteratorResult<T, undefined>> {
    this.#returned = true
    this.#finish()
    const waiter = this.#waiter
    this.#waiter = undefined
    waiter?.resolve({ value: undefined, done: true })
    this.#queue.length = 0
    this.#head = 0
    return Promise.resolve({ value: undefined, done: true })
  }

  throw(error?: unknown): Promise<IteratorResult<T, undefined>> {
    this.#returned = true
    this.#finish()
    return Promise.reject(error)
  }

  #start(): void {
    this.#started = true
    const body = this.#body
    body.on('data', (chunk: Buffer) => this.#onData(chunk))
    body.on('end', () => this.#onEnd())
  }

  #onData(chunk: Buffer): void {
    if (this.#complete || this.#failed) return
    const splitter = this.#splitter
    splitter.push(chunk)
    for (let line = splitter.nextLine(); line !== undefined; line = splitter.nextLine()) {
      this.#onLine(line)
      if (this.#complete || this.#failed) return
    }
    if (this.#queue.length - this.#head > QUEUE_HIGH_WATER) {
      this.#paused = true
      this.#body.pause()
    }
  }

  #onLine(line: string): void {
    let value: unknown
    try {
      value = parseNdjsonLine(line)
    } catch (error) {
      const detail = error instanceof NdjsonParseError ? error.message : String(error)
      this.#fail(badResponseError(this.#site, this.#status, detail))
      return
    }
    if (value === undefined) return
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.#fail(badResponseError(this.#site, this.#status, `not a JSON object: ${line}`))
      return
    }
    const record = value as Record<string, unknown>
    // Ollama cannot change the status once streaming began, so it reports failures as a last line
    // {"error": "…"} (docs/decisions.md, "A stream that fails midway keeps its 200"); ollama-js
    // throws on it, and so do we.
    if (record.error !== undefined) {
      const message = typeof record.error === 'string' ? record.error : JSON.stringify(record.error)
      this.#fail(streamError(this.#site, this.#status, message))
      return
    }
    const final = this.#kind.isFinal(record)
    const checked = this.#kind.check(record, final)
    if (checked === undefined) {
      this.#fail(
        badResponseError(
          this.#site,
          this.#status,
          `unexpected chunk (${this.#kind.expected}): ${line}`,
        ),
      )
      return
    }
    this.#deliver(checked)
    if (final) this.#complete = true
  }

  #deliver(value: T): void {
    const waiter = this.#waiter
    if (waiter !== undefined) {
      this.#waiter = undefined
      waiter.resolve({ value, done: false })
    } else {
      this.#queue.push(value)
    }
  }

  #onEnd(): void {
    if (this.#complete || this.#failed) return
    const splitter = this.#splitter
    splitter.end()
    for (let line = splitter.nextLine(); line !== undefined; line = splitter.nextLine()) {
      this.#onLine(line)
      if (this.#complete || this.#failed) break
    }
    if (this.#complete) {
      const waiter = this.#waiter
      this.#waiter = undefined
      waiter?.resolve({ value: undefined, done: true })
      return
    }
    if (!this.#failed) {
      this.#fail(
        badResponseError(
          this.#site,
          this.#status,
          `the stream ended before its final chunk (${this.#kind.expected})`,
        ),
      )
    }
  }

  #onError(error: unknown): void {
    // After the final chunk only the connection's tail remains: nothing is lost.
    if (this.#complete || this.#failed) return
    if (this.#signal?.aborted) {
      this.#fail(abortReason(this.#signal))
      return
    }
    this.#fail(error instanceof OllamaError ? error : connectionError(this.#site, error))
  }

  #fail(error: unknown): void {
    this.#failed = true
    this.#failure = error
    // Chunks already parsed are still handed out first; the error comes after them.
    const waiter = this.#waiter
    this.#waiter = undefined
    waiter?.reject(error)
    if (!this.#body.destroyed) this.#body.destroy()
  }

  /** Releases the body: drained when complete (keeps the socket for reuse), destroyed otherwise. */
  #finish(): void {
    const body = this.#body
    if (body.destroyed || body.readableEnded) return
    if (this.#complete) {
      if (!this.#started) this.#start()
      if (this.#paused) body.resume()
      return
    }
    // Destroying an unfinished undici body aborts the request and closes its socket: the server
    // sees the disconnect and stops the generation (or the download).
    this.#failed = true
    this.#failure = new Error('stream closed by the consumer')
    body.destroy()
  }
}

/** What an aborted call rejects with: the signal's reason, as fetch does. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError')
}
