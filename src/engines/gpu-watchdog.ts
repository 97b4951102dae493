import { debuglog } from 'node:util'
import { describeProcessor } from '../models/manager.js'
import type { PsResponse } from '../ollama/index.js'
import { errorMessage, ProblemError } from '../problem.js'
import type { EngineName, Problem } from '../protocol.js'
import type { Engine } from './types.js'

const debug = debuglog('vite-plugin-ollama')

// A GPU can go missing under a running Ollama, which then answers on the CPU without a word:
// Docker with the systemd cgroup driver detaches it after a `daemon-reload`, NVIDIA drivers lose it
// after suspend (docs/decisions.md, "The GPU watchdog"). Ollama's `/api/ps` says where each loaded
// model runs (`size_vram`), so after requests the watchdog reads it and, when every loaded model is
// on the CPU although the engine was given a GPU, says so once, with the cause and a Restart
// action. It outlives the engine: after a restart it says when the GPU is back.

/** How the watchdog reaches the engine it watches. */
export interface WatchedEngine {
  kind: EngineName
  /** `/api/ps` of that engine. */
  ps(): Promise<PsResponse>
}

export interface GpuWatchdogOptions {
  /** A line for the terminal, said once per event. */
  log(level: 'info' | 'warn', message: string): void
  /** The warning was set or cleared: the state snapshot must be sent again. */
  changed(): void
  /** At most one check per this long, however many requests. @default 30000 */
  intervalMs?: number
  /** Wait this long after a request, so the model it loads shows in `/api/ps`. @default 2000 */
  settleMs?: number
}

/** A check with nothing loaded says nothing; one with a loaded model says where it runs. */
type Verdict = 'gpu' | 'cpu' | 'nothing-loaded'

/** Requests this recent keep an inconclusive check (a model still loading) coming back. */
const RECENT_MS = 60_000

export class GpuWatchdog {
  private target: WatchedEngine | undefined
  private problem: Problem | undefined
  /** The warning was set before the engine was restarted: the next verdict reports on it. */
  private restarted = false
  private timer: NodeJS.Timeout | undefined
  /** When the pending check runs. */
  private dueAt = 0
  private lastVerdictAt = 0
  private lastActivityAt = 0
  private readonly intervalMs: number
  private readonly settleMs: number

  constructor(private readonly options: GpuWatchdogOptions) {
    this.intervalMs = options.intervalMs ?? 30_000
    this.settleMs = options.settleMs ?? 2_000
  }

  /** The GPU-lost warning for the snapshot, with its Restart action. */
  get warning(): Problem | undefined {
    return this.problem
  }

  /**
   * Watches an engine the plugin started with a GPU planned; any other engine is not watched, and a
   * warning about the one before it no longer applies.
   */
  watch(engine: Engine, ps: () => Promise<PsResponse>): void {
    this.unwatch()
    if (!engine.info.gpuPlanned || !engine.discard) {
      this.clear()
      return
    }
    this.target = { kind: engine.info.kind, ps }
    this.restarted = Boolean(this.problem)
    this.lastVerdictAt = 0
  }

  /** The engine is going away; a warning stays until the next engine says otherwise. */
  unwatch(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    this.target = undefined
  }

  /**
   * A request reached Ollama: check once it has had time to load its model, at most once per
   * `intervalMs` (so a GPU lost is noticed within a minute of the next chat).
   */
  activity(): void {
    const now = Date.now()
    this.lastActivityAt = now
    const due = Math.max(now + this.settleMs, this.lastVerdictAt + this.intervalMs)
    if (!this.target || (this.timer && this.dueAt <= due)) return
    this.schedule(due - now)
  }

