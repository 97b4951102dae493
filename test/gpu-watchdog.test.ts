// The GPU watchdog: a real dev server whose engine is `ollama serve` (a fake `ollama` on PATH that
// runs the simulator), on a machine faked as an RTX 4090 (a recorded fixture fed to the detection
// cache), so the engine is planned a GPU. The first `ollama serve` reports every model at
// `size_vram` 0, as after Docker lost the GPU; the one started by the Restart reports them on the
// GPU (SIM_GPU=1).
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { GpuWatchdog } from '../src/engines/gpu-watchdog.js'
import type { Engine } from '../src/engines/types.js'
import { detectGpus } from '../src/gpu/detect.js'
import ollama from '../src/index.js'
import { OllamaClient } from '../src/ollama/client.js'
import type { EngineInfo, StateSnapshot } from '../src/protocol.js'
import { isModelManagement } from '../src/server/network.js'
import { startSimulator } from '../src/simulator/index.js'
import { loadGpuFixture } from './fixtures/gpu/fixture.js'
import { freePort } from './helpers/docker-image.js'
import { makeApp, memoryLogger, startVite, waitFor } from './helpers/vite.js'
import {
  browserSuiteName,
  collectPageErrors,
  launchChromium,
  skipBrowser,
} from './overlay-harness.js'

const tsx = import.meta.resolve('tsx')
const simMain = path.resolve('src/simulator/main.ts')
const GPU_REPORT = Symbol.for('vite-plugin-ollama.gpu-report')
type Holder = { [GPU_REPORT]?: unknown }

const LOST = /Ollama runs llama3\.2:latest on the CPU \(size_vram 0 in \/api\/ps\)/

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

let savedPath: string | undefined
beforeAll(() => {
  // What detectGpus() answers for the whole process: an RTX 4090, so a GPU is planned.
  ;(globalThis as Holder)[GPU_REPORT] = detectGpus(loadGpuFixture('nvidia-rtx4090').deps)
  savedPath = process.env.PATH
})
afterAll(() => {
  delete (globalThis as Holder)[GPU_REPORT]
  process.env.PATH = savedPath
})

/**
 * A folder with an `ollama` whose `serve` runs the simulator with llama3.2 installed: on the CPU
 * the first time, on the GPU every time after (the Restart).
 */
function fakeOllamaLosingTheGpu(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'i15-gpu-ollama-'))
  const file = path.join(dir, 'ollama')
  writeFileSync(
    file,
    `#!/bin/sh
[ "$1" = "serve" ] || { echo "unexpected: $*" >&2; exit 2; }
if [ -e "${dir}/started" ]; then export SIM_GPU=1; else touch "${dir}/started"; fi
SIM_MODELS=llama3.2 exec "${process.execPath}" --import "${tsx}" "${simMain}"
`,
  )
  chmodSync(file, 0o755)
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

async function serve(options: { warmup: boolean; overlay?: boolean }) {
  const dir = fakeOllamaLosingTheGpu()
  process.env.PATH = `${dir}${path.delimiter}${savedPath}`
  // No favicon request: the page's console stays clean for the overlay test.
  const app = makeApp(
    '<!doctype html><html><head><link rel="icon" href="data:,"><title>app</title></head><body><h1>app</h1></body></html>',
  )
  const logger = memoryLogger()
  const { server, url } = await startVite({
    root: app.root,
    customLogger: logger,
    logLevel: 'info',
    plugins: [
      ollama({
        engine: 'native',
        url: `http://127.0.0.1:${await freePort()}`,
        models: ['llama3.2'],
        warmup: options.warmup,
        overlay: options.overlay ?? false,
      }),
    ],
  })
  cleanups.push(app.remove, () => server.close())
  return { url, logger }
}

async function status(url: string): Promise<StateSnapshot> {
  return (await (await fetch(`${url}/__ollama/status`)).json()) as StateSnapshot
}

async function chat(url: string): Promise<void> {
  const res = await fetch(`${url}/__ollama/chat`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ prompt: 'hello' }),
  })
  expect(res.status).toBe(200)
  await res.json()
}

