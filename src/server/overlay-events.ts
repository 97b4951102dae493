import type { ViteDevServer } from 'vite'
import type { Orchestrator } from '../orchestrator.js'
import type { PullProgressEvent, StateSnapshot } from '../protocol.js'

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
 * Sends at most one event per `intervalMs` per key, always ending on the last one: the final
 * 100% (or the error) must never be dropped by the throttle.
 */
export function createThrottle<T>(
  intervalMs: number,
  send: (value: T) => void,
  isFinal: (value: T) => boolean,
): { push(key: string, value: T): void; dispose(): void } {
  const slots = new Map<string, { last: number; pending?: T; timer?: NodeJS.Timeout }>()
  return {
    push(key, value) {
      const slot = slots.get(key) ?? { last: 0 }
      slots.set(key, slot)
      const now = performance.now()
      if (isFinal(value)) {
        clearTimeout(slot.timer)
        slots.delete(key)
        send(value)
        return
      }
      if (now - slot.last >= intervalMs) {
        slot.last = now
        send(value)
        return
      }
      slot.pending = value
      if (slot.timer) return
      // Timers may fire a hair early: wait out the whole interval, so the rate never exceeds it.
      const fire = () => {
        const wait = intervalMs - (performance.now() - slot.last)
        if (wait > 0) {
          slot.timer = setTimeout(fire, Math.ceil(wait))
          return
        }
        slot.timer = undefined
        slot.last = performance.now()
        if (slot.pending) send(slot.pending)
        slot.pending = undefined
      }
      slot.timer = setTimeout(fire, Math.ceil(intervalMs - (now - slot.last)))
    },
    dispose() {
      for (const slot of slots.values()) clearTimeout(slot.timer)
      slots.clear()
    },
  }
}

export function isFinalProgress(event: PullProgressEvent): boolean {
  return event.status === 'success' || event.percent >= 100
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
