import { type ChildProcess, spawn } from 'node:child_process'
import { setMaxListeners } from 'node:events'
import { fileURLToPath } from 'node:url'
import { debuglog } from 'node:util'
import { Agent, request } from 'undici'
import type { OllamaPluginOptions } from '../src/index.js'
import type { FloodCommand, FloodPlan, FloodReply, FloodStats } from './abuse-flood.js'
import type { AbuseServerCommand, AbuseServerMessage } from './abuse-server.js'
import { alternate, type Figure, goal, median, percentile, round } from './harness.js'
import { startUpstream } from './upstream.js'

/** Old space of the server child: small, so a store that grows without bound ends the run soon. */
const HEAP_MB = 384
/** The plugin's `limits.closedSessionMs` for the bench (default 60 s), so the wait stays short. */
const CLOSED_SESSION_MS = 1_000

/**
 * The plugin under abuse, its Ollama the write-only stand-in (bench/fast-upstream.ts) in a process
 * of its own, as a real Ollama is: `engine: 'simulator'` would run the simulator inside the dev
 * server, and its work on 900 KB prompts (token counts, the context array) would count as the
 * server's time and heap, and pace the floods to the simulator's speed.
 */
const pluginOptions = (upstream: string): OllamaPluginOptions => ({
  engine: 'external',
  url: upstream,
  models: ['llama3.2'],
  warmup: false,
  overlay: false,
  limits: { closedSessionMs: CLOSED_SESSION_MS },
})

/** The floods, by the names BENCH_ABUSE_FLOODS takes. */
const floodNames = ['sessions', 'burst', 'pulls', 'slow'] as const

/**
 * How hard each flood pushes. `BENCH_ABUSE_FLOODS=sessions,slow npm run bench -- abuse` runs only
 * those floods in the latency windows, to find which one costs the server; the figure says so.
 */
const only = process.env.BENCH_ABUSE_FLOODS?.split(',')
const runs = (flood: (typeof floodNames)[number]) => !only || only.includes(flood)
const SESSION_SOCKETS = 4
const plan: FloodPlan = {
  sessionSockets: runs('sessions') ? SESSION_SOCKETS : 0,
  sessionInFlight: 8,
  sessionContentBytes: 900_000,
  burstFrames: runs('burst') ? 2_000 : 0,
  pullLoops: runs('pulls') ? 8 : 0,
  slowSockets: runs('slow') ? 32 : 0,
  dribbleMs: 250,
  slowBodyBytes: 100_000,
}

/** Session flood of the heap figure: 160 × 900 KB is ~140 MB if every session is kept whole. */
const HEAP_FRAMES = 160
const heapPlan: FloodPlan = { ...plan, sessionSockets: SESSION_SOCKETS }
/** Rounds of the latency figure, each one idle and one flooded window (alternated order). */
const ROUNDS = 5
const WINDOW_MS = 1_200
/**
 * GET / every PROBE_EVERY_MS whatever the answers do (open loop, so a stall counts in full); a GET
 * still unanswered PROBE_TIMEOUT_MS after the window counts as the time it waited by then.
 */
const PROBE_EVERY_MS = 5
const PROBE_TIMEOUT_MS = 1_200
/**
 * After starting the floods, before measuring; after stopping them and one GET / answered (the
 * server is through its backlog), before the next window, so an idle window is idle.
 */
const RAMP_MS = 200
const SETTLE_MS = 400

const debug = debuglog('vite-plugin-ollama')
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The server child died or stopped answering; the message says how (heap exhaustion, …). */
class ServerFailure extends Error {}

interface ServerChild {
  url: string
  /** `heapUsed` of the server after two `gc()` calls, in bytes. */
  heapUsed(): Promise<number>
  /** Throws the ServerFailure if the child has died. */
  assertAlive(): void
  stop(): Promise<void>
}

