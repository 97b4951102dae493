import { afterEach, describe, expect, it } from 'vitest'
import { type Simulator, type SimulatorOptions, startSimulator } from '../src/simulator/index.js'

// /api/pull progress as docs/decisions.md, "A pull reports one layer at a time", specifies it.

let sim: Simulator | undefined

afterEach(async () => {
  await sim?.close()
  sim = undefined
})

async function start(opts: SimulatorOptions = {}): Promise<Simulator> {
  sim = await startSimulator(opts)
  return sim
}

type Line = { status?: string; digest?: string; total?: number; completed?: number; error?: string }

async function pullLines(
  s: Simulator,
  body: unknown,
  signal?: AbortSignal,
): Promise<{ status: number; type: string | null; lines: Line[] }> {
  const res = await fetch(s.url + '/api/pull', {
    method: 'POST',
    body: JSON.stringify(body),
    signal,
  })
  const text = await res.text()
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    lines: text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l)),
  }
}

const LLAMA32_LAYERS = [
  ['sha256:dde5aa3fc5ffc17176b5e8bdc82f587b24b2678c6c66101bf7da77af9f7ccdff', 2019377376],
  ['sha256:966de95ca8a62200913e3f8bfbf84c8494536f1b94b49166851e76644e966396', 1429],
  ['sha256:fcc5a6bec9daf9b561a68827b67ab6088e1dba9d1fa2a50d7bbcc8384e0a265d', 7711],
  ['sha256:a70ff7e570d97baaf4e62ac6e6ad9975e04caa6d900d3742d37698494479e0cd', 6016],
  ['sha256:56bb8bd477a519ffa694fc449c2413c6f0e1d3b1c88fa7e3c9d88d3ae49d4dcb', 96],
  ['sha256:34bb5ab01051a11372a91f95f3fbbc51173eed8e7f13ec395b9ae9b8bd0e242b', 561],
] as const

