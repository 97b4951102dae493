import { setMaxListeners } from 'node:events'
import { connect } from 'node:net'
import { Agent, request } from 'undici'
import WebSocket from 'ws'

// The abusive clients of `npm run bench -- abuse`, in a process of their own so the load they
// generate never shares an event loop with the bench's GET / probe or with the server
// (bench/abuse-server.ts). bench/abuse.ts drives it over IPC: one command at a time, one reply
// each, carrying what the floods sent and what the server answered.

/** What bench/abuse.ts asks for. */
export type FloodCommand =
  /** Sends `frames` chat frames, each to a new session, then closes the sockets. */
  | {
      type: 'sessions'
      url: string
      frames: number
      plan: FloodPlan
      timeoutMs: number
    }
  /** Starts every flood at once; they run until `stop`. */
  | { type: 'start'; url: string; plan: FloodPlan }
  | { type: 'stop' }

/** The reply to each command. */
export interface FloodReply {
  type: FloodCommand['type']
  stats: FloodStats
}

export interface FloodStats {
  /** Chat frames to new sessions sent, and answers (`done` or `error`) received. */
  sessionFrames: number
  sessionAnswers: number
  /** Chat frames of the one-socket burst sent, and answers received. */
  burstFrames: number
  burstAnswers: number
  /** POST /pull answers by HTTP status (`failed`: no answer). */
  pulls: Record<string, number>
  /** Slow-body sockets opened, and the status each got, if any, before it closed. */
  slowSockets: number
  slowAnswers: Record<string, number>
}

/** How hard each flood pushes; bench/abuse.ts owns the numbers and states them in its figures. */
export interface FloodPlan {
  /** Sockets of the session flood, and the unanswered frames each keeps going. */
  sessionSockets: number
  sessionInFlight: number
  /** Bytes of `content` in a session flood frame (under the default 1 MiB maxBodySize). */
  sessionContentBytes: number
  /** Chat frames the burst socket sends at once. */
  burstFrames: number
  /** Loops sending POST /pull, each request with a new model name. */
  pullLoops: number
  /** Slow-body sockets held open: half dribble a byte every `dribbleMs`, half stall. */
  slowSockets: number
  dribbleMs: number
  /** Content-Length the slow-body sockets announce and never send. */
  slowBodyBytes: number
}

const tag = Math.random().toString(36).slice(2, 8)
let round = 0
const agent = new Agent({ connections: 64 })

function emptyStats(): FloodStats {
  return {
    sessionFrames: 0,
    sessionAnswers: 0,
    burstFrames: 0,
    burstAnswers: 0,
    pulls: {},
    slowSockets: 0,
    slowAnswers: {},
  }
}

function count(counts: Record<string, number>, key: string | number): void {
  counts[key] = (counts[key] ?? 0) + 1
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Runs `fn` once when `signal` aborts; the returned function forgets it. */
function onAbort(signal: AbortSignal, fn: () => void): () => void {
  if (signal.aborted) {
    queueMicrotask(fn)
    return () => {}
  }
  signal.addEventListener('abort', fn, { once: true })
  return () => signal.removeEventListener('abort', fn)
}

/**
 * A chat WebSocket for a flood: `drive` sends and counts on it and calls `finish` when done. It
 * resolves once the socket is closed, by `finish`, by the server or by `signal`.
 */
function floodSocket(
  url: string,
  signal: AbortSignal,
  drive: (ws: WebSocket, finish: () => void) => void,
): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(chatSocketUrl(url))
    let finished = false
    const finish = () => {
      if (finished) return
      finished = true
      forget()
      ws.terminate()
      resolve()
    }
    const forget = onAbort(signal, finish)
    drive(ws, finish)
    ws.on('error', () => {}) // 'close' follows
    ws.on('close', finish)
  })
}

function chatSocketUrl(url: string): string {
  return `${url.replace(/^http/, 'ws')}/__ollama/ws`
}

/**
 * A chat's last frame: `done`, or an `error` (refused, failed or cancelled). The server writes
 * `type` first, so the head of the bytes says it without parsing the ~900 KB `start` echoes.
 */
function isAnswer(raw: Buffer): boolean {
  const head = raw.subarray(0, 16).toString('latin1')
  return head.startsWith('{"type":"done"') || head.startsWith('{"type":"error"')
}

/** What every flood needs: where, how hard, when to stop, and where to count. */
interface Flood {
  url: string
  plan: FloodPlan
  signal: AbortSignal
  stats: FloodStats
}

/**
 * One socket sending `frames` chat frames (`Infinity`: until aborted), each naming a new session
 * `${prefix}-${n}` with `content`, at most `plan.sessionInFlight` unanswered; resolves once closed.
 */
function sessionSocket(
  { url, plan, signal, stats }: Flood,
  prefix: string,
  frames: number,
  content: string,
): Promise<void> {
  let sent = 0
  let pending = 0
  return floodSocket(url, signal, (ws, finish) => {
    const pump = () => {
      while (sent < frames && pending < plan.sessionInFlight && ws.readyState === WebSocket.OPEN) {
        ws.send(`{"type":"chat","id":${sent},"session":"${prefix}-${sent}","content":"${content}"}`)
        sent++
        pending++
        stats.sessionFrames++
      }
      if (sent >= frames && pending === 0) finish()
    }
    ws.on('open', pump)
    ws.on('message', (raw: Buffer) => {
      if (!isAnswer(raw)) return
      pending--
      stats.sessionAnswers++
      pump()
    })
  })
}

