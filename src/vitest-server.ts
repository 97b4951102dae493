import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { ResolvedOptions } from './options.js'
import { createOllamaHandler } from './production/handler.js'
import { toNodeHandler } from './production/node.js'
import { type Simulator, startSimulator } from './simulator/index.js'

// Under Vitest, `virtual:ollama` answers with zero setup (docs/decisions.md, "virtual:ollama in
// every mode"): the simulator, with the app's models installed and no token delay, behind the
// production handler, on a loopback port for the run. Test files run in workers (and in browser
// mode on the Vitest server's origin), so the client gets this server's absolute URL, and the
// server answers any origin: it holds nothing but a deterministic simulator, and only for the run.

export interface VitestServer {
  /** The absolute route base the client is configured with. */
  base: string
  close(): Promise<void>
}

export async function startVitestServer(options: ResolvedOptions): Promise<VitestServer> {
  const simulator: Simulator = await startSimulator({ models: options.models })
  const handler = createOllamaHandler({
    models: options.models,
    ...(options.defaultModel ? { defaultModel: options.defaultModel } : {}),
    base: options.base,
    url: simulator.url,
    provider: 'ollama',
    maxBodySize: options.maxBodySize,
  })
  const serve = toNodeHandler(handler)
  const server: Server = createServer(function vitestOllamaServer(req, res) {
    if (answerCors(req, res)) return
    // Same-origin checks guard a developer's machine from other sites; this server guards nothing.
    delete req.headers.origin
    delete req.headers['sec-fetch-site']
    serve(req, res)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  // Never the reason a test run stays alive.
  server.unref()
  const { port } = server.address() as AddressInfo
  return {
    base: `http://127.0.0.1:${port}${handler.base}`,
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await simulator.close()
    },
  }
}

/** Browser-mode tests call from the Vitest server's origin: allow it, and answer preflights. */
function answerCors(req: IncomingMessage, res: ServerResponse): boolean {
  res.setHeader('Access-Control-Allow-Origin', '*')
  if (req.method !== 'OPTIONS') return false
  res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD, POST')
  res.setHeader(
    'Access-Control-Allow-Headers',
    req.headers['access-control-request-headers'] ?? '*',
  )
  res.statusCode = 204
  res.end()
  return true
}
