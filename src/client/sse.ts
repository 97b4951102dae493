// Server-Sent Events read from a fetch body: the chat and pull routes stream with them, and
// EventSource cannot POST a body.

export interface SseEvent {
  event: string
  data: string
}

/** Server-Sent Events from a fetch body (the EventSource parsing rules, minus `id`/`retry`). */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  let event = ''
  let data: string[] = []
  let finished = false
  try {
    while (true) {
      const { value, done } = await reader.read()
      if (done) break
      buffer += decoder.decode(value, { stream: true })
      let start = 0
      while (true) {
        const end = nextLineEnd(buffer, start)
        if (end === -1) break
        const line = buffer.slice(start, end)
        start = end + (buffer.charCodeAt(end) === 13 && buffer.charCodeAt(end + 1) === 10 ? 2 : 1)
        if (line === '') {
          if (data.length) yield { event: event || 'message', data: data.join('\n') }
          event = ''
          data = []
          continue
        }
        if (line.charCodeAt(0) === 58 /* : comment */) continue
        const colon = line.indexOf(':')
        const field = colon === -1 ? line : line.slice(0, colon)
        let value = colon === -1 ? '' : line.slice(colon + 1)
        if (value.charCodeAt(0) === 32) value = value.slice(1)
        if (field === 'event') event = value
        else if (field === 'data') data.push(value)
      }
      buffer = buffer.slice(start)
    }
    finished = true
  } finally {
    // Leaving early (break, an error event, abort) cancels the body: the server sees the
    // disconnect and stops the model.
    if (!finished) reader.cancel().catch(() => {})
    reader.releaseLock()
  }
}

function nextLineEnd(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 10) return i
    // A lone '\r' at the very end may be half of '\r\n': wait for more.
    if (c === 13) return i + 1 < text.length ? i : -1
  }
  return -1
}
