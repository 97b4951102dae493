import { randomUUID } from 'node:crypto'
import type { IncomingMessage, Server } from 'node:http'
import type { Duplex } from 'node:stream'
import { debuglog } from 'node:util'
import type { HttpServer } from 'vite'
import { type WebSocket, WebSocketServer } from 'ws'
import { z } from 'zod'
import { errorMessage, toProblem } from '../../problem.js'
import {
  type ChatMessage,
  chatMessageSchema,
  modelNameSchema,
  modelOptionsSchema,
  resolveModel,
  runChat,
} from '../chat.js'
import type { RouteContext } from '../context.js'
import { crossSiteReason, isAllowedHost } from '../guards.js'

const debug = debuglog('vite-plugin-ollama')

export interface ChatSocketOptions {
  /** A client whose unsent backlog passes this is dropped (close 1013) instead of growing memory. */
  maxBufferedBytes?: number
  /** Ping period; a client that missed the previous pong is terminated. */
  pingIntervalMs?: number
  /** Messages a session keeps (system messages at the start are kept on top of these). */
  historyLimit?: number
  /** A session nobody used for this long is forgotten. */
  sessionTtlMs?: number
}

const DEFAULTS: Required<ChatSocketOptions> = {
  maxBufferedBytes: 8 * 1024 * 1024,
  pingIntervalMs: 30_000,
  historyLimit: 40,
  sessionTtlMs: 30 * 60_000,
}

const name = z.string().min(1, 'cannot be empty').max(128, 'at most 128 characters')
const chatId = z.union([name, z.number()])

const chatFrame = z
  .object({
    type: z.literal('chat'),
    id: chatId,
    session: name.optional(),
    room: name.optional(),
    model: modelNameSchema.optional(),
    content: z.string().optional(),
    messages: z.array(chatMessageSchema).min(1, 'send at least one message').optional(),
    options: modelOptionsSchema.optional(),
  })
  .refine((frame) => (frame.content === undefined) !== (frame.messages === undefined), {
    message: 'send either "content" (a string, added to the session history) or "messages"',
    path: ['content'],
  })

const clientFrame = z.discriminatedUnion(
  'type',
  [
    chatFrame,
    z.object({ type: z.literal('cancel'), id: chatId }),
    z.object({ type: z.literal('join'), room: name }),
    z.object({ type: z.literal('leave'), room: name }),
  ],
  { error: 'expected "type" to be "chat", "cancel", "join" or "leave"' },
)

type ChatFrame = z.output<typeof chatFrame>
type ChatKey = string | number

interface Peer {
  ws: WebSocket
  /** The session `content` messages go to unless a message names another. */
  session: string
  rooms: Set<string>
  chats: Map<ChatKey, AbortController>
  alive: boolean
  dropped: boolean
}

interface Session {
  history: ChatMessage[]
  touched: number
}

/** Who sees a chat's frames: its sender, or every member of its room at the time of each frame. */
type Audience = { peer: Peer } | { room: string }

class CancelledError extends Error {
  override name = 'AbortError'
  constructor() {
    super('cancelled')
  }
}

