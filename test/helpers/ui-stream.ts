// Reading our routes' AI SDK UI message stream the way `useChat` reads it: the SDK's own SSE
// parser and chunk schema (`ai@5`, a devDependency of the tests only), `readUIMessageStream` for
// the message it builds, and the ordering rules its client enforces (text-delta after text-start,
// ids forgotten at finish-step), checked on every chunk.
import {
  parseJsonEventStream,
  readUIMessageStream,
  type UIMessage,
  type UIMessageChunk,
  uiMessageChunkSchema,
} from 'ai'

/** The keys each chunk type may carry: what every client from ai@5.0.7 on accepts. */
const SAFE_KEYS: Record<string, string[]> = {
  start: ['messageId'],
  'start-step': [],
  'text-start': ['id'],
  'text-delta': ['id', 'delta'],
  'text-end': ['id'],
  'reasoning-start': ['id'],
  'reasoning-delta': ['id', 'delta'],
  'reasoning-end': ['id'],
  'tool-input-start': ['toolCallId', 'toolName'],
  'tool-input-delta': ['toolCallId', 'inputTextDelta'],
  'tool-input-available': ['toolCallId', 'toolName', 'input'],
  'finish-step': [],
  finish: ['finishReason', 'messageMetadata'],
  error: ['errorText'],
}

export interface UiStream {
  /** Every chunk, parsed and checked against the SDK's schema. */
  chunks: Record<string, unknown>[]
  /** The raw text of the body. */
  text: string
}

/** The body's chunks, each validated by the SDK's schema; throws on `[DONE]` missing or a bad chunk. */
export async function readUiChunks(response: Response): Promise<UiStream> {
  const text = await response.text()
  if (!text.endsWith('data: [DONE]\n\n'))
    throw new Error(`no [DONE] at the end: ${text.slice(-200)}`)
  const chunks: Record<string, unknown>[] = []
  const parsed = parseJsonEventStream({
    stream: new Response(text).body as ReadableStream<Uint8Array>,
    schema: uiMessageChunkSchema,
  })
  for await (const result of parsed as unknown as AsyncIterable<
    { success: true; value: UIMessageChunk } | { success: false; error: Error }
  >) {
    if (!result.success) throw result.error
    chunks.push(result.value as Record<string, unknown>)
  }
  return { chunks, text }
}

/** The ordering and key rules the SDK's client holds a stream to; the first one broken, or null. */
export function orderingProblem(chunks: Record<string, unknown>[]): string | null {
  const open = { text: new Set<string>(), reasoning: new Set<string>(), tool: new Set<string>() }
  let inStep = false
  let finished = false
  for (const [i, chunk] of chunks.entries()) {
    const type = chunk.type as string
    const where = `chunk ${i} (${type})`
    if (finished) return `${where} after finish`
    if (!type.startsWith('data-')) {
      const allowed = SAFE_KEYS[type]
      if (!allowed) return `${where}: not in the safe subset`
      const extra = Object.keys(chunk).filter((k) => k !== 'type' && !allowed.includes(k))
      if (extra.length) return `${where}: extra keys ${extra.join(', ')}`
    }
    const kind = type.split('-')[0] as 'text' | 'reasoning'
    if (type === 'start-step') {
      if (inStep) return `${where}: a step inside a step`
      inStep = true
    } else if (type === 'finish-step') {
      if (!inStep) return `${where}: no step open`
      inStep = false
      open.text.clear()
      open.reasoning.clear()
      open.tool.clear()
    } else if (type === 'text-start' || type === 'reasoning-start') {
      if (!inStep) return `${where}: outside a step`
      open[kind].add(chunk.id as string)
    } else if (/^(text|reasoning)-(delta|end)$/.test(type)) {
      if (!open[kind].has(chunk.id as string)) return `${where}: id ${chunk.id} was not started`
      if (type.endsWith('-end')) open[kind].delete(chunk.id as string)
    } else if (type === 'tool-input-start') {
      if (!inStep) return `${where}: outside a step`
      open.tool.add(chunk.toolCallId as string)
    } else if (type === 'tool-input-available' || type === 'tool-input-delta') {
      if (!open.tool.has(chunk.toolCallId as string)) return `${where}: tool call not started`
    } else if (type === 'finish') {
      if (inStep) return `${where}: the step is still open`
      finished = true
    }
  }
  if (!finished) return 'no finish chunk'
  return null
}

/** The assistant message `useChat` would build from these chunks (continuing `message`, if given). */
export async function uiMessageOf(
  chunks: Record<string, unknown>[],
  message?: UIMessage,
): Promise<UIMessage> {
  const stream = new ReadableStream<UIMessageChunk>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk as UIMessageChunk)
      controller.close()
    },
  })
  let last: UIMessage | undefined
  for await (const built of readUIMessageStream({
    stream,
    ...(message ? { message } : {}),
    terminateOnError: true,
  }))
    last = built
  if (!last) throw new Error('no message built')
  return last
}

/** A `useChat` request body as `DefaultChatTransport` sends it, plus the app's `body` extras. */
export function uiChatBody(
  messages: UIMessage[],
  extras: Record<string, unknown> = {},
): Record<string, unknown> {
  const last = messages[messages.length - 1]
  return {
    ...extras,
    id: 'chat-1',
    messages,
    trigger: 'submit-message',
    ...(last?.role === 'assistant' ? { messageId: last.id } : {}),
  }
}

let counter = 0

export function userMessage(text: string, extra: UIMessage['parts'] = []): UIMessage {
  counter++
  return { id: `u${counter}`, role: 'user', parts: [{ type: 'text', text }, ...extra] }
}
