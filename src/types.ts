// Shapes shared by the engines, the orchestrator, the routes and the browser. The browser side
// (src/client) keeps its own copy of the wire shapes, since it must not import Node code.

export type Phase =
  | 'detecting'
  | 'starting'
  | 'pulling'
  | 'ready'
  | 'unavailable'
  | 'error'
  | 'stopped'

export type ModelStatus = 'missing' | 'pulling' | 'present' | 'loaded' | 'error'

export type EngineName = 'external' | 'docker' | 'native' | 'simulator'

export type Accelerator = 'cuda' | 'rocm' | 'metal' | 'vulkan' | 'cpu'

/** An error as users see it: what happened, and what to do about it. */
export interface Problem {
  message: string
  hint?: string
}

/** One step of the `auto` resolution: taken or passed over, and why. */
export interface ResolutionStep {
  engine: EngineName
  outcome: 'chosen' | 'skipped' | 'failed'
  reason: string
  hint?: string
}

export interface EngineInfo {
  kind: EngineName
  url: string
  version?: string
  simulated: boolean
  container?: { id: string; name: string; image: string }
  pid?: number
  /** Why this engine, in one line ("an Ollama already answers at http://127.0.0.1:11434"). */
  reason?: string
  /** Whether Ollama reports using the GPU (from the container's `inference compute` log line). */
  gpuInUse?: boolean
}

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

export interface GpuSummary {
  name: string
  vendor: 'nvidia' | 'amd' | 'intel' | 'apple' | 'other'
  vramBytes?: number
}

export interface ModelState {
  name: string
  status: ModelStatus
  progress?: PullProgressEvent
  /** Where it runs once loaded, e.g. "100% GPU" or "48% GPU / 52% CPU". */
  processor?: string
  error?: Problem
  warning?: string
}

export interface StateSnapshot {
  phase: Phase
  engine: EngineInfo | null
  gpu: {
    gpus: GpuSummary[]
    accelerator: Accelerator
    budgetBytes?: number
    recommendation?: string
  } | null
  models: ModelState[]
  defaultModel?: string
  /** The `auto` resolution, step by step. */
  resolution?: ResolutionStep[]
  error?: Problem
  /** Something is wrong while Ollama keeps serving (e.g. Docker unreachable: crashes not recovered). */
  warning?: Problem
}

/** `ollama:progress` payload: one figure per model, folded over all its layers. */
export interface PullProgressEvent {
  model: string
  status: string
  completed: number
  total: number
  percent: number
  bytesPerSecond: number
  etaSeconds: number | null
}
