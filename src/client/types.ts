// The types of the browser client: what `virtual:ollama` takes as options and hands back. The
// wire shapes come from src/protocol.ts (types only: erased, so no Node code reaches the browser).

import type {
  ChatId,
  ChatMessage,
  ChatMetrics,
  ChatResult,
  ChatTool,
  ClientFrame,
  ModelWaiting,
  PullProgressEvent,
  ServerFrame,
  StateSnapshot,
  ToolCallEvent,
} from '../protocol.js'

export type {
  ChatId,
  ChatMessage,
  ChatMetrics,
  ChatResult,
  ChatRole,
  ChatTool,
  ChatToolCall,
  ClientFrame,
  ContextWarning,
  ModelWaiting,
  ServerFrame,
  ToolCallEvent,
} from '../protocol.js'

/** A prompt (one user message) or a whole conversation. */
export type ChatInput = string | ChatMessage[]

export interface ChatOptions {
  /** Defaults to the configured `defaultModel`, then to the plugin's. */
  model?: string
  /** Ollama model options: `temperature`, `num_predict`, `num_ctx`… */
  options?: Record<string, unknown>
  /** A system prompt put before the messages. */
  system?: string
  /** Structured output: `'json'` or a JSON schema the reply must follow. */
  format?: 'json' | Record<string, unknown>
  /** Thinking models: `false` to skip the reasoning, or how hard to think. */
  think?: boolean | 'low' | 'medium' | 'high' | 'max'
  /** Functions the model may call; its calls come back in the result's `toolCalls`. */
  tools?: ChatTool[]
  signal?: AbortSignal
}

/**
 * One piece of a streamed reply, as `chatParts()` yields them: answer text, reasoning (thinking
 * models), a call to one of the chat's `tools`, or word that the chat waits for its model (still
 * pulling, or the engine starting).
 */
export type ChatPart =
  | { type: 'text'; text: string }
  | { type: 'reasoning'; text: string }
  | ({ type: 'tool-call' } & ToolCallEvent)
  | ({ type: 'waiting' } & ModelWaiting)

export interface ChatPartsOptions extends ChatOptions {
  /** Called once with the metrics when the reply is complete. */
  onDone?: (metrics: ChatMetrics) => void
}

export interface ChatStreamOptions extends ChatPartsOptions {
  /**
   * Called while the chat waits for its model (still pulling, or the engine starting), at most
   * about twice a second; the reply starts once the model is ready.
   */
  onWaiting?: (waiting: ModelWaiting) => void
}

export interface ClientConfig {
  /** The routes' prefix: `'/__ollama'` behind Vite's `base`, or an absolute URL. */
  base?: string
  defaultModel?: string
  /**
   * Set by the plugin in `vite build`: the routes are the app's own server's
   * (`createOllamaHandler`), which serves chat and status, not the dev server's WebSocket or pulls.
   */
  production?: boolean
  /**
   * How requests are sent; the global `fetch` when unset. Where there is no page to resolve a
   * relative `base` against (server code), the relative URL is handed to this function as it is:
   * the server-side `virtual:ollama` uses it to reach the dev server, or in production the app's
   * own `createOllamaHandler` in the same process.
   */
  fetch?: (url: string, init: RequestInit) => Promise<Response>
}

/** Pull progress of one model, as `pull()` yields it and the overlay shows it. */
export type PullProgress = PullProgressEvent

/** The plugin's state (`GET /status`): the server's own type, erased at build time. */
export type { StateSnapshot }

type FrameOf<T extends ServerFrame['type']> = Extract<ServerFrame, { type: T }>

export interface SocketEvents {
  open: undefined
  close: { code: number; reason: string; willReconnect: boolean }
  ready: FrameOf<'ready'>
  start: FrameOf<'start'>
  waiting: FrameOf<'waiting'>
  token: FrameOf<'token'>
  reasoning: FrameOf<'reasoning'>
  'tool-call': FrameOf<'tool-call'>
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
  /** A piece of a thinking model's reasoning. */
  onReasoning?: (frame: FrameOf<'reasoning'>) => void
  /** A call the model made to one of the chat's `tools`. */
  onToolCall?: (frame: FrameOf<'tool-call'>) => void
  onDone?: (frame: FrameOf<'done'>) => void
  onError?: (frame: FrameOf<'error'>) => void
  onStart?: (frame: FrameOf<'start'>) => void
  /** A chat waits for its model (still pulling, or the engine starting): its progress. */
  onWaiting?: (frame: FrameOf<'waiting'>) => void
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
      /** Functions the model may call: `tool-call` frames, and `toolCalls` in the result. */
      tools?: ChatTool[]
      /** Thinking models: `false` to skip the reasoning, or how hard to think. */
      think?: ChatOptions['think']
      /** Structured output: `'json'` or a JSON schema the reply must follow. */
      format?: ChatOptions['format']
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
