import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createServer, type InlineConfig, type ViteDevServer } from 'vite'
import type { StateSnapshot } from '../src/protocol.js'

/** One figure of `npm run bench`: a ratio or a distribution, never a lone absolute time. */
export interface Figure {
  name: string
  value: number
  /** What the figure means and how it was measured, for RESULTS.md. */
  detail: string
  /** The goal, as text (e.g. '≥ 0.9'), when the issue sets one. */
  goal?: string
  /** Whether the goal is met, when there is one. */
  met?: boolean
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

/**
 * Runs A and B alternately (A B, B A, A B, …) so drift in the machine's load hits both alike,
 * and returns the per-round timings of each.
 */
export async function alternate(
  rounds: number,
  a: () => Promise<number>,
  b: () => Promise<number>,
): Promise<{ a: number[]; b: number[] }> {
  const out = { a: [] as number[], b: [] as number[] }
  for (let i = 0; i < rounds; i++) {
    if (i % 2 === 0) {
      out.a.push(await a())
      out.b.push(await b())
    } else {
      out.b.push(await b())
      out.a.push(await a())
    }
  }
  return out
}

export function goal(
  value: number,
  op: '≥' | '≤' | '<',
  target: number,
): { goal: string; met: boolean } {
  const met = op === '≥' ? value >= target : op === '≤' ? value <= target : value < target
  return { goal: `${op} ${target}`, met }
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits
  return Math.round(value * f) / f
}

/** Event-loop delay of this process while `work` runs, in milliseconds. */
export async function loopDelayDuring<T>(
  work: () => Promise<T>,
): Promise<{ result: T; p99: number; max: number }> {
  const h = monitorEventLoopDelay({ resolution: 5 })
  h.enable()
  try {
    const result = await work()
    return { result, p99: h.percentile(99) / 1e6, max: h.max / 1e6 }
  } finally {
    h.disable()
  }
}

/** A real dev server on a free port, over a one-file app, for the benches that need one. */
export async function benchServer(
  config: InlineConfig,
): Promise<{ server: ViteDevServer; url: string }> {
  const root = mkdtempSync(join(tmpdir(), 'vpo-bench-'))
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>bench</title>')
  const server = await createServer({
    configFile: false,
    root,
    logLevel: 'silent',
    ...config,
    server: { port: 0, ...config.server },
  })
  await server.listen()
  return { server, url: server.resolvedUrls!.local[0]!.replace(/\/$/, '') }
}

/** Waits for the plugin's phase to be ready; fails fast when it cannot get there. */
export async function waitReady(url: string): Promise<void> {
  for (;;) {
    const s = (await (await fetch(`${url}/__ollama/status`)).json()) as StateSnapshot
    if (s.phase === 'ready') return
    if (s.phase === 'error' || s.phase === 'unavailable') {
      throw new Error(`plugin not ready: ${JSON.stringify(s.error)}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
}
