import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer, type Plugin } from 'vite'
import ollama from '../src/index.js'
import { startSimulator } from '../src/simulator/index.js'
import { alternate, type Figure, goal, median, round } from './harness.js'

/**
 * `startup-ratio`: time to `listening` of a Vite dev server with the plugin (its engine an
 * Ollama that is already running, so the plugin adopts it) over the same server without it.
 */
export async function benchStartup(rounds = 30): Promise<Figure[]> {
  const sim = await startSimulator({ models: ['llama3.2'] })
  const root = mkdtempSync(join(tmpdir(), 'vpo-bench-startup-'))
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>bench</title>')
  const listen = async (plugins: Plugin[]) => {
    const t0 = performance.now()
    const server = await createServer({
      configFile: false,
      root,
      logLevel: 'silent',
      server: { port: 0, ws: false as never },
      plugins,
    })
    await server.listen()
    const elapsed = performance.now() - t0
    await server.close()
    return elapsed
  }
  try {
    // One warm-up of each, so module loading is not counted against either side.
    await listen([])
    await listen([...ollama({ url: sim.url, models: ['llama3.2'], overlay: false })])
    const { a, b } = await alternate(
      rounds,
      () => listen([...ollama({ url: sim.url, models: ['llama3.2'], overlay: false })]),
      () => listen([]),
    )
    const ratio = median(a) / median(b)
    return [
      {
        name: 'startup-ratio',
        value: round(ratio, 3),
        detail: `time to listening with the plugin (adopting a running Ollama) over without, configFile: false and a one-file app, so the baseline is only ${round(median(b), 1)} ms and the plugin's hooks (about 0.3 ms) show as a few percent; medians of ${rounds} alternated rounds: ${round(median(a), 1)} ms vs ${round(median(b), 1)} ms`,
        ...goal(ratio, '≤', 1.05),
      },
    ]
  } finally {
    await sim.close()
  }
}
