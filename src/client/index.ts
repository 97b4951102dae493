// The browser side of vite-plugin-ollama, served as `virtual:ollama`:
//
//   import { chat, chatStream, connect, status } from 'virtual:ollama'
//
// No dependencies and no Node imports: it runs in any browser (and in Node >= 20 with a global
// WebSocket). The wire shapes are copied from the server on purpose: this file must not import
// Node code. Types for apps: `vite-plugin-ollama/client` (client.d.ts).

export type ChatRole = 'system' | 'user' | 'assistant' | 'tool'

export interface ChatMessage {
  role: ChatRole
  content: string
  /** Base64 images, for vision models. */
  images?: string[]
}

/** A prompt (one user message) or a whole conversation. */
export type ChatInput = string | ChatMessage[]

export interface ChatMetrics {
  model: string
  tokens: number
  tokensPerSecond: number
  ttftMs: number
  totalMs: number
  promptTokens?: number
  loadMs?: number
  doneReason?: string
}

export interface ChatResult {
  content: string
  metrics: ChatMetrics
}

export interface ChatOptions {
  /** Defaults to the configured `defaultModel`, then to the plugin's. */
  model?: string
  /** Ollama model options: `temperature`, `num_predict`, `num_ctx`… */
  options?: Record<string, unknown>
  /** A system prompt put before the messages. */
  system?: string
  signal?: AbortSignal
}

export interface ChatStreamOptions extends ChatOptions {
  /** Called once with the metrics when the reply is complete. */
  onDone?: (metrics: ChatMetrics) => void
}

export interface ClientConfig {
  /** The routes' prefix: `'/__ollama'` behind Vite's `base`, or an absolute URL. */
  base?: string
  defaultModel?: string
}

/** A failed route call: the route's status (0 when the dev server could not be reached) and hint. */
export class OllamaRouteError extends Error {
  override name = 'OllamaRouteError'
  constructor(
    message: string,
    readonly status: number,
    readonly hint?: string,
  ) {
    super(message)
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP: chat (JSON), chatStream (SSE), status

function resolveUrl(base: string, path: string): string {
  const full = base.replace(/\/+$/, '') + path
  if (/^[a-z][a-z0-9+.-]*:/i.test(full)) return full
  const here = (globalThis as { location?: { href: string } }).location?.href
  if (!here)
    throw new Error(
      `vite-plugin-ollama: base "${base}" is relative and there is no page URL; configure({ base }) with an absolute URL`,
    )
  return new URL(full, here).href
}

function chatBody(config: ClientConfig, input: ChatInput, opts: ChatOptions): string {
  const model = opts.model ?? config.defaultModel
  return JSON.stringify({
    ...(typeof input === 'string' ? { prompt: input } : { messages: input }),
    ...(model ? { model } : {}),
    ...(opts.options ? { options: opts.options } : {}),
    ...(opts.system !== undefined ? { system: opts.system } : {}),
  })
}

async function routeError(response: Response): Promise<OllamaRouteError> {
  let message = `${response.status} ${response.statusText}`
  let hint: string | undefined
  try {
    const body = (await response.json()) as { error?: unknown; hint?: unknown }
    if (typeof body.error === 'string') message = body.error
    else if (typeof (body.error as { message?: unknown })?.message === 'string')
      message = (body.error as { message: string }).message
    if (typeof body.hint === 'string') hint = body.hint
  } catch {
    // Not JSON: the status line says enough.
  }
  return new OllamaRouteError(message, response.status, hint)
}

async function post(
  config: ClientConfig,
  path: string,
  body: string,
  accept: string,
  signal?: AbortSignal,
): Promise<Response> {
  let response: Response
  try {
    response = await fetch(resolveUrl(config.base ?? '/__ollama', path), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: accept },
      body,
      ...(signal ? { signal } : {}),
    })
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err
    throw new OllamaRouteError(
      `The dev server did not answer: ${(err as Error).message}`,
      0,
      'Is `vite` still running?',
    )
  }
  if (!response.ok) throw await routeError(response)
  return response
}

/** One complete reply: `{ content, metrics }`. */
async function chatWith(
  config: ClientConfig,
  input: ChatInput,
  opts: ChatOptions = {},
): Promise<ChatResult> {
  const response = await post(
    config,
    '/chat',
    chatBody(config, input, opts),
    'application/json',
    opts.signal,
  )
  return (await response.json()) as ChatResult
}