describe('simulator: /api/pull', () => {
  it('streams manifest, each layer in order (config last), verify, write, success', async () => {
    const s = await start({ pullBytesPerSecond: 1e10 })
    const { status, type, lines } = await pullLines(s, { model: 'llama3.2' })
    expect(status).toBe(200)
    expect(type).toBe('application/x-ndjson')
    expect(lines[0]).toEqual({ status: 'pulling manifest' })
    expect(lines.slice(-3)).toEqual([
      { status: 'verifying sha256 digest' },
      { status: 'writing manifest' },
      { status: 'success' },
    ])
    const layerLines = lines.slice(1, -3)
    const order = [...new Set(layerLines.map((l) => l.digest))]
    expect(order).toEqual(LLAMA32_LAYERS.map(([digest]) => digest))
    for (const [digest, total] of LLAMA32_LAYERS) {
      const mine = layerLines.filter((l) => l.digest === digest)
      for (const line of mine) {
        expect(line.status).toBe(`pulling ${digest.slice(7, 19)}`)
        expect(line.total).toBe(total)
        expect(Object.keys(line)).toEqual(
          line.completed === undefined
            ? ['status', 'digest', 'total']
            : ['status', 'digest', 'total', 'completed'],
        )
      }
      const completed = mine.map((l) => l.completed ?? 0)
      expect(completed).toEqual([...completed].sort((a, b) => a - b))
      expect(completed.at(-1)).toBe(total)
    }
    // The big layer starts at zero: its first line has no `completed` (omitempty).
    expect(layerLines[0]?.completed).toBeUndefined()
    expect(layerLines.filter((l) => l.digest === LLAMA32_LAYERS[0][0]).length).toBeGreaterThan(2)
  })

  it('paces progress at pullBytesPerSecond on a 60 ms ticker', async () => {
    const s = await start({
      catalog: { 'tiny:latest': { size: 40_000_000 } },
      pullBytesPerSecond: 100_000_000,
    })
    const started = performance.now()
    const { lines } = await pullLines(s, { model: 'tiny' })
    const elapsed = performance.now() - started
    expect(elapsed).toBeGreaterThanOrEqual(350)
    const big = lines.filter((l) => l.total && l.total > 1_000_000)
    // ~400 ms at one line per 60 ms: about 7 lines (bounds loose for a busy machine).
    expect(big.length).toBeGreaterThanOrEqual(4)
  })

  it('makes a pulled model appear in /api/tags', async () => {
    const s = await start()
    const { lines } = await pullLines(s, { name: 'qwen2.5:0.5b' })
    expect(lines.at(-1)).toEqual({ status: 'success' })
    const tags = (await (await fetch(s.url + '/api/tags')).json()) as {
      models: Array<{ name: string; size: number }>
    }
    expect(tags.models).toEqual([
      expect.objectContaining({ name: 'qwen2.5:0.5b', size: 397821319 }),
    ])
  })

  it('re-pulls an installed model with one complete line per layer', async () => {
    const s = await start({ models: ['llama3.2'] })
    const { lines } = await pullLines(s, { model: 'llama3.2:latest' })
    const layerLines = lines.slice(1, -3)
    expect(layerLines).toHaveLength(LLAMA32_LAYERS.length)
    for (const line of layerLines) expect(line.completed).toBe(line.total)
  })

  it('returns {"status":"success"} with stream:false', async () => {
    const s = await start()
    const res = await fetch(s.url + '/api/pull', {
      method: 'POST',
      body: JSON.stringify({ model: 'all-minilm', stream: false }),
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8')
    expect(await res.json()).toEqual({ status: 'success' })
  })

  it('reports an unknown model as an in-stream error with HTTP 200', async () => {
    const s = await start()
    const { status, lines } = await pullLines(s, { model: 'no-such-model' })
    expect(status).toBe(200)
    expect(lines).toEqual([
      { status: 'pulling manifest' },
      { error: 'pull model manifest: file does not exist' },
    ])
  })

  it('reports an unknown model as HTTP 500 with stream:false', async () => {
    const s = await start()
    const res = await fetch(s.url + '/api/pull', {
      method: 'POST',
      body: JSON.stringify({ model: 'no-such-model', stream: false }),
    })
    expect(res.status).toBe(500)
    expect(await res.json()).toEqual({ error: 'pull model manifest: file does not exist' })
  })

  it('refuses an http:// name without insecure as a plain 500', async () => {
    const s = await start()
    const res = await fetch(s.url + '/api/pull', {
      method: 'POST',
      body: JSON.stringify({ model: 'http://myreg:5000/a/b' }),
    })
    expect(res.status).toBe(500)
    expect(await res.json()).toEqual({ error: 'insecure protocol http' })
  })

  it('stops a pull whose client went away, counts it, and resumes from the partial bytes', async () => {
    const s = await start({
      catalog: { 'big:latest': { size: 5_000_000_000 } },
      pullBytesPerSecond: 1_000_000_000,
    })
    const controller = new AbortController()
    const res = await fetch(s.url + '/api/pull', {
      method: 'POST',
      body: JSON.stringify({ model: 'big' }),
      signal: controller.signal,
    })
    const reader = res.body!.getReader()
    const decoder = new TextDecoder()
    let text = ''
    let seen = 0
    while (seen < 300_000_000) {
      const { value, done } = await reader.read()
      if (done) throw new Error(`pull ended before 300 MB: ${text}`)
      text += decoder.decode(value, { stream: true })
      const lines = text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Line)
      seen = Math.max(0, ...lines.map((l) => l.completed ?? 0))
    }
    const cancelled = new Promise((resolve) => s.events.once('stream-cancel', resolve))
    controller.abort()
    await cancelled
    expect(s.stats.cancelledStreams).toBe(1)
    // Resume: the first line of the second pull starts at (or after) what the first one reached.
    s.configure({ pullBytesPerSecond: Number.POSITIVE_INFINITY })
    const { lines } = await pullLines(s, { model: 'big' })
    expect(lines[1]?.completed).toBeGreaterThanOrEqual(seen)
    expect(lines.at(-1)).toEqual({ status: 'success' })
  })

  it('shares one download between concurrent pulls of the same model', async () => {
    const s = await start({
      catalog: { 'shared:latest': { size: 200_000_000 } },
      pullBytesPerSecond: 500_000_000,
    })
    const started = performance.now()
    const [a, b] = await Promise.all([
      pullLines(s, { model: 'shared' }),
      pullLines(s, { model: 'shared' }),
    ])
    expect(a.lines.at(-1)).toEqual({ status: 'success' })
    expect(b.lines.at(-1)).toEqual({ status: 'success' })
    // Two separate downloads would each run at full speed; a shared one is no faster than one.
    expect(performance.now() - started).toBeGreaterThanOrEqual(350)
  })

  it('stalls with pullBytesPerSecond 0, so a UI can test its stall detection', async () => {
    const s = await start({
      catalog: { 'stuck:latest': { size: 10_000_000 } },
      pullBytesPerSecond: 0,
    })
    const controller = new AbortController()
    const res = await fetch(s.url + '/api/pull', {
      method: 'POST',
      body: JSON.stringify({ model: 'stuck' }),
      signal: controller.signal,
    })
    const reader = res.body!.getReader()
    let text = ''
    while (text.split('\n').filter(Boolean).length < 4) {
      const { value, done } = await reader.read()
      if (done) throw new Error(`pull ended: ${text}`)
      text += new TextDecoder().decode(value)
    }
    const lines = text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Line)
    expect(
      lines.slice(1, 4).every((l) => l.completed === undefined && l.total === lines[1]?.total),
    ).toBe(true)
    controller.abort()
  })
})
