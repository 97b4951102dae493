// biome-ignore-all lint/suspicious/noExplicitAny: tests read wire payloads loosely, field by field
import { once } from 'node:events'
import { request } from 'node:http'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type Simulator, startSimulator } from '../src/simulator/index.js'
import { simulatedReply, tokenize } from '../src/simulator/tokens.js'

// Token streams of /api/chat and /api/generate: framing, final chunk, pacing, cancellation, faults.

let sim: Simulator

beforeEach(async () => {
  sim = await startSimulator({ models: ['llama3.2', 'qwen3:0.6b'] })
})
afterEach(() => sim.close())

function post(path: string, body: unknown, signal?: AbortSignal) {
  return fetch(sim.url + path, { method: 'POST', body: JSON.stringify(body), signal })
}

/** Reads an NDJSON body, stamping each line with its arrival time. */
async function readLines(
  res: Response,
): Promise<Array<{ at: number; value: Record<string, any> }>> {
  const out: Array<{ at: number; value: Record<string, any> }> = []
  const decoder = new TextDecoder()
  let buffer = ''
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true })
    let nl = buffer.indexOf('\n')
    while (nl >= 0) {
      out.push({ at: performance.now(), value: JSON.parse(buffer.slice(0, nl)) })
      buffer = buffer.slice(nl + 1)
      nl = buffer.indexOf('\n')
    }
  }
  expect(buffer).toBe('')
  return out
}

const UTC_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z$/
const METRICS = [
  'total_duration',
  'load_duration',
  'prompt_eval_count',
  'prompt_eval_duration',
  'eval_count',
  'eval_duration',
]

describe('simulator: chat and generate streams', () => {
  it('streams the documented reply as NDJSON chunks by default, then a final chunk with metrics', async () => {
    const messages = [
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'Hello there' },
    ]
    const res = await post('/api/chat', { model: 'llama3.2', messages })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/x-ndjson')
    const lines = (await readLines(res)).map((l) => l.value)
    const final = lines.pop()!
    const expected = tokenize(simulatedReply('llama3.2', 'Hello there'))
    expect(lines.map((l) => l.message.content)).toEqual(expected)
    for (const line of lines) {
      expect(Object.keys(line)).toEqual(['model', 'created_at', 'message', 'done'])
      expect(line).toMatchObject({ model: 'llama3.2', done: false, message: { role: 'assistant' } })
      expect(line.created_at).toMatch(UTC_TIME)
    }
    expect(final).toMatchObject({
      model: 'llama3.2',
      message: { role: 'assistant', content: '' },
      done: true,
      done_reason: 'stop',
      eval_count: expected.length,
    })
    for (const key of METRICS)
      expect(Number.isInteger(final[key]) && final[key] > 0, key).toBe(true)
    expect(final.total_duration).toBeGreaterThanOrEqual(final.eval_duration)
  })

  it('returns one aggregated object with stream:false', async () => {
    const res = await post('/api/generate', {
      model: 'llama3.2',
      prompt: 'Why is the sky blue?',
      stream: false,
    })
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8')
    const body = (await res.json()) as Record<string, any>
    expect(body).toMatchObject({
      model: 'llama3.2',
      response: simulatedReply('llama3.2', 'Why is the sky blue?'),
      done: true,
      done_reason: 'stop',
    })
    expect(Array.isArray(body.context)).toBe(true)
    expect(Object.keys(body).slice(0, 6)).toEqual([
      'model',
      'created_at',
      'response',
      'done',
      'done_reason',
      'context',
    ])
  })

  it('produces exactly num_predict tokens with done_reason "length"', async () => {
    const res = await post('/api/generate', {
      model: 'llama3.2',
      prompt: 'hi',
      options: { num_predict: 500 },
    })
    const lines = (await readLines(res)).map((l) => l.value)
    const final = lines.pop()!
    expect(lines).toHaveLength(500)
    expect(final).toMatchObject({ done_reason: 'length', eval_count: 500 })
    const text = lines.map((l) => l.response).join('')
    expect(text.startsWith(simulatedReply('llama3.2', 'hi'))).toBe(true)
  })

  it('cuts the reply short when num_predict is smaller than it', async () => {
    const res = await post('/api/generate', {
      model: 'llama3.2',
      prompt: 'hi',
      stream: false,
      options: { num_predict: 3 },
    })
    const body = (await res.json()) as Record<string, any>
    expect(body.response).toBe(tokenize(simulatedReply('llama3.2', 'hi')).slice(0, 3).join(''))
    expect(body.done_reason).toBe('length')
  })

  it('answers "count to N" with the numbers 1 to N', async () => {
    const res = await post('/api/chat', {
      model: 'llama3.2',
      stream: false,
      messages: [{ role: 'user', content: 'Please count to 12' }],
    })
    const body = (await res.json()) as { message: { content: string } }
    expect(body.message.content).toBe('1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12.')
  })

  it('streams a 20,000-token reply to the end', async () => {
    const res = await post('/api/chat', {
      model: 'llama3.2',
      messages: [{ role: 'user', content: 'go' }],
      options: { num_predict: 20_000 },
    })
    const lines = await readLines(res)
    expect(lines).toHaveLength(20_001)
    expect(lines.at(-1)?.value).toMatchObject({ done: true, eval_count: 20_000 })
    expect(sim.stats).toMatchObject({ activeStreams: 0, completedStreams: 1, cancelledStreams: 0 })
  })

  it('streams thinking before content for a thinking model, and not with think:false', async () => {
    const messages = [{ role: 'user', content: 'why?' }]
    const lines = (await readLines(await post('/api/chat', { model: 'qwen3:0.6b', messages }))).map(
      (l) => l.value,
    )
    const thinking = lines.filter((l) => l.message.thinking)
    expect(thinking.length).toBeGreaterThan(0)
    expect(lines.indexOf(thinking.at(-1)!)).toBeLessThan(lines.findIndex((l) => l.message.content))
    const plain = await (
      await post('/api/chat', { model: 'qwen3:0.6b', messages, think: false, stream: false })
    ).json()
    expect((plain as any).message.thinking).toBeUndefined()
  })

  it('escapes <, > and & as Go does', async () => {
    const res = await post('/api/generate', { model: 'llama3.2', prompt: '<b>&', stream: false })
    expect(await res.text()).toContain('\\u003cb\\u003e\\u0026')
  })
})

