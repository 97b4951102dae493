import type { ModelStatus, PullProgressEvent } from '../protocol.js'

type Listener = (event: PullProgressEvent | Error) => void

/**
 * One model's download as the model manager runs it: the readers that follow its progress (the
 * auto pull, `POST /pull` requests), the last figure (a late reader starts from it), and the
 * controller that stops it.
 */
export class PullJob {
  readonly controller = new AbortController()
  /** Settles when the download ends, whichever way. */
  promise: Promise<void> = Promise.resolve()
  last: PullProgressEvent | undefined
  /** Cancelled: the model's state was settled then, so the job's own end leaves it alone. */
  cancelled = false
  private readonly listeners = new Set<Listener>()

  /** `before`: the model's status when the pull started, restored if it is cancelled. */
  constructor(readonly before: ModelStatus | undefined) {}

  /** How many readers follow it now. */
  get readers(): number {
    return this.listeners.size
  }

  /** A new figure for every reader, or the error that ends the job. */
  emit(event: PullProgressEvent | Error): void {
    if (!(event instanceof Error)) this.last = event
    for (const listener of this.listeners) listener(event)
  }

  /**
   * Follows the job: the last figure, then each new one, until the job ends (return) or fails
   * (throw). Leaving early, by `signal` or by breaking out of the loop, calls `onLeave` once this
   * reader is no longer counted.
   */
  async *read(signal?: AbortSignal, onLeave?: () => void): AsyncGenerator<PullProgressEvent> {
    const buffer: Array<PullProgressEvent | Error> = []
    let wake: (() => void) | undefined
    let finished = false
    let ended = false
    const listener: Listener = (event) => {
      buffer.push(event)
      wake?.()
    }
    this.listeners.add(listener)
    const onAbort = () => wake?.()
    signal?.addEventListener('abort', onAbort)
    const onEnd = () => {
      finished = true
      wake?.()
    }
    this.promise.then(onEnd, onEnd)
    try {
      if (this.last) yield this.last
      while (!signal?.aborted) {
        const event = buffer.shift()
        if (event instanceof Error) {
          ended = true
          throw event
        }
        if (event) {
          yield event
          continue
        }
        if (finished) {
          ended = true
          return
        }
        await new Promise<void>((resolve) => {
          wake = resolve
        })
        wake = undefined
      }
    } finally {
      this.listeners.delete(listener)
      signal?.removeEventListener('abort', onAbort)
      if (!ended) onLeave?.()
    }
  }
}