/** The dev server with the plugin, in a child process with --expose-gc and HEAP_MB of old space. */
async function startServerChild(upstream: string): Promise<ServerChild> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--expose-gc',
      `--max-old-space-size=${HEAP_MB}`,
      fileURLToPath(new URL('./abuse-server.ts', import.meta.url)),
      JSON.stringify(pluginOptions(upstream)),
    ],
    { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] },
  )
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4_000)
  })
  let stopping = false
  let death: ServerFailure | undefined
  // 'close', not 'exit': it comes once stderr is read to the end, FATAL ERROR line included.
  const died = new Promise<never>((_, reject) => {
    child.once('close', (code, signal) => {
      if (stopping) return
      death = new ServerFailure(deathReason(code, signal, stderr))
      reject(death)
    })
  })
  died.catch(() => {}) // observed through guard() and assertAlive()
  /** `work`, or the ServerFailure as soon as the child dies, or one after `timeoutMs`. */
  const guard = <T>(work: Promise<T>, what: string, timeoutMs: number) => {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new ServerFailure(`the server did not ${what} within ${timeoutMs / 1000} s`)),
        timeoutMs,
      )
    })
    return Promise.race([work, died, timeout]).finally(() => clearTimeout(timer))
  }
  const message = <T extends AbuseServerMessage['type']>(type: T) =>
    new Promise<Extract<AbuseServerMessage, { type: T }>>((resolve) => {
      const listener = (msg: AbuseServerMessage) => {
        if (msg.type !== type) return
        child.off('message', listener)
        resolve(msg as Extract<AbuseServerMessage, { type: T }>)
      }
      child.on('message', listener)
    })
  const { url } = await guard(message('listening'), 'start', 60_000)
  return {
    url,
    assertAlive() {
      if (death) throw death
    },
    async heapUsed() {
      const answer = message('heap')
      child.send({ type: 'heap' } satisfies AbuseServerCommand, () => {}) // a dead child: guard()
      return (await guard(answer, 'answer a heap request', 30_000)).heapUsed
    },
    async stop() {
      stopping = true
      await stopChild(child)
    },
  }
}

function deathReason(code: number | null, signal: string | null, stderr: string): string {
  const fatal = /FATAL ERROR: [^\n]*/.exec(stderr)?.[0]
  if (fatal && /heap/i.test(fatal)) {
    return `the server ran out of heap (--max-old-space-size=${HEAP_MB}): ${fatal}`
  }
  const last = stderr.trim().split('\n').pop()
  return `the server exited (${signal ?? `code ${code}`})${last ? `: ${last}` : ''}`
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 3_000)
  await exited
  clearTimeout(timer)
}

/** The abusive clients, in a process of their own (bench/abuse-flood.ts). */
function startFloodChild(): {
  send(command: FloodCommand): Promise<FloodStats>
  stop(): Promise<void>
} {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./abuse-flood.ts', import.meta.url))],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  )
  return {
    send(command) {
      return new Promise((resolve, reject) => {
        const onMessage = (reply: FloodReply) => {
          if (reply.type !== command.type) return
          child.off('exit', onExit)
          child.off('message', onMessage)
          resolve(reply.stats)
        }
        const onExit = (code: number | null) => {
          child.off('message', onMessage)
          reject(new Error(`the flood process exited (code ${code}) during "${command.type}"`))
        }
        child.on('message', onMessage)
        child.once('exit', onExit)
        child.send(command)
      })
    },
    stop: () => stopChild(child),
  }
}

/**
 * The two abuse figures, each on a fresh server child, with the floods in a third process and
 * the upstream in a fourth: `abuse-get-p99-ratio`, then `abuse-heap-growth-mb`. A server that
 * dies (heap exhaustion) or stops answering makes its figure fail with the reason; the run goes
 * on.
 */
export async function benchAbuse(): Promise<Figure[]> {
  const upstream = await startUpstream({}, 'fast')
  const flood = startFloodChild()
  try {
    return [await benchGetP99(flood, upstream.url), await benchHeapGrowth(flood, upstream.url)]
  } finally {
    await flood.stop()
    await upstream.stop()
  }
}

type Flood = ReturnType<typeof startFloodChild>

