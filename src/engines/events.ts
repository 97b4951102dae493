import type { EngineEvent } from './types.js'

export interface EngineEventHub {
  emit(event: EngineEvent): void
  onEvent(listener: (event: EngineEvent) => void): () => void
}

/**
 * The listeners of one engine. Events emitted before anyone listens (the engine warns while it
 * starts, before the orchestrator holds it) are kept and replayed to the first listener, so a
 * "GPU refused, running on CPU" warning is never lost.
 */
export function createEngineEventHub(): EngineEventHub {
  const listeners = new Set<(event: EngineEvent) => void>()
  let pending: EngineEvent[] | undefined = []

  function emit(event: EngineEvent): void {
    if (pending) {
      pending.push(event)
      return
    }
    for (const listener of [...listeners]) listener(event)
  }

  function onEvent(listener: (event: EngineEvent) => void): () => void {
    listeners.add(listener)
    if (pending) {
      const replay = pending
      pending = undefined
      for (const event of replay) listener(event)
    }
    return () => {
      listeners.delete(listener)
    }
  }

  return { emit, onEvent }
}
