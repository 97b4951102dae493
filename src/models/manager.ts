import { debuglog } from 'node:util'
import { formatBytes } from '../format.js'
import type { OllamaClient } from '../ollama/client.js'
import { isOllamaError } from '../ollama/errors.js'
import { ProblemError } from '../problem.js'
import type { ModelState, Problem, PullCancelResult, PullProgressEvent } from '../protocol.js'
import { isValidModelName } from './name.js'
import { describePullFailure } from './problems.js'
import { PullProgressFolder } from './progress.js'
import { PullJob } from './pull-job.js'

const debug = debuglog('vite-plugin-ollama')

/** Ollama downloads one model's layers in 16 parallel parts already: two models at once is plenty. */
const MAX_CONCURRENT_PULLS = 2
const STALL_TRIES = 3

export interface ModelManagerDeps {
  client: OllamaClient
  /** Every folded progress figure; consumers throttle for themselves. */
  onProgress(event: PullProgressEvent): void
  /** A model's state changed (status, error, processor). */
  onChange(): void
  logger: { info(msg: string): void; warn(msg: string): void }
  /** Bytes a model will take on disk, when known, for the free-disk check. */
  sizeOf?(model: string): number | undefined
  /** Free bytes where models are stored, when known. */
  freeDiskBytes?(): Promise<number | undefined>
  /** No progress for this long = stalled: abort and resume. */
  stallTimeoutMs?: number
  /** GPU memory exists on this machine: a model on the CPU is worth a warning. */
  hasGpu?: boolean
  /** A warning for a model that will not fit the GPU (or RAM) budget, before it is even pulled. */
  fitWarning?(model: string): string | undefined
}

/**
 * Knows which of the app's models are on the Ollama server, pulls the missing ones (two at a
 * time, shared between the auto pull and the routes, resumed when stalled), warms the default
 * model up, and reports where each model runs.
 *
 * A pull lasts while someone wants it (docs/decisions.md, "A pull lasts while someone wants it"):
 * the plugin wants the models it pulls by itself (`autoPull`), a request the pull it reads. When
 * the last reader of any other pull goes away, the pull is cancelled, as Ollama cancels a
 * download whose last client left; `cancel()` stops one whoever wants it.
 */
export class ModelManager {
  private readonly states = new Map<string, ModelState>()
  /** The app's models (`options.models`); any other state is a one-off pull's. */
  private readonly tracked = new Set<string>()
  /** The models the plugin pulls by itself (`autoPull`): their pulls outlive their readers. */
  private readonly held = new Set<string>()
  private readonly jobs = new Map<string, PullJob>()
  private readonly queue: Array<() => void> = []
  private running = 0

  constructor(private readonly deps: ModelManagerDeps) {}

  list(): ModelState[] {
    return [...this.states.values()].map((s) => ({ ...s }))
  }

  isPulling(): boolean {
    return this.jobs.size > 0
  }

  /**
   * Starts tracking these models (and stops tracking the others), then reads what Ollama has.
   * `autoPull`: those the plugin pulls by itself, whose pulls go on when a reader leaves.
   */
  async track(
    models: string[],
    signal?: AbortSignal,
    autoPull: readonly string[] = [],
  ): Promise<void> {
    this.tracked.clear()
    for (const name of models) this.tracked.add(name)
    this.held.clear()
    for (const name of autoPull) this.held.add(name)
    for (const name of this.states.keys())
      if (!models.includes(name) && !this.jobs.has(name)) this.states.delete(name)
    for (const name of models)
      if (!this.states.has(name)) this.states.set(name, { name, status: 'missing' })
    await this.refresh(signal)
  }

