import { EventEmitter } from 'node:events'
import { debuglog } from 'node:util'
import { GpuWatchdog, restartRefused } from './engines/gpu-watchdog.js'
import { startEngine } from './engines/index.js'
import { ENGINE_SETTINGS } from './engines/settings.js'
import type { Engine, EngineEvent } from './engines/types.js'
import { formatBytes } from './format.js'
import { detectGpus, type GpuReport } from './gpu/detect.js'
import { checkModelFit, modelSize, recommendModels } from './gpu/recommend.js'
import { ModelManager } from './models/manager.js'
import { PullProgressFolder } from './models/progress.js'
import { OllamaClient } from './ollama/client.js'
import type { ResolvedOptions } from './options.js'
import { formatProblem, ProblemError, toProblem } from './problem.js'
import type {
  ContextWarning,
  EngineInfo,
  Phase,
  Problem,
  PullCancelResult,
  PullProgressEvent,
  ResolutionStep,
  StateSnapshot,
} from './protocol.js'
import { ChatWaits } from './server/chat-waits.js'

const debug = debuglog('vite-plugin-ollama')

export interface OrchestratorLogger {
  info(msg: string): void
  warn(msg: string): void
  error(msg: string): void
}

interface OrchestratorEvents {
  state: [StateSnapshot]
  progress: [PullProgressEvent]
  log: [level: 'info' | 'warn' | 'error', message: string]
}

/** Options whose change means a different Ollama: the engine is stopped and started again. */
const ENGINE_KEYS = [
  'url',
  'engine',
  'fallback',
  'autoStart',
  'docker',
  'dmr',
  // They set the environment of the engines the plugin starts.
  ...ENGINE_SETTINGS.map((s) => s.option),
] as const

/**
 * The state machine behind the plugin: detect the GPU, get an Ollama running, make sure the
 * app's models are there, then `ready`. It lives for the whole process (see singleton.ts):
 * a config restart hands it to the new plugin instance, which calls `update()` with the new
 * options so that only what changed is redone.
 */
export class Orchestrator extends EventEmitter<OrchestratorEvents> {
  private phase: Phase = 'detecting'
  private gpu: GpuReport | null = null
  private engine: Engine | null = null
  private client: OllamaClient | null = null
  private models: ModelManager | null = null
  private steps: ResolutionStep[] = []
  private problem: Problem | undefined
  /** A `degraded` engine event not yet `restored`: shown beside a phase that still works. */
  private warning: Problem | undefined
  /** The last chat whose prompt neared or passed its model's context window. */
  private contextWarning: ContextWarning | undefined
  private running: Promise<void> | null = null
  /** `ensureModels` runs in as many calls: it settles the phase itself when it is done. */
  private ensuring = 0
  private disposed: Promise<void> | null = null
  private unsubscribeEngine: (() => void) | undefined
  private readonly abort = new AbortController()
  private readonly warned = new Set<string>()
  private imagePull: PullProgressFolder | undefined
  /** The best model for this GPU, worked out once per detection (the snapshot is read often). */
  private recommendation: ReturnType<typeof recommendModels>[number] | undefined
  /** Says when a GPU the engine was given goes unused; outlives engines, to say it is back. */
  private readonly gpuWatch = new GpuWatchdog({
    log: (level, message) => this.log(level, message),
    changed: () => {
      this.emitState()
      void this.models?.refresh().catch(() => {})
    },
  })
  private restarting: Promise<void> | undefined
  /** Chats waiting for a model, for the overlay. */
  private readonly waits = new ChatWaits(() => this.emitState())

  constructor(private options: ResolvedOptions) {
    super()
  }

  /** Starts the whole flow once; later calls return the same promise. Never rejects. */
  start(): Promise<void> {
    this.running ??= this.run()
    return this.running
  }

  get currentOptions(): ResolvedOptions {
    return this.options
  }