interface SseEvent {
  event: string
  data: string
}

/** Server-Sent Events from a fetch body (the EventSource parsing rules, minus `id`/`retry`). */
async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  let event = ''
  let data: string[] = []
  let finished = false
  try {
    while (true) {
      const { value, done } = await reader.read()
      if (done) break
      buffer += decoder.decode(value, { stream: true })
      let start = 0
      while (true) {
        const end = nextLineEnd(buffer, start)
        if (end === -1) break
        const line = buffer.slice(start, end)
        start = end + (buffer.charCodeAt(end) === 13 && buffer.charCodeAt(end + 1) === 10 ? 2 : 1)
        if (line === '') {
          if (data.length) yield { event: event || 'message', data: data.join('\n') }
          event = ''
          data = []
          continue
        }
        if (line.charCodeAt(0) === 58 /* : comment */) continue
        const colon = line.indexOf(':')
        const field = colon === -1 ? line : line.slice(0, colon)
        let value = colon === -1 ? '' : line.slice(colon + 1)
        if (value.charCodeAt(0) === 32) value = value.slice(1)
        if (field === 'event') event = value
        else if (field === 'data') data.push(value)
      }
      buffer = buffer.slice(start)
    }
    finished = true
  } finally {
    // Leaving early (break, an error event, abort) cancels the body: the server sees the
    // disconnect and stops the model.
    if (!finished) reader.cancel().catch(() => {})
    reader.releaseLock()
  }
}

function nextLineEnd(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 10) return i
    // A lone '\r' at the very end may be half of '\r\n': wait for more.
    if (c === 13) return i + 1 < text.length ? i : -1
  }
  return -1
}

/**
 * The reply as it is generated, piece by piece. Stop early with `break` or `signal`; both close
 * the request, so the model stops too.
 */
async function* chatStreamWith(
  config: ClientConfig,
  input: ChatInput,
  opts: ChatStreamOptions = {},
): AsyncGenerator<string, void, undefined> {
  const response = await post(
    config,
    '/chat',
    chatBody(config, input, opts),
    'text/event-stream',
    opts.signal,
  )
  if (!response.body) throw new OllamaRouteError('The chat answer has no body', response.status)
  for await (const { event, data } of readSse(response.body)) {
    if (event === 'token') {
      yield (JSON.parse(data) as { content: string }).content
    } else if (event === 'done') {
      opts.onDone?.((JSON.parse(data) as { metrics: ChatMetrics }).metrics)
      return
    } else if (event === 'error') {
      const { message, hint } = JSON.parse(data) as { message: string; hint?: string }
      throw new OllamaRouteError(message, 200, hint)
    }
  }
  throw new OllamaRouteError(
    'The chat stream ended without a done event',
    200,
    'The dev server may have restarted: retry.',
  )
}

/** The plugin's state: phase, engine, GPU, models (what the overlay shows). */
async function statusWith(config: ClientConfig, signal?: AbortSignal): Promise<StateSnapshot> {
  const response = await fetch(
    resolveUrl(config.base ?? '/__ollama', '/status'),
    signal ? { signal } : {},
  )
  if (!response.ok) throw await routeError(response)
  return (await response.json()) as StateSnapshot
}

/** `{ model }` pull through the plugin (progress also shows in the overlay). */
async function* pullWith(
  config: ClientConfig,
  model: string,
  opts: { signal?: AbortSignal } = {},
): AsyncGenerator<PullProgress, void, undefined> {
  const response = await post(
    config,
    '/pull',
    JSON.stringify({ model }),
    'text/event-stream',
    opts.signal,
  )
  if (!response.body) throw new OllamaRouteError('The pull answer has no body', response.status)
  for await (const { event, data } of readSse(response.body)) {
    if (event === 'progress') yield JSON.parse(data) as PullProgress
    else if (event === 'done') return
    else if (event === 'error') {
      const { message, hint } = JSON.parse(data) as { message: string; hint?: string }
      throw new OllamaRouteError(message, 200, hint)
    }
  }
  throw new OllamaRouteError('The pull stream ended without a done event', 200)
}

