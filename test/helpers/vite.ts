import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  createLogger,
  createServer,
  type InlineConfig,
  type Logger,
  type ViteDevServer,
} from 'vite'
import WebSocket from 'ws'

/** A throwaway app folder with an index.html, removed by the returned function. */
export function makeApp(
  html = '<!doctype html><html><head><title>app</title></head><body><h1>app</h1></body></html>',
) {
  const root = mkdtempSync(join(tmpdir(), 'vpo-app-'))
  writeFileSync(join(root, 'index.html'), html)
  return { root, remove: () => rmSync(root, { recursive: true, force: true }) }
}

/** Vite's logger, captured: tests read what the plugin printed. */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = []
  const base = createLogger('info', { allowClearScreen: false })
  const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '')
  return {
    ...base,
    lines,
    info: (msg) => void lines.push(strip(msg)),
    warn: (msg) => void lines.push(strip(msg)),
    warnOnce: (msg) => void lines.push(strip(msg)),
    error: (msg) => void lines.push(strip(msg)),
  }
}

/** A real dev server on a free port. */
export async function startVite(
  config: InlineConfig,
): Promise<{ server: ViteDevServer; url: string }> {
  const server = await createServer({
    configFile: false,
    logLevel: 'silent',
    ...config,
    server: { port: 0, ...config.server },
  })
  await server.listen()
  const url = server.resolvedUrls!.local[0]!.replace(/\/$/, '')
  return { server, url }
}

/** Polls until `check` returns a truthy value (no fixed sleeps). */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  timeoutMs = 15_000,
  what = 'condition',
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const value = await check()
      if (value) return value as NonNullable<T>
    } catch (error) {
      last = error
    }
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`)
}

export interface HmrMessage {
  type: string
  event?: string
  data?: unknown
  at: number
}

/** A client on Vite's HMR socket, as the browser's Vite client connects (subprotocol vite-hmr). */
export async function connectHmr(
  url: string,
): Promise<{ messages: HmrMessage[]; send(event: string, data?: unknown): void; close(): void }> {
  const socket = new WebSocket(url.replace(/^http/, 'ws'), 'vite-hmr')
  const messages: HmrMessage[] = []
  socket.on('message', (raw) =>
    messages.push({ ...JSON.parse(String(raw)), at: performance.now() }),
  )
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve())
    socket.once('error', reject)
  })
  return {
    messages,
    send: (event, data = {}) => socket.send(JSON.stringify({ type: 'custom', event, data })),
    close: () => socket.close(),
  }
}