function restart(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/__ollama/engine/restart`, { method: 'POST', headers })
}

function linesMatching(logger: { lines: string[] }, pattern: RegExp): string[] {
  return logger.lines.filter((line) => pattern.test(line))
}

describe('the GPU watchdog in a dev server', () => {
  it('says the GPU is lost after warm-up, restarts the engine on request, and says it is back', async () => {
    const { url, logger } = await serve({ warmup: true })
    const lost = await waitFor(
      async () => (await status(url)).warning,
      30_000,
      'the GPU-lost warning',
    )
    expect(lost).toMatchObject({
      message: expect.stringMatching(LOST),
      hint: expect.stringMatching(/suspend.*rmmod nvidia_uvm/),
      action: 'restart-engine',
    })
    expect(linesMatching(logger, LOST)).toHaveLength(1)
    const before = (await status(url)).engine as EngineInfo
    expect(before).toMatchObject({ kind: 'native', gpuPlanned: true })

    // A page of another origin may not restart it.
    const foreign = await restart(url, { Origin: 'http://evil.example' })
    expect(foreign.status).toBe(403)
    expect(isModelManagement('/engine/restart')).toBe(true)

    const res = await restart(url)
    expect(res.status).toBe(200)
    const { engine } = (await res.json()) as { engine: EngineInfo }
    expect(engine).toMatchObject({ kind: 'native', gpuPlanned: true })
    expect(engine.pid).not.toBe(before.pid)

    // The warm-up after the restart loaded the model on the GPU: said, and the warning is gone.
    const after = await status(url)
    expect(after.phase).toBe('ready')
    expect(after.warning).toBeUndefined()
    expect(linesMatching(logger, /back on the GPU: llama3\.2:latest runs 100% GPU/)).toHaveLength(1)
    const row = await waitFor(
      async () => (await status(url)).models.find((m) => m.processor === '100% GPU'),
      10_000,
      'the model row on the GPU',
    )
    expect(row.name).toBe('llama3.2')
  }, 90_000)

  it('checks after the next chat, and again after the restart', async () => {
    const { url, logger } = await serve({ warmup: false })
    await waitFor(async () => (await status(url)).phase === 'ready', 30_000, 'ready')
    // Nothing is loaded, so nothing is known yet.
    expect((await status(url)).warning).toBeUndefined()

    await chat(url)
    const lost = await waitFor(async () => (await status(url)).warning, 20_000, 'the warning')
    expect(lost.message).toMatch(LOST)

    expect((await restart(url)).status).toBe(200)
    // No warm-up: the warning stands until a model shows where it runs.
    expect((await status(url)).warning?.action).toBe('restart-engine')
    await chat(url)
    await waitFor(
      async () => (await status(url)).warning === undefined,
      20_000,
      'the warning to clear',
    )
    expect(linesMatching(logger, /back on the GPU: llama3\.2:latest runs 100% GPU/)).toHaveLength(1)
    expect(linesMatching(logger, LOST)).toHaveLength(1)
  }, 90_000)
})

describe.skipIf(skipBrowser)(browserSuiteName('the GPU warning in the overlay'), () => {
  it('shows the warning with a Restart button that brings the GPU back', async () => {
    const { url } = await serve({ warmup: true, overlay: true })
    const browser = await launchChromium()
    cleanups.push(() => browser.close())
    const page = await browser.newPage()
    const errors: string[] = []
    collectPageErrors(page, errors)
    await page.goto(url)
    const part = (id: string) => page.locator(`[data-testid="${id}"]`)
    const poll = { timeout: 30_000, interval: 50 }

    await expect.poll(() => part('problem-message').textContent(), poll).toMatch(LOST)
    expect(await part('problem-hint').textContent()).toMatch(/native\.cgroupdriver|rmmod/)
    const restartButton = part('restart')
    expect(await restartButton.isVisible()).toBe(true)
    expect(await restartButton.textContent()).toBe('Restart')
    expect(await restartButton.getAttribute('aria-label')).toBe('Restart Ollama')

    await restartButton.click()
    await expect.poll(() => part('problem').isVisible(), poll).toBe(false)
    expect(await restartButton.isVisible()).toBe(false)
    const row = page.locator('[data-testid="model"][data-model="llama3.2"]')
    await expect
      .poll(() => row.locator('[data-testid="model-status"]').textContent(), poll)
      .toBe('loaded · 100% GPU')
    expect(errors).toEqual([])
  }, 90_000)
})

describe('GpuWatchdog', () => {
  it('says a loss once, however often it is seen, and only for an engine given a GPU', async () => {
    const sim = await startSimulator({ models: ['llama3.2'] })
    const client = new OllamaClient(sim.url)
    cleanups.push(
      () => client.close(),
      () => sim.close(),
    )
    await client.generate({ model: 'llama3.2', prompt: '', stream: false })

    const said: string[] = []
    let changes = 0
    const watchdog = new GpuWatchdog({
      log: (_level, message) => said.push(message),
      changed: () => changes++,
    })
    const engine = (gpuPlanned: boolean, discard = true): Engine => ({
      info: { kind: 'docker', url: sim.url, simulated: false, gpuPlanned },
      owned: true,
      onEvent: () => () => {},
      stop: async () => {},
      ...(discard ? { discard: async () => {} } : {}),
    })

    watchdog.watch(engine(true), () => client.ps())
    await watchdog.check()
    await watchdog.check()
    expect(said).toHaveLength(1)
    expect(said[0]).toMatch(/the container was given a GPU[\s\S]*native\.cgroupdriver=cgroupfs/)
    expect(watchdog.warning?.action).toBe('restart-engine')

    // An Ollama the plugin did not start (no discard) is not watched, and the warning goes.
    watchdog.watch(engine(true, false), () => client.ps())
    expect(watchdog.warning).toBeUndefined()
    await watchdog.check()
    watchdog.watch(engine(false), () => client.ps())
    await watchdog.check()
    expect(said).toHaveLength(1)
    expect(changes).toBe(2)

    // Back on the GPU after a restart: said once, warning cleared.
    watchdog.watch(engine(true), () => client.ps())
    await watchdog.check()
    sim.configure({ gpu: true })
    watchdog.watch(engine(true), () => client.ps())
    await watchdog.check()
    expect(said.at(-1)).toBe('back on the GPU: llama3.2:latest runs 100% GPU')
    expect(watchdog.warning).toBeUndefined()
  })

  it('an adopted Ollama cannot be restarted: 409, naming why', async () => {
    const sim = await startSimulator({ models: ['llama3.2'] })
    cleanups.push(() => sim.close())
    const app = makeApp()
    const { server, url } = await startVite({
      root: app.root,
      plugins: [ollama({ engine: 'external', url: sim.url, models: ['llama3.2'], overlay: false })],
    })
    cleanups.push(app.remove, () => server.close())
    await waitFor(async () => (await status(url)).phase === 'ready', 20_000, 'ready')
    const res = await restart(url)
    expect(res.status).toBe(409)
    expect(await res.json()).toMatchObject({
      error: expect.stringMatching(/did not start the Ollama/),
    })
  })
})
