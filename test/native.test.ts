// The native engine with a fake `ollama` on a temporary PATH: a shell script whose `serve`
// runs the simulator's main entry through tsx, so it reads OLLAMA_HOST like `ollama serve`.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { findOllamaBinary, type NativeEngine, startNativeEngine } from '../src/engines/native.js'
import { isPortFree, probeOllama } from '../src/ollama/probe.js'
import { ProblemError } from '../src/problem.js'
import { freePort } from './helpers/docker-image.js'

const tsx = import.meta.resolve('tsx')
const simMain = path.resolve('src/simulator/main.ts')
const simIndex = path.resolve('src/simulator/index.ts')

/** A directory holding an executable `ollama` with this shell body. */
function fakeOllama(body: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fake-ollama-'))
  const file = path.join(dir, 'ollama')
  writeFileSync(file, `#!/bin/sh\n${body}\n`)
  chmodSync(file, 0o755)
  return dir
}

/** `ollama serve` → the simulator's main, via tsx. */
const SERVE_SIMULATOR = `[ "$1" = "serve" ] || { echo "unexpected: $*" >&2; exit 2; }
exec "${process.execPath}" --import "${tsx}" "${simMain}"`

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('native engine', () => {
  const dirs: string[] = []
  const engines: NativeEngine[] = []
  afterEach(async () => {
    for (const e of engines.splice(0)) await e.stop()
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
  })

  it('finds `ollama` on PATH, and nothing on an empty PATH', () => {
    const dir = fakeOllama(SERVE_SIMULATOR)
    dirs.push(dir)
    expect(findOllamaBinary({ PATH: `/nonexistent${path.delimiter}${dir}` })).toBe(
      path.join(dir, 'ollama'),
    )
    expect(findOllamaBinary({ PATH: '/nonexistent' })).toBeUndefined()
  })

  it('spawns `ollama serve` listening where url says, and stop() ends it', async () => {
    const dir = fakeOllama(SERVE_SIMULATOR)
    dirs.push(dir)
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const engine = await startNativeEngine({ url, binary: path.join(dir, 'ollama') })
    engines.push(engine)

    expect(engine.info).toMatchObject({
      kind: 'native',
      url,
      simulated: false,
      pid: expect.any(Number),
    })
    expect(engine.owned).toBe(true)
    expect(await probeOllama(url)).toEqual({ kind: 'ollama', version: engine.info.version })
    expect(engine.logTail().some((line) => line.includes('inference compute'))).toBe(true)

    const events: string[] = []
    engine.onEvent((e) => events.push(e.type))
    await engine.stop()
    expect(alive(engine.info.pid ?? 0)).toBe(false)
    expect(await isPortFree('127.0.0.1', port)).toBe(true)
    expect(events).toEqual([]) // our own stop is not a crash
  })

  it('stopSync() sends SIGTERM at once, for process exit', async () => {
    const dir = fakeOllama(SERVE_SIMULATOR)
    dirs.push(dir)
    const engine = await startNativeEngine({
      url: `http://127.0.0.1:${await freePort()}`,
      binary: path.join(dir, 'ollama'),
    })
    engines.push(engine)
    const failed: string[] = []
    engine.onEvent((e) => failed.push(e.type))
    engine.stopSync?.()
    await engine.stop() // resolves when the process has exited
    expect(engine.logTail().some((line) => line.includes('signal=SIGTERM'))).toBe(true)
    expect(failed).toEqual([])
  })

  it('puts the log tail into the error when `ollama serve` exits before it is ready', async () => {
    const dir = fakeOllama(
      'echo "Error: listen tcp 127.0.0.1:11434: bind: permission denied" >&2\nexit 3',
    )
    dirs.push(dir)
    const error = await startNativeEngine({
      url: `http://127.0.0.1:${await freePort()}`,
      binary: path.join(dir, 'ollama'),
    }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ProblemError)
    const problem = (error as ProblemError).problem
    expect(problem.message).toMatch(/exited with code 3 before Ollama was ready/)
    expect(problem.hint).toContain('bind: permission denied')
  })

  it('kills with SIGKILL an `ollama serve` that ignores SIGTERM', async () => {
    const port = await freePort()
    // Serves like Ollama (the simulator) but ignores SIGTERM, as a stuck server would.
    const dir = fakeOllama(`exec "${process.execPath}" --import "${tsx}" --input-type=module -e '
import { startSimulator } from "${simIndex}"
process.on("SIGTERM", () => console.error("ignoring SIGTERM"))
await startSimulator({ port: ${port} })
'`)
    dirs.push(dir)
    const engine = await startNativeEngine({
      url: `http://127.0.0.1:${port}`,
      binary: path.join(dir, 'ollama'),
      stopGraceMs: 500,
    })
    await engine.stop()
    expect(alive(engine.info.pid ?? 0)).toBe(false)
    expect(engine.logTail()).toContain('ignoring SIGTERM')
  })

  it('reports a crash after it was ready', async () => {
    const dir = fakeOllama(SERVE_SIMULATOR)
    dirs.push(dir)
    const engine = await startNativeEngine({
      url: `http://127.0.0.1:${await freePort()}`,
      binary: path.join(dir, 'ollama'),
    })
    engines.push(engine)
    const failed = new Promise((resolve) =>
      engine.onEvent((e) => e.type === 'failed' && resolve(e)),
    )
    process.kill(engine.info.pid ?? 0, 'SIGKILL')
    expect(await failed).toMatchObject({
      type: 'failed',
      problem: { message: expect.stringMatching(/killed by SIGKILL/) },
    })
  })

  it('refuses a url whose port is held by something that is not Ollama', async () => {
    const dir = fakeOllama(SERVE_SIMULATOR)
    dirs.push(dir)
    const port = await freePort()
    const { createServer } = await import('node:net')
    const server = createServer((s) => s.destroy())
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
    try {
      const error = await startNativeEngine({
        url: `http://127.0.0.1:${port}`,
        binary: path.join(dir, 'ollama'),
      }).catch((e: unknown) => e)
      expect((error as ProblemError).problem.hint).toMatch(/Set url in vite\.config\.ts/)
    } finally {
      server.close()
    }
  })
})
