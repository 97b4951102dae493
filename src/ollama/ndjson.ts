// NDJSON framing for Ollama's streams (`application/x-ndjson`: one JSON object per line).
//
// Lines are split on the byte 0x0A rather than on decoded text. In UTF-8 that byte only ever
// encodes '\n' (every byte of a multi-byte character is >= 0x80), so a line's bytes are complete
// once its newline arrives, and decoding them then cannot cut a character in half: this gives the
// same result as a streaming TextDecoder, without decoding anything twice or growing a string
// buffer. Proxies re-chunk streams at arbitrary byte offsets (docs/decisions.md, "NDJSON lines
// arrive split across chunks"), so a line can arrive split across chunks, many lines can share one
// chunk, and the last line may lack its newline.
//
// Each chunk is decoded once, up to its last newline, and lines are cut from that string; only a
// line that straddles chunks is assembled from bytes. The splitter is pull-based (push a chunk,
// then take lines until none is left), so the hot loop allocates nothing but the line strings:
// no arrays of lines, no callbacks.

const NEWLINE = 0x0a

export class NdjsonSplitter {
  /** Decoded text of the current chunk up to and including its last newline. */
  #text = ''
  #position = 0
  /** A line that began in an earlier chunk and ended in the current one. */
  #joined: string | undefined
  /** Bytes of a line whose newline has not arrived; copied, as the source may reuse buffers. */
  #pending: Buffer[] = []
  #ended = false

  /** Hands the splitter the next chunk; take its lines with `nextLine()` before pushing again. */
  push(chunk: Uint8Array): void {
    if (this.#joined !== undefined || this.#position < this.#text.length) {
      throw new Error(
        'NdjsonSplitter: take every line with nextLine() before pushing another chunk',
      )
    }
    const bytes = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    let start = 0
    if (this.#pending.length > 0) {
      const first = bytes.indexOf(NEWLINE)
      if (first === -1) {
        this.#pending.push(Buffer.from(bytes))
        return
      }
      this.#pending.push(bytes.subarray(0, first))
      this.#joined = this.#takePending()
      start = first + 1
    }
    const last = bytes.lastIndexOf(NEWLINE)
    // Decode every complete line of the chunk in one call; the bytes after the last newline wait.
    if (last >= start) {
      this.#text = bytes.toString('utf8', start, last + 1)
      this.#position = 0
      start = last + 1
    }
    if (start < bytes.length) this.#pending.push(Buffer.from(bytes.subarray(start)))
  }

  /** Marks the end of input: the bytes after the last newline then form a final line. */
  end(): void {
    this.#ended = true
  }

  /**
   * The next complete line (without its newline, possibly empty), or undefined when the pushed
   * input holds no further complete line. After `end()`, returns the unterminated tail once.
   */
  nextLine(): string | undefined {
    const joined = this.#joined
    if (joined !== undefined) {
      this.#joined = undefined
      return joined
    }
    const text = this.#text
    const position = this.#position
    if (position < text.length) {
      // The text always ends with a newline, so a line is always found here.
      const newline = text.indexOf('\n', position)
      this.#position = newline + 1
      return text.slice(position, newline)
    }
    if (this.#ended && this.#pending.length > 0) return this.#takePending()
    return undefined
  }

  /** True when bytes of an unterminated line are buffered. */
  get hasPartialLine(): boolean {
    return this.#pending.length > 0
  }

  #takePending(): string {
    const pending = this.#pending
    const line =
      pending.length === 1 ? pending[0]!.toString('utf8') : Buffer.concat(pending).toString('utf8')
    this.#pending = []
    return line
  }
}

/** Thrown for a line that is not JSON; carries the line so callers can say what arrived. */
export class NdjsonParseError extends Error {
  override name = 'NdjsonParseError'
  constructor(
    readonly line: string,
    cause: unknown,
  ) {
    super(`Not a JSON line: ${line.length > 200 ? `${line.slice(0, 200)}…` : line}`, { cause })
  }
}

/**
 * Parses one line. Returns undefined for blank lines (some proxies add "\r" or empty lines);
 * throws NdjsonParseError for anything else that is not JSON. Unlike ollama-js, which logs and
 * skips such lines, we fail: a skipped line would silently drop tokens from a reply.
 */
export function parseNdjsonLine(line: string): unknown {
  if (line.length === 0) return undefined
  try {
    return JSON.parse(line)
  } catch (error) {
    if (line.trim().length === 0) return undefined
    throw new NdjsonParseError(line, error)
  }
}

/** Every JSON value of an NDJSON byte stream, in order. */
export async function* parseNdjson(
  source: AsyncIterable<Uint8Array>,
): AsyncGenerator<unknown, void, undefined> {
  const splitter = new NdjsonSplitter()
  for await (const chunk of source) {
    splitter.push(chunk)
    for (let line = splitter.nextLine(); line !== undefined; line = splitter.nextLine()) {
      const value = parseNdjsonLine(line)
      if (value !== undefined) yield value
    }
  }
  splitter.end()
  for (let line = splitter.nextLine(); line !== undefined; line = splitter.nextLine()) {
    const value = parseNdjsonLine(line)
    if (value !== undefined) yield value
  }
}
