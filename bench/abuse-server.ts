import ollama, { type OllamaPluginOptions } from '../src/index.js'
import { benchServer, waitReady } from './harness.js'

// The dev server under abuse, in a process of its own (bench/abuse.ts starts it with
// --expose-gc and a small old space), so the latency and heap figures are the server's alone and
// a heap exhaustion kills this process, not the bench. The plugin options come as JSON in argv[2].

/** What the bench sends: ask for `heapUsed` after a full collection. */
export type AbuseServerCommand = { type: 'heap' }

/** What this process sends: its URL once the plugin is ready, and heap answers. */
export type AbuseServerMessage =
  | { type: 'listening'; url: string }
  | { type: 'heap'; heapUsed: number }

const gc = (globalThis as { gc?: () => void }).gc
if (!gc) throw new Error('run with node --expose-gc (bench/abuse.ts does)')
const send = (message: AbuseServerMessage) => process.send?.(message)

const options = JSON.parse(process.argv[2] ?? '{}') as OllamaPluginOptions
const { url } = await benchServer({ server: { host: '127.0.0.1' }, plugins: [ollama(options)] })
await waitReady(url)

process.on('message', async (command: AbuseServerCommand) => {
  if (command.type !== 'heap') return
  // Two collections with a turn between them: the first one's finalizers and weak callbacks run
  // in that turn, and the second takes what they released.
  gc()
  await new Promise((resolve) => setImmediate(resolve))
  gc()
  send({ type: 'heap', heapUsed: process.memoryUsage().heapUsed })
})
// The bench went away (or stopped us): nothing here outlives it.
process.on('disconnect', () => process.exit())
send({ type: 'listening', url })