  /**
   * Reads `/api/tags` and `/api/ps` and updates each model's status. A one-off pull's model that is
   * no longer on disk is forgotten: besides the app's models, the state holds only models that
   * are there.
   */
  async refresh(signal?: AbortSignal): Promise<void> {
    const [tags, ps] = await Promise.all([
      this.deps.client.list({ signal }),
      this.deps.client.ps({ signal }).catch(() => ({ models: [] })),
    ])
    const key = (name: string) => this.deps.client.modelKey(name)
    const local = new Set(tags.models.map((m) => key(m.name)))
    const loaded = new Map(ps.models.map((m) => [key(m.name), m]))
    for (const state of this.states.values()) {
      if (this.jobs.has(state.name)) continue
      const running = loaded.get(key(state.name))
      if (running) {
        state.status = 'loaded'
        // An engine that reports no size (Docker Model Runner) says nothing about where it runs.
        state.processor =
          running.size > 0 ? describeProcessor(running.size, running.size_vram) : undefined
        state.warning =
          this.cpuWarning(state.name, running.size, running.size_vram) ??
          this.deps.fitWarning?.(state.name)
      } else if (local.has(key(state.name))) {
        if (state.status !== 'error') state.status = 'present'
        state.processor = undefined
      } else if (!this.tracked.has(state.name)) {
        this.states.delete(state.name)
      } else if (state.status !== 'error') {
        state.status = 'missing'
      }
    }
    this.deps.onChange()
  }

  /** Pulls every tracked model in `models` that is missing; resolves when all have ended. */
  async pullMissing(models: string[]): Promise<void> {
    const missing = models.filter((m) => this.states.get(m)?.status === 'missing')
    await Promise.all(missing.map((m) => this.consume(this.pull(m))))
  }

  /**
   * Pulls one model and yields its folded progress. A pull already running for the model is
   * joined, not started twice. Leaving the loop (or aborting `signal`) lets go of it: the last
   * reader leaving cancels it, unless the plugin pulls that model by itself (see the class).
   */
  async *pull(requested: string, signal?: AbortSignal): AsyncGenerator<PullProgressEvent> {
    // The routes check names already; this keeps any other caller from creating state for a name
    // Ollama would refuse (docs/decisions.md, "Every store a request can grow has a bound").
    if (!isValidModelName(requested)) {
      throw new ProblemError({
        status: 400,
        message: `'${requested.slice(0, 100)}' is not a valid model name`,
        hint: 'Use a name from ollama.com/library, such as "llama3.2" or "qwen2.5:7b".',
      })
    }
    const model = this.knownName(requested)
    const job = this.jobs.get(model) ?? this.startJob(model)
    yield* job.read(signal, () => {
      if (job.readers === 0 && this.jobs.get(model) === job && !this.held.has(model)) {
        this.cancel(model)
        this.deps.logger.info(
          `pull of ${model} stopped: nobody waits for it any more (pulling it again resumes it)`,
        )
      }
    })
  }

  /**
   * Stops a model's pull now, whoever wants it: Ollama stops the download and keeps the partial
   * files, so the next pull resumes. The model's state is settled before this returns (back to
   * what it was before the pull: `missing`, or `present` when it was an update), so the phase can
   * settle at once. Undefined when no pull of that model runs.
   */
  cancel(requested: string): PullCancelResult | undefined {
    const model = this.knownName(requested)
    const job = this.jobs.get(model)
    if (!job) return undefined
    job.cancelled = true
    this.jobs.delete(model)
    job.controller.abort()
    const state = this.states.get(model)
    const before = job.before === 'error' ? 'missing' : job.before
    if (state && before && (before !== 'missing' || this.tracked.has(model))) {
      state.status = before
      state.progress = undefined
      state.error = undefined
    } else if (state) {
      this.states.delete(model)
    }
    job.emit(
      new ProblemError({
        message: `The pull of '${model}' was cancelled`,
        hint: 'Pull it again to resume from the bytes already downloaded.',
      }),
    )
    this.deps.onChange()
    return { model, status: 'cancelled', progress: job.last ?? null }
  }

