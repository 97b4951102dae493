import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { limits } from '../src/limits.js'
import { engineKinds, resolveOptions } from '../src/options.js'

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
const source = readFileSync(new URL('../src/options.ts', import.meta.url), 'utf8')

/** `name → default` for every documented field of one interface in options.ts. */
function documented(iface: string, prefix: string): Map<string, string> {
  const body = new RegExp(`export interface ${iface} \\{([\\s\\S]*?)\\n\\}`).exec(source)?.[1]
  if (!body) throw new Error(`interface ${iface} not found in options.ts`)
  const fields = new Map<string, string>()
  for (const m of body.matchAll(/\/\*\*([\s\S]*?)\*\/\s*(\w+)\?:/g)) {
    const def = /@default (.*)/.exec(m[1]!)?.[1]?.trim() ?? ''
    fields.set(prefix + m[2], def)
  }
  return fields
}

function table(): Map<string, string> {
  const section = readme.split('<!-- options-table')[1]?.split('<!-- /options-table -->')[0]
  if (!section) throw new Error('README has no options table between its markers')
  const rows = new Map<string, string>()
  for (const line of section.split('\n')) {
    const m = /^\| `([\w.]+)` \| (.+?) \| (.+) \|$/.exec(line)
    if (m) rows.set(m[1]!, m[2]!.replace(/`/g, ''))
  }
  return rows
}

describe('README options table', () => {
  const code = new Map([
    ...documented('OllamaPluginOptions', ''),
    ...documented('DockerOptions', 'docker.'),
    ...documented('DmrOptions', 'dmr.'),
    ...documented('OverlayOptions', 'overlay.'),
    ...documented('SimulatorSettings', 'simulator.'),
  ])
  const rows = table()

  it('lists exactly the options that options.ts documents', () => {
    expect([...rows.keys()].sort()).toEqual([...code.keys()].sort())
  })

  it('gives each option the default that options.ts documents', () => {
    for (const [name, def] of code) {
      // Literal defaults must match; prose ones ("first of models", "see below") are not literals.
      if (/^['\d[{-]|^true$|^false$/.test(def)) expect(rows.get(name), name).toBe(def)
    }
  })

  it('documents the defaults that resolveOptions really applies', () => {
    const resolved = resolveOptions() as unknown as Record<string, unknown>
    for (const [name, def] of code) {
      if (!/^['\d[{-]|^true$|^false$/.test(def)) continue
      const value = name
        .split('.')
        .reduce<unknown>((o, k) => (o as Record<string, unknown>)?.[k], resolved)
      // autoPull: true resolves to the list of models (empty by default); overlay to an object.
      if (name === 'autoPull' || name === 'overlay') continue
      expect(value, name).toEqual(Function(`return (${def})`)())
    }
  })

  it('names every engine kind of the registry in the engine row', () => {
    const row = /^\| `engine` \|.*$/m.exec(readme)?.[0] ?? ''
    for (const kind of engineKinds) expect(row, kind).toContain(`'${kind}'`)
  })
})

describe('README bounds table', () => {
  it('lists every bound of src/limits.ts with its default', () => {
    const section = readme.split('<!-- bounds-table')[1]?.split('<!-- /bounds-table -->')[0]
    if (!section) throw new Error('README has no bounds table between its markers')
    const rows = new Map<string, number>()
    for (const m of section.matchAll(/^\| `(\w+)` \| `(\d+)` \|/gm)) rows.set(m[1]!, Number(m[2]))
    expect(Object.fromEntries(rows)).toEqual(limits)
  })
})
