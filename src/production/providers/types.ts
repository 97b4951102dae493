import type { ChatPart } from '../../chat/parts.js'
import type { ChatMessage, ChatTool } from '../../protocol.js'

/** One chat turn as the handler hands it to a provider: the provider's own model name, checked payload. */
export interface ProviderTurn {
  model: string
  messages: ChatMessage[]
  options?: Record<string, unknown>
  format?: 'json' | Record<string, unknown>
  think?: boolean | 'low' | 'medium' | 'high' | 'max'
  tools?: ChatTool[]
  /** The most tokens the answer may take: the handler's `maxTokens`, which its stream also counts. */
  maxTokens: number
}

/**
 * The token limit to send: the app's own `num_predict`, held to `maxTokens`; none when the app set
 * none (the handler counts the stream and stops it at `maxTokens` whatever the provider does, and
 * a limit sent always would make some providers refuse the field or pad to it).
 */
export function cappedTokens(turn: ProviderTurn): number | undefined {
  const requested = turn.options?.num_predict
  return typeof requested === 'number' && requested > 0
    ? Math.min(requested, turn.maxTokens)
    : undefined
}

/** How one kind of model server is spoken to: the request it takes, and its stream read as parts. */
export interface ProviderKind {
  /** The chat request: path under `baseURL` and JSON body. */
  chatRequest(turn: ProviderTurn): { path: string; body: unknown }
  /** The streamed answer as batches of parts; throws `UpstreamError` on an error inside the stream. */
  parts(body: ReadableStream<Uint8Array>): AsyncIterable<ChatPart[]>
  /** The message of an error answer's body, whatever its shape. */
  errorMessage(bodyText: string): string | undefined
  /** The passthrough's target path for a raw `/api/*` or `/v1/*` path, or null when it has none. */
  passthroughPath(path: string): string | null
}

/** The model server answered with an error, before or inside the stream. */
export class UpstreamError extends Error {
  override name = 'UpstreamError'
  constructor(
    message: string,
    /** The upstream's HTTP status; 0 when it could not be reached, 200 for an error inside a stream. */
    readonly status: number,
  ) {
    super(message)
  }
}
