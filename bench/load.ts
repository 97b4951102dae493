import { Agent, request } from 'undici'
import ollama from '../src/index.js'
import { simulatedReply } from '../src/simulator/tokens.js'
import { benchServer, type Figure, goal, loopDelayDuring, round, waitReady } from './harness.js'
import { startUpstream } from './upstream.js'

const agent = new Agent({ connections: 256, pipelining: 0 })

/** One SSE chat through POST /chat; returns the text assembled from its token events. */
async function sseChat(url: string, prompt: string): Promise<string> {
  const res = await request(`${url}/__ollama/chat`, {
    method: 'POST',
    dispatcher: agent,
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: prompt }] }),
  })
  const raw = await res.body.text()
  let text = ''
  for (const block of raw.split('\n\n')) {
    const event = /^event: (.*)$/m.exec(block)?.[1]
    const data = /^data: (.*)$/m.exec(block)?.[1]
    if (event === 'token' && data) text += (JSON.parse(data) as { content: string }).content
    if (event === 'error') throw new Error(`chat failed: ${data}`)
  }
  return text
}

/**
 * `concurrency-200-loop-delay-p99-ms` (200 SSE chats at once, every answer checked exact, the
 * dev server's event-loop delay p99) and `memory-growth-mb-after-2000-chats` (RSS after GC).
 */
export async function benchLoad(): Promise<Figure[]> {
  const gc = (globalThis as { gc?: () => void }).gc
  if (!gc) throw new Error('run with node --expose-gc (npm run bench does)')
  const upstream = await startUpstream({ SIM_TOKEN_DELAY_MS: '2' })
  const { server, url } = await benchServer({
    plugins: [
      ollama({
        engine: 'external',
        url: upstream.url,
        models: ['llama3.2'],
        warmup: false,
        overlay: false,
      }),
    ],
  })
  try {
    await waitReady(url)
    const batch = async (n: number, offset: number) => {
      const answers = await Promise.all(
        Array.from({ length: n }, (_, i) => sseChat(url, `question ${offset + i}`)),
      )
      answers.forEach((text, i) => {
        const expected = simulatedReply('llama3.2', `question ${offset + i}`)
        if (text !== expected) throw new Error(`chat ${offset + i} answered wrong text`)
      })
    }
    await batch(50, 0)
    const { p99 } = await loopDelayDuring(() => batch(200, 1000))

    // Memory: warm up, settle, then 2,000 chats in waves of 100.
    await batch(200, 2000)
    gc()
    await new Promise((r) => setTimeout(r, 200))
    gc()
    const before = process.memoryUsage().rss
    for (let i = 0; i < 20; i++) await batch(100, 10_000 + i * 100)
    gc()
    await new Promise((r) => setTimeout(r, 200))
    gc()
    const growth = (process.memoryUsage().rss - before) / 2 ** 20
    return [
      {
        name: 'concurrency-200-loop-delay-p99-ms',
        value: round(p99, 2),
        detail:
          '200 concurrent SSE chats through POST /__ollama/chat (upstream in its own process), all 200 answers exact; p99 of the dev server process event-loop delay',
        ...goal(p99, '<', 50),
      },
      {
        name: 'memory-growth-mb-after-2000-chats',
        value: round(growth, 2),
        detail:
          'RSS growth after 2,000 SSE chats (waves of 100, every answer checked), measured after a GC, following 250 warm-up chats',
        ...goal(growth, '<', 10),
      },
    ]
  } finally {
    await server.close()
    await upstream.stop()
    await agent.close()
  }
}
