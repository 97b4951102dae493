import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'vite'
import ollama from '../src/index.js'
import { createOllamaHandler, toNodeHandler } from '../src/production/index.js'
import { alternate, type Figure, goal, median, round } from './harness.js'
import { startUpstream } from './upstream.js'

const TOKENS = 20_000
const ROUNDS = 12
const BUILDS = 6
const repo = fileURLToPath(new URL('..', import.meta.url))

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 })

/**
 * Time to the first token (the first chunk that carries one: an NDJSON line with content, or a
 * `token` event) and to the end of one streamed answer, read with plain 'data' events.
 */
function consume(url: string, body: unknown): Promise<{ ms: number; ttfbMs: number }> {
  const payload = JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    let ttfbMs = 0
    const req = http.request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json' } },
      (res) => {
        res.on('data', (chunk: Buffer) => {
          if (!ttfbMs && /"content":"[^"]|event: token/.test(chunk.toString('latin1')))
            ttfbMs = performance.now() - t0
        })
        res.on('end', () =>
          res.statusCode === 200
            ? resolve({ ms: performance.now() - t0, ttfbMs })
            : reject(new Error(`${url}: HTTP ${res.statusCode}`)),
        )
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(payload)
  })
}

/**
 * The production figures: a 20,000-token answer read straight from the upstream's /api/chat and
 * through `toNodeHandler(createOllamaHandler(...))`'s POST /chat (which parses every line and
 * writes our SSE), alternated round by round; and `vite build` of the playground with the
 * plugin against the same client bundled through a plain alias.
 */
export async function benchProduction(): Promise<Figure[]> {
  const upstream = await startUpstream({}, 'fast')
  const handler = createOllamaHandler({
    models: ['llama3.2'],
    url: upstream.url,
    maxTokens: TOKENS,
  })
  const server = http.createServer(toNodeHandler(handler))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const served = `http://127.0.0.1:${(server.address() as AddressInfo).port}/__ollama/chat`
  try {
    const body = {
      model: 'llama3.2',
      messages: [{ role: 'user', content: 'bench' }],
      options: { num_predict: TOKENS },
    }
    const direct = () => consume(`${upstream.url}/api/chat`, body)
    const through = () => consume(served, body)
    await direct()
    await through()
    const runs = {
      direct: [] as { ms: number; ttfbMs: number }[],
      handler: [] as { ms: number; ttfbMs: number }[],
    }
    for (let i = 0; i < ROUNDS; i++) {
      const pair = i % 2 ? [direct, through] : [through, direct]
      for (const run of pair) (run === direct ? runs.direct : runs.handler).push(await run())
    }
    const ratio = median(runs.direct.map((r) => r.ms)) / median(runs.handler.map((r) => r.ms))
    const added = median(runs.handler.map((r, i) => r.ttfbMs - (runs.direct[i]?.ttfbMs ?? 0)))

    const playground = path.join(repo, 'playground')
    const client = path.join(repo, 'src/client/index.ts')
    const outDir = path.join(repo, 'node_modules/.bench-build')
    const buildWith = (plugin: boolean) => async () => {
      const t0 = performance.now()
      await build({
        root: playground,
        configFile: false,
        logLevel: 'silent',
        plugins: plugin ? [ollama({ models: ['llama3.2:1b'] })] : [],
        // Without the plugin, the same client module reaches the bundle through an alias.
        resolve: plugin ? {} : { alias: { 'virtual:ollama': client } },
        build: { outDir, emptyOutDir: true },
      })
      return performance.now() - t0
    }
    const builds = await alternate(BUILDS, buildWith(true), buildWith(false))
    const buildRatio = median(builds.a) / median(builds.b)
    return [
      {
        name: 'prod-handler-throughput-ratio',
        value: round(ratio, 3),
        detail: `${TOKENS}-token answer: direct /api/chat time over time through toNodeHandler(createOllamaHandler()) POST /chat as SSE (medians of ${ROUNDS} alternated rounds: ${round(median(runs.direct.map((r) => r.ms)), 1)} ms direct, ${round(median(runs.handler.map((r) => r.ms)), 1)} ms through the handler)`,
        ...goal(ratio, '≥', 0.95),
      },
      {
        name: 'prod-handler-ttft-added-ms',
        value: round(added, 3),
        detail:
          'p50 of the per-round difference in time to the first token, handler minus direct (the handler reads the request, calls the upstream with fetch, then frames)',
        ...goal(added, '≤', 1),
      },
      {
        name: 'build-time-ratio',
        value: round(buildRatio, 3),
        detail: `vite build of the playground with the plugin over the same client through an alias (medians of ${BUILDS} alternated builds: ${round(median(builds.a), 0)} ms vs ${round(median(builds.b), 0)} ms)`,
        ...goal(buildRatio, '≤', 1.05),
      },
    ]
  } finally {
    server.close()
    await upstream.stop()
  }
}
