import type { PullProgressEvent } from '../protocol.js'

/**
 * One line of Ollama's `/api/pull` stream (docs/decisions.md, "A pull reports one layer at a
 * time").
 */
export interface PullLine {
  status: string
  digest?: string
  total?: number
  completed?: number
}

/** How much weight a new speed sample gets: smooths Ollama's 60 ms ticks into a steady figure. */
const SMOOTHING = 0.3
/** Speed samples closer together than this are merged, so bursts of lines don't spike the rate. */
const MIN_SAMPLE_MS = 250

/**
 * Folds Ollama's per-layer pull lines into one figure per model: completed and total over all
 * layers, percent, a smoothed speed and an ETA.
 *
 * Layers arrive one at a time, so the total grows as they appear; the first layer is by far the
 * largest, so the sum is a good estimate once it shows up (docs/decisions.md, "A pull reports one
 * layer at a time"). A layer's last line may stop short of its total (Ollama does not emit a final
 * tick), so a layer counts as done when the next one starts, and `completed` never goes backwards.
 */
export class PullProgressFolder {
  private readonly layers = new Map<string, { total: number; completed: number }>()
  private lastDigest: string | undefined
  private completed = 0
  private bytesPerSecond = 0
  private sampleAt: number
  private sampleBytes = 0
  private status = 'pulling manifest'
  private lastPercent = 0

  constructor(
    readonly model: string,
    private readonly now: () => number = performance.now.bind(performance),
  ) {
    this.sampleAt = now()
  }

  /** Adds one line and returns the model's figure after it. */
  add(line: PullLine): PullProgressEvent {
    this.status = line.status
    if (line.digest && line.total) {
      if (this.lastDigest && this.lastDigest !== line.digest) this.finishLayer(this.lastDigest)
      this.lastDigest = line.digest
      const layer = this.layers.get(line.digest) ?? { total: line.total, completed: 0 }
      layer.total = line.total
      layer.completed = Math.max(layer.completed, Math.min(line.completed ?? 0, line.total))
      this.layers.set(line.digest, layer)
    } else if (line.status === 'verifying sha256 digest' || line.status === 'writing manifest') {
      if (this.lastDigest) this.finishLayer(this.lastDigest)
    } else if (line.status === 'success') {
      for (const digest of this.layers.keys()) this.finishLayer(digest)
    }
    this.updateSpeed()
    return this.current()
  }

  current(): PullProgressEvent {
    const total = this.total()
    const done = this.status === 'success'
    // A new layer grows the total: the bar holds still until the bytes catch up, never backwards.
    const raw = done ? 100 : total > 0 ? Math.min(99.9, (this.completed / total) * 100) : 0
    const percent = Math.max(this.lastPercent, raw)
    this.lastPercent = percent
    const remaining = total - this.completed
    return {
      model: this.model,
      status: this.status,
      completed: this.completed,
      total,
      percent: Math.round(percent * 10) / 10,
      bytesPerSecond: Math.round(this.bytesPerSecond),
      etaSeconds: done
        ? 0
        : this.bytesPerSecond > 0 && total > 0
          ? Math.ceil(remaining / this.bytesPerSecond)
          : null,
    }
  }

  private finishLayer(digest: string): void {
    const layer = this.layers.get(digest)
    if (layer) layer.completed = layer.total
  }

  private total(): number {
    let total = 0
    for (const layer of this.layers.values()) total += layer.total
    return total
  }

  private updateSpeed(): void {
    let sum = 0
    for (const layer of this.layers.values()) sum += layer.completed
    // Never backwards: a resumed pull may report a layer from a lower offset for a moment.
    this.completed = Math.max(this.completed, sum)
    const now = this.now()
    const elapsed = now - this.sampleAt
    if (elapsed < MIN_SAMPLE_MS) return
    const rate = ((this.completed - this.sampleBytes) * 1000) / elapsed
    this.bytesPerSecond =
      this.bytesPerSecond === 0 ? rate : this.bytesPerSecond * (1 - SMOOTHING) + rate * SMOOTHING
    this.sampleAt = now
    this.sampleBytes = this.completed
  }
}