// ---------------------------------------------------------------------------------------------
// WebSocket: sessions, rooms, reconnect

/** Frames from the server. Room frames carry `room` and the originating `session`. */
export type ServerFrame =
  | { type: 'ready'; session: string; rooms: string[] }
  | { type: 'start'; id: ChatId; session: string; room?: string; model: string; content: string }
  | { type: 'token'; id: ChatId; session: string; room?: string; content: string }
  | { type: 'done'; id: ChatId; session: string; room?: string; metrics: ChatMetrics }
  | {
      type: 'error'
      id?: ChatId
      session?: string
      room?: string
      message: string
      hint?: string
      code?: string
    }
  | { type: 'joined'; room: string; members: number }
  | { type: 'left'; room: string }

export type ChatId = string | number

/** Frames to the server (`send` takes any of these). */
export type ClientFrame =
  | {
      type: 'chat'
      id: ChatId
      session?: string
      room?: string
      model?: string
      content: string
      options?: Record<string, unknown>
    }
  | {
      type: 'chat'
      id: ChatId
      session?: string
      room?: string
      model?: string
      messages: ChatMessage[]
      options?: Record<string, unknown>
    }
  | { type: 'cancel'; id: ChatId }
  | { type: 'join'; room: string }
  | { type: 'leave'; room: string }

type FrameOf<T extends ServerFrame['type']> = Extract<ServerFrame, { type: T }>

export interface SocketEvents {
  open: undefined
  close: { code: number; reason: string; willReconnect: boolean }
  ready: FrameOf<'ready'>
  start: FrameOf<'start'>
  token: FrameOf<'token'>
  done: FrameOf<'done'>
  error: FrameOf<'error'>
  joined: FrameOf<'joined'>
  left: FrameOf<'left'>
  message: ServerFrame
}

export interface ConnectOptions {
  /** Keep history across reconnects and tabs by naming the session; else the server picks one. */
  session?: string
  /** Join this room at once (every member receives the room's streams); `chat()` streams to it. */
  room?: string
  /** Model for `chat()` when it names none. */
  model?: string
  /** Reconnect with backoff when the connection drops. @default true */
  reconnect?: boolean
  /** @default 500 */
  minDelayMs?: number
  /** @default 10000 */
  maxDelayMs?: number
  onToken?: (frame: FrameOf<'token'>) => void
  onDone?: (frame: FrameOf<'done'>) => void
  onError?: (frame: FrameOf<'error'>) => void
  onStart?: (frame: FrameOf<'start'>) => void
  onMessage?: (frame: ServerFrame) => void
}

/** One chat over the socket: iterate it for the text, or await `result`. */
export interface ChatReply extends AsyncIterable<string> {
  readonly id: ChatId
  /** The whole reply with its metrics; rejects on error or cancel. */
  readonly result: Promise<ChatResult>
  cancel(): void
}

export interface ChatSocket {
  /** The session id, once the server said it (immediately when given in the options). */
  readonly session: string | undefined
  readonly state: 'connecting' | 'open' | 'closed'
  /** Sends `content` (added to the session's history) or a whole conversation. */
  chat(
    input: ChatInput,
    opts?: {
      id?: ChatId
      model?: string
      room?: string
      options?: Record<string, unknown>
      signal?: AbortSignal
    },
  ): ChatReply
  /** Sends a raw frame (queued while connecting). */
  send(frame: ClientFrame): void
  cancel(id: ChatId): void
  join(room: string): void
  leave(room: string): void
  on<K extends keyof SocketEvents>(type: K, listener: (event: SocketEvents[K]) => void): () => void
  close(): void
}

class TokenQueue implements AsyncIterator<string> {
  private items: string[] = []
  private waiting:
    | { resolve(r: IteratorResult<string>): void; reject(e: unknown): void }
    | undefined
  private ended = false
  private failure: unknown

  push(text: string): void {
    if (this.waiting) {
      const waiting = this.waiting
      this.waiting = undefined
      waiting.resolve({ value: text, done: false })
    } else this.items.push(text)
  }

  end(failure?: unknown): void {
    if (this.ended) return
    this.ended = true
    this.failure = failure
    const waiting = this.waiting
    this.waiting = undefined
    if (!waiting) return
    if (failure === undefined) waiting.resolve({ value: undefined, done: true })
    else waiting.reject(failure)
  }

