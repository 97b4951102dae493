import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { detectGpus } from '../src/gpu/detect.js'
import { type Figure, goal, median, round } from './harness.js'

/**
 * `gpu-detect-ms` and `doctor-ms` (p50) on this machine. These two are absolute times by nature
 * (there is no "without" side): the goals are the budgets for a dev server's start-up
 * and for a CLI answer.
 */
export async function benchDetect(rounds = 10): Promise<Figure[]> {
  const detect: number[] = []
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now()
    // Fresh dependencies each time: the per-process cache would otherwise answer in 0 ms.
    await detectGpus({})
    detect.push(performance.now() - t0)
  }
  const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url))
  const doctor: number[] = []
  for (let i = 0; i < Math.min(rounds, 5); i++) {
    const t0 = performance.now()
    const out = spawnSync(process.execPath, ['--import', 'tsx', cli, 'doctor', '--json'], {
      encoding: 'utf8',
    })
    doctor.push(performance.now() - t0)
    if (out.status !== 0 && out.status !== 1) throw new Error(`doctor failed: ${out.stderr}`)
  }
  const d = median(detect)
  const doc = median(doctor)
  return [
    {
      name: 'gpu-detect-ms',
      value: round(d, 1),
      detail: `p50 of ${rounds} uncached detectGpus() runs on this machine (all probes in parallel, 2 s timeout each)`,
      ...goal(d, '<', 500),
    },
    {
      name: 'doctor-ms',
      value: round(doc, 0),
      detail:
        'p50 of spawning `vite-plugin-ollama doctor --json` (through tsx, so TypeScript loading is included)',
      ...goal(doc, '<', 3000),
    },
  ]
}
