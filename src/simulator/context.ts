// What every simulator handler shares: the live fault settings, the model store, the counters and
// the event emitter, plus the bookkeeping of one streamed response (started, completed, cancelled
// by the client, or cut by a fault).

import type { EventEmitter } from 'node:events'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { SimulatorOptions, SimulatorStats } from './index.js'
import type { ModelRegistry } from './registry.js'
import type { ModelStore } from './store.js'

/** The settings `configure()` may change while the server runs. */
export interface LiveConfig {
  tokenDelayMs: number
  pullBytesPerSecond: number
  failAfterTokens?: number
  firstByteDelayMs?: number
  exitAfterTokens?: number
  errorAfterTokens?: number
  pullErrors?: Record<string, string>
  gpu?: boolean
}

export interface SimContext {
  config: LiveConfig
  registry: ModelRegistry
  stats: SimulatorStats
  events: EventEmitter
  version: string
  options: SimulatorOptions
  /** `modelStore`, when set: pulls write their manifests there, deletes remove them. */
  store?: ModelStore
}

/** What `stream-start`, `stream-end` and `stream-cancel` listeners receive. */
export interface StreamInfo {
  id: number
  method: string
  path: string
  model?: string
  /** On `stream-end`: `'done'`, or `'fault'` when failAfterTokens cut the connection. */
  reason?: 'done' | 'fault'
}

export interface StreamHandle {
  readonly info: StreamInfo
  /** Aborted the moment the client goes away (or the simulator closes). */
  readonly signal: AbortSignal
  /** The response is complete: count it as completed. Call before `res.end()`. */
  complete(): void
  /** A fault cut the connection on purpose: not the client's doing, so not a cancellation. */
  fault(): void
}

let nextStreamId = 1

/**
 * Starts the bookkeeping of a response that produces tokens or pull progress. A `close` of the
 * response before `complete()` means the client went away: the stream is counted as cancelled
 * at once and `signal` aborts, so the generation stops on its next step.
 */
export function beginStream(
  ctx: SimContext,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  model?: string,
): StreamHandle {
  const info: StreamInfo = { id: nextStreamId++, method: req.method ?? 'GET', path }
  if (model !== undefined) info.model = model
  const controller = new AbortController()
  let finished = false
  ctx.stats.activeStreams++
  ctx.events.emit('stream-start', info)

  function finish(): boolean {
    if (finished) return false
    finished = true
    ctx.stats.activeStreams--
    return true
  }

  res.on('close', function onStreamClose() {
    if (!finish()) return
    ctx.stats.cancelledStreams++
    controller.abort()
    ctx.events.emit('stream-cancel', info)
  })

  return {
    info,
    signal: controller.signal,
    complete() {
      if (!finish()) return
      ctx.stats.completedStreams++
      ctx.events.emit('stream-end', { ...info, reason: 'done' })
    },
    fault() {
      if (!finish()) return
      ctx.stats.faultedStreams++
      controller.abort()
      ctx.events.emit('stream-end', { ...info, reason: 'fault' })
    },
  }
}
