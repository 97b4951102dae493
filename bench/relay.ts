import http from 'node:http'
import ollama from '../src/index.js'
import { benchServer, type Figure, goal, median, round, waitReady } from './harness.js'
import { startUpstream } from './upstream.js'

const TOKENS = 20_000
const ROUNDS = 12

interface Run {
  ms: number
  ttfbMs: number
  bytes: number
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 })

/**
 * POSTs `body` to `url` and reads the whole answer with plain 'data' events (the cheapest reader
 * Node has, so the client is never the bottleneck): total time and time to the first byte.
 */
function consume(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Run> {
  const payload = JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    let ttfbMs = 0
    let bytes = 0
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
          ...headers,
        },
      },
      (res) => {
        res.on('data', (chunk: Buffer) => {
          if (bytes === 0) ttfbMs = performance.now() - t0
          bytes += chunk.length
        })
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`${url}: HTTP ${res.statusCode}`))
          else resolve({ ms: performance.now() - t0, ttfbMs, bytes })
        })
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(payload)
  })
}

/**
 * The relay figures: a 20,000-token `/api/chat` stream read straight from the upstream, through
 * our proxy, and through Vite's own `server.proxy`, alternated round by round; and tokens per
 * second through `POST /chat` (our SSE, and the AI SDK's UI message stream).
 */
export async function benchRelay(): Promise<Figure[]> {
  const upstream = await startUpstream({}, 'fast')
  const ours = await benchServer({
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
  const viteProxy = await benchServer({
    server: {
      port: 0,
      proxy: { '/vproxy': { target: upstream.url, rewrite: (p) => p.replace(/^\/vproxy/, '') } },
    },
  })
  try {
    await waitReady(ours.url)
    const body = {
      model: 'llama3.2',
      messages: [{ role: 'user', content: 'bench' }],
      options: { num_predict: TOKENS },
    }
    const variants = {
      direct: () => consume(`${upstream.url}/api/chat`, body),
      ours: () => consume(`${ours.url}/__ollama/api/chat`, body),
      vite: () => consume(`${viteProxy.url}/vproxy/api/chat`, body),
    }
    // Warm every path once (connections, JIT).
    for (const run of Object.values(variants)) await run()
    const runs: Record<keyof typeof variants, Run[]> = { direct: [], ours: [], vite: [] }
    const order = Object.keys(variants) as Array<keyof typeof variants>
    for (let i = 0; i < ROUNDS; i++) {
      // Rotate the order each round so no variant always runs first.
      for (let j = 0; j < order.length; j++) {
        const name = order[(i + j) % order.length]!
        runs[name].push(await variants[name]())
      }
    }
    const t = (name: keyof typeof runs) => median(runs[name].map((r) => r.ms))
    const added = median(runs.ours.map((r, i) => r.ttfbMs - runs.direct[i]!.ttfbMs))
    const viteAdded = median(runs.vite.map((r, i) => r.ttfbMs - runs.direct[i]!.ttfbMs))
    const throughput = t('direct') / t('ours')
    const vsVite = t('vite') / t('ours')

    // Tokens per second through POST /chat, our SSE and the AI SDK's UI message stream (a
    // `useChat` body) in alternated rounds.
    const uiBody = {
      id: 'bench',
      trigger: 'submit-message',
      model: 'llama3.2',
      messages: [{ id: 'u1', role: 'user', parts: [{ type: 'text', text: 'bench' }] }],
      options: { num_predict: TOKENS },
    }
    await consume(`${ours.url}/__ollama/chat`, uiBody)
    const sse: number[] = []
    const ui: number[] = []
    for (let i = 0; i < ROUNDS / 2; i++) {
      const run = await consume(`${ours.url}/__ollama/chat`, body, { accept: 'text/event-stream' })
      sse.push(TOKENS / (run.ms / 1000))
      const uiRun = await consume(`${ours.url}/__ollama/chat`, uiBody)
      ui.push(TOKENS / (uiRun.ms / 1000))
    }
    const tokensPerSecond = median(sse)
    const uiTokensPerSecond = median(ui)
    return [
      {
        name: 'relay-throughput-ratio',
        value: round(throughput, 3),
        detail: `${TOKENS}-token /api/chat stream: direct time over time through /__ollama/api/chat (medians of ${ROUNDS} rotated rounds: ${round(t('direct'), 1)} ms direct, ${round(t('ours'), 1)} ms relayed)`,
        ...goal(throughput, '≥', 0.9),
      },
      {
        name: 'relay-ttft-added-ms',
        value: round(added, 3),
        detail: `p50 of the per-round difference in time to first byte, relayed minus direct (Vite's server.proxy on the same rounds: ${round(viteAdded, 3)} ms)`,
        ...goal(added, '≤', 1),
      },
      {
        name: 'relay-vs-vite-proxy-ratio',
        value: round(vsVite, 3),
        detail: `Vite's own server.proxy time over ours on the same stream (${round(t('vite'), 1)} ms vs ${round(t('ours'), 1)} ms); Vite's proxy vs direct: ${round(t('direct') / t('vite'), 3)}`,
        ...goal(vsVite, '≥', 1.3),
      },
      {
        name: 'sse-tokens-per-s',
        value: Math.round(tokensPerSecond),
        detail: `tokens per second through POST /__ollama/chat as SSE, ${TOKENS}-token answers, median of ${ROUNDS / 2}`,
        ...goal(tokensPerSecond, '≥', 100_000),
      },
      {
        name: 'ui-stream-tokens-per-s',
        value: Math.round(uiTokensPerSecond),
        detail: `tokens per second through POST /__ollama/chat as the AI SDK's UI message stream (a useChat body), ${TOKENS}-token answers, median of ${ROUNDS / 2} rounds alternated with the SSE ones`,
        ...goal(uiTokensPerSecond, '≥', 100_000),
      },
    ]
  } finally {
    await ours.server.close()
    await viteProxy.server.close()
    await upstream.stop()
    agent.destroy()
  }
}
