// Types for the browser module of vite-plugin-ollama. Add them to your app with
//   /// <reference types="vite-plugin-ollama/client" />
// or `"types": ["vite/client", "vite-plugin-ollama/client"]` in tsconfig.json.
// They mirror src/client/index.ts (a test keeps the two in step).

declare module 'virtual:ollama' {
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
    /** Tokens generated. */
    tokens: number
    tokensPerSecond: number
    /** Request to first token, measured by the dev server. */
    ttftMs: number
    /** Request to last token, measured by the dev server. */
    totalMs: number
    promptTokens?: number
    loadMs?: number
    /** `stop`, `length`, … */
    doneReason?: string
  }

  export interface ChatResult {
    content: string
    metrics: ChatMetrics
  }

  export interface ChatOptions {
    /** Defaults to the plugin's `defaultModel`. */
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
    /** The routes' prefix (`'/__ollama'` behind Vite's `base`), or an absolute URL. */
    base?: string
    defaultModel?: string
  }

  /** A failed route call: the status (0 when the dev server could not be reached) and a hint. */
  export class OllamaRouteError extends Error {
    constructor(message: string, status: number, hint?: string)
    readonly status: number
    readonly hint?: string
  }

  export interface PullProgress {
    model: string
    status: string
    completed: number
    total: number
    percent: number
    bytesPerSecond: number
    etaSeconds: number | null
  }

  export type Phase =
    | 'detecting'
    | 'starting'
    | 'pulling'
    | 'ready'
    | 'unavailable'
    | 'error'
    | 'stopped'

  /** What happened, and what to do about it. */
  export interface Problem {
    message: string
    hint?: string
  }

  export interface ModelState {
    name: string
    status: 'missing' | 'pulling' | 'present' | 'loaded' | 'error'
    progress?: PullProgress
    /** Where it runs once loaded: "100% GPU", "100% CPU" or "48%/52% CPU/GPU". */
    processor?: string
    error?: Problem
    warning?: string
  }

  export interface StateSnapshot {
    phase: Phase
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
      gpus: {
        name: string
        vendor: 'nvidia' | 'amd' | 'intel' | 'apple' | 'other'
        vramBytes?: number
      }[]
      accelerator: 'cuda' | 'rocm' | 'metal' | 'vulkan' | 'cpu'
      budgetBytes?: number
      recommendation?: string
    } | null
    models: ModelState[]
    defaultModel?: string
    /** The `auto` resolution, step by step: each engine taken or passed over, and why. */
    resolution?: {
      engine: 'external' | 'docker' | 'native' | 'simulator'
      outcome: 'chosen' | 'skipped' | 'failed'
      reason: string
      hint?: string
    }[]
    error?: Problem
    /** Ollama still serves, but something is wrong (e.g. Docker unreachable: crashes are not recovered). */
    warning?: Problem
  }

  export type ChatId = string | number

  /** Frames from the chat socket. Room frames carry `room` and the originating `session`. */
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

  /** Frames to the chat socket. */
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
    /** The session id, once the server said it (at once when given in the options). */
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
    on<K extends keyof SocketEvents>(
      type: K,
      listener: (event: SocketEvents[K]) => void,
    ): () => void
    close(): void
  }

  export interface OllamaBrowserClient {
    chat(input: ChatInput, opts?: ChatOptions): Promise<ChatResult>
    chatStream(input: ChatInput, opts?: ChatStreamOptions): AsyncIterable<string>
    connect(opts?: ConnectOptions): ChatSocket
    status(opts?: { signal?: AbortSignal }): Promise<StateSnapshot>
    pull(model: string, opts?: { signal?: AbortSignal }): AsyncIterable<PullProgress>
  }

  /** A client bound to its own settings (several dev servers, or an absolute URL). */
  export function createOllamaClient(config?: ClientConfig): OllamaBrowserClient
  /** Sets the base and default model of the functions below (the plugin does this for you). */
  export function configure(config: ClientConfig): void
  /** One complete reply (`POST /chat`, JSON). `input` is a prompt or a messages array. */
  export function chat(input: ChatInput, opts?: ChatOptions): Promise<ChatResult>
  /** The reply as it streams (`POST /chat`, Server-Sent Events). */
  export function chatStream(input: ChatInput, opts?: ChatStreamOptions): AsyncIterable<string>
  /** A WebSocket chat session with history, rooms and automatic reconnect (`WS /ws`). */
  export function connect(opts?: ConnectOptions): ChatSocket
  /** The plugin's state snapshot (`GET /status`). */
  export function status(opts?: { signal?: AbortSignal }): Promise<StateSnapshot>
  /** Pulls a model through the plugin, yielding progress (`POST /pull`). */
  export function pull(model: string, opts?: { signal?: AbortSignal }): AsyncIterable<PullProgress>
}

declare module 'virtual:ollama/overlay' {}
