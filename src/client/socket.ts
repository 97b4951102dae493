// `connect()`: a WebSocket chat session with history, rooms and reconnect with backoff.
import { OllamaRouteError, resolveUrl } from './http.js'
import { TokenQueue } from './token-queue.js'
import type {
  ChatId,
  ChatInput,
  ChatReply,
  ChatResult,
  ChatSocket,
  ClientConfig,
  ClientFrame,
  ConnectOptions,
  ServerFrame,
  SocketEvents,
  ToolCallEvent,
} from './types.js'

interface PendingChat {
  session: string | undefined
  queue: TokenQueue
  content: string
  reasoning: string
  toolCalls: ToolCallEvent[]
  resolve(result: ChatResult): void
  reject(error: unknown): void
}

type ChatOptions = NonNullable<Parameters<ChatSocket['chat']>[1]>

/** The listeners of one socket, by event type. */
interface Emitter {
  emit<K extends keyof SocketEvents>(type: K, event: SocketEvents[K]): void
  on: ChatSocket['on']
}

/** One socket's state, shared by the steps below: what survives a reconnect, and what does not. */
interface Connection {
  readonly config: ClientConfig
  readonly opts: ConnectOptions
  readonly events: Emitter
  /** Chats sent and not finished, by id: a close fails them all. */
  readonly pending: Map<ChatId, PendingChat>
  /** Joined again on every (re)connect. */
  readonly rooms: Set<string>
  /** Frames sent while not open, flushed once it is. */
  readonly outbox: string[]
  session: string | undefined
  socket: WebSocket | undefined
  state: ChatSocket['state']
  /** Reconnect attempts since the last open, for the backoff. */
  attempt: number
  closedByUser: boolean
  timer: ReturnType<typeof setTimeout> | undefined
}

let chatCounter = 0

function newChatId(): string {
  chatCounter++
  return `c${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}${chatCounter}`
}

export function connectWith(config: ClientConfig, opts: ConnectOptions = {}): ChatSocket {
  if (config.production) {
    throw new Error(
      "vite-plugin-ollama: connect() opens the dev server's WebSocket, which a production server does not serve; use chatStream() or chat() with the conversation in messages, which work in both",
    )
  }
  const conn: Connection = {
    config,
    opts,
    events: createEmitter(),
    pending: new Map(),
    rooms: new Set(opts.room ? [opts.room] : []),
    outbox: [],
    session: opts.session,
    socket: undefined,
    state: 'connecting',
    attempt: 0,
    closedByUser: false,
    timer: undefined,
  }
  const api: ChatSocket = {
    get session() {
      return conn.session
    },
    get state() {
      return conn.state
    },
    chat: (input, chatOpts = {}) => startChat(conn, input, chatOpts, (id) => api.cancel(id)),
    send: (frame) => send(conn, frame),
    cancel(id) {
      if (conn.state !== 'closed') sendText(conn, JSON.stringify({ type: 'cancel', id }))
    },
    join(room) {
      conn.rooms.add(room)
      if (conn.state === 'open') sendText(conn, JSON.stringify({ type: 'join', room }))
    },
    leave(room) {
      conn.rooms.delete(room)
      if (conn.state === 'open') sendText(conn, JSON.stringify({ type: 'leave', room }))
    },
    on: conn.events.on,
    close: () => closeByUser(conn),
  }
  open(conn)
  return api
}

function createEmitter(): Emitter {
  const listeners = new Map<string, Set<(event: never) => void>>()
  return {
    emit(type, event) {
      for (const listener of listeners.get(type) ?? [])
        (listener as (e: typeof event) => void)(event)
    },
    on(type, listener) {
      let set = listeners.get(type)
      if (!set) {
        set = new Set()
        listeners.set(type, set)
      }
      set.add(listener as (event: never) => void)
      return () => set.delete(listener as (event: never) => void)
    },
  }
}

function socketUrl(conn: Connection): string {
  const url = new URL(resolveUrl(conn.config, '/ws'))
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
  if (conn.session) url.searchParams.set('session', conn.session)
  return url.href
}

