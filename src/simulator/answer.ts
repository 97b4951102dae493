// What the simulated model answers (docs/simulator.md): thinking first when on, then tool calls
// when the last user message names an offered tool, else JSON when a format is set, else text
// (quoting the tool results the conversation ends with, or the documented reply). `num_predict`
// counts thinking and answer together, as in Ollama.

import type { TokenPlan } from './generation.js'
import type { InstalledModel } from './registry.js'
import { type Format, structuredText } from './structured.js'
import { type ThinkLevel, thinkingText } from './thinking.js'
import { fillTokens, simulatedReply, tokenize } from './tokens.js'
import {
  plannedToolCalls,
  type SimToolCall,
  type ToolResult,
  type ToolSpec,
  toolCallTokens,
  toolResultReply,
} from './tools.js'

/** One message of the conversation, the same for the native and `/v1` APIs. */
export interface Turn {
  role: string
  content: string
  /** For a `tool` message: the tool's name, from `tool_name`/`name` or the matching call. */
  toolName?: string
}

export interface AnswerInput {
  model: InstalledModel
  /** The name the request used (it appears in the reply). */
  name: string
  turns: Turn[]
  /** The content of the last user message (generate: the prompt). */
  prompt: string
  tools: ToolSpec[]
  format: Format
  thinking: ThinkLevel | false
  /** `num_predict` / `max_tokens`: ≤ 0 or absent means no limit. */
  limit: unknown
  /**
   * `limit` only caps the reply, with no filler up to it: Anthropic clients must send
   * `max_tokens` and set it high, where a real model stops on its own (docs/simulator.md).
   */
  ceiling?: boolean
  stop: string[]
}

export function planAnswer(a: AnswerInput): TokenPlan {
  const thinking = a.thinking ? tokenize(thinkingText(a.model, a.name, a.prompt, a.thinking)) : []
  const limit = typeof a.limit === 'number' && a.limit > 0 ? Math.floor(a.limit) : undefined
  const none: SimToolCall[] = []
  // Thinking counts against num_predict: a small budget ends inside it (docs/simulator.md, "Thinking").
  if (limit !== undefined && thinking.length >= limit) {
    return {
      thinking: thinking.slice(0, limit),
      content: [],
      toolCalls: none,
      doneReason: 'length',
    }
  }
  // With a format, the answer is a second runner pass with its own num_predict (docs/simulator.md, "Structured output").
  const budget =
    limit === undefined ? undefined : a.format && thinking.length ? limit : limit - thinking.length

  const last = a.turns.at(-1)
  const calls =
    a.tools.length && last?.role === 'user' ? plannedToolCalls(a.tools, last.content) : []
  if (calls.length > 0) {
    const cost = calls.reduce((sum, call) => sum + toolCallTokens(call), 0)
    if (budget !== undefined && cost > budget) {
      return { thinking, content: [], toolCalls: none, doneReason: 'length' }
    }
    return { thinking, content: [], toolCalls: calls, doneReason: 'stop' }
  }

  const results = trailingToolResults(a.turns)
  let text: string
  let free = true
  if (a.format) {
    const source = results.length ? results.map((r) => r.content).join(' ') : a.prompt
    text = structuredText(a.format, source, simulatedReply(a.name, a.prompt))
    // The grammar ends the JSON: no filler after it.
    free = false
  } else if (results.length) {
    text = toolResultReply(results)
  } else {
    text = simulatedReply(a.name, a.prompt)
  }
  const cut = cutAtStop(text, a.stop)
  if (cut !== text) free = false
  const tokens = tokenize(cut)
  if (budget === undefined)
    return { thinking, content: tokens, toolCalls: none, doneReason: 'stop' }
  if (free && !a.ceiling) {
    const content = fillTokens(`${a.name}\n${a.prompt}`, tokens, budget)
    return { thinking, content, toolCalls: none, doneReason: 'length' }
  }
  if (tokens.length > budget) {
    return { thinking, content: tokens.slice(0, budget), toolCalls: none, doneReason: 'length' }
  }
  return { thinking, content: tokens, toolCalls: none, doneReason: 'stop' }
}

/** The tool results at the end of the conversation, in order. */
function trailingToolResults(turns: Turn[]): ToolResult[] {
  const results: ToolResult[] = []
  for (let i = turns.length - 1; i >= 0; i--) {
    const turn = turns[i]
    if (turn?.role !== 'tool') break
    results.unshift({ name: turn.toolName ?? '', content: turn.content })
  }
  return results
}

/**
 * The text up to the first stop sequence (`options.stop`, `/v1` `stop`): the runner stops there
 * and reports `done_reason: "stop"`, without the sequence (docs/simulator.md, "Stop sequences").
 */
export function cutAtStop(text: string, stop: string[]): string {
  let end = text.length
  for (const sequence of stop) {
    if (sequence === '') continue
    const at = text.indexOf(sequence)
    if (at >= 0 && at < end) end = at
  }
  return text.slice(0, end)
}