  /** Loads a model into memory with `keep_alive`, so the first chat does not wait for it. */
  async warmup(model: string, keepAlive: string | number): Promise<void> {
    const state = this.states.get(model)
    if (!state || (state.status !== 'present' && state.status !== 'loaded')) return
    try {
      await this.deps.client.generate({ model, prompt: '', keep_alive: keepAlive, stream: false })
    } catch (error) {
      // Embedding models cannot generate; they load on first use, which is quick.
      if (!/does not support/i.test(String((error as Error).message))) throw error
      debug('warm-up skipped for %s: %s', model, (error as Error).message)
    }
    await this.refresh()
  }

  /** Frees a model's memory now (`keep_alive: 0`). It stays on disk: we never delete models. */
  async unload(model: string): Promise<void> {
    await this.deps.client
      .generate({ model, prompt: '', keep_alive: 0, stream: false })
      .catch((error: Error) => debug('unload of %s failed: %s', model, error.message))
  }

  /** Verifies a model answers `/api/show`, the cheapest check that its manifest is whole. */
  async verify(model: string): Promise<void> {
    const state = this.states.get(model)
    if (!state || state.status === 'missing' || state.status === 'error') return
    try {
      await this.deps.client.show(model)
    } catch (error) {
      this.fail(model, {
        message: `'${model}' is on disk but Ollama cannot read it: ${(error as Error).message}`,
        hint: `Pull it again: \`ollama pull ${model}\`, or press Retry.`,
      })
    }
  }

  /** Cancels every pull in flight (the downloads keep their partial files and resume later). */
  abortAll(): void {
    for (const job of this.jobs.values()) job.controller.abort()
  }

  /** `llama3.2:latest` when `llama3.2` is known already: one state and one job per model. */
  private knownName(model: string): string {
    if (this.states.has(model)) return model
    const key = this.deps.client.modelKey(model)
    for (const name of this.states.keys()) if (this.deps.client.modelKey(name) === key) return name
    return model
  }

  private async consume(events: AsyncIterable<PullProgressEvent>): Promise<void> {
    try {
      for await (const _ of events);
    } catch {
      // The failure is recorded on the model's state and shown; one model failing leaves the others be.
    }
  }

  private startJob(model: string): PullJob {
    const state = this.states.get(model) ?? { name: model, status: 'missing' as const }
    const job = new PullJob(this.states.has(model) ? state.status : undefined)
    this.states.set(model, state)
    state.status = 'pulling'
    state.error = undefined
    this.jobs.set(model, job)
    this.deps.onChange()
    const emit = (event: PullProgressEvent) => {
      state.progress = event
      this.deps.onProgress(event)
      job.emit(event)
    }
    job.promise = this.withSlot(() => {
      job.controller.signal.throwIfAborted()
      return this.runPull(model, job, emit)
    })
      .then(
        async () => {
          if (!job.cancelled) {
            state.status = 'present'
            state.progress = undefined
          }
          await this.refresh().catch(() => {})
        },
        (error: Error) => {
          // A cancel settled the state and told the readers already.
          if (job.cancelled) throw error
          const problem =
            error.name === 'AbortError' || job.controller.signal.aborted
              ? { message: `The pull of '${model}' was cancelled` }
              : // A problem the engine's client already worded (Docker Model Runner's missing
                // model) is kept; Ollama's own words are turned into what to do.
                error instanceof ProblemError && !isOllamaError(error)
                ? error.problem
                : describePullFailure(model, error.message)
          // A one-off pull that failed leaves nothing behind: the client that asked gets the
          // error, and a flood of made-up names must not pile up in /status and the overlay.
          if (this.tracked.has(model)) this.fail(model, problem)
          else if (this.states.get(model) === state) this.states.delete(model)
          job.emit(new ProblemError(problem))
          throw error
        },
      )
      .finally(() => {
        if (this.jobs.get(model) !== job) return
        this.jobs.delete(model)
        this.deps.onChange()
      })
    job.promise.catch(() => {})
    return job
  }

