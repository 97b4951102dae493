import type { ViteDevServer } from 'vite'
import type { ResolvedOptions } from './options.js'
import { Orchestrator } from './orchestrator.js'
import { processState } from './singleton.js'

// Who owns the process-wide orchestrator, and when it is disposed (docs/decisions.md, "Restarts",
// "Restart versus close", "A host's own restart", "Ctrl+C runs no Vite hook").

/**
 * How long the engine outlives the close of a server a host created in middleware mode. Nuxt
 * restarts (a `nuxt.config` edit) by closing its Vite servers with reason `close` and creating new
 * ones: the new server claims the orchestrator within this time and nothing is stopped or pulled
 * again. A real exit (Ctrl+C, SIGTERM, the process ending) does not wait for it.
 */
export const HOST_RESTART_GRACE_MS = 5_000

/** One orchestrator per process: the new instance after a restart adopts it. */
export function claimOrchestrator(options: ResolvedOptions): Orchestrator {
  const state = processState()
  state.owners++
  clearTimeout(state.graceTimer)
  state.graceTimer = undefined
  if (state.orchestrator) {
    void state.orchestrator.update(options)
    return state.orchestrator
  }
  state.orchestrator = new Orchestrator(options)
  return state.orchestrator
}

/**
 * A server let go of the orchestrator; the last one to close for good disposes it. A server the
 * host owns (middleware mode) may be closed as part of the host's own restart: its disposal waits
 * `HOST_RESTART_GRACE_MS` for a new server to claim the orchestrator.
 */
export async function releaseOrchestrator(closing: boolean, hostOwned = false): Promise<void> {
  const state = processState()
  state.owners = Math.max(0, state.owners - 1)
  if (!closing || state.owners > 0) return
  if (!hostOwned) return disposeOrchestrator()
  clearTimeout(state.graceTimer)
  state.graceTimer = setTimeout(() => {
    state.graceTimer = undefined
    if (state.owners === 0) void disposeOrchestrator()
  }, HOST_RESTART_GRACE_MS)
  // A process that has nothing else to do exits now; the `exit` listener stops the engine.
  state.graceTimer.unref()
}

export async function disposeOrchestrator(): Promise<void> {
  const state = processState()
  clearTimeout(state.graceTimer)
  state.graceTimer = undefined
  const orchestrator = state.orchestrator
  state.orchestrator = undefined
  if (orchestrator) {
    const disposal = orchestrator.dispose()
    state.disposals.add(disposal)
    void disposal.finally(() => state.disposals.delete(disposal))
  }
  // On SIGTERM, Vite's handler runs first and `closeServer` has already taken the orchestrator:
  // wait for that disposal too, or the signal handler exits with `ollama serve` still running.
  await Promise.allSettled([...state.disposals])
}

export function supportsCloseServerHook(version: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number)
  return major > 8 || (major === 8 && minor >= 3)
}

/**
 * Vite 7.0 to 8.2 has no restart-versus-close signal (docs/decisions.md, "Restart versus close"):
 * count restarts in flight and dispose on a close that is not part of one (the Cloudflare plugin's
 * pattern).
 */
export function wrapCloseForOldVite(server: ViteDevServer, onClose: () => void): void {
  const state = processState()
  const restart = server.restart.bind(server)
  const close = server.close.bind(server)
  const hostOwned = !server.httpServer
  server.restart = async (forceOptimize?: boolean) => {
    state.restarting++
    try {
      await restart(forceOptimize)
    } finally {
      state.restarting--
    }
  }
  server.close = async () => {
    await close()
    onClose()
    await releaseOrchestrator(state.restarting === 0, hostOwned)
  }
}

/**
 * Ctrl+C runs no Vite hook at all, and SIGTERM exits right after Vite's own close
 * (docs/decisions.md, "Ctrl+C runs no Vite hook"): stop what we started ourselves, then exit. The
 * `exit` handler is the synchronous last resort when something else ends the process.
 */
export function installSignalHandlers(): void {
  const state = processState()
  if (state.signalsInstalled) return
  state.signalsInstalled = true
  const onSignal = (signal: NodeJS.Signals) => {
    const code = signal === 'SIGINT' ? 130 : 143
    const timer = setTimeout(() => process.exit(code), 10_000)
    timer.unref()
    disposeOrchestrator().finally(() => process.exit(code))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  process.once('exit', () => processState().orchestrator?.disposeSync())
}
