// The heap flood a red-team found: chat frames that each name a new session with 900 KB of
// `content` kept ~90 MB of heap per 100 frames after the sockets closed, and 400 frames ran a
// 384 MB dev server out of heap; one socket sending 2,000 chat frames opened 1,223 connections
// to Ollama. Here the dev server runs in a child process with that heap
// (test/fixtures/flood-server.ts), so the test can measure it after GC and see it survive.
import { type ChildProcess, spawn } from 'node:child_process'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import type { Limits } from '../src/limits.js'
import { ChatClient } from './helpers/ws-client.js'

const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/flood-server.ts')
const tsx = import.meta.resolve('tsx')
const MB = 1024 * 1024
const HEAP_LIMIT_MB = 384

interface Stats {
  heapUsed: number
  fds: number
  handles: number
  upstreamNow: number
  upstreamMost: number
}

/** The dev server in its child process, and the IPC requests it answers. */
interface FloodServer {
  url: string
  /** heapUsed after two full GCs. */
  heap(): Promise<number>
  stats(): Promise<Stats>
  reset(): Promise<void>
  /** Rejects if the child exits before `stop()`. */
  exited: Promise<never>
  stop(): Promise<void>
}

const children: ChildProcess[] = []
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL')
})

/** Intake fast enough that the floods below run at the speed of the server. */
const UNTHROTTLED: Partial<Limits> = {
  inboundBytesPerSecond: 1024 * MB,
  totalInboundBytesPerSecond: 1024 * MB,
}

async function startFloodServer(
  settings: { limits?: Partial<Limits>; tokenDelayMs?: number } = {},
): Promise<FloodServer> {
  const child = spawn(
    process.execPath,
    [
      `--max-old-space-size=${HEAP_LIMIT_MB}`,
      '--expose-gc',
      '--import',
      tsx,
      fixture,
      JSON.stringify(settings),
    ],
    { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] },
  )
  children.push(child)
  let stopping = false
  const exited = new Promise<never>((_, reject) => {
    child.once('exit', (code, signal) => {
      if (!stopping) reject(new Error(`the dev server died (code ${code}, signal ${signal})`))
    })
  })
  exited.catch(() => {})
  const lines = createInterface({ input: child.stdout! })
  const url = await Promise.race([
    new Promise<string>((resolve) =>
      lines.on('line', (line) => {
        if (line.startsWith('{"url"')) resolve((JSON.parse(line) as { url: string }).url)
      }),
    ),
    exited,
  ])
  let nextId = 1
  function ask<T>(type: string): Promise<T> {
    const id = nextId++
    return Promise.race([
      new Promise<T>((resolve) => {
        const onMessage = (message: { id: number } & T) => {
          if (message.id !== id) return
          child.off('message', onMessage)
          resolve(message)
        }
        child.on('message', onMessage)
        child.send({ id, type })
      }),
      exited,
    ])
  }
  return {
    url,
    heap: async () => (await ask<{ heapUsed: number }>('heap')).heapUsed,
    stats: () => ask<Stats>('stats'),
    reset: async () => void (await ask('reset')),
    exited,
    async stop() {
      stopping = true
      const gone = new Promise((resolve) => child.once('exit', resolve))
      child.disconnect()
      await gone
    },
  }
}

