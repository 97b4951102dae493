// The overlay across a dev-server restart: Vite's client notices, pings, and reloads the page.
import type { Browser } from 'playwright-core'
import { afterAll, describe, expect, it } from 'vitest'
import {
  browserSuiteName,
  collectPageErrors,
  type Harness,
  launchChromium,
  readySnapshot,
  skipBrowser,
  startHarness,
} from './overlay-harness.js'

const TAG = 'vite-plugin-ollama-overlay'
const poll = { timeout: 5_000, interval: 25 }

describe.skipIf(skipBrowser)(browserSuiteName('overlay when the dev server goes away'), () => {
  let browser: Browser | undefined
  const harnesses: Harness[] = []

  afterAll(async () => {
    await browser?.close()
    await Promise.all(harnesses.map((h) => h.close().catch(() => {})))
  })

  it('says so, and rebuilds its state from the server that comes back', async () => {
    browser = await launchChromium()
    const first = await startHarness()
    harnesses.push(first)
    const port = Number(new URL(first.url).port)
    const page = await browser.newPage()
    const errors: string[] = []
    collectPageErrors(page, errors)
    await page.goto(first.url)
    const host = page.locator(TAG)
    await expect.poll(() => host.getAttribute('phase'), poll).toBe('ready')

    await first.close()
    await expect.poll(() => host.getAttribute('disconnected'), poll).toBe('')
    expect(await page.locator('[data-testid="note"]').textContent()).toMatch(/disconnected/)

    // Vite's client pings until a server answers on the same port, then reloads the page; the
    // reloaded overlay says hello to the new server and shows what it answers.
    const second = await startHarness({ port })
    harnesses.push(second)
    second.snapshot = { ...readySnapshot, phase: 'starting', models: [] }
    await expect
      .poll(() => host.getAttribute('phase'), { timeout: 15_000, interval: 100 })
      .toBe('starting')
    expect(await host.getAttribute('disconnected')).toBeNull()
    expect(second.hellos).toBeGreaterThanOrEqual(1)
    // Only the failed pings while no server listened may be logged.
    expect(errors.filter((e) => !/WebSocket|ERR_CONNECTION_REFUSED/.test(e))).toEqual([])
  })
})