  private async runPull(
    model: string,
    job: PullJob,
    emit: (event: PullProgressEvent) => void,
  ): Promise<void> {
    await this.checkDisk(model)
    const folder = new PullProgressFolder(model)
    const stallMs = this.deps.stallTimeoutMs ?? 30_000
    for (let attempt = 1; ; attempt++) {
      // Each try has its own controller so a stall aborts this request only; Ollama keeps the
      // partial download and the next request resumes it (docs/decisions.md, "An interrupted pull
      // resumes").
      const attemptController = new AbortController()
      const onAbort = () => attemptController.abort()
      job.controller.signal.addEventListener('abort', onAbort)
      let stalled = false
      let timer = setTimeout(onStall, stallMs)
      function onStall() {
        stalled = true
        attemptController.abort()
      }
      try {
        let last = folder.current()
        for await (const line of this.deps.client.pull(model, {
          signal: attemptController.signal,
        })) {
          const next = folder.add(line)
          // Ollama repeats its last line every 60 ms whether or not bytes arrive
          // (docs/decisions.md, "Pull progress repeats its last line every 60 ms"): only new bytes
          // or a new stage count as progress.
          if (next.completed > last.completed || next.status !== last.status) {
            clearTimeout(timer)
            timer = setTimeout(onStall, stallMs)
          }
          last = next
          emit(next)
        }
        return
      } catch (error) {
        if (!stalled) throw error
        if (attempt >= STALL_TRIES)
          throw new Error(`no progress for ${stallMs / 1000} s, ${attempt} times (stalled)`)
        this.deps.logger.warn(
          `pull of ${model} stalled; resuming (try ${attempt + 1} of ${STALL_TRIES})`,
        )
      } finally {
        clearTimeout(timer)
        job.controller.signal.removeEventListener('abort', onAbort)
      }
    }
  }

  private async checkDisk(model: string): Promise<void> {
    const size = this.deps.sizeOf?.(model)
    if (!size || !this.deps.freeDiskBytes) return
    const free = await this.deps.freeDiskBytes().catch(() => undefined)
    if (free !== undefined && free < size) {
      throw new Error(
        `no space left on device: '${model}' needs about ${formatBytes(size)} but only ${formatBytes(free)} is free`,
      )
    }
  }

  /** Runs `task` when one of the pull slots is free. */
  private async withSlot<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= MAX_CONCURRENT_PULLS) {
      await new Promise<void>((resolve) => this.queue.push(resolve))
    }
    this.running++
    try {
      return await task()
    } finally {
      this.running--
      this.queue.shift()?.()
    }
  }

  private fail(model: string, problem: Problem): void {
    const state = this.states.get(model)
    if (!state) return
    state.status = 'error'
    state.error = problem
    state.progress = undefined
    this.deps.onChange()
  }

  private cpuWarning(model: string, size: number, sizeVram: number): string | undefined {
    // Wholly on the CPU is not "too big for the GPU" (Ollama would offload part of it): the GPU is
    // not used at all, which the GPU watchdog reports with its causes (engines/gpu-watchdog.ts).
    if (!this.deps.hasGpu || size <= 0 || sizeVram <= 0 || sizeVram >= size) return undefined
    const onCpu = Math.round(((size - sizeVram) / size) * 100)
    return `${model} runs ${onCpu}% on the CPU: it does not fit in GPU memory, so answers will be slower. Try a smaller model (see \`npx vite-plugin-ollama doctor\`).`
  }
}

/** Ollama's own wording in `ollama ps`: "100% GPU", "100% CPU" or "48%/52% CPU/GPU". */
export function describeProcessor(size: number, sizeVram: number): string {
  if (size <= 0) return 'unknown'
  if (sizeVram <= 0) return '100% CPU'
  if (sizeVram >= size) return '100% GPU'
  const gpu = Math.round((sizeVram / size) * 100)
  return `${100 - gpu}%/${gpu}% CPU/GPU`
}