const floodsDetail = `floods from a separate process${only ? ` (only ${only.join(', ')}, by BENCH_ABUSE_FLOODS)` : ''}: ${plan.sessionSockets} WebSockets sending chat frames of ${plan.sessionContentBytes / 1000} KB content, each to a new session (${plan.sessionInFlight} unanswered each); one WebSocket sending ${plan.burstFrames.toLocaleString('en')} chat frames at once; ${plan.pullLoops} loops of POST /pull, each with a new valid model name; ${plan.slowSockets} raw sockets sending a POST /chat header (Content-Length ${plan.slowBodyBytes.toLocaleString('en')}), half dribbling a byte every ${plan.dribbleMs} ms, half stalled`

async function benchGetP99(flood: Flood, upstream: string): Promise<Figure> {
  const name = 'abuse-get-p99-ratio'
  const target = goal(Number.NaN, '≤', 2).goal
  const server = await startServerChild(upstream)
  const agent = new Agent({ connections: 16 })
  const windows: FloodStats[] = []
  const failures = { idle: 0, flood: 0 }
  let windowNo = 0

  /** GET / latencies over one window, in ms, one request every PROBE_EVERY_MS. */
  async function probe(kind: 'idle' | 'flood'): Promise<number[]> {
    const latencies: Promise<number>[] = []
    const end = performance.now() + WINDOW_MS
    const cutoff = AbortSignal.timeout(WINDOW_MS + PROBE_TIMEOUT_MS)
    setMaxListeners(0, cutoff)
    while (performance.now() < end) {
      const t0 = performance.now()
      latencies.push(
        request(`${server.url}/`, { dispatcher: agent, signal: cutoff })
          .then(async (res) => {
            await res.body.text()
            if (res.statusCode !== 200) failures[kind]++
          })
          .catch(() => {
            failures[kind]++
          })
          .then(() => performance.now() - t0),
      )
      await sleep(PROBE_EVERY_MS)
    }
    return Promise.all(latencies)
  }

  // Every step is awaited in turn, never raced against the child's death, so no flood outlives
  // its window; a dead server fails its requests fast, and the next check reports it.
  async function window(flooded: boolean): Promise<number> {
    server.assertAlive()
    windowNo++
    const t0 = performance.now()
    if (flooded) {
      await flood.send({ type: 'start', url: server.url, plan })
      await sleep(RAMP_MS)
    }
    const latencies = await probe(flooded ? 'flood' : 'idle')
    if (flooded) {
      windows.push(await flood.send({ type: 'stop' }))
      await request(`${server.url}/`, { dispatcher: agent, signal: AbortSignal.timeout(5_000) })
        .then((res) => res.body.text())
        .catch(() => {})
    }
    await sleep(SETTLE_MS)
    server.assertAlive()
    const p99 = percentile(latencies, 99)
    debug(
      'abuse: window %d (%s): %d GETs, p99 %d ms, %d ms in all',
      windowNo,
      flooded ? 'flooded' : 'idle',
      latencies.length,
      Math.round(p99),
      Math.round(performance.now() - t0),
    )
    return p99
  }

  try {
    // Warm-up, unmeasured: Vite's HTML transform, the chat and pull routes, the socket code.
    await probe('idle')
    await window(true)
    failures.idle = 0
    failures.flood = 0
    windows.length = 0
    const { a: flooded, b: idle } = await alternate(
      ROUNDS,
      () => window(true),
      () => window(false),
    )
    const ratios = flooded.map((p99, i) => p99 / idle[i]!)
    const ratio = median(ratios)
    const per = (pick: (s: FloodStats) => number) => Math.round(median(windows.map(pick)))
    return {
      name,
      value: round(ratio, 2),
      detail: `GET / p99 of the dev server (a child process) while floods run over idle, median of the per-round ratios of ${ROUNDS} alternated rounds of ${WINDOW_MS / 1000} s windows, GET / every ${PROBE_EVERY_MS} ms (open loop): idle p99 ${round(median(idle), 1)} ms vs flooded ${round(median(flooded), 1)} ms; ${floodsDetail}; per flooded window (medians): ${per((s) => s.sessionFrames)} session frames sent, ${per((s) => s.burstAnswers)} burst answers, ${per((s) => sum(s.pulls))} pulls answered (${statuses(windows.map((s) => s.pulls))}), ${per((s) => s.slowSockets)} slow sockets opened (answers: ${statuses(windows.map((s) => s.slowAnswers))}); GETs failed or still unanswered ${PROBE_TIMEOUT_MS / 1000} s after their window (counted as the wait by then): ${failures.idle} idle, ${failures.flood} flooded`,
      ...goal(ratio, '≤', 2),
    }
  } catch (error) {
    if (!(error instanceof ServerFailure)) throw error
    return failed(
      name,
      target,
      `${error.message} (in window ${windowNo} of ${2 * ROUNDS + 1})`,
      floodsDetail,
    )
  } finally {
    await server.stop()
    await agent.close()
  }
}

