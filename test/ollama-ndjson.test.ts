import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { OllamaError } from '../src/ollama/errors.js'
import {
  NdjsonParseError,
  NdjsonSplitter,
  parseNdjson,
  parseNdjsonLine,
} from '../src/ollama/ndjson.js'
import { OllamaStream, type StreamKind } from '../src/ollama/stream.js'

/** mulberry32: a tiny seeded PRNG, so a failing chunking can be replayed from its seed. */
function prng(seed: number): () => number {
  let state = seed >>> 0
  return function next() {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// 1-, 2-, 3- and 4-byte UTF-8 characters, plus characters JSON must escape.
const ALPHABET = [
  'a',
  'Z',
  ' ',
  '7',
  'é',
  'ß',
  'Ω',
  '中',
  '文',
  '€',
  '😀',
  '🦙',
  '𝄞',
  '"',
  '\\',
  '\n',
  '\t',
]

function randomText(random: () => number, maxLength: number): string {
  const length = Math.floor(random() * maxLength)
  let text = ''
  for (let i = 0; i < length; i++) text += ALPHABET[Math.floor(random() * ALPHABET.length)]
  return text
}

function randomChunk(random: () => number, index: number, done: boolean): Record<string, unknown> {
  return {
    model: 'llama3.2',
    created_at: `2026-08-21T10:00:00.${index}Z`,
    message: { role: 'assistant', content: randomText(random, done ? 0 : 12) },
    done,
    ...(random() < 0.2 ? { extra: [1, 2.5, null, true, { nested: randomText(random, 6) }] } : {}),
  }
}

function randomStream(random: () => number): { objects: unknown[]; bytes: Buffer } {
  const count = 1 + Math.floor(random() * 60)
  const objects = Array.from({ length: count }, (_, i) => randomChunk(random, i, i === count - 1))
  const lines = objects.map((object) => JSON.stringify(object))
  // Sometimes no newline after the last line, as a server may close without one.
  const trailing = random() < 0.5 ? '\n' : ''
  return { objects, bytes: Buffer.from(lines.join('\n') + trailing, 'utf8') }
}

/** Cuts `bytes` at random offsets; small pieces make splits inside characters common. */
function randomChunking(random: () => number, bytes: Buffer): Buffer[] {
  const chunks: Buffer[] = []
  let offset = 0
  while (offset < bytes.length) {
    const size = random() < 0.5 ? 1 + Math.floor(random() * 4) : 1 + Math.floor(random() * 300)
    chunks.push(bytes.subarray(offset, offset + size))
    offset += size
  }
  return chunks
}

function splitAll(chunks: Uint8Array[]): string[] {
  const splitter = new NdjsonSplitter()
  const lines: string[] = []
  for (const chunk of chunks) {
    splitter.push(chunk)
    for (let line = splitter.nextLine(); line !== undefined; line = splitter.nextLine())
      lines.push(line)
  }
  splitter.end()
  for (let line = splitter.nextLine(); line !== undefined; line = splitter.nextLine())
    lines.push(line)
  return lines
}

function parseAll(chunks: Uint8Array[]): unknown[] {
  return splitAll(chunks)
    .map(parseNdjsonLine)
    .filter((value) => value !== undefined)
}

/** Whether a cut at `offset` falls inside a multi-byte character (on a continuation byte). */
function cutsCharacter(bytes: Buffer, offset: number): boolean {
  const byte = bytes[offset]
  return byte !== undefined && (byte & 0xc0) === 0x80
}

describe('NDJSON splitter', () => {
  it('parses the same objects under every random chunking (seeded, 300 streams x 8 chunkings)', () => {
    let cutsInsideCharacters = 0
    for (let seed = 1; seed <= 300; seed++) {
      const random = prng(seed)
      const { objects, bytes } = randomStream(random)
      for (let round = 0; round < 8; round++) {
        const chunks = randomChunking(random, bytes)
        let offset = 0
        for (const chunk of chunks.slice(0, -1)) {
          offset += chunk.length
          if (cutsCharacter(bytes, offset)) cutsInsideCharacters++
        }
        const parsed = parseAll(chunks)
        if (JSON.stringify(parsed) !== JSON.stringify(objects)) {
          throw new Error(`seed ${seed} round ${round}: chunking changed the parsed objects`)
        }
      }
    }
    // The property is only meaningful if characters were actually cut in half many times.
    expect(cutsInsideCharacters).toBeGreaterThan(1000)
  })

  it('joins a line split across chunks', () => {
    const bytes = Buffer.from('{"a":1}\n{"b":"two"}\n')
    expect(parseAll([bytes.subarray(0, 3), bytes.subarray(3, 12), bytes.subarray(12)])).toEqual([
      { a: 1 },
      { b: 'two' },
    ])
  })

  it('joins a line spread over many chunks without a newline in any of them', () => {
    const text = JSON.stringify({ long: 'x'.repeat(10_000) })
    const bytes = Buffer.from(`${text}\n`)
    const chunks: Buffer[] = []
    for (let i = 0; i < bytes.length; i += 7) chunks.push(bytes.subarray(i, i + 7))
    expect(parseAll(chunks)).toEqual([{ long: 'x'.repeat(10_000) }])
  })

  it('returns every line of a chunk that holds many', () => {
    const lines = Array.from({ length: 500 }, (_, i) => JSON.stringify({ i }))
    expect(parseAll([Buffer.from(`${lines.join('\n')}\n`)])).toEqual(
      Array.from({ length: 500 }, (_, i) => ({ i })),
    )
  })

  it('returns the last line when it has no newline, only at the end of input', () => {
    const splitter = new NdjsonSplitter()
    splitter.push(Buffer.from('{"a":1}\n{"b":2}'))
    expect(splitter.nextLine()).toBe('{"a":1}')
    expect(splitter.nextLine()).toBeUndefined()
    expect(splitter.hasPartialLine).toBe(true)
    splitter.end()
    expect(splitter.nextLine()).toBe('{"b":2}')
    expect(splitter.nextLine()).toBeUndefined()
  })

  it('decodes a 4-byte character cut at each of its byte boundaries', () => {
    const bytes = Buffer.from('{"content":"🦙 llama"}\n')
    const start = bytes.indexOf(0xf0)
    for (let cut = start + 1; cut < start + 4; cut++) {
      expect(cutsCharacter(bytes, cut)).toBe(true)
      expect(parseAll([bytes.subarray(0, cut), bytes.subarray(cut)])).toEqual([
        { content: '🦙 llama' },
      ])
    }
    // One byte at a time: every character is cut.
    const bytewise = Array.from(bytes, (byte) => Uint8Array.of(byte))
    expect(parseAll(bytewise)).toEqual([{ content: '🦙 llama' }])
  })

  it('accepts Uint8Array views that do not start at offset 0 of their buffer', () => {
    const backing = new Uint8Array(Buffer.from('xx{"a":"é"}\nyy'))
    expect(parseAll([backing.subarray(2, 12)])).toEqual([{ a: 'é' }])
  })

  it('keeps pending bytes even when the source reuses its buffer', () => {
    const reused = Buffer.alloc(4)
    const splitter = new NdjsonSplitter()
    const lines: string[] = []
    for (const piece of ['{"a"', ':"b"', '}\n']) {
      reused.fill(0)
      reused.write(piece)
      splitter.push(reused.subarray(0, Buffer.byteLength(piece)))
      for (let line = splitter.nextLine(); line !== undefined; line = splitter.nextLine())
        lines.push(line)
    }
    expect(lines).toEqual(['{"a":"b"}'])
  })

  it('refuses a new chunk while lines of the previous one are untaken', () => {
    const splitter = new NdjsonSplitter()
    splitter.push(Buffer.from('{"a":1}\n{"b":2}\n'))
    expect(splitter.nextLine()).toBe('{"a":1}')
    expect(() => splitter.push(Buffer.from('{"c":3}\n'))).toThrow(/nextLine/)
  })

  it('skips blank lines and CRLF endings', () => {
    expect(parseAll([Buffer.from('{"a":1}\r\n\n\r\n{"b":2}\r\n')])).toEqual([{ a: 1 }, { b: 2 }])
  })

  it('throws NdjsonParseError naming the line that is not JSON', () => {
    expect(() => parseNdjsonLine('<html>bad gateway</html>')).toThrow(NdjsonParseError)
    expect(() => parseNdjsonLine('<html>bad gateway</html>')).toThrow(/bad gateway/)
  })

  it('parses an async iterable of chunks with parseNdjson', async () => {
    const random = prng(42)
    const { objects, bytes } = randomStream(random)
    const parsed: unknown[] = []
    for await (const value of parseNdjson(Readable.from(randomChunking(random, bytes))))
      parsed.push(value)
    expect(parsed).toEqual(objects)
  })
})

describe('OllamaStream over a byte stream', () => {
  const site = { baseUrl: 'http://127.0.0.1:1', method: 'POST', path: '/api/chat' }
  const kind: StreamKind<Record<string, unknown>> = {
    expected: 'done:true',
    isFinal: (value) => value.done === true,
    check: (value) => (typeof value.done === 'boolean' ? value : undefined),
  }

  async function collect(stream: OllamaStream<Record<string, unknown>>): Promise<unknown[]> {
    const values: unknown[] = []
    for await (const value of stream) values.push(value)
    return values
  }

  it('yields the same chunks under random chunkings of a real Readable (seeded)', async () => {
    for (let seed = 1000; seed < 1040; seed++) {
      const random = prng(seed)
      const { objects, bytes } = randomStream(random)
      const body = Readable.from(randomChunking(random, bytes), { objectMode: false })
      const values = await collect(new OllamaStream(body, site, 200, kind))
      if (JSON.stringify(values) !== JSON.stringify(objects))
        throw new Error(`seed ${seed} differs`)
    }
  })

  it('hands out the chunks before an {"error":…} line, then throws OllamaError', async () => {
    const body = Readable.from([
      Buffer.from(
        '{"done":false,"n":1}\n{"done":false,"n":2}\n{"error":"an error was encountered while running the model"}\n',
      ),
    ])
    const stream = new OllamaStream(body, site, 200, kind)
    const seen: unknown[] = []
    const error = await (async () => {
      try {
        for await (const value of stream) seen.push(value)
      } catch (caught) {
        return caught
      }
    })()
    expect(seen).toEqual([
      { done: false, n: 1 },
      { done: false, n: 2 },
    ])
    expect(error).toBeInstanceOf(OllamaError)
    expect(error).toMatchObject({
      status: 200,
      code: 'OLLAMA_STREAM_ERROR',
      ollamaMessage: 'an error was encountered while running the model',
    })
  })

  it('throws when the body ends before the final chunk', async () => {
    const body = Readable.from([Buffer.from('{"done":false}\n')])
    await expect(collect(new OllamaStream(body, site, 200, kind))).rejects.toMatchObject({
      code: 'OLLAMA_BAD_RESPONSE',
      message: expect.stringMatching(/ended before its final chunk/),
    })
  })

  it('throws on a line that is not JSON', async () => {
    const body = Readable.from([Buffer.from('{"done":false}\n<html>\n')])
    await expect(collect(new OllamaStream(body, site, 200, kind))).rejects.toMatchObject({
      code: 'OLLAMA_BAD_RESPONSE',
    })
  })

  it('destroys the body when the consumer stops early', async () => {
    const body = new Readable({ read() {} })
    body.push('{"done":false}\n{"done":false}\n')
    const stream = new OllamaStream(body, site, 200, kind)
    for await (const _ of stream) break
    expect(body.destroyed).toBe(true)
    await expect(stream.next()).resolves.toEqual({ value: undefined, done: true })
  })
})