  next(): Promise<IteratorResult<string>> {
    const item = this.items.shift()
    if (item !== undefined) return Promise.resolve({ value: item, done: false })
    if (this.ended) {
      if (this.failure === undefined) return Promise.resolve({ value: undefined, done: true })
      const failure = this.failure
      this.failure = undefined
      return Promise.reject(failure)
    }
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject }
    })
  }
}

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

function connectWith(config: ClientConfig, opts: ConnectOptions = {}): ChatSocket {
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

// ---------------------------------------------------------------------------------------------
// The public functions

export interface PullProgress {
  model: string
  status: string
  completed: number
  total: number
  percent: number
  bytesPerSecond: number
  etaSeconds: number | null
}

export interface StateSnapshot {
  phase: 'detecting' | 'starting' | 'pulling' | 'ready' | 'unavailable' | 'error' | 'stopped'
  engine: {
    kind: 'external' | 'docker' | 'native' | 'simulator'
    url: string
    version?: string
    simulated: boolean
    container?: { id: string; name: string; image: string }
    pid?: number
    reason?: string
    gpuInUse?: boolean
  } | null
  gpu: {
    gpus: { name: string; vendor: string; vramBytes?: number }[]
    accelerator: string
    budgetBytes?: number
    recommendation?: string
  } | null
  models: {
    name: string
    status: 'missing' | 'pulling' | 'present' | 'loaded' | 'error'
    progress?: PullProgress
    processor?: string
    error?: { message: string; hint?: string }
    warning?: string
  }[]
  defaultModel?: string
  error?: { message: string; hint?: string }
  /** Ollama still serves, but something is wrong (e.g. Docker unreachable: crashes are not recovered). */
  warning?: { message: string; hint?: string }
}

export interface OllamaBrowserClient {
  /** One complete reply. `input` is a prompt or a messages array. */
  chat(input: ChatInput, opts?: ChatOptions): Promise<ChatResult>
  /** The reply as it streams (Server-Sent Events). */
  chatStream(input: ChatInput, opts?: ChatStreamOptions): AsyncIterable<string>
  /** A WebSocket chat session with history, rooms and automatic reconnect. */
  connect(opts?: ConnectOptions): ChatSocket
  /** The plugin's state snapshot. */
  status(opts?: { signal?: AbortSignal }): Promise<StateSnapshot>
  /** Pulls a model through the plugin, yielding progress. */
  pull(model: string, opts?: { signal?: AbortSignal }): AsyncIterable<PullProgress>
}

/** A client bound to its own settings (several dev servers, or an absolute URL). */
export function createOllamaClient(config: ClientConfig = {}): OllamaBrowserClient {
  const settings = { ...config }
  return {
    chat: (input, opts) => chatWith(settings, input, opts),
    chatStream: (input, opts) => chatStreamWith(settings, input, opts),
    connect: (opts) => connectWith(settings, opts),
    status: (opts) => statusWith(settings, opts?.signal),
    pull: (model, opts) => pullWith(settings, model, opts),
  }
}

// `virtual:ollama` re-exports these, after the plugin called `configure` with its base and model.
const shared: ClientConfig = { base: '/__ollama' }

/** Sets the base and default model used by the functions below. */
export function configure(config: ClientConfig): void {
  if (config.base !== undefined) shared.base = config.base
  if (config.defaultModel !== undefined) shared.defaultModel = config.defaultModel
}

export function chat(input: ChatInput, opts?: ChatOptions): Promise<ChatResult> {
  return chatWith(shared, input, opts)
}

export function chatStream(input: ChatInput, opts?: ChatStreamOptions): AsyncIterable<string> {
  return chatStreamWith(shared, input, opts)
}

export function connect(opts?: ConnectOptions): ChatSocket {
  return connectWith(shared, opts)
}

export function status(opts?: { signal?: AbortSignal }): Promise<StateSnapshot> {
  return statusWith(shared, opts?.signal)
}

export function pull(model: string, opts?: { signal?: AbortSignal }): AsyncIterable<PullProgress> {
  return pullWith(shared, model, opts)
}
