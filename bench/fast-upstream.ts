import { createServer } from 'node:http'

/**
 * An Ollama stand-in for the relay bench that does nothing but write: `/api/chat` answers with
 * `options.num_predict` NDJSON token lines, rendered once and written one line per chunk as fast
 * as the socket takes them, so what the bench measures is the relay, not the upstream. The
 * metadata routes answer just enough for the plugin to adopt it.
 */
const cache = new Map<number, Buffer[]>()

function lines(n: number): Buffer[] {
  let out = cache.get(n)
  if (out) return out
  out = []
  const created = new Date().toISOString()
  for (let i = 0; i < n; i++) {
    const content = i % 7 === 0 ? ' the' : i % 3 === 0 ? ' model' : ' token'
    out.push(
      Buffer.from(
        `${JSON.stringify({ model: 'llama3.2', created_at: created, message: { role: 'assistant', content }, done: false })}\n`,
      ),
    )
  }
  out.push(
    Buffer.from(
      `${JSON.stringify({ model: 'llama3.2', created_at: created, message: { role: 'assistant', content: '' }, done: true, done_reason: 'length', total_duration: 1, load_duration: 1, prompt_eval_count: 1, prompt_eval_duration: 1, eval_count: n, eval_duration: 1 })}\n`,
    ),
  )
  cache.set(n, out)
  return out
}

const json = (res: import('node:http').ServerResponse, body: unknown) => {
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' })
  res.end(JSON.stringify(body))
}

const server = createServer((req, res) => {
  let raw = ''
  req.setEncoding('utf8')
  req.on('data', (c) => {
    raw += c
  })
  req.on('end', () => {
    const url = req.url ?? '/'
    if (url === '/api/version') return json(res, { version: '0.12.3' })
    if (url === '/api/tags') {
      return json(res, {
        models: [
          {
            name: 'llama3.2:latest',
            model: 'llama3.2:latest',
            size: 2019393189,
            digest: 'a80c4f17acd5',
            modified_at: new Date().toISOString(),
            details: {},
          },
        ],
      })
    }
    if (url === '/api/ps') return json(res, { models: [] })
    if (url === '/api/show')
      return json(res, { modelfile: '', parameters: '', template: '', details: {}, model_info: {} })
    if (url === '/api/chat') {
      const body = JSON.parse(raw || '{}') as { options?: { num_predict?: number } }
      const all = lines(body.options?.num_predict ?? 100)
      res.writeHead(200, { 'content-type': 'application/x-ndjson' })
      // One write per token line, as Ollama flushes each token; Node coalesces them into
      // segments only as far as the socket is busy, which is what a fast upstream looks like.
      let i = 0
      const pump = () => {
        while (i < all.length) {
          if (!res.write(all[i++]!)) return void res.once('drain', pump)
        }
        res.end()
      }
      return pump()
    }
    res.writeHead(404, { 'content-type': 'text/plain' })
    res.end('404 page not found')
  })
})

server.listen(Number(process.env.PORT), '127.0.0.1')
process.on('SIGTERM', () => server.close(() => process.exit(0)))
