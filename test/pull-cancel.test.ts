// Pulls a user can stop (docs/decisions.md, "A pull lasts while someone wants it"): DELETE /pull
// stops a download mid-way, the simulator sees its client go, the model and the phase settle
// before the answer, and the next pull resumes from the bytes Ollama kept. A one-off pull whose
// only client goes away stops too; a pull the plugin wants (autoPull) outlives its readers.
import { afterEach, describe, expect, it } from 'vitest'
import { createOllamaClient } from '../src/client/index.js'
import type { PullCancelResult, PullProgressEvent, StateSnapshot } from '../src/protocol.js'
import { type Simulator, type StreamInfo, startSimulator } from '../src/simulator/index.js'
import { getStatus, servePlugin, waitForStatus } from './helpers/faults.js'
import { openSse, rawRequest } from './routes-harness.js'

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

// qwen2.5:1.5b is 986 MB in the simulator's catalog: at 200 MB/s its download lasts about 5 s.
const MODEL = 'qwen2.5:1.5b'
const SLOW = 2e8

const stateOf = (s: StateSnapshot, name = MODEL) => s.models.find((m) => m.name === name)

async function serve(sim: Simulator, models: string[]) {
  const served = await servePlugin({
    engine: 'external',
    url: sim.url,
    models,
    warmup: false,
    overlay: false,
  })
  cleanups.push(() => served.close())
  return served
}

async function simulator(installed: string[] = []) {
  const sim = await startSimulator({ models: installed, pullBytesPerSecond: SLOW })
  cleanups.push(() => sim.close())
  return sim
}

/** The time the simulator sees its next pull client go away. */
function nextPullCancel(sim: Simulator): Promise<number> {
  return new Promise((resolve) => {
    const onCancel = (info: StreamInfo) => {
      if (info.path !== '/api/pull') return
      sim.events.off('stream-cancel', onCancel)
      resolve(performance.now())
    }
    sim.events.on('stream-cancel', onCancel)
  })
}

function cancel(url: string, model: string) {
  return fetch(`${url}/__ollama/pull?model=${encodeURIComponent(model)}`, { method: 'DELETE' })
}

/** POST /pull to its end; the first figure with a known size, and how the stream ended. */
async function pullToEnd(url: string, model: string) {
  const { frames } = await openSse(`${url}/__ollama/pull`, { model }).done
  const sized = frames
    .filter((f) => f.event === 'progress')
    .map((f) => JSON.parse(f.data) as PullProgressEvent)
    .find((p) => p.total > 0)
  return { first: sized, end: frames.at(-1)?.event }
}

describe('DELETE /pull', () => {
  it('stops a download mid-way: the simulator sees it within 100 ms, the model is missing and the phase ready at once, and the next pull resumes', async () => {
    const sim = await simulator()
    const served = await serve(sim, [MODEL])
    await waitForStatus(served.url, (s) => (stateOf(s)?.progress?.completed ?? 0) > 0)

    const seen = nextPullCancel(sim)
    const sentAt = performance.now()
    const res = await cancel(served.url, MODEL)
    expect(res.status).toBe(200)
    const body = (await res.json()) as PullCancelResult
    expect(body).toMatchObject({ model: MODEL, status: 'cancelled' })
    expect(body.progress?.completed).toBeGreaterThan(0)
    expect(body.progress?.completed).toBeLessThan(body.progress?.total ?? 0)

    // No waiting: the answer came after the state settled.
    const after = await getStatus(served.url)
    expect(after.phase).toBe('ready')
    expect(stateOf(after)).toEqual({ name: MODEL, status: 'missing' })
    expect((await seen) - sentAt).toBeLessThan(100)
    expect(sim.stats.activeStreams).toBe(0)
    expect(served.lines.join('\n')).toMatch(
      /pull of qwen2\.5:1\.5b cancelled at \d+ MB of 986 MB; pulling it again resumes there/,
    )

    // Ollama kept the partial blob: the next pull starts from at least where this one stopped.
    sim.configure({ pullBytesPerSecond: 4e9 })
    const again = await pullToEnd(served.url, MODEL)
    expect(again.end).toBe('done')
    expect(again.first?.completed).toBeGreaterThanOrEqual(body.progress?.completed ?? 0)
    const done = await waitForStatus(served.url, (s) => stateOf(s)?.status === 'present')
    expect(done.phase).toBe('ready')
  })

  it("leaves the other model's pull running, and the phase at pulling for it", async () => {
    const sim = await simulator()
    const served = await serve(sim, [MODEL, 'qwen2.5:0.5b'])
    await waitForStatus(served.url, (s) => s.models.every((m) => (m.progress?.completed ?? 0) > 0))
    expect((await cancel(served.url, MODEL)).status).toBe(200)
    const after = await getStatus(served.url)
    expect(after.phase).toBe('pulling')
    expect(stateOf(after)?.status).toBe('missing')
    expect(stateOf(after, 'qwen2.5:0.5b')?.status).toBe('pulling')
    // When the other one is done, the phase says ready; the cancelled model stays missing.
    sim.configure({ pullBytesPerSecond: 4e9 })
    const ready = await waitForStatus(served.url, (s) => s.phase === 'ready')
    expect(stateOf(ready)?.status).toBe('missing')
    expect(stateOf(ready, 'qwen2.5:0.5b')?.status).toBe('present')
  })

  it('answers 404 when nothing pulls that model, and 400 naming model when the query lacks it or it is not a name', async () => {
    const sim = await simulator(['llama3.2'])
    const served = await serve(sim, ['llama3.2'])
    await waitForStatus(served.url, (s) => s.phase === 'ready')

    const idle = await cancel(served.url, 'llama3.2')
    expect(idle.status).toBe(404)
    expect(await idle.json()).toMatchObject({
      error: "No pull of 'llama3.2' is running",
      hint: expect.stringContaining('/__ollama/status'),
    })
    const none = await fetch(`${served.url}/__ollama/pull`, { method: 'DELETE' })
    expect(none.status).toBe(400)
    expect(await none.json()).toMatchObject({
      error: expect.stringContaining('"model"'),
      hint: expect.stringContaining('DELETE /__ollama/pull?model='),
    })
    const bad = await cancel(served.url, 'not a name')
    expect(bad.status).toBe(400)
    expect((await bad.json()).error).toMatch(/^Invalid query: model: use a name from ollama\.com/)
    const get = await fetch(`${served.url}/__ollama/pull`)
    expect(get.status).toBe(405)
    expect(get.headers.get('allow')).toBe('POST, DELETE')
  })

  it('refuses a page of another origin', async () => {
    const sim = await simulator()
    const served = await serve(sim, [MODEL])
    await waitForStatus(served.url, (s) => (stateOf(s)?.progress?.completed ?? 0) > 0)
    const foreign = await rawRequest(`${served.url}/__ollama/pull?model=${MODEL}`, {
      method: 'DELETE',
      headers: { Origin: 'http://127.0.0.1:1', 'Sec-Fetch-Site': 'same-site' },
    })
    expect(foreign.status).toBe(403)
    expect(stateOf(await getStatus(served.url))?.status).toBe('pulling')
  })
})

