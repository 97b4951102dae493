// The playground served by the real Vite CLI from a throwaway copy, so the tests can edit its
// vite.config.ts without touching the repository. The copy imports the plugin by absolute path
// (as a user's project imports the package), which is also the hard case for config restarts:
// Vite bundles the plugin into the config and re-evaluates it on every edit.
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawnVite, type ViteProcess } from '../../test/helpers/spawn-vite.js'
import { waitFor } from '../../test/helpers/vite.js'

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const pluginEntry = join(repoRoot, 'src/index.ts')
const clientTypes = join(repoRoot, 'client.d.ts')

export interface PlaygroundCopy {
  root: string
  configPath: string
  /** Rewrites the copy's vite.config.ts; `edit` gets and returns its source. */
  editConfig(edit: (source: string) => string): void
  remove(): void
}

/** `source` with `from` replaced once; throws when it is missing, so a changed playground fails loudly. */
export function replaceOnce(source: string, from: string, to: string): string {
  const at = source.indexOf(from)
  if (at === -1)
    throw new Error(`the playground changed: ${JSON.stringify(from)} not found in\n${source}`)
  return source.slice(0, at) + to + source.slice(at + from.length)
}

/**
 * Copies playground/ into a temp dir. `extraOptions` are option lines (TypeScript source) put at
 * the top of the `ollama({ … })` call; the playground's own keys follow them and win, so only
 * keys the playground does not set belong here (url, simulator, …).
 */
export function copyPlayground(extraOptions: string[] = []): PlaygroundCopy {
  const root = mkdtempSync(join(tmpdir(), 'vpo-playground-'))
  cpSync(join(repoRoot, 'playground'), root, { recursive: true })
  // ESM config without a warning, and `vite` resolvable from the config (its only bare import)
  // without sharing the repository's node_modules/.vite cache with other runs.
  writeFileSync(
    join(root, 'package.json'),
    `${JSON.stringify({ name: 'vpo-playground-copy', private: true, type: 'module' })}\n`,
  )
  mkdirSync(join(root, 'node_modules'))
  symlinkSync(join(repoRoot, 'node_modules/vite'), join(root, 'node_modules/vite'), 'dir')

  const configPath = join(root, 'vite.config.ts')
  let config = readFileSync(configPath, 'utf8')
  config = replaceOnce(config, `from '../src/index.ts'`, `from ${quote(pluginEntry)}`)
  // The plugin's sources are config dependencies: Vite restarts the server when one changes. Other
  // work edits this repository while the suite runs; only the specs' own edits may restart it.
  config = replaceOnce(
    config,
    'defineConfig({\n',
    `defineConfig({\n  server: { watch: { ignored: [${quote(`${join(repoRoot, 'src')}/**`)}] } },\n`,
  )
  if (extraOptions.length > 0) {
    config = replaceOnce(
      config,
      'ollama({\n',
      `ollama({\n${extraOptions.map((line) => `      ${line},\n`).join('')}`,
    )
  }
  writeFileSync(configPath, config)

  // Only for editors and tsc (Vite drops comments), but a dangling reference would mislead.
  const mainPath = join(root, 'src/main.ts')
  const main = readFileSync(mainPath, 'utf8')
  writeFileSync(
    mainPath,
    main.replace(
      '/// <reference types="../../client.d.ts" />',
      `/// <reference types=${JSON.stringify(clientTypes)} />`,
    ),
  )

  return {
    root,
    configPath,
    editConfig(edit) {
      // Written aside, then renamed over the config, as editors save: Vite's watcher can fire
      // between the truncation and the write of writeFileSync and read an empty config.
      const next = join(root, 'node_modules', 'vite.config.next.ts') // a folder Vite ignores
      writeFileSync(next, edit(readFileSync(configPath, 'utf8')))
      renameSync(next, configPath)
    },
    remove: () => rmSync(root, { recursive: true, force: true }),
  }
}

function quote(path: string): string {
  return `'${path.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
}

/** A port nobody listens on right now (the CLI needs one up front for --strictPort). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolvePort(port))
    })
  })
}

/** What a describe block started, torn down in its afterAll even when start-up failed half-way. */
export interface Served {
  copy?: PlaygroundCopy
  vite?: ViteProcess
}

/** A copy of the playground (see `copyPlayground`) served by the real Vite CLI on a free port. */
export async function serve(
  served: Served,
  extraOptions: string[],
  env: Record<string, string>,
): Promise<ViteProcess> {
  served.copy = copyPlayground(extraOptions)
  const port = await freePort()
  served.vite = spawnVite(served.copy.root, port, env)
  const vite = served.vite
  // The app is served at once; Ollama comes up beside it.
  await waitFor(() => vite.status(), 30_000, 'the dev server to answer').catch((error: Error) => {
    error.message += `\n--- vite output ---\n${vite.output().slice(-4000)}`
    throw error
  })
  return vite
}

export async function stop(served: Served): Promise<void> {
  const vite = served.vite
  served.vite = undefined
  if (vite) {
    vite.killGroup()
    await Promise.race([vite.exited, new Promise((r) => setTimeout(r, 5000))])
  }
  served.copy?.remove()
  served.copy = undefined
}
