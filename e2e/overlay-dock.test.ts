// The overlay never covers the playground's controls while a pull runs (issue #14): the real Vite
// CLI serving the playground on the simulator engine, pulling slowly enough to last the specs,
// and Debian's Chromium at a laptop's size and at a phone's.
import type { Browser, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { ViteProcess } from '../test/helpers/spawn-vite.js'
import { browserSuiteName, launchChromium, skipBrowser } from '../test/overlay-harness.js'
import { OVERLAY, pageSet, readRow, waitForPhase } from './helpers/browser.js'
import { type Served, serve, stop } from './helpers/playground.js'

const MODEL = 'llama3.2:1b' // 1.32 GB in the simulator's catalog: over four minutes at 5 MB/s
const PULL_BYTES_PER_SECOND = 5_000_000
const SIZES = [
  { name: 'a laptop', viewport: { width: 1280, height: 800 } },
  { name: 'a phone', viewport: { width: 390, height: 844 } },
]

let browser: Browser | undefined

/** expect.poll with room for a loaded machine. */
function eventually<T>(read: () => T | Promise<T>, timeout = 20_000) {
  return expect.poll(read, { timeout, interval: 50 })
}

/**
 * The page's visible controls whose centre is not theirs: `document.elementFromPoint` there
 * returns something else (the overlay's host, when it covers them). Also says how many it checked.
 */
function coveredControls(page: Page): Promise<{ checked: number; covered: string[] }> {
  return page.evaluate(() => {
    const covered: string[] = []
    let checked = 0
    for (const el of document.querySelectorAll<HTMLElement>('input, button, select, textarea')) {
      const box = el.getBoundingClientRect()
      if (box.width === 0 || box.height === 0 || el.closest('[hidden]')) continue
      checked++
      const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2)
      if (!hit || (hit !== el && !el.contains(hit))) {
        covered.push(`${el.id || el.textContent || el.tagName} under ${hit?.tagName ?? 'nothing'}`)
      }
    }
    return { checked, covered }
  })
}

/**
 * Each enabled control of the page takes a real click (no `force`: Playwright checks that
 * nothing else is on top). The page's own, marked first: Playwright's locators would also find
 * the overlay's buttons inside its shadow root.
 */
async function clickEveryControl(page: Page): Promise<number> {
  const count = await page.evaluate(() => {
    const controls = document.querySelectorAll('input, button, select, textarea')
    let marked = 0
    for (const el of controls) {
      if ((el as HTMLButtonElement).disabled || el.getBoundingClientRect().width === 0) continue
      el.setAttribute('data-click-check', String(marked++))
    }
    return marked
  })
  for (let i = 0; i < count; i++) {
    await page.locator(`[data-click-check="${i}"]`).click({ timeout: 5_000 })
    await page.keyboard.press('Escape') // a <select>'s list closes again
  }
  return count
}

describe.skipIf(skipBrowser)(
  browserSuiteName(
    'the overlay during a long pull, beside the playground (real Vite CLI, Chromium)',
  ),
  () => {
    const served: Served = {}
    const pages = pageSet(() => {
      if (!browser) throw new Error('Chromium did not start')
      return browser
    })
    let vite: ViteProcess

    beforeAll(async () => {
      browser = await launchChromium()
      vite = await serve(served, [`simulator: { pullBytesPerSecond: ${PULL_BYTES_PER_SECOND} }`], {
        OLLAMA_ENGINE: 'simulator',
      })
    })
    afterEach(async () => {
      await pages.close()
      expect(pages.errors.splice(0)).toEqual([])
    })
    afterAll(async () => {
      await stop(served)
      await browser?.close()
    })

    async function openPulling(viewport: { width: number; height: number }): Promise<Page> {
      const page = await pages.open(`${vite.url}/`, { viewport })
      await waitForPhase(page, 'pulling')
      await eventually(async () => (await readRow(page, MODEL))?.status).toBe('pulling')
      return page
    }

    for (const { name, viewport } of SIZES) {
      it(`leaves every control clickable on ${name} (${viewport.width}×${viewport.height})`, async () => {
        const page = await openPulling(viewport)
        await eventually(() => coveredControls(page)).toMatchObject({ covered: [] })
        // The model picker, the prompt, Send, Stop, the pull box and its button.
        expect((await coveredControls(page)).checked).toBeGreaterThanOrEqual(6)
        // The overlay still says how the pull goes, as the card or as the badge.
        expect(await page.locator(OVERLAY).getByTestId('summary').textContent()).toMatch(/%$/)
        expect(await clickEveryControl(page)).toBeGreaterThanOrEqual(5)
      }, 60_000)

      it(`says a chat waits for the model, and stays off the controls, on ${name}`, async () => {
        const page = await openPulling(viewport)
        await page.locator('#prompt').fill('Are you there yet?')
        await page.locator('#send').click({ timeout: 5_000 })
        const overlay = page.locator(OVERLAY)
        // In the badge always; in full on the card, when the card has room to show.
        await eventually(() => overlay.getByTestId('summary').textContent()).toMatch(
          /^\d+(\.\d)?% · a chat waits$/,
        )
        if (!(await overlay.getAttribute('docked'))) {
          expect(await overlay.getByTestId('waiting-line').textContent()).toMatch(
            /^A chat is waiting for llama3\.2:1b — \d+(\.\d)?%, about (\d+s|\d+m \d\ds)$/,
          )
        }
        // The answer bubble moved things; the controls are still the page's, Stop included.
        await eventually(() => coveredControls(page)).toMatchObject({ covered: [] })
        await page.locator('#stop').click({ timeout: 5_000 })
        await eventually(() => overlay.getByTestId('summary').textContent()).toMatch(/%$/)
        expect(await overlay.getByTestId('waiting').isVisible()).toBe(false)
      }, 60_000)
    }

    it('opens from the docked badge on a click, and docks again once the user works on the page', async () => {
      const page = await openPulling(SIZES[1]!.viewport)
      const overlay = page.locator(OVERLAY)
      await eventually(() => overlay.getAttribute('docked')).toBe('')
      await overlay.locator('.title').click()
      expect(await overlay.getAttribute('docked')).toBeNull()
      expect(await overlay.getByTestId('toggle').getAttribute('aria-expanded')).toBe('true')
      expect(await overlay.getByTestId('engine').isVisible()).toBe(true)
      // The card the user asked for may cover the composer; focus going there docks it.
      await page.locator('#prompt').focus()
      await eventually(() => overlay.getAttribute('docked')).toBe('')
      expect(await overlay.getByTestId('toggle').getAttribute('aria-expanded')).toBe('false')
      await eventually(() => coveredControls(page)).toMatchObject({ covered: [] })
    }, 60_000)
  },
)
