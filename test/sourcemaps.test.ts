// The source maps the package ships must resolve in an installed app. Vite serves dist/client/*.js
// from node_modules with their maps, and warns "Sourcemap for … points to missing source files"
// for every map whose sources it cannot read: src/ is not in the package's `files`, so the maps
// must carry their sources (`inlineSources` in tsconfig.build.json).
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { root } from '../scripts/emit.js'
import { runScript } from './helpers/script.js'

interface SourceMap {
  sources: string[]
  sourcesContent?: (string | null)[]
  sourceRoot?: string
}

const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { files: string[] }
const shipped = pkg.files.map((f) => path.join(root, f))

/** Whether the package's `files` holds this path. */
function isShipped(file: string): boolean {
  return shipped.some((f) => file === f || file.startsWith(`${f}${path.sep}`))
}

describe('source maps in the built package', () => {
  let maps: Map<string, SourceMap>

  beforeAll(async () => {
    // The build of tsconfig.build.json in memory (dist/ on disk may be stale or absent), for the
    // modules the dev server serves from the package; the Node side gets the same options.
    const json = await runScript('scripts/emit.ts', ['--under', 'src/client'])
    maps = new Map(
      Object.entries(JSON.parse(json) as Record<string, string>)
        .filter(([file]) => file.endsWith('.js.map'))
        .map(([file, text]) => [file, JSON.parse(text) as SourceMap]),
    )
  }, 60_000)

  it('writes a map for every client module the dev server serves, into the package', () => {
    const sources = readdirSync(path.join(root, 'src', 'client')).filter((f) => f.endsWith('.ts'))
    const written = [...maps.keys()].map((f) => path.basename(f))
    expect(written.sort()).toEqual(sources.map((f) => f.replace(/\.ts$/, '.js.map')).sort())
    for (const file of maps.keys()) expect(isShipped(file), file).toBe(true)
  })

  it('lets every source be read from the package: inlined, or a shipped file', () => {
    expect(maps.size).toBeGreaterThan(0)
    for (const [file, map] of maps) {
      expect(map.sources.length, file).toBeGreaterThan(0)
      map.sources.forEach((source, i) => {
        const resolved = path.resolve(path.dirname(file), map.sourceRoot ?? '', source)
        const content = map.sourcesContent?.[i]
        if (typeof content !== 'string') {
          expect(isShipped(resolved), `${file} points to ${resolved}, not in the package`).toBe(
            true,
          )
          return
        }
        // Inlined: the very text of the source it maps.
        expect(content, `${file}: ${source}`).toBe(readFileSync(resolved, 'utf8'))
      })
    }
  })
})
