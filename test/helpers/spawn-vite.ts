// The real Vite CLI in a child process, on a throwaway project whose vite.config.ts imports the
// plugin by absolute path (so Vite bundles it into the config and re-evaluates it on every restart:
// docs/decisions.md, "Only globalThis survives a restart", the hard case), plus a fake `ollama` on
// PATH whose `serve` runs the simulator's main entry. Recipe: docs/decisions.md, "Lifecycle tests
// spawn the real Vite CLI".
import { type ChildProcess, spawn } from 'node:child_process'
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { OllamaPluginOptions } from '../../src/options.js'
import type { StateSnapshot } from '../../src/protocol.js'
import { waitFor } from './vite.js'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const fixtures = path.join(repo, 'test/fixtures/cli')
const pluginEntry = path.join(repo, 'src/index.ts')
const viteBin = path.join(repo, 'node_modules/vite/bin/vite.js')
const simMain = path.join(repo, 'src/simulator/main.ts')
const tsx = import.meta.resolve('tsx')

export interface CliProject {
  root: string
  /** Directory holding the fake `ollama`: put it first on PATH. */
  binDir: string
  /** Unique string on the fake `ollama serve` command line, to find its process. */
  marker: string
  /** Where the fake `ollama serve` writes its log (the simulator's `[GIN]` access lines). */
  engineLog: string
  /** Writes vite.config.ts with these plugin options. */
  writeConfig(options: OllamaPluginOptions): void
  /** `POST /api/pull` requests the fake `ollama serve` has answered so far. */
  pullCount(): number
  remove(): void
}

/**
 * A project folder: index.html, package.json ("type": "module", so Vite loads the config as ESM
 * without a warning), and bin/ollama, a shell script that `exec`s the simulator (so the PID
 * the plugin spawned is the simulator's) with its log in a file the test can read.
 */
export function makeCliProject(): CliProject {
  const root = mkdtempSync(path.join(os.tmpdir(), 'vpo-cli-'))
  copyFileSync(path.join(fixtures, 'index.html'), path.join(root, 'index.html'))
  copyFileSync(path.join(fixtures, 'package.json'), path.join(root, 'package.json'))
  const binDir = path.join(root, 'bin')
  mkdirSync(binDir)
  const marker = `--fake-ollama=${root}`
  const engineLog = path.join(root, 'ollama-serve.log')
  const ollama = path.join(binDir, 'ollama')
  // The simulator ignores its arguments; the marker only names the process in /proc.
  writeFileSync(
    ollama,
    `#!/bin/sh
[ "$1" = "serve" ] || { echo "unexpected: $*" >&2; exit 2; }
exec "${process.execPath}" --import "${tsx}" "${simMain}" "${marker}" 2>>"${engineLog}"
`,
  )
  chmodSync(ollama, 0o755)
  return {
    root,
    binDir,
    marker,
    engineLog,
    writeConfig(options) {
      writeFileSync(path.join(root, 'vite.config.ts'), configSource(options))
    },
    pullCount() {
      let log = ''
      try {
        log = readFileSync(engineLog, 'utf8')
      } catch {
        return 0
      }
      return log.split('\n').filter((line) => /^\[GIN\].*\|\s+POST\s+"\/api\/pull"/.test(line))
        .length
    },
    remove: () => rmSync(root, { recursive: true, force: true }),
  }
}

function configSource(options: OllamaPluginOptions): string {
  return `import ollama from ${JSON.stringify(pluginEntry)}

export default {
  clearScreen: false,
  plugins: [ollama(${JSON.stringify(options, null, 2)})],
  // Polling: the tests edit the config faster than inotify-based watching reliably reports.
  server: { watch: { usePolling: true, interval: 100 } },
}
`
}

