import type { ChatResult, ToolCallEvent } from '../protocol.js'
import type { ChatTiming, Finish } from './metrics.js'
import type { ChatPart } from './parts.js'

/**
 * What the parts of one turn add up to, and when each kind first came: the whole reply for
 * `chat()`'s JSON answer and the WebSocket's history, the timings for the metrics. Shared by the
 * dev server and the production handler, so both count the same way.
 */
export class TurnSummary {
  content = ''
  reasoning = ''
  toolCalls: ToolCallEvent[] = []
  finish: Finish | undefined
  /** `performance.now()` of the first part of any kind, of the first reasoning, of the first text; 0 until then. */
  firstTokenAt = 0
  firstReasoningAt = 0
  firstAnswerAt = 0
  /** Pieces of text and reasoning received (the token count when the server reports none). */
  chunks = 0

  add(part: ChatPart): void {
    if (part.type === 'finish') {
      this.finish = { ...this.finish, ...part.finish }
      return
    }
    const now = performance.now()
    if (!this.firstTokenAt) this.firstTokenAt = now
    if (part.type === 'text') {
      if (!this.firstAnswerAt) this.firstAnswerAt = now
      this.chunks++
      this.content += part.text
    } else if (part.type === 'reasoning') {
      if (!this.firstReasoningAt) this.firstReasoningAt = now
      this.chunks++
      this.reasoning += part.text
    } else this.toolCalls.push(part.call)
  }

  timing(started: number): ChatTiming {
    return {
      started,
      firstTokenAt: this.firstTokenAt,
      firstReasoningAt: this.firstReasoningAt,
      firstAnswerAt: this.firstAnswerAt,
      ended: performance.now(),
      chunks: this.chunks,
    }
  }

  /** The reply as `chat()` returns it, with the metrics computed from `timing`. */
  result(metrics: ChatResult['metrics']): ChatResult {
    return {
      content: this.content,
      ...(this.reasoning ? { reasoning: this.reasoning } : {}),
      ...(this.toolCalls.length ? { toolCalls: this.toolCalls } : {}),
      metrics,
    }
  }
}
