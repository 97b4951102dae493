// Pulls that fail: a disk that fills up mid-download (Ollama's own error line, docs/decisions.md,
// "How a pull fails") and a model that does not exist. Each failed model says why and what to do,
// in /status and over HMR; the other models are pulled and ready; the phase settles.
import { afterEach, describe, expect, it } from 'vitest'
import type { ModelState, StateSnapshot } from '../src/protocol.js'
import { startSimulator } from '../src/simulator/index.js'
import { servePlugin, waitForStatus } from './helpers/faults.js'
import { connectHmr, waitFor } from './helpers/vite.js'
import { openSse } from './routes-harness.js'

const cleanups: (() => Promise<unknown> | unknown)[] = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

const DISK_FULL =
  'write /root/.ollama/models/blobs/sha256-74701a8c35f6c8d9a4b91f3f3497643001d63e0c7a84e085bed452548fa88c45-partial: no space left on device'

const model = (s: StateSnapshot, name: string): ModelState | undefined =>
  s.models.find((m) => m.name === name)

describe('pulls that fail', () => {
  it('shows a clear error and hint per failed model, pulls the others, and settles', async () => {
    const sim = await startSimulator({
      models: [],
      pullBytesPerSecond: 5e9,
      pullErrors: { 'qwen2.5:0.5b': DISK_FULL },
    })
    cleanups.push(() => sim.close())
    const served = await servePlugin({
      engine: 'external',
      url: sim.url,
      models: ['llama3.2:1b', 'qwen2.5:0.5b', 'no-such-model-xyz'],
    })
    cleanups.push(() => served.close())
    const hmr = await connectHmr(served.url)
    cleanups.push(() => hmr.close())

    // Settled: not detecting, starting or pulling any more, and no model left mid-pull.
    const settled = await waitForStatus(
      served.url,
      (s) =>
        !['detecting', 'starting', 'pulling'].includes(s.phase) &&
        s.models.every((m) => m.status !== 'pulling' && m.status !== 'missing'),
      30_000,
      'a settled phase',
    )
    expect(settled.phase).toBe('ready')
    expect(model(settled, 'llama3.2:1b')?.status).toMatch(/^(present|loaded)$/)
    expect(model(settled, 'llama3.2:1b')?.error).toBeUndefined()
    expect(model(settled, 'qwen2.5:0.5b')).toMatchObject({
      status: 'error',
      error: {
        message: "No disk space left to pull 'qwen2.5:0.5b'",
        hint: expect.stringMatching(/Free disk space/),
      },
    })
    expect(model(settled, 'no-such-model-xyz')).toMatchObject({
      status: 'error',
      error: {
        message: "'no-such-model-xyz' is not in the Ollama library",
        hint: expect.stringMatching(/ollama\.com\/library.*models/),
      },
    })
    // The app's chat works with the model that was pulled.
    const chat = await fetch(`${served.url}/__ollama/chat`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ model: 'llama3.2:1b', prompt: 'hi' }),
    })
    expect(chat.status).toBe(200)

    // The overlay saw the same: the last state over HMR carries both errors, with hints.
    const lastState = await waitFor(
      () => {
        const states = hmr.messages.filter((m) => m.event === 'ollama:state')
        const last = states.at(-1)?.data as StateSnapshot | undefined
        return last &&
          model(last, 'no-such-model-xyz')?.status === 'error' &&
          last.phase === 'ready'
          ? last
          : undefined
      },
      10_000,
      'the settled state over HMR',
    )
    expect(model(lastState, 'qwen2.5:0.5b')?.error?.hint).toBeTruthy()
    expect(model(lastState, 'no-such-model-xyz')?.error?.hint).toBeTruthy()
    expect(model(lastState, 'llama3.2:1b')?.status).toMatch(/^(present|loaded)$/)
    // Ollama sent a progress line before the disk filled: the overlay showed the download start.
    expect(
      hmr.messages.some(
        (m) =>
          m.event === 'ollama:progress' && (m.data as { model: string }).model === 'qwen2.5:0.5b',
      ),
    ).toBe(true)
    expect(served.lines.join('\n')).toMatch(/no space left on device|No disk space/)

    // Retry (the overlay's button, POST /pull) while the disk is still full: an SSE error event.
    const retry = await openSse(`${served.url}/__ollama/pull`, { model: 'qwen2.5:0.5b' }).done
    expect(retry.frames.at(-1)?.event).toBe('error')
    expect(JSON.parse(retry.frames.at(-1)!.data)).toMatchObject({
      message: "No disk space left to pull 'qwen2.5:0.5b'",
      hint: expect.any(String),
    })
    await waitForStatus(served.url, (s) => s.phase === 'ready', 10_000, 'ready after the retry')

    // Space freed: the next retry succeeds and the error goes away.
    sim.configure({ pullErrors: undefined })
    const again = await openSse(`${served.url}/__ollama/pull`, { model: 'qwen2.5:0.5b' }).done
    expect(again.frames.at(-1)?.event).toBe('done')
    const fixed = await waitForStatus(
      served.url,
      (s) => s.phase === 'ready' && model(s, 'qwen2.5:0.5b')?.status === 'present',
      10_000,
      'qwen2.5:0.5b present',
    )
    expect(model(fixed, 'qwen2.5:0.5b')?.error).toBeUndefined()
    expect(model(fixed, 'no-such-model-xyz')?.status).toBe('error')
  })
})
