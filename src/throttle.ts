import type { PullProgressEvent } from './protocol.js'

// Pull progress arrives many times a second per model; neither the overlay (over Vite's HMR
// channel) nor the terminal's progress bars need every event, so both go through this throttle.

/** Keys tracked before idle ones are dropped; a dev server pulls a handful of models at once. */
const PRUNE_AT = 64

/**
 * Sends at most one event per `intervalMs` per key, always ending on the last one: the final
 * 100% (or the error) must never be dropped by the throttle.
 */
export function createThrottle<T>(
  intervalMs: number,
  send: (value: T) => void,
  isFinal: (value: T) => boolean,
): { push(key: string, value: T): void; dispose(): void; size(): number } {
  const slots = new Map<string, { last: number; pending?: T; timer?: NodeJS.Timeout }>()
  /**
   * A slot with nothing scheduled whose last send is an interval old acts exactly like no slot:
   * drop those once there are many, so keys that never send a final value (a pull that failed,
   * a flood of one-off names) cannot pile up.
   */
  let prunedAt = 0
  function prune(now: number): void {
    // At most once an interval: within one, no idle slot can appear.
    prunedAt = now
    for (const [key, slot] of slots) {
      if (!slot.timer && now - slot.last >= intervalMs) slots.delete(key)
    }
  }
  return {
    push(key, value) {
      const now = performance.now()
      if (slots.size >= PRUNE_AT && now - prunedAt >= intervalMs) prune(now)
      const slot = slots.get(key) ?? { last: 0 }
      slots.set(key, slot)
      if (isFinal(value)) {
        clearTimeout(slot.timer)
        slots.delete(key)
        send(value)
        return
      }
      // With a send already scheduled, the newer value replaces the pending one: sending it now
      // would let the late timer send the older one after it (a bar going backwards).
      if (!slot.timer && now - slot.last >= intervalMs) {
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
    /** Keys tracked now (for tests and debugging). */
    size: () => slots.size,
  }
}

/** The event a pull ends on, which the throttle always lets through. */
export function isFinalProgress(event: PullProgressEvent): boolean {
  return event.status === 'success' || event.percent >= 100
}
