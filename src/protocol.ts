// The shapes that cross the wire, written once for both sides: the routes and the orchestrator
// send them, the browser client (src/client, type imports only, so no Node code reaches the
// browser) receives them, and client.d.ts is generated from the built client.

// The engine kinds are the engine registry's keys (src/engines/index.ts): a type import, erased.
import type { EngineName } from './engines/index.js'

export type { EngineName }

export type Phase =
  | 'detecting'
  | 'starting'
  | 'pulling'
  | 'ready'
  | 'unavailable'
  | 'error'
  | 'stopped'

export type ModelStatus = 'missing' | 'pulling' | 'present' | 'loaded' | 'error'

export type Accelerator = 'cuda' | 'rocm' | 'metal' | 'vulkan' | 'cpu'

/**
 * What the overlay offers to do about a problem: `restart-engine` is a Restart button that sends
 * `POST ${base}/engine/restart` (the GPU watchdog's action).
 */
export type ProblemAction = 'restart-engine'

/** An error as users see it: what happened, and what to do about it (src/problem.ts). */
export interface Problem {
  message: string
  hint?: string
  action?: ProblemAction
}

/** One step of the `auto` resolution: taken or passed over, and why. */
export interface ResolutionStep {
  engine: EngineName
  outcome: 'chosen' | 'skipped' | 'failed'
  reason: string
  hint?: string
}

export interface EngineInfo {
  kind: EngineName
  url: string
  version?: string
  simulated: boolean
  container?: { id: string; name: string; image: string }
  pid?: number
  /** Why this engine, in one line ("an Ollama already answers at http://127.0.0.1:11434"). */
  reason?: string
  /** Whether Ollama reports using the GPU (from the container's `inference compute` log line). */
  gpuInUse?: boolean
  /**
   * The plugin gave the engine it started a GPU: a loaded model on the CPU (`size_vram` 0) then
   * means the GPU went missing (docs/decisions.md, "The GPU watchdog").
   */
  gpuPlanned?: boolean
  /** How it was obtained, in a word ("Docker", "Adopted"): its driver's name for the overlay. */
  label?: string
}

export interface GpuSummary {
  name: string
  vendor: 'nvidia' | 'amd' | 'intel' | 'apple' | 'other'
  vramBytes?: number
}

export interface ModelState {
  name: string
  status: ModelStatus
  progress?: PullProgressEvent
  /** Where it runs once loaded, e.g. "100% GPU" or "48% GPU / 52% CPU". */
  processor?: string
  error?: Problem
  warning?: string
}

export interface StateSnapshot {
  phase: Phase
  engine: EngineInfo | null
  gpu: {
    gpus: GpuSummary[]
    accelerator: Accelerator
    budgetBytes?: number
    recommendation?: string
  } | null
  models: ModelState[]
  defaultModel?: string
  /** The `auto` resolution, step by step. */
  resolution?: ResolutionStep[]
  error?: Problem
  /** Something is wrong while Ollama keeps serving (e.g. Docker unreachable: crashes not recovered). */
  warning?: Problem
  /** In production (`createOllamaHandler`): the provider that answers, by name and type. */
  provider?: { name: string; type: string }
  /** The last chat's prompt neared or passed its model's context window (cleared by one that fits). */
  contextWarning?: ContextWarning
  /** Chats waiting for a model that pulls or an engine that starts; absent when none waits. */
  waitingChats?: WaitingChats[]
}

/**
 * How many chats wait for `model` (as the chats named it) until it is ready: the overlay shows
 * it with the model's pull progress ("a chat is waiting for llama3.2 — 44%, about 12 s").
 */
export interface WaitingChats {
  model: string
  chats: number
}

/** `ollama:progress` payload: one figure per model, folded over all its layers. */
export interface PullProgressEvent {
  model: string
  status: string
  completed: number
  total: number
  percent: number
  bytesPerSecond: number
  etaSeconds: number | null
}

// Chat: `POST /chat`, the WebSocket and `virtual:ollama` speak these.

export type ChatRole = 'system' | 'user' | 'assistant' | 'tool'

/** A tool call as Ollama writes it in a message: the function's name and its arguments, parsed. */
export interface ChatToolCall {
  id?: string
  function: { name: string; arguments: Record<string, unknown> }
}

export interface ChatMessage {
  role: ChatRole
  content: string
  /** Base64 images, for vision models. */
  images?: string[]
  /** The model's reasoning, on an assistant message of a thinking model. */
  thinking?: string
  /** The calls an assistant message made. */
  tool_calls?: ChatToolCall[]
  /** On a `tool` message: the function whose result `content` is. */
  tool_name?: string
  tool_call_id?: string
}

/** A function the model may call, as Ollama and OpenAI take it. */
export interface ChatTool {
  type: 'function'
  function: { name: string; description?: string; parameters?: Record<string, unknown> }
}

/** One call the model made, as `tool-call` events carry it. */
export interface ToolCallEvent {
  id?: string
  name: string
  arguments: Record<string, unknown>
}

