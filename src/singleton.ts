import type { Orchestrator } from './orchestrator.js'

/**
 * State that must outlive a plugin instance. Vite calls the plugin factory again on every
 * `vite.config.ts` change, and re-evaluates this module too when the plugin is bundled into the
 * config from a relative path (docs/decisions.md, "Only globalThis survives a restart"), so only
 * `globalThis` is safe.
 */
interface ProcessState {
  orchestrator?: Orchestrator
  /** Dev servers using the orchestrator: two servers in one process share it, so the last one closes it. */
  owners: number
  /** Restarts in flight, counted by the `server.restart` wrap on Vite < 8.3. */
  restarting: number
  /** Our SIGINT/SIGTERM handlers are installed once per process, whatever the restarts. */
  signalsInstalled: boolean
  /**
   * Disposals in flight. Vite's own SIGTERM handler closes the server (so `closeServer` starts
   * disposing) just before ours runs: ours must wait for that disposal, not find no orchestrator
   * and exit while `ollama serve` is still running.
   */
  disposals: Set<Promise<void>>
  /** The dev server's last local URL, for messages printed while a restart has none yet. */
  lastUrl?: string
}

const key = Symbol.for('vite-plugin-ollama')

export function processState(): ProcessState {
  const g = globalThis as typeof globalThis & { [key]?: ProcessState }
  g[key] ??= { owners: 0, restarting: 0, signalsInstalled: false, disposals: new Set() }
  return g[key]
}
