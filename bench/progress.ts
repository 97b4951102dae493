import WebSocket from 'ws'
import ollama from '../src/index.js'
import type { PullProgressEvent } from '../src/protocol.js'
import { benchServer, type Figure, goal, round, waitReady } from './harness.js'

/**
 * `progress-msgs-per-s-per-model`: HMR messages a tab receives per second per model while two
 * models pull fast (the simulator at 1 GB/s emits progress lines far faster than that).
 */
export async function benchProgress(): Promise<Figure[]> {
  const { server, url } = await benchServer({
    plugins: [
      ollama({
        engine: 'simulator',
        models: ['llama3.2', 'qwen2.5:3b'],
        warmup: false,
        simulator: { pullBytesPerSecond: 1e9 },
      }),
    ],
  })
  const socket = new WebSocket(url.replace(/^http/, 'ws'), 'vite-hmr')
  const received: Array<{ model: string; at: number; final: boolean }> = []
  socket.on('message', (raw) => {
    const msg = JSON.parse(String(raw))
    if (msg.event === 'ollama:progress') {
      const event = msg.data as PullProgressEvent
      received.push({
        model: event.model,
        at: performance.now(),
        final: event.status === 'success',
      })
    }
  })
  try {
    await waitReady(url)
    const rates: number[] = []
    for (const model of ['llama3.2', 'qwen2.5:3b']) {
      // The final 100% is sent at once whatever the throttle (it must never be lost): the rate
      // is that of the throttled messages before it.
      const times = received.filter((r) => r.model === model && !r.final).map((r) => r.at)
      if (times.length < 2) continue
      const seconds = (times.at(-1)! - times[0]!) / 1000
      rates.push((times.length - 1) / Math.max(seconds, 0.001))
    }
    const worst = Math.max(...rates)
    return [
      {
        name: 'progress-msgs-per-s-per-model',
        value: round(worst, 1),
        detail: `HMR ollama:progress messages per second for the busier of two models pulled at once by the simulator at 1 GB/s, not counting each model's final message (${received.length} messages in all)`,
        ...goal(worst, '≤', 10),
      },
    ]
  } finally {
    socket.close()
    await server.close()
  }
}
