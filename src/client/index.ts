// The browser side of vite-plugin-ollama, served as `virtual:ollama`:
//
//   import { chat, chatStream, chatParts, chatUrl, connect, status } from 'virtual:ollama'
//
// No dependencies and no Node imports: it runs in any browser (and in Node >= 20 with a global
// WebSocket). Vite serves these files as they are, so none of them may import Node code or npm
// packages. Types for apps: `vite-plugin-ollama/client` (client.d.ts), which `npm run build`
// generates from this file's declarations (scripts/client-dts.ts; a test keeps it in step).
//
// types.ts holds the wire shapes, http.ts the routes over fetch (sse.ts reads their streams),
// socket.ts the WebSocket session; this file binds them to a configuration.
import { chatPartsWith, chatStreamWith, chatWith, pullWith, statusWith } from './http.js'
import { connectWith } from './socket.js'
import type {
  ChatInput,
  ChatOptions,
  ChatPart,
  ChatPartsOptions,
  ChatResult,
  ChatSocket,
  ChatStreamOptions,
  ClientConfig,
  ConnectOptions,
  PullProgress,
  StateSnapshot,
} from './types.js'

export { OllamaRouteError } from './http.js'
export type {
  ChatId,
  ChatInput,
  ChatMessage,
  ChatMetrics,
  ChatOptions,
  ChatPart,
  ChatPartsOptions,
  ChatReply,
  ChatResult,
  ChatRole,
  ChatSocket,
  ChatStreamOptions,
  ChatTool,
  ChatToolCall,
  ClientConfig,
  ClientFrame,
  ConnectOptions,
  ContextWarning,
  ModelWaiting,
  PullProgress,
  ServerFrame,
  SocketEvents,
  StateSnapshot,
  ToolCallEvent,
} from './types.js'

export interface OllamaBrowserClient {
  /** One complete reply. `input` is a prompt or a messages array. */
  chat(input: ChatInput, opts?: ChatOptions): Promise<ChatResult>
  /** The reply's text as it streams (Server-Sent Events). */
  chatStream(input: ChatInput, opts?: ChatStreamOptions): AsyncIterable<string>
  /** The reply as it streams, part by part: text, reasoning, tool calls, waiting. */
  chatParts(input: ChatInput, opts?: ChatPartsOptions): AsyncIterable<ChatPart>
  /** `POST /chat`'s URL, for the AI SDK: `new DefaultChatTransport({ api: chatUrl })`. */
  readonly chatUrl: string
  /** A WebSocket chat session with history, rooms and automatic reconnect. */
  connect(opts?: ConnectOptions): ChatSocket
  /** The plugin's state snapshot. */
  status(opts?: { signal?: AbortSignal }): Promise<StateSnapshot>
  /**
   * Pulls a model through the plugin, yielding progress. Aborting `signal` (or leaving the loop)
   * cancels the download when nobody else waits for it; see `pull` below.
   */
  pull(model: string, opts?: { signal?: AbortSignal }): AsyncIterable<PullProgress>
}

/** A client bound to its own settings (several dev servers, or an absolute URL). */
export function createOllamaClient(config: ClientConfig = {}): OllamaBrowserClient {
  const settings = { ...config }
  return {
    chat: (input, opts) => chatWith(settings, input, opts),
    chatStream: (input, opts) => chatStreamWith(settings, input, opts),
    chatParts: (input, opts) => chatPartsWith(settings, input, opts),
    chatUrl: chatUrlOf(settings),
    connect: (opts) => connectWith(settings, opts),
    status: (opts) => statusWith(settings, opts?.signal),
    pull: (model, opts) => pullWith(settings, model, opts),
  }
}

// `virtual:ollama` re-exports these, after the plugin called `configure` with its base and model.
const shared: ClientConfig = { base: '/__ollama' }

function chatUrlOf(config: ClientConfig): string {
  return `${(config.base ?? '/__ollama').replace(/\/+$/, '')}/chat`
}

/**
 * `POST /chat`'s URL under the configured base, to hand to the AI SDK's `useChat`:
 * `new DefaultChatTransport({ api: chatUrl })`. The route answers a `useChat` body with the AI
 * SDK's UI message stream, in development and from `createOllamaHandler` in production.
 */
// A live binding: `configure` (which the plugin calls before any app code runs) updates it.
export let chatUrl: string = chatUrlOf(shared)

/** Sets the base and default model of the functions below (the plugin does this for you). */
export function configure(config: ClientConfig): void {
  if (config.base !== undefined) {
    shared.base = config.base
    chatUrl = chatUrlOf(shared)
  }
  if (config.defaultModel !== undefined) shared.defaultModel = config.defaultModel
  if (config.production !== undefined) shared.production = config.production
  if (config.fetch !== undefined) shared.fetch = config.fetch
}

/** One complete reply (`POST /chat`, JSON). `input` is a prompt or a messages array. */
export function chat(input: ChatInput, opts?: ChatOptions): Promise<ChatResult> {
  return chatWith(shared, input, opts)
}

/** The reply's text as it streams (`POST /chat`, Server-Sent Events). */
export function chatStream(input: ChatInput, opts?: ChatStreamOptions): AsyncIterable<string> {
  return chatStreamWith(shared, input, opts)
}

/**
 * The reply as it streams, part by part (`POST /chat`, Server-Sent Events): `text`, `reasoning`
 * (thinking models), `tool-call` (a call to one of `opts.tools`: run it, then send its result in
 * a `tool` message), and `waiting` while the model still pulls or the engine starts.
 */
export function chatParts(input: ChatInput, opts?: ChatPartsOptions): AsyncIterable<ChatPart> {
  return chatPartsWith(shared, input, opts)
}

/** A WebSocket chat session with history, rooms and automatic reconnect (`WS /ws`). */
export function connect(opts?: ConnectOptions): ChatSocket {
  return connectWith(shared, opts)
}

/** The plugin's state snapshot (`GET /status`). */
export function status(opts?: { signal?: AbortSignal }): Promise<StateSnapshot> {
  return statusWith(shared, opts?.signal)
}

/**
 * Pulls a model through the plugin, yielding progress (`POST /pull`). Aborting `signal` (or
 * leaving the loop) lets go of the pull: a download this call started stops when nobody else
 * waits for it (another tab, the plugin's own `autoPull`), and Ollama keeps the bytes, so the next
 * `pull()` resumes. One that another caller started goes on without this one.
 */
export function pull(model: string, opts?: { signal?: AbortSignal }): AsyncIterable<PullProgress> {
  return pullWith(shared, model, opts)
}
