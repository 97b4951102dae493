// HEAD and POST /api/blobs/:digest (docs/simulator.md, "Blobs"): the upload half of creating a
// model from a GGUF file. The bytes are hashed as they arrive and then dropped (a simulated model
// has no weights); what is kept per blob is its size and whether it began with the GGUF magic,
// which is all `/api/create` needs to accept or refuse it.

import { createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { SimContext } from './context.js'
import { HttpError, sendEmpty } from './http.js'

/** Ollama's blob digest rule (manifest/paths.go BlobsPath). */
const DIGEST = /^sha256[:-][0-9a-fA-F]{64}$/
/** Uploaded blobs remembered at most; the oldest is forgotten first. */
const MAX_UPLOADS = 1024
const GGUF_MAGIC = Buffer.from('GGUF')

export interface UploadedBlob {
  size: number
  /** The first four bytes were `GGUF` (what create's detectContentType checks). */
  gguf: boolean
}

/** Uploaded blobs by digest as sent (`sha256:…`), oldest first, bounded by MAX_UPLOADS. */
export class BlobStore {
  private readonly uploads = new Map<string, UploadedBlob>()

  constructor(private readonly ctx: SimContext) {}

  has(digest: string): boolean {
    return this.uploads.has(digest) || this.pulled(digest)
  }

  get(digest: string): UploadedBlob | undefined {
    return this.uploads.get(digest)
  }

  add(digest: string, blob: UploadedBlob): void {
    this.uploads.delete(digest)
    this.uploads.set(digest, blob)
    if (this.uploads.size > MAX_UPLOADS) {
      const oldest = this.uploads.keys().next().value
      if (oldest !== undefined) this.uploads.delete(oldest)
    }
  }

  /** A layer of an installed model (pulled or created) is on "disk" too. */
  private pulled(digest: string): boolean {
    const key = digest.replace('-', ':')
    return this.ctx.registry.list().some((model) => model.layers.some((l) => l.digest === key))
  }
}

/** The digest from the path, checked as Ollama checks it: else 400 `invalid digest format`. */
function digestOf(path: string): string {
  const digest = decodeURIComponent(path.slice('/api/blobs/'.length))
  if (!DIGEST.test(digest)) throw new HttpError(400, 'invalid digest format')
  return digest
}

/**
 * HEAD /api/blobs/:digest: 200 when stored, else 404 (whose JSON body HEAD does not deliver).
 */
export function handleHeadBlob(blobs: BlobStore, res: ServerResponse, path: string): void {
  const digest = digestOf(path)
  if (blobs.has(digest)) {
    sendEmpty(res, 200)
    return
  }
  res.writeHead(404, { 'Content-Type': 'application/json; charset=utf-8' })
  res.end()
}

/**
 * POST /api/blobs/:digest: 200 without reading the body when the blob is there already, 201 once
 * stored, 400 when the bytes hash to another digest. The comparison is with the digest as sent,
 * so a `sha256-…` spelling never matches the `sha256:…` Ollama computes (routes.go
 * CreateBlobHandler does the same).
 */
export async function handlePostBlob(
  blobs: BlobStore,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<void> {
  const digest = digestOf(path)
  if (blobs.has(digest)) {
    req.resume()
    sendEmpty(res, 200)
    return
  }
  const hash = createHash('sha256')
  let size = 0
  const head: Buffer[] = []
  let headBytes = 0
  for await (const chunk of req) {
    const bytes = chunk as Buffer
    hash.update(bytes)
    size += bytes.length
    if (headBytes < GGUF_MAGIC.length) {
      head.push(bytes)
      headBytes += bytes.length
    }
  }
  const got = `sha256:${hash.digest('hex')}`
  if (got !== digest) {
    throw new HttpError(400, `digest mismatch, expected "${digest}", got "${got}"`)
  }
  const gguf = Buffer.concat(head).subarray(0, GGUF_MAGIC.length).equals(GGUF_MAGIC)
  blobs.add(digest, { size, gguf })
  sendEmpty(res, 201)
}