/** One socket sending `plan.burstFrames` small chat frames at once; resolves once closed. */
function burstSocket({ url, plan, signal, stats }: Flood): Promise<void> {
  let answers = 0
  return floodSocket(url, signal, (ws, finish) => {
    ws.on('open', () => {
      for (let id = 0; id < plan.burstFrames; id++) {
        ws.send(`{"type":"chat","id":${id},"content":"burst question ${id}"}`)
        stats.burstFrames++
      }
    })
    ws.on('message', (raw: Buffer) => {
      if (!isAnswer(raw)) return
      stats.burstAnswers++
      if (++answers === plan.burstFrames) finish()
    })
  })
}

/** POST /pull, one after another, each naming a model never asked for before (`${prefix}-${n}`). */
async function pullLoop({ url, signal, stats }: Flood, prefix: string): Promise<void> {
  for (let n = 0; !signal.aborted; n++) {
    try {
      const res = await request(`${url}/__ollama/pull`, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: `${prefix}-${n}` }),
        signal,
      })
      await res.body.text()
      count(stats.pulls, res.statusCode)
    } catch {
      if (signal.aborted) return
      count(stats.pulls, 'failed')
      await sleep(50)
    }
  }
}

/**
 * A raw socket that sends a POST /chat header announcing `plan.slowBodyBytes`, then dribbles
 * whitespace or stalls; counts the status the server answers with, if any; resolves on close.
 */
function slowSocket({ url, plan, signal, stats }: Flood, dribble: boolean): Promise<void> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname)
    let timer: NodeJS.Timeout | undefined
    const forget = onAbort(signal, () => socket.destroy())
    socket.on('connect', () => {
      stats.slowSockets++
      socket.write(
        `POST /__ollama/chat HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\nContent-Length: ${plan.slowBodyBytes}\r\n\r\n{`,
      )
      if (dribble) timer = setInterval(() => socket.write(' '), plan.dribbleMs)
    })
    socket.once('data', (chunk: Buffer) => {
      count(stats.slowAnswers, /^HTTP\/1\.[01] (\d{3})/.exec(chunk.toString('latin1'))?.[1] ?? '?')
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      clearInterval(timer)
      forget()
      resolve()
    })
  })
}

/** A slow-body socket, opened again whenever the server closes one, until aborted. */
async function slowLoop(flood: Flood, dribble: boolean): Promise<void> {
  while (!flood.signal.aborted) {
    await slowSocket(flood, dribble)
    if (!flood.signal.aborted) await sleep(100)
  }
}

const contents = new Map<number, string>()
/** `bytes` of plain words, made once per size (the frames differ only in their session). */
function content(bytes: number): string {
  let text = contents.get(bytes)
  if (!text) {
    text = 'abuse '.repeat(Math.ceil(bytes / 6)).slice(0, bytes)
    contents.set(bytes, text)
  }
  return text
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i)
}

let running: { controller: AbortController; tasks: Promise<void>[]; stats: FloodStats } | undefined

async function handle(command: FloodCommand): Promise<FloodStats> {
  switch (command.type) {
    case 'sessions': {
      const { url, plan, frames, timeoutMs } = command
      const flood: Flood = {
        url,
        plan,
        signal: AbortSignal.timeout(timeoutMs),
        stats: emptyStats(),
      }
      const prefix = `${tag}-${++round}`
      const perSocket = Math.ceil(frames / plan.sessionSockets)
      const text = content(plan.sessionContentBytes)
      await Promise.all(
        range(plan.sessionSockets).map((i) =>
          sessionSocket(flood, `${prefix}-${i}`, perSocket, text),
        ),
      )
      return flood.stats
    }
    case 'start': {
      const { url, plan } = command
      const controller = new AbortController()
      // Every loop and socket listens for the stop: far more than the default 10.
      setMaxListeners(0, controller.signal)
      const flood: Flood = { url, plan, signal: controller.signal, stats: emptyStats() }
      const prefix = `${tag}-${++round}`
      const text = content(plan.sessionContentBytes)
      const tasks = [
        ...range(plan.sessionSockets).map((i) =>
          sessionSocket(flood, `${prefix}-${i}`, Infinity, text),
        ),
        ...(plan.burstFrames ? [burstSocket(flood)] : []),
        ...range(plan.pullLoops).map((i) => pullLoop(flood, `flood-${prefix}-${i}`)),
        ...range(plan.slowSockets).map((i) => slowLoop(flood, i % 2 === 0)),
      ]
      running = { controller, tasks, stats: flood.stats }
      return flood.stats
    }
    case 'stop': {
      if (!running) return emptyStats()
      const { controller, tasks, stats } = running
      running = undefined
      controller.abort()
      await Promise.race([Promise.allSettled(tasks), sleep(3_000)])
      return stats
    }
  }
}

process.on('message', async (command: FloodCommand) => {
  const stats = await handle(command)
  process.send?.({ type: command.type, stats } satisfies FloodReply)
})
process.on('disconnect', () => process.exit())
