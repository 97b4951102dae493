// A real Vite dev server with the routes mounted the way the plugin mounts them, in front of the
// real Ollama simulator. Shared by the routes, proxy, guards, ws and client tests.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer, type ViteDevServer } from 'vite'
import { OllamaClient } from '../src/ollama/client.js'
import { type OllamaPluginOptions, type ResolvedOptions, resolveOptions } from '../src/options.js'
import type { PullProgressEvent, StateSnapshot } from '../src/protocol.js'
import type { RouteContext } from '../src/server/context.js'
import { ollamaRoutes } from '../src/server/routes.js'
import { attachChatSocket, type ChatSocketOptions } from '../src/server/ws/socket.js'
import { type Simulator, type SimulatorOptions, startSimulator } from '../src/simulator/index.js'

export interface Harness {
  sim: Simulator
  server: ViteDevServer
  /** `http://127.0.0.1:PORT` */
  origin: string
  /** Our routes' prefix, e.g. `/__ollama`. */
  base: string
  /** `origin + base` */
  url: string
  port: number
  ctx: RouteContext
  setUpstream(url: string | null): void
  setSnapshot(patch: Partial<StateSnapshot>): void
  setOptions(options: OllamaPluginOptions): void
  /** Closes and re-attaches the chat socket (drops every WebSocket client). */
  restartChatSocket(): Promise<void>
  close(): Promise<void>
}

export interface HarnessOptions {
  sim?: SimulatorOptions
  plugin?: OllamaPluginOptions
  /** Vite's own `base`. */
  viteBase?: string
  chatSocket?: ChatSocketOptions
}

/** Pull through the OllamaClient, folded like the model manager folds it (for `ctx.pull`). */
async function* pullVia(
  upstream: string,
  model: string,
  signal: AbortSignal,
): AsyncIterable<PullProgressEvent> {
  const client = new OllamaClient(upstream)
  const layers = new Map<string, { total: number; completed: number }>()
  try {
    for await (const line of client.pull(model, { signal })) {
      if (line.digest && line.total)
        layers.set(line.digest, { total: line.total, completed: line.completed ?? 0 })
      let total = 0
      let completed = 0
      for (const layer of layers.values()) {
        total += layer.total
        completed += layer.completed
      }
      const done = line.status === 'success'
      yield {
        model,
        status: line.status,
        completed: done ? total : completed,
        total,
        percent: done ? 100 : total ? Math.floor((completed / total) * 100) : 0,
        bytesPerSecond: 0,
        etaSeconds: null,
      }
    }
  } finally {
    await client.close()
  }
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const sim = await startSimulator({ models: ['llama3.2'], ...opts.sim })
  const root = await mkdtemp(join(tmpdir(), 'vpo-routes-'))
  await writeFile(join(root, 'index.html'), '<!doctype html><title>routes</title><p>app</p>')
  let options: ResolvedOptions = resolveOptions({ models: ['llama3.2'], ...opts.plugin })
  let upstream: string | null = sim.url
  // One client per upstream, as the orchestrator holds one per engine.
  let client: OllamaClient | null = new OllamaClient(sim.url)
  let snapshot: StateSnapshot = {
    phase: 'ready',
    engine: { kind: 'simulator', url: sim.url, simulated: true },
    gpu: null,
    models: [{ name: 'llama3.2', status: 'present' }],
    defaultModel: 'llama3.2',
  }
  const viteBase = opts.viteBase ?? '/'
  const base = `${viteBase.replace(/\/$/, '')}${options.base}`
  const ctx: RouteContext = {
    base,
    options: () => options,
    upstream: () => client,
    snapshot: () => snapshot,
    pull: (model, signal) => {
      if (!upstream) throw new Error('no engine')
      return pullVia(upstream, model, signal)
    },
    // Pulls here are the request's own (no model manager): nothing to cancel from outside.
    cancelPull: () => undefined,
  }
  let chatSocket: { close(): Promise<void> } | undefined
  let httpServer: http.Server | undefined
  const server = await createServer({
    configFile: false,
    root,
    base: viteBase,
    logLevel: 'silent',
    server: { port: 0, host: '127.0.0.1', strictPort: false },
    plugins: [
      {
        name: 'test-ollama-routes',
        configureServer(vite) {
          vite.middlewares.use(ollamaRoutes(ctx))
          httpServer = vite.httpServer as http.Server
          chatSocket = attachChatSocket(httpServer, ctx, opts.chatSocket)
        },
      },
    ],
  })
  await server.listen()
  const address = server.httpServer!.address() as { port: number }
  const origin = `http://127.0.0.1:${address.port}`
  return {
    sim,
    server,
    origin,
    base,
    url: origin + base,
    port: address.port,
    ctx,
    setUpstream(url) {
      upstream = url
      void client?.close()
      client = url ? new OllamaClient(url) : null
    },
    setSnapshot(patch) {
      snapshot = { ...snapshot, ...patch }
    },
    setOptions(next) {
      options = resolveOptions(next)
    },
    async restartChatSocket() {
      await chatSocket?.close()
      chatSocket = attachChatSocket(httpServer!, ctx, opts.chatSocket)
    },
    async close() {
      await chatSocket?.close()
      await server.close()
      await client?.close()
      await sim.close()
      await rm(root, { recursive: true, force: true })
    },
  }
}

