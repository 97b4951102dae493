import { partsOfOllamaChunk } from '../../chat/ollama-parts.js'
import type { ChatPart } from '../../chat/parts.js'
import { lineBatches } from '../lines.js'
import { cappedTokens, type ProviderKind, UpstreamError } from './types.js'

// Any Ollama host over its native API (docs/decisions.md, "Providers"): a self-hosted Ollama
// beside the server, a team GPU box, Ollama Cloud (`https://ollama.com` with a Bearer key). The
// payload is already Ollama's shape; only a token limit the app asked for is held to the cap.

export const ollamaKind: ProviderKind = {
  chatRequest(turn) {
    const numPredict = cappedTokens(turn)
    return {
      path: '/api/chat',
      body: {
        model: turn.model,
        messages: turn.messages,
        stream: true,
        ...(turn.options || numPredict
          ? { options: { ...turn.options, ...(numPredict ? { num_predict: numPredict } : {}) } }
          : {}),
        ...(turn.format !== undefined ? { format: turn.format } : {}),
        ...(turn.think !== undefined ? { think: turn.think } : {}),
        ...(turn.tools ? { tools: turn.tools } : {}),
      },
    }
  },

  async *parts(body) {
    for await (const lines of lineBatches(body)) {
      const parts: ChatPart[] = []
      for (const line of lines) {
        if (!line.trim()) continue
        const chunk = parseLine(line)
        if (typeof chunk.error === 'string') throw new UpstreamError(chunk.error, 200)
        parts.push(...partsOfOllamaChunk(chunk))
      }
      if (parts.length) yield parts
    }
  },

  errorMessage(text) {
    try {
      const body = JSON.parse(text) as { error?: unknown }
      return typeof body.error === 'string' ? body.error : undefined
    } catch {
      return text.trim().slice(0, 200) || undefined
    }
  },

  passthroughPath: (path) => path,
}

function parseLine(line: string): Record<string, unknown> {
  try {
    const value = JSON.parse(line) as unknown
    if (typeof value === 'object' && value !== null) return value as Record<string, unknown>
  } catch {
    // Reported below.
  }
  throw new UpstreamError(`Ollama sent a line that is not JSON: ${line.slice(0, 120)}`, 200)
}