export interface ViteProcess {
  child: ChildProcess
  pid: number
  url: string
  /** Everything printed so far, stdout and stderr interleaved, colours stripped. */
  output(): string
  /** How many times `text` has been printed so far. */
  count(text: string): number
  /** Resolves with how the process ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** GET <url>/__ollama/status, or undefined while the server does not answer it. */
  status(): Promise<StateSnapshot | undefined>
  /** Kills the whole process group (Vite and anything it spawned), for teardown. */
  killGroup(): void
}

/**
 * `node vite.js --port <port> --strictPort` in `root`, in its own process group (detached) so
 * teardown can kill everything it started even when Vite itself is gone.
 */
export function spawnVite(
  root: string,
  port: number,
  env: Record<string, string | undefined> = {},
): ViteProcess {
  return spawnDevCommand(root, [viteBin, '--port', String(port), '--strictPort'], port, env)
}

/**
 * `node <args>` in `root`, a dev server that will listen on `port` (a framework's own CLI:
 * `react-router dev`, `nuxt dev`), in its own process group like `spawnVite`. `routeBase` is
 * where the plugin's routes are on that server (Nuxt serves Vite under `/_nuxt/`); `node` is the
 * Node that runs it, this one unless the framework asks for a newer one (Astro).
 */
export function spawnDevCommand(
  root: string,
  args: string[],
  port: number,
  env: Record<string, string | undefined> = {},
  routeBase = '/__ollama',
  node = process.execPath,
): ViteProcess {
  const child = spawn(node, args, {
    cwd: root,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...env },
  })
  let text = ''
  const collect = (chunk: Buffer) => {
    text += chunk.toString().replace(/\x1b\[[0-9;]*[A-Za-z]/g, '')
  }
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }))
  })
  const url = `http://localhost:${port}`
  const pid = child.pid
  if (pid === undefined) throw new Error(`could not spawn ${args.join(' ')}`)
  return {
    child,
    pid,
    url,
    output: () => text,
    count: (needle) => text.split(needle).length - 1,
    exited,
    async status() {
      try {
        const res = await fetch(`${url}${routeBase}/status`, { signal: AbortSignal.timeout(5000) })
        if (!res.ok) return undefined
        return (await res.json()) as StateSnapshot
      } catch {
        return undefined
      }
    },
    killGroup() {
      try {
        process.kill(-pid, 'SIGKILL')
      } catch {
        // the group is gone already
      }
    },
  }
}

/** Waits until the plugin says ready with every one of `models` on disk (or loaded). */
export function waitForModels(
  vite: ViteProcess,
  models: string[],
  timeoutMs = 60_000,
): Promise<StateSnapshot> {
  let last: StateSnapshot | undefined
  return waitFor(
    async () => {
      const s = await vite.status()
      last = s ?? last
      if (s?.phase !== 'ready') return undefined
      const ok = models.every((name) =>
        s.models.some((m) => m.name === name && (m.status === 'present' || m.status === 'loaded')),
      )
      return ok ? s : undefined
    },
    timeoutMs,
    `phase ready with ${models.join(', ')}`,
  ).catch((error: Error) => {
    // The output at the time of failure is what explains it.
    error.message += `\nlast status: ${JSON.stringify(last)}\n--- vite output ---\n${vite.output().slice(-4000)}`
    throw error
  })
}

/** Waits until Vite has printed `text` at least `times` times; fails with the output so far. */
export function waitForText(
  vite: ViteProcess,
  text: string,
  times = 1,
  timeoutMs = 30_000,
): Promise<boolean> {
  return waitFor(() => vite.count(text) >= times, timeoutMs, `"${text}" ×${times}`).catch(
    (error: Error) => {
      error.message += `\n--- vite output ---\n${vite.output().slice(-4000)}`
      throw error
    },
  )
}

/** PIDs of live processes whose command line contains `needle` (Linux /proc). */
export function processesWith(needle: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8')
      if (cmdline.includes(needle)) pids.push(Number(entry))
    } catch {
      // exited while we looked
    }
  }
  return pids
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
