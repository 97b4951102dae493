// The status stream that create and push answer with, as Ollama's streamResponse and
// waitForStream write it (docs/simulator.md, "Create, blobs and push"): NDJSON status lines; an
// error before the first line is a plain HTTP error with its status, after it an `{"error"}` line
// with the 200 kept; `stream: false` answers only the last status, or the error.

import type { ServerResponse } from 'node:http'
import { goStringify, sendJson } from './http.js'

export interface ProgressLine {
  status: string
  digest?: string
  total?: number
  completed?: number
}

export interface ProgressStream {
  /** Writes one status line (kept as the answer when not streaming); false when the socket is full. */
  send(line: ProgressLine): boolean
  /** Ends with an error: 400 for a bad request Ollama tags so, 500 otherwise. */
  fail(message: string, status?: number): void
  /** Ends with the last line sent (`success`). */
  finish(): void
}

export function progressStream(res: ServerResponse, streaming: boolean): ProgressStream {
  let last: ProgressLine = { status: '' }
  return {
    send(line) {
      last = line
      if (!streaming) return true
      if (!res.headersSent) res.writeHead(200, { 'Content-Type': 'application/x-ndjson' })
      return res.write(`${goStringify(line)}\n`)
    },
    fail(message, status = 500) {
      if (res.headersSent) res.end(`${goStringify({ error: message })}\n`)
      else sendJson(res, status, { error: message })
    },
    finish() {
      if (streaming) res.end()
      else sendJson(res, 200, last)
    },
  }
}

/** A layer's short name in status lines: the first 12 hex digits after `sha256:`. */
export function shortDigest(digest: string): string {
  return digest.slice(7, 19)
}