/**
 * The chat WebSocket at `${base}/ws` (README.md, Routes): sessions with a bounded history, rooms
 * that broadcast every stream to their members, cancel by id. It listens on the dev server's
 * 'upgrade' event in `noServer` mode and touches no other upgrade: Vite's HMR socket shares the
 * server (docs/decisions.md, "Vite's host check never sees upgrades").
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
  const peers = new Set<Peer>()
  const sessions = new Map<string, Session>()
  const rooms = new Map<string, Set<Peer>>()
  const server = httpServer as Server

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (url.pathname !== path) return
    // A Vite client pointed at our path is still Vite's business.
    if (String(req.headers['sec-websocket-protocol'] ?? '').startsWith('vite-')) return
    // Vite's host check (the DNS-rebinding guard) never sees upgrades: repeat it here.
    if (!isAllowedHost(req.headers.host, ctx.allowedHosts?.())) {
      rejectUpgrade(
        socket,
        `Host "${req.headers.host}" is not allowed: add it to server.allowedHosts`,
      )
      return
    }
    const reason = crossSiteReason(req)
    if (reason) {
      rejectUpgrade(socket, `Cross-site WebSocket refused: ${reason}`)
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, url.searchParams))
  }

  function onConnection(ws: WebSocket, params: URLSearchParams): void {
    const requested = params.get('session')
    const peer: Peer = {
      ws,
      session: requested && requested.length <= 128 ? requested : randomUUID(),
      rooms: new Set(),
      chats: new Map(),
      alive: true,
      dropped: false,
    }
    peers.add(peer)
    touchSession(peer.session)
    const room = params.get('room')
    if (room && room.length <= 128) joinRoom(peer, room)
    ws.on('pong', () => {
      peer.alive = true
    })
    ws.on('message', (data, isBinary) => onMessage(peer, isBinary ? null : data.toString()))
    ws.on('close', () => onClose(peer))
    ws.on('error', (err) => debug('ws: client error: %s', err.message))
    send(peer, { type: 'ready', session: peer.session, rooms: [...peer.rooms] })
  }

  function onMessage(peer: Peer, text: string | null): void {
    let value: unknown
    try {
      value = text === null ? undefined : JSON.parse(text)
    } catch {
      value = undefined
    }
    if (value === undefined) {
      send(peer, {
        type: 'error',
        message: 'Invalid message: send JSON text such as {"type":"chat",…}',
      })
      return
    }
    const parsed = clientFrame.safeParse(value)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      const field = issue?.path.length ? issue.path.join('.') : 'type'
      const id = (value as { id?: unknown } | null)?.id
      send(peer, {
        type: 'error',
        ...(typeof id === 'string' || typeof id === 'number' ? { id } : {}),
        message: `Invalid message: ${field}: ${issue?.message ?? 'invalid'}`,
      })
      return
    }
    const frame = parsed.data
    switch (frame.type) {
      case 'chat':
        void startChat(peer, frame)
        return
      case 'cancel':
        peer.chats.get(frame.id)?.abort(new CancelledError())
        return
      case 'join':
        joinRoom(peer, frame.room)
        send(peer, { type: 'joined', room: frame.room, members: rooms.get(frame.room)?.size ?? 0 })
        return
      case 'leave':
        leaveRoom(peer, frame.room)
        send(peer, { type: 'left', room: frame.room })
        return
    }
  }

  async function startChat(peer: Peer, frame: ChatFrame): Promise<void> {
    const { id } = frame
    const sessionId = frame.session ?? peer.session
    const audience: Audience = frame.room ? { room: frame.room } : { peer }
    const tags = { id, session: sessionId, ...(frame.room ? { room: frame.room } : {}) }
    if (peer.chats.has(id)) {
      send(peer, {
        type: 'error',
        id,
        message: `Invalid message: id: chat ${id} is still streaming`,
      })
      return
    }
    if (frame.room) joinRoom(peer, frame.room)
    const session = touchSession(sessionId)
    const messages: ChatMessage[] = frame.messages ?? [
      ...session.history,
      { role: 'user', content: frame.content ?? '' },
    ]
    let model: string
    try {
      model = resolveModel(ctx, frame.model)
    } catch (err) {
      send(peer, { type: 'error', id, message: errorMessage(err) })
      return
    }
    const abort = new AbortController()
    peer.chats.set(id, abort)
    const user = messages[messages.length - 1]
    broadcast(audience, { type: 'start', ...tags, model, content: user?.content ?? '' })
    const tokens = new TokenBatcher((content) =>
      broadcast(audience, { type: 'token', ...tags, content }),
    )
    try {
      const result = await runChat(
        ctx,
        { model, messages, options: frame.options },
        abort.signal,
        (text) => tokens.push(text),
      )
      tokens.flush()
      session.history = trimHistory(
        [...messages, { role: 'assistant', content: result.content }],
        settings.historyLimit,
      )
      session.touched = Date.now()
      broadcast(audience, { type: 'done', ...tags, metrics: result.metrics })
    } catch (err) {
      tokens.flush()
      if (abort.signal.reason instanceof CancelledError) {
        broadcast(audience, { type: 'error', ...tags, code: 'cancelled', message: 'Cancelled' })
      } else if (!abort.signal.aborted) {
        broadcast(audience, { type: 'error', ...tags, ...toProblem(err) })
      } else if (frame.room) {
        // The sender left mid-stream: the room's watchers still need an end to this chat.
        broadcast(audience, {
          type: 'error',
          ...tags,
          code: 'disconnected',
          message: 'The sender went away',
        })
      }
    } finally {
      peer.chats.delete(id)
    }
  }

  function touchSession(id: string): Session {
    let session = sessions.get(id)
    if (!session) {
      session = { history: [], touched: 0 }
      sessions.set(id, session)
    }
    session.touched = Date.now()
    return session
  }

  function joinRoom(peer: Peer, room: string): void {
    let members = rooms.get(room)
    if (!members) {
      members = new Set()
      rooms.set(room, members)
    }
    members.add(peer)
    peer.rooms.add(room)
  }

  function leaveRoom(peer: Peer, room: string): void {
    peer.rooms.delete(room)
    const members = rooms.get(room)
    if (!members) return
    members.delete(peer)
    if (members.size === 0) rooms.delete(room)
  }

  function broadcast(audience: Audience, message: object): void {
    // Serialised once, sent to every member.
    const data = Buffer.from(JSON.stringify(message))
    if ('peer' in audience) sendRaw(audience.peer, data)
    else for (const member of rooms.get(audience.room) ?? []) sendRaw(member, data)
  }

  function send(peer: Peer, message: object): void {
    sendRaw(peer, Buffer.from(JSON.stringify(message)))
  }

  function sendRaw(peer: Peer, data: Buffer): void {
    if (peer.dropped || peer.ws.readyState !== peer.ws.OPEN) return
    if (peer.ws.bufferedAmount > settings.maxBufferedBytes) {
      drop(peer, `client too slow: more than ${settings.maxBufferedBytes} bytes waiting to be sent`)
      return
    }
    peer.ws.send(data, { binary: false })
  }

  /** Stops sending to a client that does not read, so its backlog cannot grow without end. */
  function drop(peer: Peer, reason: string): void {
    peer.dropped = true
    debug('ws: dropping a client: %s', reason)
    // The close frame queues behind the backlog; a client that never reads it is cut off.
    peer.ws.close(1013, reason.slice(0, 120))
    setTimeout(() => peer.ws.terminate(), 2_000).unref()
    onClose(peer)
  }

  function onClose(peer: Peer): void {
    if (!peers.delete(peer)) return
    for (const room of [...peer.rooms]) leaveRoom(peer, room)
    for (const chat of peer.chats.values())
      chat.abort(new DOMException('The client went away', 'AbortError'))
  }

  const pinger = setInterval(() => {
    for (const peer of peers) {
      if (!peer.alive) {
        peer.ws.terminate()
        onClose(peer)
        continue
      }
      peer.alive = false
      peer.ws.ping()
    }
  }, settings.pingIntervalMs)
  pinger.unref()

  const sweeper = setInterval(
    () => {
      const cutoff = Date.now() - settings.sessionTtlMs
      for (const [id, session] of sessions) if (session.touched < cutoff) sessions.delete(id)
    },
    Math.min(settings.sessionTtlMs, 60_000),
  )
  sweeper.unref()

  server.on('upgrade', onUpgrade)

  return {
    async close() {
      server.off('upgrade', onUpgrade)
      clearInterval(pinger)
      clearInterval(sweeper)
      for (const peer of [...peers]) {
        onClose(peer)
        peer.ws.terminate()
      }
      sessions.clear()
      await new Promise<void>((resolve) => wss.close(() => resolve()))
    },
  }
}

/**
 * Joins the tokens of one tick into one frame: a model can stream tens of thousands of tokens a
 * second, and a frame (JSON, mask check, syscall) per token per member would cost more.
 */
class TokenBatcher {
  private pending = ''
  private scheduled = false

  constructor(private readonly emit: (content: string) => void) {}

  push(text: string): void {
    this.pending += text
    if (this.scheduled) return
    this.scheduled = true
    process.nextTick(() => this.flush())
  }

  flush(): void {
    this.scheduled = false
    if (this.pending === '') return
    const content = this.pending
    this.pending = ''
    this.emit(content)
  }
}

/** The last `limit` messages, with the leading system messages kept. */
function trimHistory(messages: ChatMessage[], limit: number): ChatMessage[] {
  let system = 0
  while (messages[system]?.role === 'system') system++
  const rest = messages.slice(system)
  if (rest.length <= limit) return messages
  return [...messages.slice(0, system), ...rest.slice(rest.length - limit)]
}

function rejectUpgrade(socket: Duplex, reason: string): void {
  debug('ws: upgrade refused: %s', reason)
  const body = `${reason}\n`
  socket.once('finish', () => socket.destroy())
  socket.end(
    `HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  )
}
