import type { ChatMetrics } from '../protocol.js'
import { type ChatFraming, problemText, SSE_HEADERS } from './framing.js'

// The AI SDK's UI message stream, the protocol `useChat` reads (docs/decisions.md, "The AI SDK's
// UI message stream"): one `data: <json>` event per chunk, `data: [DONE]` at the end. Written
// here, not with the `ai` package: the plugin must not depend on it (ai@7 needs Node 22), and
// only the subset every client from ai@5.0.7 on accepts is sent. Strict clients fail the whole
// stream on an unknown field, every client on an unknown chunk type, so nothing else is added:
// no providerMetadata, no title, and our own data goes in `data-ollama-*` parts.

/** The headers `createUIMessageStreamResponse` sets; `Connection` is left to the server (HTTP/2 forbids it). */
export const UI_STREAM_HEADERS: Readonly<Record<string, string>> = {
  ...SSE_HEADERS,
  'x-vercel-ai-ui-message-stream': 'v1',
}

/** The AI SDK's finish reasons; any other string fails the client's validation. */
export type UiFinishReason = 'stop' | 'length' | 'content-filter' | 'tool-calls' | 'error' | 'other'

/** What `finish.messageMetadata` carries: the app reads it as `message.metadata.metrics`. */
export interface UiMessageMetadata {
  metrics: ChatMetrics
}

const START_STEP = 'data: {"type":"start-step"}\n\n'
const FINISH_STEP = 'data: {"type":"finish-step"}\n\n'
const DONE = 'data: [DONE]\n\n'

function chunk(value: Record<string, unknown>): string {
  return `data: ${JSON.stringify(value)}\n\n`
}

/**
 * A UI message stream for one response. `messageId` is the assistant message it continues (the
 * re-POST after a client-side tool's output): `start` carries it, so the reply lands in that same
 * message. Text and reasoning parts open on their first piece and close when another kind comes;
 * a tool call closes the step's open part and ends with `tool-input-available`, which is where
 * the browser runs the tool (`onToolCall`); the response then finishes with `tool-calls`.
 */
export function createUiStreamFraming(messageId?: string): ChatFraming {
  let openKind: 'text' | 'reasoning' | null = null
  let openId = ''
  let parts = 0
  let calls = 0

  function close(): string {
    if (!openKind) return ''
    const end = `data: {"type":"${openKind}-end","id":"${openId}"}\n\n`
    openKind = null
    return end
  }

  function piece(kind: 'text' | 'reasoning', delta: string): string {
    let out = ''
    if (openKind !== kind) {
      out = close()
      openKind = kind
      openId = `${kind}-${parts++}`
      out += `data: {"type":"${kind}-start","id":"${openId}"}\n\n`
    }
    return `${out}data: {"type":"${kind}-delta","id":"${openId}","delta":${JSON.stringify(delta)}}\n\n`
  }

  return {
    headers: UI_STREAM_HEADERS,
    open: () => chunk(messageId ? { type: 'start', messageId } : { type: 'start' }) + START_STEP,
    waiting: (waiting) => chunk({ type: 'data-ollama-waiting', data: waiting, transient: true }),
    part(part) {
      switch (part.type) {
        case 'text':
          return piece('text', part.text)
        case 'reasoning':
          return piece('reasoning', part.text)
        case 'tool-call': {
          calls++
          const toolCallId = part.call.id || toolCallIdFor()
          const toolName = part.call.name
          return (
            close() +
            chunk({ type: 'tool-input-start', toolCallId, toolName }) +
            chunk({
              type: 'tool-input-available',
              toolCallId,
              toolName,
              input: part.call.arguments,
            })
          )
        }
        case 'finish':
          return ''
      }
    },
    done(metrics) {
      const finishReason = calls > 0 ? 'tool-calls' : finishReasonOf(metrics.doneReason)
      const messageMetadata: UiMessageMetadata = { metrics }
      return `${close()}${FINISH_STEP}${chunk({ type: 'finish', finishReason, messageMetadata })}${DONE}`
    },
    error(problem) {
      // Still `finish` and `[DONE]` after the error, so other readers see a clean end; the
      // browser stops at the error and shows its text as `error.message`.
      const errorText = problemText(problem)
      return `${close()}${chunk({ type: 'error', errorText })}${FINISH_STEP}${chunk({ type: 'finish', finishReason: 'error' })}${DONE}`
    },
  }
}

/** Ollama's `done_reason` (or a provider's, already in Ollama's words) as the AI SDK's. */
export function finishReasonOf(doneReason: string | undefined): UiFinishReason {
  if (doneReason === undefined || doneReason === 'stop') return 'stop'
  if (doneReason === 'length') return 'length'
  if (doneReason === 'content_filter') return 'content-filter'
  return 'other'
}

/** Ollama before 0.12.10 sends calls without an id: one in its own form (`call_` + 8 characters). */
function toolCallIdFor(): string {
  let id = 'call_'
  for (let i = 0; i < 8; i++)
    id += '0123456789abcdefghijklmnopqrstuvwxyz'[Math.floor(Math.random() * 36)]
  return id
}
