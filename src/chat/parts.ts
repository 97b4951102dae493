import type { ToolCallEvent } from '../protocol.js'
import type { Finish } from './metrics.js'

/**
 * A turn as it streams, whatever the model server: text, reasoning, a complete tool call, and the
 * finish with its counts. The production providers translate their wire formats into these, and
 * the framings (our SSE, JSON) are written from them once.
 */
export type ChatPart =
  | { type: 'text'; text: string }
  | { type: 'reasoning'; text: string }
  | { type: 'tool-call'; call: ToolCallEvent }
  | { type: 'finish'; finish: Finish }
