import type { IncomingMessage, Server } from 'node:http'
import type { Duplex } from 'node:stream'
import { debuglog } from 'node:util'
import type { HttpServer } from 'vite'
import { type WebSocket, WebSocketServer } from 'ws'
import type { RouteContext } from '../context.js'
import { foreignOriginReason, isAllowedHost } from '../guards.js'
import { networkRefusal } from '../network.js'
import { decodeClientFrame, type EncodedFrame, encodeFrame } from './frames.js'
import { createChatHub, type HubConnection } from './hub.js'
import { type Bucket, createBucket } from './intake.js'

const debug = debuglog('vite-plugin-ollama')

/**
 * The socket's own settings. What the hub keeps (sessions, rooms, chats) is bounded by the
 * `limits` option instead, the one list of bounds (src/limits.ts).
 */
export interface ChatSocketOptions {
  /** A client whose unsent backlog passes this is dropped (close 1013) instead of growing memory. */
  maxBufferedBytes?: number
  /** Ping period; a client that missed the previous pong is terminated. */
  pingIntervalMs?: number
}

const DEFAULTS: Required<ChatSocketOptions> = {
  maxBufferedBytes: 8 * 1024 * 1024,
  pingIntervalMs: 30_000,
}

/** One WebSocket client: the socket side of it; its sessions, rooms and chats are the hub's. */
interface Client {
  ws: WebSocket
  /** Set right after the client is made: the hub greets it through `sendRaw` at once. */
  connection: HubConnection | null
  alive: boolean
  dropped: boolean
  /** What this client may still send before it is read more slowly. */
  intake: Bucket
  /** The timer that reads it again. */
  resume?: NodeJS.Timeout
}

/**
 * The chat WebSocket at `${base}/ws`, the socket side: admits upgrades to that path, parses and
 * checks the frames clients send, sends with backpressure, keeps connections alive with pings.
 * Sessions, rooms and chat runs are the hub's (hub.ts). It listens on the dev server's 'upgrade'
 * event in `noServer` mode and touches no other upgrade, since Vite's HMR socket shares the
 * server; and it repeats Vite's host check, which upgrades bypass (docs/decisions.md, "Vite's
 * host check never sees upgrades").
 */
export function attachChatSocket(
  httpServer: HttpServer | Server,
  ctx: RouteContext,
  options: ChatSocketOptions = {},
): { close(): Promise<void> } {
  const settings = { ...DEFAULTS, ...options }
  const path = `${ctx.base}/ws`
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: ctx.options().maxBodySize,
    clientTracking: false,
  })
  const clients = new Set<Client>()
  const hub = createChatHub(ctx)
  const totalIntake = createBucket(
    () => ctx.options().limits.totalInboundBytesPerSecond,
    () => Math.max(ctx.options().limits.totalInboundBytesPerSecond, ctx.options().maxBodySize),
  )
  const server = httpServer as Server

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (url.pathname !== path) return
    // A Vite client pointed at our path is still Vite's business.
    if (String(req.headers['sec-websocket-protocol'] ?? '').startsWith('vite-')) return
    // Vite's host check (the DNS-rebinding guard) never sees upgrades: repeat it here.
    if (!isAllowedHost(req.headers.host, ctx.allowedHosts?.() ?? [])) {
      rejectUpgrade(
        socket,
        `Host "${req.headers.host}" is not allowed: add it to server.allowedHosts`,
      )
      return
    }
    // Upgrades carry no Sec-Fetch-Site: the page's Origin decides.
    const options = ctx.options()
    const reason = foreignOriginReason(req, options.allowedOrigins)
    if (reason) {
      rejectUpgrade(socket, `Cross-origin WebSocket refused: ${reason}`)
      return
    }
    const refusal = networkRefusal(req, '/ws', options.network)
    if (refusal) {
      rejectUpgrade(socket, refusal.message)
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, url.searchParams))
  }

  function onConnection(ws: WebSocket, params: URLSearchParams): void {
    const client: Client = {
      ws,
      connection: null,
      alive: true,
      dropped: false,
      intake: createBucket(
        () => ctx.options().limits.inboundBytesPerSecond,
        () => Math.max(ctx.options().limits.inboundBytesPerSecond, ctx.options().maxBodySize),
      ),
    }
    clients.add(client)
    ws.on('pong', () => {
      client.alive = true
    })
    ws.on('message', (data: Buffer, isBinary) => {
      throttleIntake(client, data.length)
      onMessage(client, isBinary ? null : data.toString())
    })
    ws.on('close', () => onClose(client))
    ws.on('error', (err) => debug('ws: client error: %s', err.message))
    client.connection = hub.connect(
      { send: (data) => sendRaw(client, data) },
      { session: params.get('session'), room: params.get('room') },
    )
  }

  /** A client past its rate, or past everyone's, is not read until it is back within it. */
  function throttleIntake(client: Client, bytes: number): void {
    const wait = Math.max(client.intake.take(bytes), totalIntake.take(bytes))
    if (wait === 0 || client.resume) return
    client.ws.pause()
    client.resume = setTimeout(() => {
      client.resume = undefined
      client.ws.resume()
    }, wait)
  }

  function onMessage(client: Client, text: string | null): void {
    const decoded = decodeClientFrame(text)
    if ('error' in decoded) sendRaw(client, encodeFrame(decoded.error))
    else client.connection?.receive(decoded.frame)
  }

  function sendRaw(client: Client, data: EncodedFrame): void {
    if (client.dropped || client.ws.readyState !== client.ws.OPEN) return
    if (client.ws.bufferedAmount > settings.maxBufferedBytes) {
      drop(
        client,
        `client too slow: more than ${settings.maxBufferedBytes} bytes waiting to be sent`,
      )
      return
    }
    client.ws.send(data, { binary: false })
  }

  /** Stops sending to a client that does not read, so its backlog cannot grow without end. */
  function drop(client: Client, reason: string): void {
    client.dropped = true
    debug('ws: dropping a client: %s', reason)
    // The close frame queues behind the backlog; a client that never reads it is cut off.
    client.ws.close(1013, reason.slice(0, 120))
    setTimeout(() => client.ws.terminate(), 2_000).unref()
    onClose(client)
  }

  function onClose(client: Client): void {
    clearTimeout(client.resume)
    if (!clients.delete(client)) return
    client.connection?.close()
  }

  const pinger = setInterval(() => {
    for (const client of clients) {
      if (!client.alive) {
        client.ws.terminate()
        onClose(client)
        continue
      }
      client.alive = false
      client.ws.ping()
    }
  }, settings.pingIntervalMs)
  pinger.unref()

  server.on('upgrade', onUpgrade)

  return {
    async close() {
      server.off('upgrade', onUpgrade)
      clearInterval(pinger)
      for (const client of [...clients]) {
        onClose(client)
        client.ws.terminate()
      }
      hub.close()
      await new Promise<void>((resolve) => wss.close(() => resolve()))
    },
  }
}

function rejectUpgrade(socket: Duplex, reason: string): void {
  debug('ws: upgrade refused: %s', reason)
  const body = `${reason}\n`
  socket.once('finish', () => socket.destroy())
  socket.end(
    `HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  )
}
