// The bytes of a Docker Model Runner answer, rewritten on the fly as Ollama's NDJSON, so that
// OllamaStream (src/ollama/stream.ts) reads them with everything it already does: backpressure,
// `{"error"}` lines, a cut connection, a body that ends before its final chunk, and aborting the
// upstream request when the reader leaves.

import type { Readable } from 'node:stream'
import { pipeline, Transform } from 'node:stream'
import { NdjsonSplitter } from '../../ollama/ndjson.js'
import { OpenAiChatTranslation } from './chat.js'
import { type DmrProgressMessage, DmrPullTranslation } from './pull.js'

/**
 * `body`, line by line through `translate`, as NDJSON. Destroying the result destroys `body`
 * (the undici response), which closes the request: DMR sees the client go away.
 */
function translateLines(body: Readable, translate: (line: string) => readonly unknown[]): Readable {
  const splitter = new NdjsonSplitter()
  const transform = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      splitter.push(chunk)
      drain()
      callback()
    },
    flush(callback) {
      splitter.end()
      drain()
      callback()
    },
  })
  function drain(): void {
    for (let line = splitter.nextLine(); line !== undefined; line = splitter.nextLine()) {
      for (const value of translate(line.replace(/\r$/, ''))) {
        transform.push(`${JSON.stringify(value)}\n`)
      }
    }
  }
  // Errors reach the reader through `transform`; pipeline's own callback has nothing to add.
  return pipeline(body, transform, () => {})
}

/**
 * An OpenAI chat-completion event stream (`data: {…}` … `data: [DONE]`) as Ollama chat chunks
 * for the model the app calls `model`.
 */
export function chatCompletionAsOllama(body: Readable, model: string): Readable {
  const translation = new OpenAiChatTranslation(model)
  return translateLines(body, (line) => {
    // llama.cpp's server reports a failure inside the stream as an `error:` field.
    if (line.startsWith('error:')) return [{ error: line.slice(6).trim() }]
    if (!line.startsWith('data:')) return [] // event:, id:, comments and the blank separators
    const data = line.slice(5).trim()
    if (data === '[DONE]') return [translation.done()]
    try {
      return translation.event(JSON.parse(data) as Record<string, unknown>)
    } catch {
      return [
        { error: `Docker Model Runner sent an event that is not JSON: ${data.slice(0, 200)}` },
      ]
    }
  })
}

/** DMR's `/models/create` progress lines as Ollama's `/api/pull` lines, for the image `ref`. */
export function pullProgressAsOllama(
  body: Readable,
  ref: string,
): { lines: Readable; warnings: string[] } {
  const translation = new DmrPullTranslation(ref)
  const lines = translateLines(body, (line) => {
    if (!line.trim()) return []
    let message: unknown
    try {
      message = JSON.parse(line)
    } catch {
      return translation.text(line)
    }
    return typeof message === 'object' && message !== null
      ? translation.add(message as DmrProgressMessage)
      : translation.text(line)
  })
  return { lines, warnings: translation.warnings }
}
