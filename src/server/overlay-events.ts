import type { ViteDevServer } from 'vite'
import type { Orchestrator } from '../orchestrator.js'
import type { PullProgressEvent, StateSnapshot } from '../protocol.js'
import { createThrottle, isFinalProgress } from '../throttle.js'

/** Pull progress is folded per model; the browser needs no more than ten frames a second. */
const PROGRESS_INTERVAL_MS = 100

declare module 'vite/types/customEvent.d.ts' {
  interface CustomEventMap {
    'ollama:state': StateSnapshot
    'ollama:progress': PullProgressEvent
    'ollama:hello': Record<string, never>
  }
}

/**
 * Feeds the overlay over Vite's HMR channel: `ollama:state` on every change, `ollama:progress`
 * throttled per model, and a snapshot to the one tab that says `ollama:hello`. Events sent while no
 * tab listens are lost (docs/decisions.md, "HMR events sent before a tab listens are lost"), hence
 * the hello handshake.
 */
export function connectOverlayEvents(
  server: ViteDevServer,
  orchestrator: Orchestrator,
): () => void {
  const hot = server.environments?.client?.hot ?? server.ws
  const progress = createThrottle<PullProgressEvent>(
    PROGRESS_INTERVAL_MS,
    (event) => hot.send('ollama:progress', event),
    isFinalProgress,
  )
  const onState = (snapshot: StateSnapshot) => hot.send('ollama:state', snapshot)
  const onProgress = (event: PullProgressEvent) => progress.push(event.model, event)
  const onHello = (_data: unknown, client: { send(event: string, payload?: unknown): void }) => {
    client.send('ollama:state', orchestrator.snapshot())
  }
  orchestrator.on('state', onState)
  orchestrator.on('progress', onProgress)
  hot.on('ollama:hello', onHello)
  return function disconnectOverlayEvents() {
    orchestrator.off('state', onState)
    orchestrator.off('progress', onProgress)
    hot.off('ollama:hello', onHello)
    progress.dispose()
  }
}
