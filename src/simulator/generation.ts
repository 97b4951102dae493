// One simulated generation, shared by /api/chat, /api/generate and the /v1 completions: the token
// plan, the paced token loop with the configured faults, and Ollama's nanosecond metrics.

import type { ServerResponse } from 'node:http'
import { setTimeout as sleep, setImmediate as yieldToEventLoop } from 'node:timers/promises'
import type { SimContext, StreamHandle } from './context.js'
import { type SimToolCall, toolCallTokens } from './tools.js'

/** What one generation emits: thinking tokens, answer tokens, then tool calls (answer.ts). */
export interface TokenPlan {
  thinking: string[]
  content: string[]
  toolCalls: SimToolCall[]
  doneReason: 'stop' | 'length'
}

/** The first `tokens` tokens of `plan` (the errorAfterTokens fault): no tool calls. */
export function truncatePlan(plan: TokenPlan, tokens: number): TokenPlan {
  const thinking = plan.thinking.slice(0, tokens)
  const content = plan.content.slice(0, Math.max(0, tokens - thinking.length))
  return { thinking, content, toolCalls: [], doneReason: plan.doneReason }
}

/** `eval_count`: thinking, answer and tool-call tokens alike (docs/simulator.md, "Thinking"). */
export function evalCount(plan: TokenPlan): number {
  const calls = plan.toolCalls.reduce((sum, call) => sum + toolCallTokens(call), 0)
  return plan.thinking.length + plan.content.length + calls
}

export type Outcome = 'done' | 'cancelled' | 'fault'

/**
 * Waits `firstByteDelayMs` (a cold model load: Ollama sends no header before the model is
 * loaded). Resolves false when the client went away meanwhile.
 */
export async function waitFirstByte(ctx: SimContext, stream: StreamHandle): Promise<boolean> {
  const delay = ctx.config.firstByteDelayMs ?? 0
  if (delay > 0) {
    try {
      await sleep(delay, undefined, { signal: stream.signal })
    } catch {
      return false
    }
  }
  return !stream.signal.aborted
}

/** How often a token loop with no delay yields, so a client's disconnect is seen promptly. */
const YIELD_EVERY = 64

/**
 * Emits every token of `plan` through `emit`, `tokenDelayMs` apart, applying the live faults:
 * `failAfterTokens` destroys the socket after that many tokens, `exitAfterTokens` ends the
 * process. `emit` returns false when the socket is full: the loop then waits for it to drain,
 * so a slow client slows the generation instead of filling memory.
 */
export async function runTokens(
  ctx: SimContext,
  stream: StreamHandle,
  res: ServerResponse,
  plan: TokenPlan,
  emit: (token: string, kind: 'thinking' | 'content') => boolean,
): Promise<Outcome> {
  const all = plan.thinking.length + plan.content.length
  for (let i = 0; i < all; i++) {
    if (stream.signal.aborted) return 'cancelled'
    const { tokenDelayMs, failAfterTokens, exitAfterTokens } = ctx.config
    if (exitAfterTokens !== undefined && i >= exitAfterTokens) return exitNow(res, exitAfterTokens)
    if (failAfterTokens !== undefined && i >= failAfterTokens) return cutConnection(res, stream)
    try {
      if (i > 0 && tokenDelayMs > 0) await sleep(tokenDelayMs, undefined, { signal: stream.signal })
      else if (i > 0 && i % YIELD_EVERY === 0) await yieldToEventLoop()
    } catch {
      return 'cancelled'
    }
    if (stream.signal.aborted) return 'cancelled'
    const thinking = i < plan.thinking.length
    const token = thinking ? plan.thinking[i] : plan.content[i - plan.thinking.length]
    if (!emit(token ?? '', thinking ? 'thinking' : 'content')) {
      if (!(await drained(res, stream.signal))) return 'cancelled'
    }
  }
  const { exitAfterTokens, failAfterTokens } = ctx.config
  if (exitAfterTokens !== undefined && all >= exitAfterTokens) return exitNow(res, exitAfterTokens)
  if (failAfterTokens !== undefined && all >= failAfterTokens) return cutConnection(res, stream)
  return stream.signal.aborted ? 'cancelled' : 'done'
}

/**
 * The failAfterTokens fault: the tokens already written reach the client, then the socket is
 * destroyed without the final chunk, like a proxy or runner dying mid-stream.
 */
async function cutConnection(res: ServerResponse, stream: StreamHandle): Promise<Outcome> {
  stream.fault()
  await flushed(res)
  res.socket?.destroy()
  return 'fault'
}

async function exitNow(res: ServerResponse, tokens: number): Promise<never> {
  await flushed(res)
  // The container tests need a crash that looks like a dying runner: exit code 1, no cleanup.
  process.stderr.write(`simulator: exiting after ${tokens} tokens (exitAfterTokens)\n`)
  process.exit(1)
}

/** Resolves once the chunks written so far have left the process (or the socket closed). */
async function flushed(res: ServerResponse): Promise<void> {
  // Node corks the socket within a tick: let the written chunks go out first.
  await yieldToEventLoop()
  const socket = res.socket
  if (!socket || socket.writableLength === 0) return
  await new Promise<void>((resolve) => {
    socket.once('drain', resolve)
    socket.once('close', resolve)
  })
}

function drained(res: ServerResponse, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false)
  return new Promise((resolve) => {
    const onDrain = () => done(true)
    const onAbort = () => done(false)
    function done(ok: boolean) {
      res.off('drain', onDrain)
      signal.removeEventListener('abort', onAbort)
      resolve(ok)
    }
    res.on('drain', onDrain)
    signal.addEventListener('abort', onAbort)
  })
}

/** Nanosecond timestamps of one generation, for Ollama's metrics. */
export class Timing {
  readonly start = process.hrtime.bigint()
  loaded = this.start
  firstToken = this.start
  end = this.start

  markLoaded(): void {
    this.loaded = process.hrtime.bigint()
    this.firstToken = this.loaded
  }

  markFirstToken(): void {
    this.firstToken = process.hrtime.bigint()
  }

  markEnd(): void {
    this.end = process.hrtime.bigint()
  }

  /**
   * `total_duration`, `load_duration`, `prompt_eval_count`, `prompt_eval_duration`,
   * `eval_count`, `eval_duration` as measured, in ns; zeros are left out as Go's omitempty does.
   */
  metrics(promptTokens: number, evalTokens: number): Record<string, number> {
    const out: Record<string, number> = {}
    const put = (key: string, value: number | bigint) => {
      const n = Number(value)
      if (n > 0) out[key] = n
    }
    put('total_duration', this.end - this.start)
    put('load_duration', this.loaded - this.start)
    put('prompt_eval_count', promptTokens)
    put('prompt_eval_duration', this.firstToken - this.loaded)
    put('eval_count', evalTokens)
    put('eval_duration', this.end - this.firstToken)
    return out
  }
}
