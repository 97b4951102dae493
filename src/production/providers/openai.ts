import type { Finish } from '../../chat/metrics.js'
import { toOpenAiMessages } from '../../chat/openai-messages.js'
import type { ChatPart } from '../../chat/parts.js'
import { lineBatches } from '../lines.js'
import { cappedTokens, type ProviderKind, UpstreamError } from './types.js'

// Any OpenAI-compatible chat-completions API (docs/decisions.md, "Providers"): OpenAI, Groq,
// OpenRouter, Together, vLLM, LM Studio, Docker Model Runner, Ollama's own /v1. Our payload is
// Ollama's native shape; this file translates it to `POST {baseURL}/chat/completions` and the
// Server-Sent Events back into parts.

/** Ollama `options` with an OpenAI name; the others (num_ctx, top_k…) have none and are dropped. */
const OPTION_NAMES: Record<string, string> = {
  temperature: 'temperature',
  top_p: 'top_p',
  seed: 'seed',
  stop: 'stop',
  presence_penalty: 'presence_penalty',
  frequency_penalty: 'frequency_penalty',
}

export const openaiKind: ProviderKind = {
  chatRequest(turn) {
    const body: Record<string, unknown> = {
      model: turn.model,
      messages: toOpenAiMessages(turn.messages),
      stream: true,
      stream_options: { include_usage: true },
    }
    const limit = cappedTokens(turn)
    if (limit) body.max_tokens = limit
    for (const [from, to] of Object.entries(OPTION_NAMES)) {
      if (turn.options?.[from] !== undefined) body[to] = turn.options[from]
    }
    if (turn.format === 'json') body.response_format = { type: 'json_object' }
    else if (turn.format)
      body.response_format = {
        type: 'json_schema',
        json_schema: { name: 'response', schema: turn.format },
      }
    // Ollama's own table, read backwards (docs/decisions.md, "Providers"): true is "medium".
    if (turn.think !== undefined)
      body.reasoning_effort =
        turn.think === true ? 'medium' : turn.think === false ? 'none' : turn.think
    if (turn.tools) body.tools = turn.tools
    return { path: '/chat/completions', body }
  },

  async *parts(body) {
    const calls: { id?: string; name: string; args: string }[] = []
    const finish: Finish = {}
    let ended = false
    for await (const lines of lineBatches(body)) {
      const parts: ChatPart[] = []
      for (const line of lines) {
        if (!line.startsWith('data:')) continue
        const data = line.slice(5).trim()
        if (data === '[DONE]') {
          ended = true
          break
        }
        const chunk = parseData(data)
        const error = chunk.error as { message?: unknown } | string | undefined
        if (error)
          throw new UpstreamError(
            typeof error === 'string' ? error : String(error.message ?? 'error'),
            200,
          )
        if (typeof chunk.model === 'string') finish.model = chunk.model
        const usage = chunk.usage as
          | { completion_tokens?: unknown; prompt_tokens?: unknown }
          | undefined
        if (typeof usage?.completion_tokens === 'number') finish.tokens = usage.completion_tokens
        if (typeof usage?.prompt_tokens === 'number') finish.promptTokens = usage.prompt_tokens
        const choice = (chunk.choices as Record<string, unknown>[] | undefined)?.[0]
        if (!choice) continue
        const delta = (choice.delta ?? {}) as Record<string, unknown>
        // Ollama and vLLM say `reasoning`, DeepSeek and others `reasoning_content`.
        const reasoning = delta.reasoning ?? delta.reasoning_content
        if (typeof reasoning === 'string' && reasoning)
          parts.push({ type: 'reasoning', text: reasoning })
        if (typeof delta.content === 'string' && delta.content)
          parts.push({ type: 'text', text: delta.content })
        for (const piece of (delta.tool_calls ?? []) as {
          index?: number
          id?: string
          function?: { name?: string; arguments?: string }
        }[]) {
          // Arguments may come in fragments across deltas, keyed by index.
          const at = piece.index ?? calls.length
          calls[at] ??= { name: '', args: '' }
          const call = calls[at]
          if (piece.id) call.id = piece.id
          if (piece.function?.name) call.name += piece.function.name
          if (piece.function?.arguments) call.args += piece.function.arguments
        }
        if (typeof choice.finish_reason === 'string')
          finish.doneReason = choice.finish_reason === 'tool_calls' ? 'stop' : choice.finish_reason
      }
      if (parts.length) yield parts
      if (ended) break
    }
    if (!ended && finish.doneReason === undefined)
      throw new UpstreamError('The chat provider ended the answer before it was complete', 200)
    const last: ChatPart[] = calls.filter(Boolean).map((call) => ({
      type: 'tool-call',
      call: {
        ...(call.id ? { id: call.id } : {}),
        name: call.name,
        arguments: parseArguments(call),
      },
    }))
    last.push({ type: 'finish', finish })
    yield last
  },

  errorMessage(text) {
    try {
      const body = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown }
      if (typeof body.error === 'string') return body.error
      if (typeof body.error?.message === 'string') return body.error.message
      if (typeof body.message === 'string') return body.message
    } catch {
      // Not JSON: a proxy's page, say.
    }
    return text.trim().slice(0, 200) || undefined
  },

  // `baseURL` already ends where `/v1` does (`https://api.openai.com/v1`, `…/openai/v1`).
  passthroughPath: (path) => (path.startsWith('/v1/') ? path.slice(3) : null),
}

function parseData(data: string): Record<string, unknown> {
  try {
    const value = JSON.parse(data) as unknown
    if (typeof value === 'object' && value !== null) return value as Record<string, unknown>
  } catch {
    // Reported below.
  }
  throw new UpstreamError(`The provider sent an event that is not JSON: ${data.slice(0, 120)}`, 200)
}

function parseArguments(call: { name: string; args: string }): Record<string, unknown> {
  try {
    const value = JSON.parse(call.args || '{}') as unknown
    if (typeof value === 'object' && value !== null && !Array.isArray(value))
      return value as Record<string, unknown>
  } catch {
    // Reported below.
  }
  throw new UpstreamError(
    `The provider returned invalid tool call arguments for "${call.name}"`,
    200,
  )
}