export interface RawResponse {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

/** A request with full control over headers (fetch cannot set Host or Origin freely). */
export function rawRequest(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const headers = { ...init.headers }
    // Node sends a DELETE body without a length unless told.
    if (
      init.body !== undefined &&
      !Object.keys(headers).some((name) => /^(content-length|transfer-encoding)$/i.test(name))
    ) {
      headers['Content-Length'] = String(Buffer.byteLength(init.body))
    }
    const req = http.request(
      url,
      { method: init.method ?? 'GET', headers, agent: false },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        )
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(init.body)
  })
}

export interface SseFrame {
  event: string
  data: string
  at: number
}

/** Parses a complete SSE text into frames (comments dropped). */
export function parseSse(text: string): { event: string; data: string }[] {
  const frames: { event: string; data: string }[] = []
  for (const block of text.split('\n\n')) {
    let event = 'message'
    const data: string[] = []
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7)
      else if (line.startsWith('data: ')) data.push(line.slice(6))
    }
    if (data.length) frames.push({ event, data: data.join('\n') })
  }
  return frames
}

/**
 * POSTs and reads the SSE answer as it arrives, stamping each frame with its arrival time. The
 * returned `request` can be destroyed to play a client that goes away.
 */
export function openSse(
  url: string,
  body: unknown,
  onFrame: (frame: SseFrame, request: http.ClientRequest) => void = () => {},
  headers: Record<string, string> = {},
): {
  request: http.ClientRequest
  done: Promise<{
    status: number
    headers: http.IncomingHttpHeaders
    frames: SseFrame[]
    raw: string
  }>
} {
  let request!: http.ClientRequest
  const done = new Promise<{
    status: number
    headers: http.IncomingHttpHeaders
    frames: SseFrame[]
    raw: string
  }>((resolve, reject) => {
    request = http.request(
      url,
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream', ...headers },
        agent: false,
      },
      (res) => {
        const frames: SseFrame[] = []
        let raw = ''
        let buffer = ''
        res.setEncoding('utf8')
        res.on('data', (text: string) => {
          raw += text
          buffer += text
          let end = buffer.indexOf('\n\n')
          while (end !== -1) {
            const block = buffer.slice(0, end)
            buffer = buffer.slice(end + 2)
            const [frame] = parseSse(`${block}\n\n`)
            if (frame) {
              const stamped = { ...frame, at: performance.now() }
              frames.push(stamped)
              onFrame(stamped, request)
            }
            end = buffer.indexOf('\n\n')
          }
        })
        const finish = () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, frames, raw })
        res.on('end', finish)
        res.on('close', finish)
        res.on('error', finish)
      },
    )
    request.on('error', (err) => {
      if (request.destroyed) return
      reject(err)
    })
    request.end(JSON.stringify(body))
  })
  return { request, done }
}

/** Resolves with the time the simulator saw its next cancelled stream. */
export function nextCancel(sim: Simulator): Promise<number> {
  return new Promise((resolve) =>
    sim.events.once('stream-cancel', () => resolve(performance.now())),
  )
}