/** Samples GET / and the live heap until `stop()`: the app keeps answering through the flood. */
function watch(server: FloodServer) {
  const latencies: number[] = []
  const statuses = new Set<number | string>()
  let mostHeap = 0
  let running = true
  const loop = (async () => {
    while (running) {
      const started = performance.now()
      try {
        const response = await fetch(`${server.url}/`)
        await response.arrayBuffer()
        statuses.add(response.status)
      } catch (error) {
        statuses.add((error as Error).message)
      }
      latencies.push(performance.now() - started)
      mostHeap = Math.max(mostHeap, (await server.stats()).heapUsed)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  })()
  return {
    async stop() {
      running = false
      await loop
      latencies.sort((a, b) => a - b)
      const median = latencies[Math.floor(latencies.length / 2)] ?? 0
      return { latencies, median, most: latencies.at(-1) ?? 0, statuses, mostHeap }
    },
  }
}

/**
 * A chat frame naming session `flood-<id>` with ~900 KB of content, different in each frame (a
 * seeded generator: the same run every time). Written as text, not stringified: the flood is
 * meant to load the dev server, not the test.
 */
function floodFrame(id: string, seed: number): string {
  let state = seed
  let letters = ''
  for (let i = 0; i < 64; i++) {
    state = (state * 1103515245 + 12345) >>> 0
    letters += String.fromCharCode(97 + (state % 26))
  }
  const content = `${seed} `.padEnd(900_000, letters)
  return `{"type":"chat","id":"${id}","session":"flood-${id}","content":"${content}"}`
}

/**
 * `sockets` clients at once, each sending `frames` chat frames one after another, each in a new
 * session; resolves with how the chats ended, by `code` or `type`. Big frames (the `start` echo
 * of the content) are not parsed.
 */
async function flood(server: FloodServer, sockets: number, frames: number) {
  const ends: Record<string, number> = {}
  await Promise.all(
    Array.from({ length: sockets }, async (_, s) => {
      // An all-zero mask, which ws skips applying: the flood is meant to load the dev server.
      const ws = new WebSocket(`${server.url.replace('http', 'ws')}/__ollama/ws`, {
        generateMask: (mask) => void mask.fill(0),
      })
      ws.on('error', () => {})
      let ended: ((kind: string) => void) | undefined
      ws.on('message', (data: Buffer) => {
        if (data.length > 4096) return
        const frame = JSON.parse(String(data)) as { type: string; code?: string; message?: string }
        if (frame.type === 'done') ended?.('done')
        else if (frame.type === 'error') ended?.(frame.code ?? `error: ${frame.message}`)
      })
      await new Promise((resolve, reject) => {
        ws.once('open', resolve)
        ws.once('close', reject)
      })
      for (let f = 0; f < frames; f++) {
        const kind = await new Promise<string>((resolve, reject) => {
          ended = resolve
          ws.once('close', () => reject(new Error('the server closed the socket')))
          ws.send(floodFrame(`${s}-${f}`, s * 1000 + f))
        })
        ends[kind] = (ends[kind] ?? 0) + 1
      }
      const closed = new Promise((resolve) => ws.once('close', resolve))
      ws.close()
      await closed
    }),
  )
  return ends
}

/** A chat and a page before measuring, so modules loaded on first use are not counted. */
async function warmUp(server: FloodServer): Promise<void> {
  await fetch(`${server.url}/`).then((r) => r.arrayBuffer())
  const c = await ChatClient.open(`${server.url.replace('http', 'ws')}/__ollama/ws`)
  c.send({ type: 'chat', id: 'warm', content: 'hello' })
  await c.end('warm')
  c.send(floodFrame('warm-big', 0))
  await c.end('warm-big')
  await c.close()
}

describe('reliability: flooding the chat WebSocket', () => {
  it('600 frames of 900 KB in new sessions from 30 sockets, with the default stores: the heap stays flat', async () => {
    // The default intake rate would stretch this flood over minutes (that is its job: see
    // ws-bounds.test.ts); lifted here, so the stores' bounds alone keep the heap flat.
    const server = await startFloodServer({ limits: UNTHROTTLED })
    await warmUp(server)
    const before = await server.heap()
    const watcher = watch(server)
    const ends = await Promise.race([flood(server, 30, 20), server.exited])
    const seen = await watcher.stop()
    const after = await server.heap()
    console.log(
      `flood, defaults: heap ${mb(before)} before, ${mb(seen.mostHeap)} at most (live), ${mb(after)} after; GET / ${ms(seen.median)} median, ${ms(seen.most)} at most`,
    )
    // Each content is larger than limits.historyBytes (256 KiB): refused, nothing kept.
    expect(ends).toEqual({ limit: 600 })
    // Every sample answered; the latency is reported, and only held loosely: two shared cores.
    expect(seen.statuses).toEqual(new Set([200]))
    expect(seen.median).toBeLessThan(5_000)
    expect(seen.mostHeap).toBeLessThan((HEAP_LIMIT_MB / 2) * MB)
    expect(after - before).toBeLessThan(20 * MB)
    await server.stop()
  }, 90_000)

  it('400 frames of 900 KB kept (historyBytes 1 MiB) from 20 sockets, enough to end a 384 MB heap unbounded: bounded while open, freed closedSessionMs after they close', async () => {
    const closedSessionMs = 500
    const server = await startFloodServer({
      limits: { ...UNTHROTTLED, historyBytes: MB, closedSessionMs },
    })
    await warmUp(server)
    const before = await server.heap()
    const watcher = watch(server)
    const ends = await Promise.race([flood(server, 20, 20), server.exited])
    const seen = await watcher.stop()
    // Measured at once: the sessions of the last sockets to close are still kept.
    const closing = await server.heap()
    await new Promise((resolve) => setTimeout(resolve, closedSessionMs * 3))
    const after = await server.heap()
    console.log(
      `flood, kept: heap ${mb(before)} before, ${mb(seen.mostHeap)} at most (live), ${mb(closing)} as the sockets closed, ${mb(after)} after closedSessionMs; GET / ${ms(seen.median)} median, ${ms(seen.most)} at most`,
    )
    expect(ends).toEqual({ done: 400 })
    expect(seen.statuses).toEqual(new Set([200]))
    expect(seen.median).toBeLessThan(5_000)
    // At most limits.totalHistoryBytes (8 MiB) of history; unbounded, 400 × 900 KB is 360 MB.
    expect(closing - before).toBeLessThan(8 * MB + 20 * MB)
    expect(seen.mostHeap).toBeLessThan((HEAP_LIMIT_MB / 2) * MB)
    expect(after - before).toBeLessThan(20 * MB)
    await server.stop()
  }, 90_000)

  it('one socket sending 2,000 chat frames at once: chats upstream and handles stay bounded', async () => {
    const server = await startFloodServer({ tokenDelayMs: 5 })
    await warmUp(server)
    const idle = await server.stats()
    await server.reset()
    const c = await ChatClient.open(`${server.url.replace('http', 'ws')}/__ollama/ws`)
    let mostFds = 0
    let mostHandles = 0
    const sampling = setInterval(async () => {
      const stats = await server.stats().catch(() => null)
      mostFds = Math.max(mostFds, stats?.fds ?? 0)
      mostHandles = Math.max(mostHandles, stats?.handles ?? 0)
    }, 20)
    const ids = Array.from({ length: 2_000 }, (_, i) => i)
    for (const id of ids) c.send({ type: 'chat', id, content: `question ${id}` })
    const ends = await Promise.race([Promise.all(ids.map((id) => c.end(id))), server.exited])
    clearInterval(sampling)
    const stats = await server.stats()
    const done = ends.filter((f) => f.type === 'done').length
    const busy = ends.filter((f) => f.code === 'busy').length
    console.log(
      `2,000 frames on one socket: ${done} ran, ${busy} busy; upstream at most ${stats.upstreamMost} at once; fds ${idle.fds} idle, ${mostFds} at most; handles ${idle.handles} idle, ${mostHandles} at most`,
    )
    expect(done + busy).toBe(2_000)
    expect(done).toBeGreaterThanOrEqual(4)
    // limits.chatsPerConnection is 4.
    expect(stats.upstreamMost).toBeLessThanOrEqual(4)
    expect(mostFds - idle.fds).toBeLessThan(30)
    expect(mostHandles - idle.handles).toBeLessThan(30)
    await c.close()
    expect((await fetch(`${server.url}/`)).status).toBe(200)
    await server.stop()
  }, 60_000)
})

function mb(bytes: number): string {
  return `${(bytes / MB).toFixed(1)} MB`
}

function ms(value: number): string {
  return `${Math.round(value)} ms`
}
