// Helpers for the production tests: the fixture app built with the real `vite build`, its
// Node server in a child process, and the wait for a simulator stream to be cancelled.
import { type ChildProcess, spawn } from 'node:child_process'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Simulator } from '../../src/simulator/index.js'

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const prodApp = path.join(repo, 'test/fixtures/prod-app')

/** Every file under `dir`, as text (the built app is small). */
export function readTree(dir: string): { file: string; text: string }[] {
  const out: { file: string; text: string }[] = []
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name)
    if (statSync(file).isDirectory()) out.push(...readTree(file))
    else out.push({ file, text: readFileSync(file, 'utf8') })
  }
  return out
}

export interface ServerProcess {
  url: string
  /** Everything the server wrote to stderr so far. */
  stderr(): string
  close(): Promise<void>
}

/**
 * A server in a child process: resolves once its stdout says where it listens (`listening` must
 * capture the address), or rejects with its stderr when it exits first.
 */
export async function spawnServer(
  command: string,
  args: string[],
  env: Record<string, string | undefined>,
  listening: RegExp,
): Promise<ServerProcess> {
  const child: ChildProcess = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr?.on('data', (d) => {
    stderr += String(d)
  })
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (d) => {
      const m = listening.exec(String(d))
      if (m) resolve(m[1] as string)
    })
    child.once('exit', (code) => reject(new Error(`${command} exited with ${code}: ${stderr}`)))
  })
  return {
    url,
    stderr: () => stderr,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill()
      }),
  }
}

/** `node server.mjs 0` of the fixture app (the README's Node recipe), with `env` added. */
export function startAppServer(env: Record<string, string | undefined>): Promise<ServerProcess> {
  return spawnServer(
    process.execPath,
    [path.join(prodApp, 'server.mjs'), '0'],
    env,
    /listening on (\S+)/,
  )
}

/**
 * Milliseconds from a client abort to the simulator seeing its stream cancelled, through the
 * route at `url`: the median of three, after one that warms the server's code paths up (a cold
 * first run measures the JIT, not the abort).
 */
export async function abortLatency(sim: Simulator, url: string): Promise<number> {
  await oneAbort(sim, url)
  const runs = [await oneAbort(sim, url), await oneAbort(sim, url), await oneAbort(sim, url)]
  return runs.sort((a, b) => a - b)[1] as number
}

/** Starts a long chat stream, reads its first token, aborts, and times the cancellation upstream. */
async function oneAbort(sim: Simulator, url: string): Promise<number> {
  const abort = new AbortController()
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      model: 'llama3.2',
      prompt: 'a long one',
      options: { num_predict: 5000 },
    }),
    signal: abort.signal,
  })
  const reader = (response.body as ReadableStream<Uint8Array>).getReader()
  let seen = ''
  while (!seen.includes('event: token')) {
    const { value, done } = await reader.read()
    if (done) throw new Error(`the stream ended before a token: ${seen}`)
    seen += new TextDecoder().decode(value)
  }
  const cancelled = new Promise<number>((resolve) =>
    sim.events.once('stream-cancel', () => resolve(performance.now())),
  )
  const abortedAt = performance.now()
  abort.abort()
  await reader.cancel().catch(() => {})
  return (await cancelled) - abortedAt
}
