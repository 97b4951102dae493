// Fault injection for the reliability suite: a Docker socket that can be pulled away, an upstream
// that speaks broken NDJSON, the plugin in a real dev server, measurements of what a process
// holds open, and a seeded PRNG for the fuzzer. Everything here is a real socket or server.
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ViteDevServer } from 'vite'
import ollama from '../../src/index.js'
import type { OllamaPluginOptions } from '../../src/options.js'
import type { StateSnapshot } from '../../src/protocol.js'
import { makeApp, memoryLogger, startVite, waitFor } from './vite.js'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

/**
 * A unix socket that pipes every connection to the real Docker socket. `cut()` closes it and
 * destroys the connections in flight, as a daemon that went away would; `restore()` listens
 * on the same path again. Point the plugin at it with `DOCKER_HOST=unix://<path>`.
 */
export interface DockerSocketProxy {
  path: string
  host: string
  /** Connections accepted so far. */
  accepted(): number
  cut(): Promise<void>
  restore(): Promise<void>
  close(): Promise<void>
}

export async function dockerSocketProxy(
  target = '/var/run/docker.sock',
): Promise<DockerSocketProxy> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vpo-dockersock-'))
  const socketPath = path.join(dir, 'docker.sock')
  const live = new Set<net.Socket>()
  let count = 0
  let server: net.Server | undefined

  function listen(): Promise<void> {
    const s = net.createServer((client) => {
      count++
      const upstream = net.connect(target)
      live.add(client)
      live.add(upstream)
      const drop = () => {
        client.destroy()
        upstream.destroy()
        live.delete(client)
        live.delete(upstream)
      }
      client.on('error', drop).on('close', drop)
      upstream.on('error', drop).on('close', drop)
      client.pipe(upstream)
      upstream.pipe(client)
    })
    server = s
    return new Promise((resolve, reject) => {
      s.once('error', reject)
      s.listen(socketPath, () => resolve())
    })
  }

  async function cut(): Promise<void> {
    const s = server
    server = undefined
    if (!s) return
    const closed = new Promise<void>((resolve) => s.close(() => resolve()))
    for (const socket of live) socket.destroy()
    live.clear()
    await closed
    rmSync(socketPath, { force: true })
  }

  await listen()
  return {
    path: socketPath,
    host: `unix://${socketPath}`,
    accepted: () => count,
    cut,
    restore: listen,
    async close() {
      await cut()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/**
 * A tiny Ollama look-alike on raw node:http that answers enough for the plugin to adopt it
 * (version, tags, ps) and streams `chatBody` for POST /api/chat: the test decides the bytes.
 */
export async function rawUpstream(chatBody: Buffer[]): Promise<{
  url: string
  /** What the last POST /api/chat was sent, in order. */
  sent: Buffer
  close(): Promise<void>
}> {
  let sentChunks: Buffer[] = []
  const server = http.createServer((req, res) => {
    req.resume()
    const url = req.url ?? '/'
    const json = (body: unknown) => {
      res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' })
      res.end(JSON.stringify(body))
    }
    if (url === '/api/version') return json({ version: '0.32.6' })
    if (url === '/api/tags') return json({ models: [] })
    if (url === '/api/ps') return json({ models: [] })
    if (url === '/api/chat' && req.method === 'POST') {
      res.writeHead(200, { 'Content-Type': 'application/x-ndjson' })
      const mine: Buffer[] = []
      sentChunks = mine
      let i = 0
      const next = () => {
        const chunk = chatBody[i++]
        if (!chunk || res.destroyed) return res.end()
        mine.push(chunk)
        res.write(chunk)
        setTimeout(next, 20)
      }
      next()
      return
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' })
    res.end('404 page not found')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    get sent() {
      return Buffer.concat(sentChunks)
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

/** The plugin in a real dev server on a free port, with its log captured. */
export async function servePlugin(options: OllamaPluginOptions): Promise<{
  server: ViteDevServer
  url: string
  lines: string[]
  close(): Promise<void>
}> {
  const app = makeApp()
  const logger = memoryLogger()
  const { server, url } = await startVite({
    root: app.root,
    customLogger: logger,
    logLevel: 'info',
    plugins: [ollama(options)],
  })
  return {
    server,
    url,
    lines: logger.lines,
    async close() {
      await server.close()
      app.remove()
    },
  }
}

export async function getStatus(url: string): Promise<StateSnapshot> {
  const res = await fetch(`${url}/__ollama/status`, { signal: AbortSignal.timeout(5000) })
  return (await res.json()) as StateSnapshot
}

/** Polls /status until `check` holds; fails with the last snapshot. */
export async function waitForStatus(
  url: string,
  check: (s: StateSnapshot) => boolean,
  timeoutMs = 30_000,
  what = 'status',
): Promise<StateSnapshot> {
  let last: StateSnapshot | undefined
  try {
    return await waitFor(
      async () => {
        last = await getStatus(url)
        return check(last) ? last : undefined
      },
      timeoutMs,
      what,
    )
  } catch (error) {
    ;(error as Error).message += `\nlast status: ${JSON.stringify(last)}`
    throw error
  }
}

/** A project folder with a real vite.config.ts that imports the plugin by absolute path. */
export function makeConfigProject(configBody: (pluginImport: string) => string): {
  root: string
  configFile: string
  remove(): void
} {
  const root = mkdtempSync(path.join(os.tmpdir(), 'vpo-rel-'))
  writeFileSync(path.join(root, 'index.html'), '<!doctype html><title>app</title><p>app</p>')
  writeFileSync(path.join(root, 'package.json'), '{"type":"module","private":true}\n')
  const configFile = path.join(root, 'vite.config.ts')
  writeFileSync(configFile, configBody(JSON.stringify(path.join(repo, 'src/index.ts'))))
  return { root, configFile, remove: () => rmSync(root, { recursive: true, force: true }) }
}

export interface ResourceCounts {
  /** process.getActiveResourcesInfo(), counted by type. */
  resources: Record<string, number>
  /** Open file descriptors that are sockets (TCP, unix, …), from /proc/self/fd. */
  socketFds: number
  /** Process listeners that a plugin instance could leak. */
  processListeners: Record<'SIGINT' | 'SIGTERM' | 'exit' | 'unhandledRejection', number>
}

export function resourceCounts(): ResourceCounts {
  const resources: Record<string, number> = {}
  for (const type of process.getActiveResourcesInfo()) resources[type] = (resources[type] ?? 0) + 1
  let socketFds = 0
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:')) socketFds++
    } catch {
      // closed while we looked
    }
  }
  return {
    resources,
    socketFds,
    processListeners: {
      SIGINT: process.listenerCount('SIGINT'),
      SIGTERM: process.listenerCount('SIGTERM'),
      exit: process.listenerCount('exit'),
      unhandledRejection: process.listenerCount('unhandledRejection'),
    },
  }
}

/** mulberry32: a small seeded PRNG, so a failing fuzz run can be replayed from its seed. */
export function prng(seed: number): {
  next(): number
  int(max: number): number
  pick<T>(items: readonly T[]): T
  bytes(n: number): Buffer
  chance(p: number): boolean
} {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (max: number) => Math.floor(next() * max)
  return {
    next,
    int,
    pick: (items) => items[int(items.length)] as (typeof items)[number],
    bytes: (n) => Buffer.from(Array.from({ length: n }, () => int(256))),
    chance: (p) => next() < p,
  }
}
