// Ollama's chat messages as OpenAI's chat-completions messages: written once for every place that
// speaks OpenAI on the app's behalf (the production `openai` provider, the Docker Model Runner
// engine). Web-standard only: the production handler imports it.

/** An Ollama chat message, as the routes and the Ollama client both write it. */
export interface OllamaStyleMessage {
  role: string
  content: string
  images?: string[]
  tool_calls?: { id?: string; function: { name: string; arguments: Record<string, unknown> } }[]
  tool_call_id?: string
}

/**
 * Base64 images become data-URL parts, an assistant's tool calls get ids (Ollama's may have none)
 * and JSON-string arguments, and each tool answer takes the id of the call it answers, in order.
 * The model's own reasoning on earlier turns is not sent: OpenAI takes no such field.
 */
export function toOpenAiMessages(messages: OllamaStyleMessage[]): Record<string, unknown>[] {
  const pendingCalls: string[] = []
  return messages.map((message, m) => {
    const out: Record<string, unknown> = { role: message.role, content: message.content }
    if (message.images?.length) {
      out.content = [
        ...(message.content ? [{ type: 'text', text: message.content }] : []),
        ...message.images.map((image) => ({
          type: 'image_url',
          image_url: { url: imageDataUrl(image) },
        })),
      ]
    }
    if (message.tool_calls?.length) {
      out.tool_calls = message.tool_calls.map((call, c) => {
        const id = call.id ?? `call_${m}_${c}`
        pendingCalls.push(id)
        return {
          id,
          type: 'function',
          function: {
            name: call.function.name,
            arguments: JSON.stringify(call.function.arguments),
          },
        }
      })
    }
    if (message.role === 'tool') {
      out.tool_call_id = message.tool_call_id ?? pendingCalls.shift() ?? `call_${m}`
    }
    return out
  })
}

/** A raw base64 image as a data URL, its type sniffed from the first bytes (JPEG by default). */
export function imageDataUrl(image: string): string {
  const data = image.trim()
  if (/^(data:|https?:)/.test(data)) return data
  const type = data.startsWith('iVBOR')
    ? 'image/png'
    : data.startsWith('R0lG')
      ? 'image/gif'
      : data.startsWith('UklGR')
        ? 'image/webp'
        : 'image/jpeg'
  return `data:${type};base64,${data}`
}
