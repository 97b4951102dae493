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
  /**
   * The dev server's last URL as pages reach it (`http://localhost:5173`), for the terminal's
   * messages while a restart has none yet; in middleware mode learned from the first request.
   */
  lastUrl?: string
  /**
   * The disposal a host-owned server's close put off (src/lifecycle.ts): Nuxt restarts by closing
   * its Vite server and creating another, and the new one cancels this by claiming the orchestrator.
   */
  graceTimer?: NodeJS.Timeout
  /** The one terminal reporter of the process, whatever the number of servers (src/terminal.ts). */
  terminal?: SharedTerminal
  /** Whether the plugin already said why it does nothing in a middleware-mode server. */
  declineSaid: boolean
}

/** The process's terminal reporter, shared by every server that uses the orchestrator. */
export interface SharedTerminal {
  orchestrator: Orchestrator
  /** The servers printing through it; the newest one's logger and URL are used. */
  users: object[]
  stop(): void
}

const key = Symbol.for('vite-plugin-ollama')

export function processState(): ProcessState {
  const g = globalThis as typeof globalThis & { [key]?: ProcessState }
  g[key] ??= {
    owners: 0,
    restarting: 0,
    signalsInstalled: false,
    disposals: new Set(),
    declineSaid: false,
  }
  return g[key]
}