  /**
   * The client of the Ollama to talk to, or null while none is up. One client (one keep-alive
   * pool) per engine, shared by the model manager and the routes, closed when the engine stops.
   */
  upstream(): OllamaClient | null {
    if (!this.engine || (this.phase !== 'ready' && this.phase !== 'pulling')) return null
    // Every request is a chance to notice a GPU gone missing (rate-limited by the watchdog).
    this.gpuWatch.activity()
    return this.client
  }

  snapshot(): StateSnapshot {
    const gpu = this.gpu
    const best = this.recommendation
    const warning = this.warning ?? this.gpuWatch.warning
    return {
      phase: this.phase,
      engine: this.engine ? { ...this.engine.info } : null,
      gpu: gpu
        ? {
            gpus: gpu.gpus.map((g) => ({ name: g.name, vendor: g.vendor, vramBytes: g.vramBytes })),
            accelerator: gpu.accelerator,
            budgetBytes: gpu.budgetBytes,
            recommendation: best ? `${best.name}: ${best.reason}` : undefined,
          }
        : null,
      models:
        this.models?.list() ?? this.options.models.map((name) => ({ name, status: 'missing' })),
      defaultModel: this.options.defaultModel,
      resolution: this.steps,
      error: this.problem,
      ...(warning ? { warning } : {}),
      ...(this.contextWarning ? { contextWarning: this.contextWarning } : {}),
      ...waitingChats(this.waits),
    }
  }

  /** A chat waits for `model` (model-wait.ts) until the returned function is called. */
  noteWaiting(model: string): () => void {
    return this.waits.begin(model)
  }

  /**
   * A chat's context check (the routes' context guard): a warning is shown until a chat with the
   * same model fits again; the terminal says it once per model and level, not on every turn.
   */
  noteContext(model: string, warning: ContextWarning | undefined): void {
    if (!warning) {
      if (this.contextWarning?.model !== model) return
      this.contextWarning = undefined
    } else {
      const known = this.contextWarning
      if (known?.model !== model || known.level !== warning.level) {
        this.log('warn', formatProblem(warning))
      }
      this.contextWarning = warning
    }
    this.emitState()
  }

  /**
   * Pulls one model on demand (POST /pull, the overlay's Pull and Retry). The phase says
   * `pulling` while the download runs; the model manager decides what happens when the reader
   * leaves (docs/decisions.md, "A pull lasts while someone wants it").
   */
  pull(model: string, signal: AbortSignal): AsyncIterable<PullProgressEvent> {
    if (!this.models) {
      throw new ProblemError({
        message: 'Ollama is not running yet',
        hint: this.problem?.hint ?? 'Wait for the overlay to say ready, then try again.',
      })
    }
    return this.models.pull(model, signal)
  }

  /**
   * Makes the engine the plugin started afresh (POST /engine/restart, the GPU watchdog's action):
   * the container is recreated, a process started again. Resolves with the new engine's info; an
   * Ollama the plugin did not start is refused (409), as is a restart with no engine (503).
   */
  async restartEngine(): Promise<EngineInfo> {
    if (!this.engine?.discard) throw restartRefused(this.engine, this.problem)
    this.restarting ??= (async () => {
      this.log('info', 'restarting the engine (Restart)')
      await this.stopEngine(true)
      this.running = this.run()
      await this.running
    })().finally(() => {
      this.restarting = undefined
    })
    await this.restarting
    if (!this.engine) throw restartRefused(null, this.problem, 502)
    return { ...this.engine.info }
  }