function open(conn: Connection): void {
  conn.state = 'connecting'
  const ws = new WebSocket(socketUrl(conn))
  conn.socket = ws
  ws.onopen = () => onOpen(conn, ws)
  ws.onmessage = (event: MessageEvent) => {
    const frame = parseFrame(event.data)
    if (frame) onFrame(conn, frame)
  }
  ws.onclose = (event: CloseEvent) => onClose(conn, ws, event)
}

/** Rooms are joined again and what was sent meanwhile goes out, in order. */
function onOpen(conn: Connection, ws: WebSocket): void {
  conn.attempt = 0
  conn.state = 'open'
  for (const room of conn.rooms) ws.send(JSON.stringify({ type: 'join', room }))
  for (const frame of conn.outbox.splice(0)) ws.send(frame)
  conn.events.emit('open', undefined)
}

function parseFrame(data: unknown): ServerFrame | undefined {
  if (typeof data !== 'string') return undefined
  try {
    return JSON.parse(data) as ServerFrame
  } catch {
    return undefined
  }
}

function onClose(conn: Connection, ws: WebSocket, event: CloseEvent): void {
  if (conn.socket !== ws) return
  conn.socket = undefined
  // The server aborted every chat of this connection when it went.
  for (const [id, chat] of conn.pending) {
    conn.pending.delete(id)
    fail(
      chat,
      new OllamaRouteError(
        `The chat connection closed (${event.code}${event.reason ? `: ${event.reason}` : ''})`,
        0,
        'Send the message again.',
      ),
    )
  }
  const willReconnect = !conn.closedByUser && conn.opts.reconnect !== false
  conn.state = willReconnect ? 'connecting' : 'closed'
  conn.events.emit('close', { code: event.code, reason: event.reason, willReconnect })
  if (willReconnect) scheduleReconnect(conn)
}

function scheduleReconnect(conn: Connection): void {
  const min = conn.opts.minDelayMs ?? 500
  const max = conn.opts.maxDelayMs ?? 10_000
  const delay = Math.min(max, min * 2 ** conn.attempt) * (0.75 + Math.random() * 0.5)
  conn.attempt++
  conn.timer = setTimeout(() => open(conn), delay)
}

/** Listeners and callbacks hear of a frame first; then the chat it belongs to moves on. */
function onFrame(conn: Connection, frame: ServerFrame): void {
  conn.events.emit('message', frame)
  conn.opts.onMessage?.(frame)
  if (frame.type === 'ready') conn.session = frame.session
  announceFrame(conn, frame)
  advanceChat(conn, frame)
}

/** The `connect()` callback each frame type has, if any. */
const CALLBACKS = {
  start: 'onStart',
  waiting: 'onWaiting',
  token: 'onToken',
  reasoning: 'onReasoning',
  'tool-call': 'onToolCall',
  done: 'onDone',
  error: 'onError',
} as const satisfies Partial<Record<ServerFrame['type'], keyof ConnectOptions>>

/** The frame's callback, then its listeners (every frame type is a `SocketEvents` name). */
function announceFrame(conn: Connection, frame: ServerFrame): void {
  const callback = CALLBACKS[frame.type as keyof typeof CALLBACKS]
  if (callback) (conn.opts[callback] as ((frame: ServerFrame) => void) | undefined)?.(frame)
  conn.events.emit(frame.type, frame as never)
}

/** A token, the end or an error of one of our chats: its queue and its result. */
function advanceChat(conn: Connection, frame: ServerFrame): void {
  switch (frame.type) {
    case 'token': {
      const chat = ownChat(conn, frame.id, frame.session)
      if (chat) {
        chat.content += frame.content
        chat.queue.push(frame.content)
      }
      return
    }
    case 'reasoning': {
      const chat = ownChat(conn, frame.id, frame.session)
      if (chat) chat.reasoning += frame.content
      return
    }
    case 'tool-call': {
      const chat = ownChat(conn, frame.id, frame.session)
      if (chat) chat.toolCalls.push(frame.call)
      return
    }
    case 'done': {
      const chat = ownChat(conn, frame.id, frame.session)
      if (chat) {
        conn.pending.delete(frame.id)
        chat.queue.end()
        chat.resolve({
          content: chat.content,
          ...(chat.reasoning ? { reasoning: chat.reasoning } : {}),
          ...(chat.toolCalls.length ? { toolCalls: chat.toolCalls } : {}),
          metrics: frame.metrics,
        })
      }
      return
    }
    case 'error': {
      const chat = frame.id === undefined ? undefined : ownChat(conn, frame.id, frame.session)
      if (chat && frame.id !== undefined) {
        conn.pending.delete(frame.id)
        fail(chat, new OllamaRouteError(frame.message, 200, frame.hint))
      }
      return
    }
    // Not about a chat's reply.
    case 'ready':
    case 'start':
    case 'waiting':
    case 'joined':
    case 'left':
      return
  }
}

