import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'

// main.ts is what the simulator container image runs: it must start from the environment,
// log like `ollama serve`, stop on SIGTERM, and crash on demand (SIM_EXIT_AFTER_TOKENS).

const children: ChildProcess[] = []

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL')
})

async function startMain(
  env: Record<string, string>,
): Promise<{ child: ChildProcess; url: string; log: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/simulator/main.ts'], {
    env: { ...process.env, OLLAMA_HOST: '127.0.0.1:0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  let log = ''
  child.stdout?.on('data', (chunk) => (log += chunk))
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr?.on('data', (chunk) => {
      log += chunk
      const match = /Listening on ([\d.]+):(\d+)/.exec(log)
      if (match) resolve(`http://${match[1]}:${match[2]}`)
    })
    child.once('exit', (code) => reject(new Error(`main.ts exited with ${code}: ${log}`)))
  })
  return { child, url, log: () => log }
}

describe('simulator: main.ts as a process', () => {
  it('serves /api/version, logs an "inference compute" line with library=cpu, exits 0 on SIGTERM', async () => {
    const { child, url, log } = await startMain({ SIM_MODELS: 'llama3.2, qwen2.5:0.5b' })
    const res = await fetch(`${url}/api/version`)
    expect(await res.json()).toEqual({ version: expect.any(String) })
    const tags = (await (await fetch(`${url}/api/tags`)).json()) as {
      models: Array<{ name: string }>
    }
    expect(tags.models.map((m) => m.name).sort()).toEqual(['llama3.2:latest', 'qwen2.5:0.5b'])
    expect(log()).toMatch(/msg="inference compute".*library=cpu/)
    expect(log()).toMatch(/\[GIN\] .* \| 200 \| .* \| GET {5}"\/api\/version"/)
    const exited = once(child, 'exit')
    child.kill('SIGTERM')
    const [code] = await exited
    expect(code).toBe(0)
  })

  it('exits with code 1 after SIM_EXIT_AFTER_TOKENS tokens, having sent them', async () => {
    const { child, url } = await startMain({ SIM_MODELS: 'llama3.2', SIM_EXIT_AFTER_TOKENS: '3' })
    const exited = once(child, 'exit')
    const res = await fetch(`${url}/api/chat`, {
      method: 'POST',
      body: JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] }),
    })
    // Read what arrives until the connection dies with the process.
    let text = ''
    const reader = res.body!.getReader()
    try {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        text += new TextDecoder().decode(value)
      }
    } catch {
      // the socket closed mid-stream: expected
    }
    const [code] = await exited
    expect(code).toBe(1)
    expect(text.split('\n').filter(Boolean)).toHaveLength(3)
  })
})