  /**
   * Stops a model's pull (DELETE /pull, the overlay's Cancel). The model is back to `missing` and
   * the phase settled before this returns, even while `ensureModels` still verifies and warms up
   * the others; Ollama keeps the partial download for the next pull. Undefined when none runs.
   */
  cancelPull(model: string): PullCancelResult | undefined {
    const cancelled = this.models?.cancel(model)
    if (!cancelled) return undefined
    if (this.phase === 'pulling' && !this.models?.isPulling()) this.setPhase('ready')
    const got = cancelled.progress?.completed
      ? ` at ${formatBytes(cancelled.progress.completed)} of ${formatBytes(cancelled.progress.total)}`
      : ''
    this.log('info', `pull of ${cancelled.model} cancelled${got}; pulling it again resumes there`)
    return cancelled
  }

  /**
   * Applies new options after a config restart, redoing only what changed: a changed engine
   * option restarts the engine (a changed docker option recreates the container), a new model
   * is pulled, a dropped model is unloaded from memory (never deleted), a new default model
   * is warmed up. Everything else is read live by the routes.
   */
  async update(next: ResolvedOptions): Promise<void> {
    const prev = this.options
    this.options = next
    if (!this.running) return
    await this.running
    const engineChanged = ENGINE_KEYS.some(
      (k) => JSON.stringify(prev[k]) !== JSON.stringify(next[k]),
    )
    if (engineChanged) {
      this.log('info', 'engine options changed: restarting Ollama')
      await this.stopEngine()
      this.running = this.run()
      return this.running
    }
    const dropped = prev.models.filter((m) => !next.models.includes(m))
    const added = next.models.filter((m) => !prev.models.includes(m))
    if (!this.models || !this.engine) return
    for (const model of dropped) {
      this.log(
        'info',
        `${model} is no longer in models: unloading it from memory (it stays on disk)`,
      )
      await this.models.unload(model)
    }
    if (added.length || dropped.length) {
      // Not `ready` while an added model may be missing: without this, the first state that
      // `ensureModels` emits still says ready, and the new instance's terminal prints a ready
      // line before the pull. `settle()` says ready again once nothing pulls.
      if (added.length && this.phase === 'ready') this.setPhase('pulling')
      this.running = this.ensureModels()
      await this.running
    } else if (next.defaultModel !== prev.defaultModel) {
      this.running = this.ensureModels()
      await this.running
    } else {
      this.emitState()
    }
  }

  /** Stops what we started (never an adopted Ollama). Idempotent. */
  dispose(): Promise<void> {
    this.disposed ??= (async () => {
      this.abort.abort()
      this.models?.abortAll()
      await this.stopEngine()
      this.setPhase('stopped')
      this.removeAllListeners()
    })()
    return this.disposed
  }

  /** Synchronous last resort for `process.on('exit')`, where nothing async can run. */
  disposeSync(): void {
    if (this.engine?.owned) this.engine.stopSync?.()
  }

  private async run(): Promise<void> {
    try {
      this.problem = undefined
      this.setPhase('detecting')
      if (!this.gpu) {
        this.gpu = await detectGpus()
        const { budgetBytes, accelerator } = this.gpu
        this.recommendation = recommendModels(budgetBytes, { accelerator })[0]
      }
      this.log('info', describeGpu(this.gpu))
      if (this.abort.signal.aborted) return
      this.setPhase('starting')
      const started = await startEngine(this.options, {
        gpu: this.gpu,
        logger: {
          info: (m) => this.log('info', m),
          warn: (m) => this.log('warn', m),
          progress: (what, completed, total, done) =>
            this.imageProgress(what, completed, total, done),
        },
        signal: this.abort.signal,
      })
      this.steps = started.steps
      if (this.abort.signal.aborted) {
        await started.engine?.stop()
        return
      }
      if (!started.engine) {
        this.problem = started.problem ?? { message: 'No way to run Ollama was found' }
        this.setPhase('unavailable')
        this.log('warn', formatProblem(this.problem))
        return
      }
      this.attachEngine(started.engine, started.description)
      await this.ensureModels()
    } catch (error) {
      this.fail(error)
    }
  }