describe('a pull whose reader goes away', () => {
  it('is cancelled at once when it was a one-off pull and nobody else reads it; pulling it again resumes', async () => {
    const sim = await simulator(['llama3.2'])
    const served = await serve(sim, ['llama3.2'])
    await waitForStatus(served.url, (s) => s.phase === 'ready')

    const seen = nextPullCancel(sim)
    let last: PullProgressEvent | undefined
    let leftAt = 0
    const stream = openSse(`${served.url}/__ollama/pull`, { model: MODEL }, (frame, request) => {
      if (frame.event !== 'progress') return
      last = JSON.parse(frame.data) as PullProgressEvent
      if (last.completed > 0 && !leftAt) {
        leftAt = performance.now()
        request.destroy()
      }
    })
    await stream.done.catch(() => {})
    expect((await seen) - leftAt).toBeLessThan(100)
    const after = await waitForStatus(
      served.url,
      (s) => s.phase === 'ready' && !stateOf(s),
      2_000,
      'the one-off pull forgotten',
    )
    expect(after.models.map((m) => m.name)).toEqual(['llama3.2'])
    expect(served.lines.join('\n')).toMatch(/pull of qwen2\.5:1\.5b stopped: nobody waits for it/)

    sim.configure({ pullBytesPerSecond: 4e9 })
    const again = await pullToEnd(served.url, MODEL)
    expect(again.end).toBe('done')
    expect(again.first?.completed).toBeGreaterThanOrEqual(last?.completed ?? 1)
  })

  it('goes on when it is one the plugin pulls by itself (autoPull), and the phase says ready the moment it ends', async () => {
    const sim = await simulator()
    const served = await serve(sim, [MODEL])
    let downloadEnded = 0
    sim.events.on('stream-end', (info: StreamInfo) => {
      if (info.path === '/api/pull') downloadEnded = performance.now()
    })
    await waitForStatus(served.url, (s) => (stateOf(s)?.progress?.completed ?? 0) > 0)
    const stream = openSse(`${served.url}/__ollama/pull`, { model: MODEL }, (frame, request) => {
      if (frame.event === 'progress') request.destroy()
    })
    await stream.done.catch(() => {})
    const during = await getStatus(served.url)
    expect(during.phase).toBe('pulling')
    expect(stateOf(during)?.status).toBe('pulling')
    expect(sim.stats.cancelledStreams).toBe(0)

    sim.configure({ pullBytesPerSecond: 2e9 })
    const after = await waitForStatus(served.url, (s) => s.phase === 'ready', 10_000)
    expect(downloadEnded).toBeGreaterThan(0)
    expect(performance.now() - downloadEnded).toBeLessThan(1_000)
    expect(stateOf(after)?.status).toMatch(/^(present|loaded)$/)
  })
})

describe('pull() in virtual:ollama, aborted', () => {
  it('cancels the download it started, and leaves one another reader started running', async () => {
    const sim = await simulator(['llama3.2'])
    const served = await serve(sim, ['llama3.2'])
    await waitForStatus(served.url, (s) => s.phase === 'ready')
    const client = createOllamaClient({ base: `${served.url}/__ollama` })

    const started = new AbortController()
    const seen = nextPullCancel(sim)
    let abortedAt = 0
    await expect(
      (async () => {
        for await (const p of client.pull(MODEL, { signal: started.signal })) {
          if (p.completed > 0 && !abortedAt) {
            abortedAt = performance.now()
            started.abort()
          }
        }
      })(),
    ).rejects.toMatchObject({ name: 'AbortError' })
    expect((await seen) - abortedAt).toBeLessThan(100)
    await waitForStatus(served.url, (s) => s.phase === 'ready' && !stateOf(s), 2_000)

    // Another reader started it: this one aborting changes nothing for the download.
    const other = openSse(`${served.url}/__ollama/pull`, { model: MODEL })
    await waitForStatus(served.url, (s) => (stateOf(s)?.progress?.completed ?? 0) > 0)
    const joined = new AbortController()
    for await (const p of client.pull(MODEL, { signal: joined.signal })) {
      if (p.completed > 0) break
    }
    expect(stateOf(await getStatus(served.url))?.status).toBe('pulling')
    sim.configure({ pullBytesPerSecond: 4e9 })
    const { frames } = await other.done
    expect(frames.at(-1)?.event).toBe('done')
  })
})