  /** Checks now (after a warm-up loaded the default model). Never throws. */
  async check(): Promise<void> {
    const target = this.target
    if (!target) return
    let ps: PsResponse
    try {
      ps = await target.ps()
    } catch (err) {
      debug('gpu watchdog: /api/ps failed: %s', errorMessage(err))
      return
    }
    if (this.target !== target) return
    const verdict = this.judge(target, ps)
    if (verdict === 'nothing-loaded') {
      if (Date.now() - this.lastActivityAt < RECENT_MS) this.schedule(this.intervalMs)
      return
    }
    this.lastVerdictAt = Date.now()
  }

  /** Ollama's own log says it found no GPU it can use, although one was passed to it. */
  unusedInLog(name: string, library: string): void {
    if (!this.target) return
    this.lose(this.target.kind, {
      message: `Ollama in ${name} found no GPU it can use (its log says library=${library}), although the container was given one.`,
    })
  }

  /** Forgets the warning (an engine without a GPU plan replaced the one it was about). */
  private clear(): void {
    this.restarted = false
    if (!this.problem) return
    this.problem = undefined
    this.options.changed()
  }

  private schedule(delayMs: number): void {
    if (this.timer) clearTimeout(this.timer)
    this.dueAt = Date.now() + delayMs
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.check()
    }, delayMs)
    this.timer.unref()
  }

  private judge(target: WatchedEngine, ps: PsResponse): Verdict {
    const loaded = ps.models.filter((m) => m.size > 0)
    const first = loaded[0]
    if (!first) return 'nothing-loaded'
    const onGpu = loaded.find((m) => m.size_vram > 0)
    if (onGpu) {
      this.back(`${onGpu.name} runs ${describeProcessor(onGpu.size, onGpu.size_vram)}`)
      return 'gpu'
    }
    this.lose(target.kind, {
      message: `Ollama runs ${first.name} on the CPU (size_vram 0 in /api/ps), although ${target.kind === 'docker' ? 'the container was given a GPU' : 'this machine has a GPU'}.`,
    })
    return 'cpu'
  }

  private lose(kind: EngineName, what: { message: string }): void {
    if (this.problem && !this.restarted) return
    const after = this.restarted
    this.restarted = false
    this.problem = { ...what, hint: lostHint(kind), action: 'restart-engine' }
    this.options.log(
      'warn',
      after
        ? `The restart did not bring the GPU back: ${what.message} Fix the host (below), then restart again.\n  ${lostHint(kind)}`
        : `${what.message}\n  ${lostHint(kind)}`,
    )
    this.options.changed()
  }

  private back(where: string): void {
    if (!this.problem) return
    this.problem = undefined
    this.restarted = false
    this.options.log('info', `back on the GPU: ${where}`)
    this.options.changed()
  }
}

/** The known causes, and what fixes them for good (docs/decisions.md, "The GPU watchdog"). */
function lostHint(kind: EngineName): string {
  const suspend =
    'NVIDIA drivers lose the GPU after suspend (`sudo rmmod nvidia_uvm && sudo modprobe nvidia_uvm` while Ollama is stopped)'
  if (kind !== 'docker') return `Known cause: ${suspend}. Restart starts Ollama again.`
  return `Known causes: Docker detaches GPUs after \`systemctl daemon-reload\` with the systemd cgroup driver (for good: set "exec-opts": ["native.cgroupdriver=cgroupfs"] in /etc/docker/daemon.json and restart Docker); ${suspend}. Restart recreates the container, which gets the GPU back.`
}

/**
 * Why the engine cannot be restarted: one the plugin did not start (409), or none at all (503;
 * `status` 502 when it did not come back from a restart), with the orchestrator's problem if any.
 */
export function restartRefused(
  engine: Engine | null,
  problem: Problem | undefined,
  status = 503,
): ProblemError {
  if (engine) {
    return new ProblemError({
      status: 409,
      message: `The plugin did not start the Ollama at ${engine.info.url}, so it does not restart it.`,
      hint: 'Restart that Ollama yourself (the Ollama app, `ollama serve`, or its container).',
    })
  }
  return new ProblemError({ status, ...(problem ?? { message: 'No engine is running' }) })
}