  /**
   * The Ollama image downloading before the first start (gigabytes): shown like a model pull, a
   * bar in the terminal and a row in the overlay, rather than a silent `starting`.
   */
  private imageProgress(image: string, completed: number, total: number, done?: boolean): void {
    this.imagePull ??= new PullProgressFolder(image)
    const status = done ? 'success' : `pulling ${image}`
    const event = done
      ? this.imagePull.add({ status })
      : this.imagePull.add({ status, digest: image, total, completed })
    this.emit('progress', event)
    if (done) this.imagePull = undefined
  }

  private attachEngine(engine: Engine, description: string): void {
    this.engine = engine
    // The routes' proxy, the chats and the model manager all go through this client's pool, so
    // its cap bounds what requests can hold open at Ollama; a changed cap applies from the next
    // engine start.
    const clientOptions = { connections: this.options.limits.upstreamConnections }
    const client =
      engine.createClient?.(clientOptions) ?? new OllamaClient(engine.info.url, clientOptions)
    this.client = client
    const gpu = this.gpu
    this.models = new ModelManager({
      client: this.client,
      onProgress: (event) => this.emit('progress', event),
      onChange: () => this.modelsChanged(),
      logger: { info: (m) => this.log('info', m), warn: (m) => this.log('warn', m) },
      sizeOf: modelSize,
      freeDiskBytes: engine.info.kind === 'native' ? async () => gpu?.freeDiskBytes : undefined,
      hasGpu: (gpu?.budgetBytes ?? 0) > 0 && gpu?.accelerator !== 'cpu',
      fitWarning: (model) => {
        if (!gpu || engine.info.simulated) return undefined
        const fit = checkModelFit(model, gpu.budgetBytes, { accelerator: gpu.accelerator })
        return fit.status === 'partial' || fit.status === 'too-large' ? fit.message : undefined
      },
    })
    this.gpuWatch.watch(engine, () => client.ps())
    this.unsubscribeEngine = engine.onEvent((event) => this.onEngineEvent(event))
    // "engine is X" only repeats the config; a reason that explains a choice is worth the line.
    const reason = engine.info.reason
    const why = reason && !reason.startsWith('engine is') ? ` (${reason})` : ''
    this.log('info', `engine: ${description}${why}`)
  }

  private async ensureModels(): Promise<void> {
    const models = this.models
    if (!models) return
    this.ensuring++
    try {
      const toPull = this.options.autoPull.filter((m) => this.options.models.includes(m))
      await models.track(this.options.models, this.abort.signal, toPull)
      for (const m of models.list()) {
        // Once per process: a config restart must not repeat the same warning.
        if (m.warning && !this.warned.has(m.warning)) {
          this.warned.add(m.warning)
          this.log('warn', m.warning)
        }
      }
      if (models.list().some((m) => m.status === 'missing' && toPull.includes(m.name))) {
        this.setPhase('pulling')
        await models.pullMissing(toPull)
      }
      await Promise.all(this.options.models.map((m) => models.verify(m)))
      const def = this.options.defaultModel
      if (def && this.options.warmup) {
        await models.warmup(def, this.options.keepAlive).catch((error: Error) => {
          this.log('warn', `warm-up of ${def} failed: ${error.message}`)
        })
      }
      this.settle()
      const loaded = models.list().find((m) => m.name === def)
      if (loaded?.processor) this.log('info', `${def} is loaded: ${loaded.processor}`)
      if (loaded?.warning) this.log('warn', loaded.warning)
      await this.gpuWatch.check()
    } catch (error) {
      this.fail(error)
    } finally {
      this.ensuring--
    }
  }

