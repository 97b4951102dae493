// `connect()`: a WebSocket chat session with history, rooms and reconnect with backoff.
import { OllamaRouteError, resolveUrl } from './http.js'
import { TokenQueue } from './token-queue.js'
import type {
  ChatId,
  ChatResult,
  ChatSocket,
  ClientConfig,
  ClientFrame,
  ConnectOptions,
  ServerFrame,
  SocketEvents,
} from './types.js'

interface PendingChat {
  session: string | undefined
  queue: TokenQueue
  content: string
  resolve(result: ChatResult): void
  reject(error: unknown): void
}

let chatCounter = 0

function newChatId(): string {
  chatCounter++
  return `c${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}${chatCounter}`
}

export function connectWith(config: ClientConfig, opts: ConnectOptions = {}): ChatSocket {
  const listeners = new Map<string, Set<(event: never) => void>>()
  const pending = new Map<ChatId, PendingChat>()
  const rooms = new Set<string>(opts.room ? [opts.room] : [])
  const outbox: string[] = []
  let session = opts.session
  let socket: WebSocket | undefined
  let state: ChatSocket['state'] = 'connecting'
  let attempt = 0
  let closedByUser = false
  let timer: ReturnType<typeof setTimeout> | undefined

  function emit<K extends keyof SocketEvents>(type: K, event: SocketEvents[K]): void {
    for (const listener of listeners.get(type) ?? [])
      (listener as (e: SocketEvents[K]) => void)(event)
  }

  function socketUrl(): string {
    const url = new URL(resolveUrl(config.base ?? '/__ollama', '/ws'))
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
    if (session) url.searchParams.set('session', session)
    return url.href
  }

  function open(): void {
    state = 'connecting'
    const ws = new WebSocket(socketUrl())
    socket = ws
    ws.onopen = () => {
      attempt = 0
      state = 'open'
      for (const room of rooms) ws.send(JSON.stringify({ type: 'join', room }))
      for (const frame of outbox.splice(0)) ws.send(frame)
      emit('open', undefined)
    }
    ws.onmessage = (event: MessageEvent) => {
      if (typeof event.data !== 'string') return
      let frame: ServerFrame
      try {
        frame = JSON.parse(event.data) as ServerFrame
      } catch {
        return
      }
      onFrame(frame)
    }
    ws.onclose = (event: CloseEvent) => {
      if (socket !== ws) return
      socket = undefined
      // The server aborted every chat of this connection when it went.
      for (const [id, chat] of pending) {
        pending.delete(id)
        fail(
          chat,
          new OllamaRouteError(
            `The chat connection closed (${event.code}${event.reason ? `: ${event.reason}` : ''})`,
            0,
            'Send the message again.',
          ),
        )
      }
      const willReconnect = !closedByUser && opts.reconnect !== false
      state = willReconnect ? 'connecting' : 'closed'
      emit('close', { code: event.code, reason: event.reason, willReconnect })
      if (willReconnect) scheduleReconnect()
    }
  }

  function scheduleReconnect(): void {
    const min = opts.minDelayMs ?? 500
    const max = opts.maxDelayMs ?? 10_000
    const delay = Math.min(max, min * 2 ** attempt) * (0.75 + Math.random() * 0.5)
    attempt++
    timer = setTimeout(open, delay)
  }

  function onFrame(frame: ServerFrame): void {
    emit('message', frame)
    opts.onMessage?.(frame)
    switch (frame.type) {
      case 'ready':
        session = frame.session
        emit('ready', frame)
        return
      case 'start':
        opts.onStart?.(frame)
        emit('start', frame)
        return
      case 'token': {
        opts.onToken?.(frame)
        emit('token', frame)
        const chat = ownChat(frame.id, frame.session)
        if (chat) {
          chat.content += frame.content
          chat.queue.push(frame.content)
        }
        return
      }
      case 'done': {
        opts.onDone?.(frame)
        emit('done', frame)
        const chat = ownChat(frame.id, frame.session)
        if (chat) {
          pending.delete(frame.id)
          chat.queue.end()
          chat.resolve({ content: chat.content, metrics: frame.metrics })
        }
        return
      }
      case 'error': {
        opts.onError?.(frame)
        emit('error', frame)
        const chat = frame.id === undefined ? undefined : ownChat(frame.id, frame.session)
        if (chat && frame.id !== undefined) {
          pending.delete(frame.id)
          fail(chat, new OllamaRouteError(frame.message, 200, frame.hint))
        }
        return
      }
      case 'joined':
        emit('joined', frame)
        return
      case 'left':
        emit('left', frame)
        return
    }
  }

  function ownChat(id: ChatId, frameSession: string | undefined): PendingChat | undefined {
    const chat = pending.get(id)
    if (!chat) return undefined
    // In a room, another client's chat could reuse the id: the session tells them apart.
    if (chat.session && frameSession && chat.session !== frameSession) return undefined
    return chat
  }

  function fail(chat: PendingChat, error: unknown): void {
    chat.queue.end(error)
    chat.reject(error)
  }

  function sendText(text: string): void {
    if (socket && state === 'open') socket.send(text)
    else outbox.push(text)
  }

  function send(frame: ClientFrame): void {
    if (state === 'closed')
      throw new Error('vite-plugin-ollama: this chat socket is closed; call connect() again')
    sendText(JSON.stringify(frame))
  }

  const api: ChatSocket = {
    get session() {
      return session
    },
    get state() {
      return state
    },
    chat(input, chatOpts = {}) {
      const id = chatOpts.id ?? newChatId()
      const queue = new TokenQueue()
      let resolve!: (result: ChatResult) => void
      let reject!: (error: unknown) => void
      const result = new Promise<ChatResult>((res, rej) => {
        resolve = res
        reject = rej
      })
      // A caller that only iterates must not see an unhandled rejection on `result`.
      result.catch(() => {})
      const chat: PendingChat = { session, queue, content: '', resolve, reject }
      pending.set(id, chat)
      const model = chatOpts.model ?? opts.model ?? config.defaultModel
      // A socket opened with `room` chats in that room unless a chat names another.
      const room = chatOpts.room ?? opts.room
      const frame = {
        type: 'chat',
        id,
        ...(session ? { session } : {}),
        ...(room ? { room } : {}),
        ...(model ? { model } : {}),
        ...(typeof input === 'string' ? { content: input } : { messages: input }),
        ...(chatOpts.options ? { options: chatOpts.options } : {}),
      } as ClientFrame
      try {
        send(frame)
      } catch (err) {
        pending.delete(id)
        fail(chat, err)
      }
      chatOpts.signal?.addEventListener('abort', () => api.cancel(id), { once: true })
      return {
        id,
        result,
        cancel: () => api.cancel(id),
        [Symbol.asyncIterator]: () => queue,
      }
    },
    send,
    cancel(id) {
      if (state !== 'closed') sendText(JSON.stringify({ type: 'cancel', id }))
    },
    join(room) {
      rooms.add(room)
      if (state === 'open') sendText(JSON.stringify({ type: 'join', room }))
    },
    leave(room) {
      rooms.delete(room)
      if (state === 'open') sendText(JSON.stringify({ type: 'leave', room }))
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
    close() {
      closedByUser = true
      clearTimeout(timer)
      state = 'closed'
      socket?.close(1000, 'closed by the client')
      if (!socket)
        emit('close', { code: 1000, reason: 'closed by the client', willReconnect: false })
    },
  }
  open()
  return api
}
