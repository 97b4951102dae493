import { finishFromOllama } from './metrics.js'
import type { ChatPart } from './parts.js'

// One chunk of Ollama's native `/api/chat` stream as parts, for both sides that read it: the dev
// server (chunks already checked by the Ollama client) and the production handler's `ollama`
// provider (lines it parses itself). A chunk may carry reasoning, text and calls at once, and the
// final one (`done: true`) may still carry calls (Ollama's native path sends them all there).

interface OllamaChunk {
  message?: { content?: unknown; thinking?: unknown; tool_calls?: unknown } | undefined
  done?: unknown
  [key: string]: unknown
}

interface OllamaToolCall {
  id?: unknown
  function?: { name?: unknown; arguments?: unknown }
}

/** The parts of one chunk, in the order a reader shows them: reasoning, text, calls, finish. */
export function partsOfOllamaChunk(chunk: OllamaChunk): ChatPart[] {
  const parts: ChatPart[] = []
  const message = chunk.message
  if (typeof message?.thinking === 'string' && message.thinking)
    parts.push({ type: 'reasoning', text: message.thinking })
  if (typeof message?.content === 'string' && message.content)
    parts.push({ type: 'text', text: message.content })
  if (Array.isArray(message?.tool_calls)) {
    for (const call of message.tool_calls as OllamaToolCall[]) {
      const args = call.function?.arguments
      parts.push({
        type: 'tool-call',
        call: {
          ...(typeof call.id === 'string' && call.id ? { id: call.id } : {}),
          name: typeof call.function?.name === 'string' ? call.function.name : '',
          arguments:
            typeof args === 'object' && args !== null && !Array.isArray(args)
              ? (args as Record<string, unknown>)
              : {},
        },
      })
    }
  }
  if (chunk.done === true) parts.push({ type: 'finish', finish: finishFromOllama(chunk) ?? {} })
  return parts
}