describe('simulator: pacing and faults', () => {
  it('spreads tokens tokenDelayMs apart', async () => {
    sim.configure({ tokenDelayMs: 25 })
    const res = await post('/api/generate', {
      model: 'llama3.2',
      prompt: 'x',
      options: { num_predict: 8 },
    })
    const lines = await readLines(res)
    const spread = lines[7]!.at - lines[0]!.at
    // Seven gaps of 25 ms: allow timer coarseness below, no upper bound (slow machines).
    expect(spread).toBeGreaterThanOrEqual(7 * 25 - 10)
  })

  it('holds the first byte for firstByteDelayMs (a cold load)', async () => {
    sim.configure({ firstByteDelayMs: 150 })
    const started = performance.now()
    const res = await post('/api/chat', {
      model: 'llama3.2',
      messages: [{ role: 'user', content: 'x' }],
    })
    expect(performance.now() - started).toBeGreaterThanOrEqual(140)
    await res.text()
  })

  it('counts a client that goes away mid-stream as cancelled within 100 ms and stops generating', async () => {
    sim.configure({ tokenDelayMs: 20 })
    const controller = new AbortController()
    const res = await post(
      '/api/chat',
      {
        model: 'llama3.2',
        messages: [{ role: 'user', content: 'x' }],
        options: { num_predict: 10_000 },
      },
      controller.signal,
    )
    const reader = res.body!.getReader()
    await reader.read()
    expect(sim.stats.activeStreams).toBe(1)
    const cancelled = once(sim.events, 'stream-cancel')
    const abortedAt = performance.now()
    controller.abort()
    const [info] = await cancelled
    expect(performance.now() - abortedAt).toBeLessThan(100)
    expect(info).toMatchObject({ path: '/api/chat', model: 'llama3.2' })
    expect(sim.stats).toMatchObject({ activeStreams: 0, cancelledStreams: 1, completedStreams: 0 })
  })

  it('destroys the connection after failAfterTokens tokens', async () => {
    sim.configure({ failAfterTokens: 3 })
    const received: string[] = []
    const error = await new Promise<Error>((resolve) => {
      const req = request(sim.url + '/api/chat', { method: 'POST' }, (res) => {
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => received.push(chunk))
        res.on('error', resolve)
        res.on('aborted', () => resolve(new Error('aborted')))
      })
      req.on('error', resolve)
      req.end(JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'x' }] }))
    })
    expect(error).toBeInstanceOf(Error)
    const lines = received.join('').split('\n').filter(Boolean)
    expect(lines).toHaveLength(3)
    expect(sim.stats).toMatchObject({ faultedStreams: 1, cancelledStreams: 0, activeStreams: 0 })
  })

  it('ends with an {"error"} line after errorAfterTokens, keeping the 200', async () => {
    sim.configure({ errorAfterTokens: 2 })
    const res = await post('/api/generate', { model: 'llama3.2', prompt: 'x' })
    expect(res.status).toBe(200)
    const lines = (await readLines(res)).map((l) => l.value)
    expect(lines).toHaveLength(3)
    expect(lines[2]).toEqual({ error: 'an error was encountered while running the model' })
    const flat = await post('/api/generate', { model: 'llama3.2', prompt: 'x', stream: false })
    expect(flat.status).toBe(500)
    expect(await flat.json()).toEqual({ error: 'an error was encountered while running the model' })
  })

  it('changes faults live and clears them with undefined', async () => {
    sim.configure({ errorAfterTokens: 1 })
    sim.configure({ errorAfterTokens: undefined })
    const res = await post('/api/generate', { model: 'llama3.2', prompt: 'x', stream: false })
    expect(res.status).toBe(200)
  })

  it('emits stream-start and stream-end around a completed stream', async () => {
    const events: string[] = []
    sim.events.on('stream-start', () => events.push('start'))
    sim.events.on('stream-end', (info) => events.push(`end:${info.reason}`))
    await (await post('/api/generate', { model: 'llama3.2', prompt: 'x', stream: false })).json()
    expect(events).toEqual(['start', 'end:done'])
  })
})
