import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'

/** A free loopback port, so the child can be told where to listen. */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  return port
}

/**
 * An upstream in a process of its own, so the bench never shares an event loop between the
 * upstream and the relay it measures: the simulator (exact answers), or `fast`, a write-only
 * stand-in that streams pre-rendered token lines as fast as the socket takes them.
 */
export async function startUpstream(
  env: Record<string, string> = {},
  script: 'simulator' | 'fast' = 'simulator',
): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort()
  const file = script === 'fast' ? './fast-upstream.ts' : '../src/simulator/main.ts'
  const main = fileURLToPath(new URL(file, import.meta.url))
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', main], {
    env: {
      ...process.env,
      OLLAMA_HOST: `127.0.0.1:${port}`,
      PORT: String(port),
      SIM_MODELS: 'llama3.2',
      SIM_TOKEN_DELAY_MS: '0',
      ...env,
    },
    stdio: 'ignore',
  })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 15_000
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${url}/api/version`)).ok) break
    } catch {}
    await new Promise((r) => setTimeout(r, 50))
  }
  return {
    url,
    async stop() {
      child.kill('SIGTERM')
      await once(child, 'exit')
    },
  }
}