async function benchHeapGrowth(flood: Flood, upstream: string): Promise<Figure> {
  const name = 'abuse-heap-growth-mb'
  const target = goal(Number.NaN, '≤', 20).goal
  // Long enough for the closedSessionMs bound to pass and a sweep that checks at that period.
  const waitMs = 2 * CLOSED_SESSION_MS + 1_000
  const how = `heapUsed of the dev server (a child process with --expose-gc --max-old-space-size=${HEAP_MB}, after two gc() calls) after ${HEAP_FRAMES} chat frames of ${plan.sessionContentBytes / 1000} KB content, each to a new session, from ${heapPlan.sessionSockets} WebSockets (${heapPlan.sessionInFlight} unanswered each), then the sockets closed and ${waitMs / 1000} s waited, over before; the bench sets limits.closedSessionMs to ${CLOSED_SESSION_MS} ms (default 60 s) so that wait stays short`
  const server = await startServerChild(upstream)
  try {
    // Warm-up with small frames, so the code paths are loaded before the baseline; the 16 KB its
    // sessions may keep is noise against the goal, so no need to wait for closedSessionMs here.
    await flood.send({
      type: 'sessions',
      url: server.url,
      plan: { ...heapPlan, sessionContentBytes: 1_000 },
      frames: 16,
      timeoutMs: 10_000,
    })
    await sleep(SETTLE_MS)
    const before = await server.heapUsed()
    const t0 = performance.now()
    // A server that dies mid-flood closes the sockets, so this ends; heapUsed() then says why.
    const stats = await flood.send({
      type: 'sessions',
      url: server.url,
      plan: heapPlan,
      frames: HEAP_FRAMES,
      timeoutMs: 20_000,
    })
    debug('abuse: session flood: %o in %d ms', stats, Math.round(performance.now() - t0))
    await sleep(waitMs)
    server.assertAlive()
    const after = await server.heapUsed()
    const growth = (after - before) / 2 ** 20
    return {
      name,
      value: round(growth, 1),
      detail: `${how}: ${round(before / 2 ** 20, 1)} MB before, ${round(after / 2 ** 20, 1)} MB after; ${stats.sessionAnswers} of ${stats.sessionFrames} frames answered (done or error) before the sockets closed`,
      ...goal(growth, '≤', 20),
    }
  } catch (error) {
    if (!(error instanceof ServerFailure)) throw error
    return failed(name, target, error.message, how)
  } finally {
    await server.stop()
  }
}

/** A figure that could not be taken: NaN, missed, with the reason first in its detail. */
function failed(name: string, target: string, reason: string, how: string): Figure {
  console.error(`${name}: failed: ${reason}`)
  return { name, value: Number.NaN, detail: `FAILED: ${reason}. ${how}`, goal: target, met: false }
}

function sum(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0)
}

/** `200 × 40, 429 × 3`: statuses over every window. */
function statuses(all: Record<string, number>[]): string {
  const total: Record<string, number> = {}
  for (const counts of all) {
    for (const [status, n] of Object.entries(counts)) total[status] = (total[status] ?? 0) + n
  }
  const text = Object.entries(total)
    .map(([status, n]) => `${status} × ${n}`)
    .join(', ')
  return text || 'none'
}