  private onEngineEvent(event: EngineEvent): void {
    debug('engine event %o', event)
    switch (event.type) {
      case 'crashed':
        this.problem = {
          message: event.message,
          hint: 'The plugin restarts it; see the log above.',
        }
        this.setPhase('starting')
        this.log('warn', `Ollama stopped unexpectedly: ${event.message}`)
        break
      case 'restarting':
        this.log(
          'info',
          `restarting Ollama (attempt ${event.attempt}) in ${Math.round(event.delayMs / 1000)} s`,
        )
        break
      case 'recovered':
        this.problem = undefined
        this.log('info', 'Ollama is back')
        // From `stopped` (a `docker start` of yours) or `error` too: back through the models
        // check, which settles on ready.
        this.setPhase('starting')
        this.running = this.ensureModels()
        break
      case 'stopped':
        this.problem = {
          message: event.message,
          hint: 'Start it again, or restart the dev server.',
        }
        this.setPhase('stopped')
        this.log('warn', event.message)
        break
      case 'failed':
        this.problem = event.problem
        this.setPhase('error')
        this.log('error', formatProblem(event.problem))
        break
      case 'log':
        this.log(event.level, event.message)
        break
      case 'degraded':
        this.warning = event.problem
        this.log('warn', formatProblem(event.problem))
        this.emitState()
        break
      case 'restored':
        this.warning = undefined
        this.log('info', event.message)
        this.emitState()
        break
      case 'gpu-unused':
        this.gpuWatch.unusedInLog(event.name, event.library)
        break
    }
  }

  /**
   * The phase follows the downloads, not their readers: a pull that starts while ready makes it
   * `pulling`, and the end of the last one (finished, failed or cancelled) makes it `ready`
   * again. While `ensureModels` runs it decides when it is done, after verifying and warming up.
   */
  private modelsChanged(): void {
    const pulling = this.models?.isPulling() ?? false
    if (this.phase === 'ready' && pulling) this.setPhase('pulling')
    else if (this.phase === 'pulling' && !pulling && this.ensuring === 0) this.setPhase('ready')
    else this.emitState()
  }

  /** Leaves `pulling` once nothing pulls any more. */
  private settle(): void {
    if (this.phase !== 'pulling' && this.phase !== 'starting' && this.phase !== 'detecting') return
    if (this.models?.isPulling()) return
    this.setPhase('ready')
  }

  /** Stops the engine; `discard` has what the plugin started made afresh by the next start. */
  private async stopEngine(discard = false): Promise<void> {
    this.gpuWatch.unwatch()
    this.unsubscribeEngine?.()
    this.unsubscribeEngine = undefined
    this.warning = undefined
    const engine = this.engine
    this.engine = null
    this.models?.abortAll()
    this.models = null
    await this.client?.close().catch(() => {})
    this.client = null
    await (discard && engine?.discard ? engine.discard() : engine?.stop())?.catch((error: Error) =>
      this.log('warn', `stopping Ollama failed: ${error.message}`),
    )
  }

  private fail(error: unknown): void {
    if (this.abort.signal.aborted) return
    this.problem = toProblem(error)
    this.setPhase('error')
    this.log('error', formatProblem(this.problem))
  }

  private setPhase(phase: Phase): void {
    if (this.phase === 'stopped' && this.disposed) return
    this.phase = phase
    this.emitState()
  }

  private emitState(): void {
    this.emit('state', this.snapshot())
  }

  private log(level: 'info' | 'warn' | 'error', message: string): void {
    debug('%s: %s', level, message)
    this.emit('log', level, message)
  }
}

export function describeGpu(report: GpuReport): string {
  const gpu = report.gpus[0]
  if (!gpu || report.accelerator === 'cpu') return 'gpu: none found, models run on the CPU'
  const more = report.gpus.length > 1 ? ` (+${report.gpus.length - 1} more)` : ''
  const vram = gpu.vramBytes ? `, ${formatBytes(gpu.vramBytes)}` : ''
  return `gpu: ${gpu.name}${vram}${more} via ${report.accelerator}`
}

function waitingChats(waits: ChatWaits): Pick<StateSnapshot, 'waitingChats'> {
  const list = waits.list()
  return list.length > 0 ? { waitingChats: list } : {}
}