function ownChat(
  conn: Connection,
  id: ChatId,
  frameSession: string | undefined,
): PendingChat | undefined {
  const chat = conn.pending.get(id)
  if (!chat) return undefined
  // In a room, another client's chat could reuse the id: the session tells them apart.
  if (chat.session && frameSession && chat.session !== frameSession) return undefined
  return chat
}

function fail(chat: PendingChat, error: unknown): void {
  chat.queue.end(error)
  chat.reject(error)
}

function sendText(conn: Connection, text: string): void {
  if (conn.socket && conn.state === 'open') conn.socket.send(text)
  else conn.outbox.push(text)
}

function send(conn: Connection, frame: ClientFrame): void {
  if (conn.state === 'closed')
    throw new Error('vite-plugin-ollama: this chat socket is closed; call connect() again')
  sendText(conn, JSON.stringify(frame))
}

function startChat(
  conn: Connection,
  input: ChatInput,
  chatOpts: ChatOptions,
  cancel: (id: ChatId) => void,
): ChatReply {
  const id = chatOpts.id ?? newChatId()
  const queue = new TokenQueue()
  const { result, resolve, reject } = deferredResult()
  const chat: PendingChat = {
    session: conn.session,
    queue,
    content: '',
    reasoning: '',
    toolCalls: [],
    resolve,
    reject,
  }
  conn.pending.set(id, chat)
  const frame = chatFrame(conn, id, input, chatOpts)
  try {
    send(conn, frame)
  } catch (err) {
    conn.pending.delete(id)
    fail(chat, err)
  }
  chatOpts.signal?.addEventListener('abort', () => cancel(id), { once: true })
  return {
    id,
    result,
    cancel: () => cancel(id),
    [Symbol.asyncIterator]: () => queue,
  }
}

function deferredResult(): {
  result: Promise<ChatResult>
  resolve(result: ChatResult): void
  reject(error: unknown): void
} {
  let resolve!: (result: ChatResult) => void
  let reject!: (error: unknown) => void
  const result = new Promise<ChatResult>((res, rej) => {
    resolve = res
    reject = rej
  })
  // A caller that only iterates must not see an unhandled rejection on `result`.
  result.catch(() => {})
  return { result, resolve, reject }
}

function chatFrame(
  conn: Connection,
  id: ChatId,
  input: ChatInput,
  chatOpts: ChatOptions,
): ClientFrame {
  const model = chatOpts.model ?? conn.opts.model ?? conn.config.defaultModel
  // A socket opened with `room` chats in that room unless a chat names another.
  const room = chatOpts.room ?? conn.opts.room
  return {
    type: 'chat',
    id,
    ...(conn.session ? { session: conn.session } : {}),
    ...(room ? { room } : {}),
    ...(model ? { model } : {}),
    ...(typeof input === 'string' ? { content: input } : { messages: input }),
    ...(chatOpts.options ? { options: chatOpts.options } : {}),
    ...(chatOpts.tools ? { tools: chatOpts.tools } : {}),
    ...(chatOpts.think !== undefined ? { think: chatOpts.think } : {}),
    ...(chatOpts.format !== undefined ? { format: chatOpts.format } : {}),
  } as ClientFrame
}

function closeByUser(conn: Connection): void {
  conn.closedByUser = true
  clearTimeout(conn.timer)
  conn.state = 'closed'
  conn.socket?.close(1000, 'closed by the client')
  if (!conn.socket) {
    conn.events.emit('close', { code: 1000, reason: 'closed by the client', willReconnect: false })
  }
}
