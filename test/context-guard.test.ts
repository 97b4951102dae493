// The context guard against the simulator (docs/decisions.md, "Ollama cuts a long prompt without a
// word"): the simulator gives each model a context window and cuts a longer prompt as Ollama does,
// reporting prompt_eval_count; the plugin's chat then carries a warning in its `done` metrics,
// in /status for the overlay, and in the terminal, and a chat that fits clears it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OllamaClient } from '../src/ollama/client.js'
import type { ChatMetrics, ContextWarning } from '../src/protocol.js'
import { checkContext, estimatePromptTokens } from '../src/server/context-guard.js'
import { type Simulator, startSimulator } from '../src/simulator/index.js'
import { getStatus, servePlugin, waitForStatus } from './helpers/faults.js'
import { ChatClient } from './helpers/ws-client.js'
import { openSse } from './routes-harness.js'

// A model trained for 8192 tokens; the simulator runs it with 4096 unless told otherwise.
const MODEL = 'ctx-llama'
const long = (words: number) => 'word '.repeat(words)

describe('the context guard', () => {
  let sim: Simulator
  let served: Awaited<ReturnType<typeof servePlugin>>

  beforeAll(async () => {
    sim = await startSimulator({
      models: [MODEL, 'llama3.2'],
      catalog: { [MODEL]: { size: 700_000_000, contextLength: 8192 } },
    })
    served = await servePlugin({ engine: 'external', url: sim.url, models: [MODEL], warmup: false })
    await waitForStatus(served.url, (s) => s.phase === 'ready')
  })
  afterAll(async () => {
    await served?.close()
    await sim?.close()
  })

  async function chatSse(content: string, options?: Record<string, unknown>) {
    const { frames } = await openSse(`${served.url}/__ollama/chat`, {
      model: MODEL,
      messages: [{ role: 'user', content }],
      ...(options ? { options } : {}),
    }).done
    const done = frames.find((f) => f.event === 'done')
    if (!done) throw new Error(`no done event: ${JSON.stringify(frames.at(-1))}`)
    return (JSON.parse(done.data) as { metrics: ChatMetrics }).metrics
  }

  it('warns in done, in /status and in the terminal when a prompt passes the window, and clears it when one fits', async () => {
    const metrics = await chatSse(long(6000))
    // The simulator cut the prompt to the window, as Ollama does, and said so only in the count.
    expect(metrics.promptTokens).toBe(4096)
    expect(metrics.contextWarning).toMatchObject({
      model: MODEL,
      level: 'over',
      numCtx: 4096,
      maxCtx: 8192,
      promptTokens: expect.any(Number),
    } satisfies Partial<ContextWarning>)
    expect(metrics.contextWarning?.promptTokens).toBeGreaterThan(6000)
    expect(metrics.contextWarning?.message).toMatch(
      /^The prompt \(about \d+ tokens\) does not fit ctx-llama's context window \(num_ctx 4096\): Ollama cut its start/,
    )
    expect(metrics.contextWarning?.hint).toMatch(/numCtx in the ollama\(\) options.*up to 8192/)

    const status = await getStatus(served.url)
    expect(status.contextWarning).toEqual(metrics.contextWarning)
    expect(served.lines.join('\n')).toMatch(/does not fit ctx-llama's context window/)

    const fits = await chatSse('a short question')
    expect(fits.contextWarning).toBeUndefined()
    expect((await getStatus(served.url)).contextWarning).toBeUndefined()
  })

  it('warns when a prompt fills 90 % of the window the request set, and names the model’s limit when num_ctx is at it', async () => {
    // About 1,880 tokens by the estimate in a window of 2048: 92 %.
    const near = await chatSse(long(1500), { num_ctx: 2048 })
    expect(near.contextWarning).toMatchObject({ level: 'near', numCtx: 2048 })
    expect(near.contextWarning?.message).toMatch(/fills 9\d% of ctx-llama's context window/)

    // num_ctx above what the model takes runs at its limit: only less history helps then.
    const capped = await chatSse(long(9000), { num_ctx: 32768 })
    expect(capped.contextWarning).toMatchObject({ level: 'over', numCtx: 8192, maxCtx: 8192 })
    expect(capped.contextWarning?.hint).toBe(
      '8192 tokens is the most ctx-llama takes: send less history, or use a model with a longer context.',
    )
    await chatSse('short again')
  })

  it('carries the warning in the JSON answer and the WebSocket done frame too', async () => {
    const res = await fetch(`${served.url}/__ollama/chat`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ model: MODEL, prompt: long(6000) }),
    })
    const body = (await res.json()) as { metrics: ChatMetrics }
    expect(body.metrics.contextWarning?.level).toBe('over')

    const ws = await ChatClient.open(`${served.url.replace(/^http/, 'ws')}/__ollama/ws`)
    try {
      ws.send({
        type: 'chat',
        id: 1,
        model: MODEL,
        messages: [{ role: 'user', content: long(6000) }],
      })
      const done = await ws.next((f) => f.type === 'done')
      const metrics = done.metrics as ChatMetrics | undefined
      expect(metrics?.contextWarning?.level).toBe('over')
    } finally {
      await ws.close()
    }
    await chatSse('short again')
  })

  it('asks Ollama nothing for a prompt too small to be near any window', async () => {
    const before = { ...sim.stats.requests }
    const metrics = await chatSse('hello there, how are you?')
    expect(metrics.contextWarning).toBeUndefined()
    for (const route of ['POST /api/show', 'GET /api/ps']) {
      expect(sim.stats.requests[route] ?? 0, route).toBe(before[route] ?? 0)
    }
  })
})

describe('estimatePromptTokens and checkContext', () => {
  it('estimates about four characters a token, plus each message and image', () => {
    expect(estimatePromptTokens([{ role: 'user', content: 'x'.repeat(400) }])).toBe(104)
    expect(
      estimatePromptTokens([
        { role: 'system', content: '' },
        { role: 'user', content: 'look', images: ['aGVsbG8='] },
      ]),
    ).toBe(4 + 5 + 768)
  })

  it('gives no warning when Ollama cannot say, rather than failing the chat', async () => {
    const client = new OllamaClient('http://127.0.0.1:1')
    try {
      const warning = await checkContext(client, { model: 'llama3.2', estimate: 50_000 })
      expect(warning).toBeUndefined()
    } finally {
      await client.close()
    }
  })
})
