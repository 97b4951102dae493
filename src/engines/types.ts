import type { EngineInfo, Problem } from '../protocol.js'

// What an engine is to the orchestrator, whatever runs it. Node-side only: the browser sees an
// engine as the `EngineInfo` of the state snapshot (src/protocol.ts).

/** Emitted by an engine over its life: the orchestrator maps these onto the phase. */
export type EngineEvent =
  | { type: 'crashed'; message: string }
  | { type: 'restarting'; attempt: number; delayMs: number }
  | { type: 'recovered' }
  | { type: 'stopped'; message: string }
  | { type: 'failed'; problem: Problem }
  | { type: 'log'; level: 'info' | 'warn'; message: string }
  /** Ollama still runs, but something it depends on is not right (Docker unreachable). */
  | { type: 'degraded'; problem: Problem }
  /** What `degraded` reported is over. */
  | { type: 'restored'; message: string }

/** A running Ollama the plugin talks to, whoever started it. */
export interface Engine {
  readonly info: EngineInfo
  /** True when we started it (and so may stop it); false for an adopted Ollama. */
  readonly owned: boolean
  /** Subscribe to lifecycle events; returns the unsubscribe function. */
  onEvent(listener: (event: EngineEvent) => void): () => void
  /** Stop what we started. An adopted engine is never touched. Idempotent. */
  stop(): Promise<void>
  /**
   * Last resort for `process.on('exit')`, where only synchronous work runs (Ctrl+C skips every Vite
   * hook, docs/decisions.md, "Ctrl+C runs no Vite hook"): stop what we started, best effort.
   */
  stopSync?(): void
}
