import type { GpuReport } from '../gpu/detect.js'
import type { OllamaClient, OllamaClientOptions } from '../ollama/client.js'
import type { ProbeResult } from '../ollama/probe.js'
import type { ResolvedOptions } from '../options.js'
import type { EngineInfo, Problem } from '../protocol.js'
import type { DockerAttempt, DockerConnection } from './docker/connect.js'

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
  /** Ollama's log says it computes on `library` (the CPU) although the engine was given a GPU. */
  | { type: 'gpu-unused'; name: string; library: string }

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
   * Ends what the plugin started so that the next start makes it afresh (the container removed,
   * the process stopped): the GPU watchdog's Restart. Absent on an Ollama the plugin did not start.
   */
  discard?(): Promise<void>
  /**
   * Last resort for `process.on('exit')`, where only synchronous work runs (Ctrl+C skips every Vite
   * hook, docs/decisions.md, "Ctrl+C runs no Vite hook"): stop what we started, best effort.
   */
  stopSync?(): void
  /**
   * The client the plugin talks to this engine through, for an engine that does not speak
   * Ollama's native API itself (Docker Model Runner): the model manager, the chat routes and the
   * proxy then use it unchanged. Absent: an OllamaClient at `info.url`.
   */
  createClient?(options: OllamaClientOptions): OllamaClient
}

/** Where engines report progress while they start (before anyone holds the Engine). */
export interface EngineLogger {
  info(msg: string): void
  warn(msg: string): void
  /**
   * Bytes of a download the engine needs before it can start (the Ollama image), for a progress
   * bar like a model's; `done` once it is complete.
   */
  progress?(what: string, completed: number, total: number, done?: boolean): void
}

/**
 * The machine as a resolution sees it. Each question is asked at most once per resolution (the
 * same Ollama probe or Docker connection serves every driver), and tests and `doctor` may answer
 * any of them themselves.
 */
export interface World {
  readonly options: ResolvedOptions
  readonly platform: NodeJS.Platform
  /** What answers at `url`: an Ollama, nothing, or something else. */
  probe(url: string): Promise<ProbeResult>
  /** A Docker engine that answers, and every place tried. */
  docker(): Promise<{ connection: DockerConnection | null; attempts: DockerAttempt[] }>
  /** The `ollama` executable on PATH. */
  findOllama(): string | undefined
}

/** What starting an engine needs besides the options. */
export interface StartContext {
  gpu: GpuReport
  logger: EngineLogger
  signal?: AbortSignal
}

/** A driver's answer to "can you run here?", found without starting anything. */
export type Availability =
  | { ok: true; reason: string; start(ctx: StartContext): Promise<Engine> }
  | { ok: false; reason: string; hint?: string }

/**
 * One engine kind: how to tell whether it can run, how to start it, how to say what runs. The
 * registry in `engines/index.ts` lists the drivers; only its resolver decides which one runs and
 * whether an Ollama already serving is adopted.
 */
export interface Driver {
  /** Whether this kind can run on this machine now, starting nothing (`auto` and `doctor` ask). */
  probe(world: World): Promise<Availability>
  /**
   * Where the engine it starts will listen, when known before starting: an Ollama already
   * answering there is adopted by the resolver instead of starting a second one. `where` finishes
   * the sentence "an Ollama already answers …".
   */
  servesAt?(options: ResolvedOptions): { url: string; where: string }
  /**
   * Whether the Ollama answering at `url` is one this driver started in an earlier run (our own
   * container): the resolver then adopts it through this driver, which keeps supervising it.
   */
  claim?(world: World, url: string): Promise<Availability | undefined>
  /** How an engine of this kind was obtained, in a word, for the overlay ("Docker", "Adopted"). */
  label: string
  /** The terminal's one line about a running engine of this kind. */
  describe(info: EngineInfo): string
  /** Where an engine of this kind keeps its models, and why, for `doctor`. */
  modelStore?(options: ResolvedOptions): string
}