/** What `done` carries: the dev server's own timings plus Ollama's counts. */
export interface ChatMetrics {
  model: string
  /** Tokens generated (Ollama's `eval_count`, else the chunks counted). */
  tokens: number
  /** Generation speed: Ollama's `eval_count / eval_duration`, else measured by the dev server. */
  tokensPerSecond: number
  /**
   * From the request reaching the dev server (or its model ready, if it waited) to the first
   * token of any kind: reasoning, answer or a tool call.
   */
  ttftMs: number
  /** From the same start to the first reasoning token; only when the model reasoned. */
  firstReasoningMs?: number
  /** From the same start to the first answer token (text); only when there was text. */
  firstAnswerMs?: number
  /** From the request reaching the dev server (or its model ready, if it waited) to the last token. */
  totalMs: number
  promptTokens?: number
  /** Time Ollama spent loading the model, when it had to. */
  loadMs?: number
  /** `stop`, `length`, … */
  doneReason?: string
  /** The prompt filled 90 % or more of the model's context window, or did not fit at all. */
  contextWarning?: ContextWarning
}

/**
 * A chat whose prompt nears or passes the model's context window (`num_ctx`): Ollama cuts a
 * prompt that does not fit without an error. In the chat's `done` metrics, and in the state
 * snapshot for the overlay.
 */
export interface ContextWarning extends Problem {
  model: string
  /** The prompt in tokens: Ollama's `prompt_eval_count` or the estimate, whichever is larger. */
  promptTokens: number
  /** The context window the model ran with. */
  numCtx: number
  /** The most the model takes (`<arch>.context_length`), when known. */
  maxCtx?: number
  /** `over`: the prompt did not fit and its start was cut; `near`: it fills 90 % or more. */
  level: 'near' | 'over'
  hint: string
}

export interface ChatResult {
  content: string
  /** The model's reasoning, when it thought aloud. */
  reasoning?: string
  /** The calls the model made instead of (or before) answering. */
  toolCalls?: ToolCallEvent[]
  metrics: ChatMetrics
}

/**
 * A chat waiting for its model (`waiting` in `POST /chat`'s events and the WebSocket's frames):
 * `status` is the pull's stage (`pulling …`, `verifying sha256 digest`), `queued` before its
 * pull starts, or the engine's phase (`detecting`, `starting`) while no Ollama is up yet.
 */
export interface ModelWaiting {
  model: string
  status: string
  percent: number
  etaSeconds: number | null
}

/** The events of `POST /chat` as Server-Sent Events: name → data. */
export interface ChatSseEvents {
  /** The model is still pulling or the engine starting: the chat starts once it is ready. */
  waiting: ModelWaiting
  token: { content: string }
  /** A piece of the model's reasoning (thinking models). */
  reasoning: { content: string }
  'tool-call': ToolCallEvent
  done: { metrics: ChatMetrics }
  error: Problem
}

/**
 * `DELETE /pull?model=NAME`: the pull was stopped; `progress` says how far it got. Ollama keeps
 * those bytes, so the next pull of the model resumes from there.
 */
export interface PullCancelResult {
  model: string
  status: 'cancelled'
  progress: PullProgressEvent | null
}

/** The events of `POST /pull` as Server-Sent Events: name → data. */
export interface PullSseEvents {
  progress: PullProgressEvent
  done: { model: string; status: 'success'; progress: PullProgressEvent | null }
  error: Problem
}

// The WebSocket chat (`WS ${base}/ws`, `connect()` in the browser).

export type ChatId = string | number

/**
 * Why the server ended a chat or refused a frame, where it was not the model failing:
 * `cancelled` (the client's `cancel`), `disconnected` (a room's sender went away), `busy` (the
 * connection already runs `limits.chatsPerConnection` chats: retry when one ends), `limit`
 * (another bound of the `limits` option, named in the message).
 */
export type ChatErrorCode = 'cancelled' | 'disconnected' | 'busy' | 'limit'

/** Frames from the server. Room frames carry `room` and the originating `session`. */
export type ServerFrame =
  | { type: 'ready'; session: string; rooms: string[] }
  | { type: 'start'; id: ChatId; session: string; room?: string; model: string; content: string }
  | ({ type: 'waiting'; id: ChatId; session: string; room?: string } & ModelWaiting)
  | { type: 'token'; id: ChatId; session: string; room?: string; content: string }
  /** A piece of the model's reasoning (thinking models), before or between tokens. */
  | { type: 'reasoning'; id: ChatId; session: string; room?: string; content: string }
  /** A call the model made to one of the chat's `tools`; the app runs it and sends the result. */
  | { type: 'tool-call'; id: ChatId; session: string; room?: string; call: ToolCallEvent }
  | { type: 'done'; id: ChatId; session: string; room?: string; metrics: ChatMetrics }
  | {
      type: 'error'
      id?: ChatId
      session?: string
      room?: string
      message: string
      hint?: string
      code?: ChatErrorCode
    }
  | { type: 'joined'; room: string; members: number }
  | { type: 'left'; room: string }

/** A chat over the socket, before saying what is asked (`content` or `messages`). */
interface ChatFrameBase {
  type: 'chat'
  id: ChatId
  session?: string
  room?: string
  model?: string
  options?: Record<string, unknown>
  /** Functions the model may call; its calls come back as `tool-call` frames. */
  tools?: ChatTool[]
  /** Thinking models: `false` to skip the reasoning, or how hard to think. */
  think?: boolean | 'low' | 'medium' | 'high' | 'max'
  /** Structured output: `'json'` or a JSON schema the reply must follow. */
  format?: 'json' | Record<string, unknown>
}

/** Frames to the server: a chat sends `content` (added to the session's history) or `messages`. */
export type ClientFrame =
  | (ChatFrameBase & { content: string })
  | (ChatFrameBase & { messages: ChatMessage[] })
  | { type: 'cancel'; id: ChatId }
  | { type: 'join'; room: string }
  | { type: 'leave'; room: string }
