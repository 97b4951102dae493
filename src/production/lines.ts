// Line framing of a streamed response body (Ollama's NDJSON, OpenAI's Server-Sent Events), with
// Web streams only. Lines come out in batches, one per network chunk: a chunk often carries many
// tokens, and one await per batch instead of one per line keeps the handler's cost per token low.

/** The complete lines of a UTF-8 body, a batch per chunk received; the last line may lack `\n`. */
export async function* lineBatches(body: ReadableStream<Uint8Array>): AsyncGenerator<string[]> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let rest = ''
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      const text = rest + decoder.decode(value, { stream: true })
      const end = text.lastIndexOf('\n')
      if (end === -1) {
        rest = text
        continue
      }
      rest = text.slice(end + 1)
      yield text.slice(0, end).split('\n')
    }
    rest += decoder.decode()
    if (rest) yield [rest]
  } finally {
    // Leaving early (an error, a cap, the client gone) cancels the body: the upstream request closes.
    reader.cancel().catch(() => {})
  }
}
