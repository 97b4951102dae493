// The overlay's Cancel and Pull buttons and the hidden tab's title, in real Chromium, on a real dev
// server with the plugin, against the simulator: the user stops a download from the overlay, the
// simulator sees its client go, the row says missing with a Pull button, and Pull resumes the
// download from the bytes already there.
import type { Browser, Locator, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { PullCancelResult, StateSnapshot } from '../src/protocol.js'
import { type Simulator, type StreamInfo, startSimulator } from '../src/simulator/index.js'
import { getStatus, servePlugin, waitForStatus } from './helpers/faults.js'
import {
  browserSuiteName,
  collectPageErrors,
  launchChromium,
  skipBrowser,
} from './overlay-harness.js'

const TAG = 'vite-plugin-ollama-overlay'
// 986 MB in the simulator's catalog: about 20 s at 50 MB/s, long enough to click.
const MODEL = 'qwen2.5:1.5b'
const poll = { timeout: 10_000, interval: 25 }

const stateOf = (s: StateSnapshot) => s.models.find((m) => m.name === MODEL)

/** Plays the browser hiding or showing the tab (headless Chromium keeps every tab visible). */
function setHidden(page: Page, hidden: boolean): Promise<void> {
  return page.evaluate((value) => {
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => value })
    Object.defineProperty(document, 'visibilityState', {
      configurable: true,
      get: () => (value ? 'hidden' : 'visible'),
    })
    document.dispatchEvent(new Event('visibilitychange'))
  }, hidden)
}

describe.skipIf(skipBrowser)(browserSuiteName('pulls cancelled from the overlay'), () => {
  let sim: Simulator
  let dev: Awaited<ReturnType<typeof servePlugin>>
  let browser: Browser
  const errors: string[] = []

  beforeAll(async () => {
    sim = await startSimulator({ pullBytesPerSecond: 5e7 })
    dev = await servePlugin({ engine: 'external', url: sim.url, models: [MODEL], warmup: false })
    browser = await launchChromium()
  }, 60_000)

  afterAll(async () => {
    await browser?.close()
    await dev?.close()
    await sim?.close()
  })

  function part(scope: Page | Locator, testid: string): Locator {
    return scope.locator(`[data-testid="${testid}"]`)
  }

  it('shows progress in the hidden tab’s title, cancels from the overlay at once, and Pull resumes', async () => {
    const page = await browser.newPage()
    collectPageErrors(page, errors)
    let loads = 0
    page.on('load', () => loads++)
    // The test app has no favicon; any other failed request is a bug.
    const failed: string[] = []
    page.on('response', (r) => {
      if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) failed.push(r.url())
    })
    await page.goto(dev.url)
    const row = page.locator(`${TAG} [data-testid="model"][data-model="${MODEL}"]`)
    await expect.poll(() => part(row, 'model-status').textContent(), poll).toBe('pulling')
    const cancel = part(row, 'cancel')
    await expect.poll(() => cancel.isVisible(), poll).toBe(true)
    expect(await cancel.getAttribute('aria-label')).toBe(`Cancel pulling ${MODEL}`)
    expect(await part(row, 'retry').isVisible()).toBe(false)

    // Hidden: the title carries the download; shown again: the page's own title is back.
    expect(await page.title()).toBe('app')
    await setHidden(page, true)
    await expect.poll(() => page.title(), poll).toMatch(/^↓ \d+(\.\d)?% qwen2\.5:1\.5b · app$/)
    const first = await page.title()
    await expect.poll(() => page.title(), poll).not.toBe(first)
    await setHidden(page, false)
    expect(await page.title()).toBe('app')
    // The app retitles itself while hidden: that title is the one kept and restored.
    await setHidden(page, true)
    await expect.poll(() => page.title(), poll).toMatch(/· app$/)
    await page.evaluate(() => {
      document.title = 'Inbox (3)'
    })
    await expect.poll(() => page.title(), poll).toMatch(/^↓ .* · Inbox \(3\)$/)
    await setHidden(page, false)
    expect(await page.title()).toBe('Inbox (3)')

    // Cancel: the simulator sees its client go, the row and the phase settle.
    const seen = new Promise<number>((resolve) => {
      const onCancel = (info: StreamInfo) => {
        if (info.path !== '/api/pull') return
        sim.events.off('stream-cancel', onCancel)
        resolve(performance.now())
      }
      sim.events.on('stream-cancel', onCancel)
    })
    const answer = page.waitForResponse(
      (r) => r.request().method() === 'DELETE' && r.url().includes('/__ollama/pull?model='),
    )
    const clickedAt = performance.now()
    await cancel.click()
    const cancelled = (await (await answer).json()) as PullCancelResult
    expect(cancelled).toMatchObject({ model: MODEL, status: 'cancelled' })
    expect((await seen) - clickedAt).toBeLessThan(1_000)
    const after = await getStatus(dev.url)
    expect(after.phase).toBe('ready')
    expect(stateOf(after)?.status).toBe('missing')
    await expect.poll(() => part(row, 'model-status').textContent(), poll).toBe('missing')
    expect(await cancel.isVisible()).toBe(false)
    expect(await part(row, 'error').isVisible()).toBe(false)
    const pull = part(row, 'retry')
    expect(await pull.textContent()).toBe('Pull')
    expect(await pull.getAttribute('aria-label')).toBe(`Pull ${MODEL}`)
    expect(await part(page, 'phase').textContent()).toBe('Ready')

    // Pull again: the download starts from the bytes the first one left.
    await pull.click()
    const resumed = await waitForStatus(dev.url, (s) => (stateOf(s)?.progress?.total ?? 0) > 0)
    expect(stateOf(resumed)?.progress?.completed).toBeGreaterThanOrEqual(
      cancelled.progress?.completed ?? 1,
    )
    await expect.poll(() => part(row, 'model-status').textContent(), poll).toBe('pulling')
    sim.configure({ pullBytesPerSecond: 4e9 })
    await expect.poll(() => part(row, 'model-status').textContent(), poll).toBe('present')
    expect(await part(row, 'error').isVisible()).toBe(false)
    await page.close()
    expect(errors.filter((e) => !/Failed to load resource/.test(e))).toEqual([])
    expect(failed).toEqual([])
    // The tab was never reloaded, which would have reset the hidden state this test plays.
    expect(loads).toBe(1)
  }, 60_000)
})
