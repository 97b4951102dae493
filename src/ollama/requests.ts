// Request bodies of Ollama's native API (docs/decisions.md, "Ollama's JSON is loose in both
// directions"). Unknown fields are ignored by Ollama, so these list what the plugin and its users
// may send, not all Ollama accepts.
import type { ToolCall } from './schemas.js'

/** A number is seconds; a string is a Go duration ('5m', '1h'); negative keeps the model loaded. */
export type KeepAlive = string | number

export type ThinkLevel = boolean | 'low' | 'medium' | 'high' | 'max'

/** `'json'`, or a JSON Schema object the output must follow. */
export type ResponseFormat = 'json' | '' | Record<string, unknown>

export interface Message {
  role: 'system' | 'user' | 'assistant' | 'tool' | (string & {})
  content: string
  thinking?: string
  /** Base64-encoded images. */
  images?: string[]
  tool_calls?: ToolCall[]
  tool_name?: string
  tool_call_id?: string
}

export interface Tool {
  type: 'function'
  function: {
    name: string
    description?: string
    parameters?: Record<string, unknown>
  }
}

/** Model options such as temperature, num_ctx, num_predict, seed, stop. */
export type ModelOptions = Record<string, unknown>

export interface ChatRequest {
  model: string
  messages?: Message[]
  /** Absent means false here, as in ollama-js (Ollama itself defaults to true). */
  stream?: boolean
  format?: ResponseFormat
  keep_alive?: KeepAlive
  tools?: Tool[]
  options?: ModelOptions
  think?: ThinkLevel
  truncate?: boolean
  shift?: boolean
  logprobs?: boolean
  top_logprobs?: number
}

export interface GenerateRequest {
  model: string
  prompt?: string
  suffix?: string
  system?: string
  template?: string
  context?: number[]
  /** Absent means false here, as in ollama-js (Ollama itself defaults to true). */
  stream?: boolean
  raw?: boolean
  format?: ResponseFormat
  keep_alive?: KeepAlive
  /** Base64-encoded images. */
  images?: string[]
  options?: ModelOptions
  think?: ThinkLevel
  truncate?: boolean
  shift?: boolean
  logprobs?: boolean
  top_logprobs?: number
}

export interface EmbedRequest {
  model: string
  input?: string | string[]
  truncate?: boolean
  dimensions?: number
  keep_alive?: KeepAlive
  options?: ModelOptions
}
