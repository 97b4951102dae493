import { readFileSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import type { Figure } from './harness.js'

/**
 * `npm run bench`: every figure as `name: value`, measured side by side in this one run, and a
 * table in bench/RESULTS.md. Pass names to run only some: `npm run bench -- relay startup`.
 */
const suites: Record<string, () => Promise<Figure[]>> = {
  'client-parse': async () => (await import('./client-parse.js')).benchClientParse(),
  startup: async () => (await import('./startup.js')).benchStartup(),
  relay: async () => (await import('./relay.js')).benchRelay(),
  load: async () => (await import('./load.js')).benchLoad(),
  progress: async () => (await import('./progress.js')).benchProgress(),
  detect: async () => (await import('./detect.js')).benchDetect(),
  abuse: async () => (await import('./abuse.js')).benchAbuse(),
  production: async () => (await import('./production.js')).benchProduction(),
}

const only = process.argv.slice(2)
const figures: Figure[] = []
const started = performance.now()
for (const [name, run] of Object.entries(suites)) {
  if (only.length && !only.includes(name)) continue
  try {
    for (const figure of await run()) {
      figures.push(figure)
      const verdict = figure.goal ? ` (goal ${figure.goal}: ${figure.met ? 'met' : 'MISSED'})` : ''
      console.log(`${figure.name}: ${figure.value}${verdict}`)
    }
  } catch (error) {
    console.error(`${name}: failed: ${(error as Error).stack ?? error}`)
    process.exitCode = 1
  }
}

const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}`
const rows = figures.map(
  (f) =>
    `| \`${f.name}\` | ${f.value} | ${f.goal ?? ''} | ${f.goal ? (f.met ? 'met' : '**missed**') : ''} | ${f.detail} |`,
)
const table = [
  '# Benchmark results',
  '',
  `Measured by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}: ${machine}.`,
  'Every figure is a ratio or a distribution measured side by side in one run (alternated rounds, medians).',
  '',
  '| figure | value | goal | | how |',
  '| --- | --- | --- | --- | --- |',
  ...rows,
  '',
].join('\n')
if (!only.length) {
  writeFileSync(fileURLToPath(new URL('./RESULTS.md', import.meta.url)), table)
  // The README shows the same figures: replace its table between the markers.
  const readmePath = fileURLToPath(new URL('../README.md', import.meta.url))
  const readme = readFileSync(readmePath, 'utf8')
  const short = [
    `Measured on ${machine}, ${new Date().toISOString().slice(0, 10)}.`,
    '',
    '| figure | value | goal |',
    '| --- | --- | --- |',
    ...figures.map(
      (f) =>
        `| \`${f.name}\` | ${f.value} | ${f.goal ? `${f.goal}${f.met ? '' : ' (missed)'}` : ''} |`,
    ),
  ].join('\n')
  writeFileSync(
    readmePath,
    readme.replace(
      /<!-- bench-table -->[\s\S]*<!-- \/bench-table -->/,
      `<!-- bench-table -->\n${short}\n<!-- /bench-table -->`,
    ),
  )
}
console.log(
  `bench: ${figures.length} figures in ${Math.round((performance.now() - started) / 1000)} s`,
)
process.exit()
