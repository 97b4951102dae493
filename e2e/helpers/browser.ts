// Pages of the playground in Debian's Chromium, with what the specs read from them: the overlay
// (an open shadow root, which Playwright's CSS locators pierce), the chat bubbles as they stream,
// and every console error or uncaught exception.
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { collectPageErrors } from '../../test/overlay-harness.js'

export const OVERLAY = 'vite-plugin-ollama-overlay'

/** The pages one spec opened and the errors they reported; closed (and checked) after the spec. */
export interface PageSet {
  errors: string[]
  open(url: string, opts?: { viewport?: { width: number; height: number } }): Promise<Page>
  close(): Promise<void>
}

/** One browser context per page: separate localStorage, as separate users (or a fresh profile). */
export function pageSet(browser: () => Browser): PageSet {
  const contexts: BrowserContext[] = []
  const errors: string[] = []
  return {
    errors,
    async open(url, opts = {}) {
      const context = await browser().newContext({
        viewport: opts.viewport ?? { width: 1100, height: 720 },
        deviceScaleFactor: 1,
      })
      contexts.push(context)
      // Playwright's library default is no timeout: a missing element would hang the spec.
      context.setDefaultTimeout(30_000)
      const page = await context.newPage()
      collectPageErrors(page, errors)
      await page.goto(url)
      return page
    },
    async close() {
      await Promise.all(contexts.splice(0).map((c) => c.close()))
    },
  }
}

/** The overlay's host attribute `phase`, once it says `phase`. */
export async function waitForPhase(page: Page, phase: string, timeout = 60_000): Promise<void> {
  await page.waitForFunction(
    ([tag, wanted]) => document.querySelector(tag as string)?.getAttribute('phase') === wanted,
    [OVERLAY, phase],
    { timeout, polling: 50 },
  )
}

export function isCollapsed(page: Page): Promise<boolean> {
  return page.evaluate(
    (tag) => document.querySelector(tag)?.hasAttribute('collapsed') ?? false,
    OVERLAY,
  )
}

/** The overlay row of one model: its status attribute, bar width (style, in %) and texts. */
export interface RowSample {
  status: string | null
  width: number
  percent: string
  speed: string
  eta: string
}

export function readRow(page: Page, model: string): Promise<RowSample | null> {
  return page.evaluate(
    ([tag, name]) => {
      const row = document
        .querySelector(tag as string)
        ?.shadowRoot?.querySelector(`[data-testid="model"][data-model="${name}"]`)
      if (!row) return null
      const text = (id: string) => row.querySelector(`[data-testid="${id}"]`)?.textContent ?? ''
      const bar = row.querySelector<HTMLElement>('[data-testid="bar"]')
      return {
        status: row.getAttribute('status'),
        width: Number.parseFloat(bar?.style.width ?? '') || 0,
        percent: text('percent'),
        speed: text('speed'),
        eta: text('eta'),
      }
    },
    [OVERLAY, model],
  )
}

/**
 * Records the text of the last bubble matching `selector` each time the DOM changes: the
 * streaming answer as the reader saw it, frame by frame. Read it back with {@link textSamples}.
 */
export async function recordBubbleText(page: Page, selector: string): Promise<void> {
  await page.evaluate((sel) => {
    const samples: string[] = []
    ;(window as unknown as { __samples: string[] }).__samples = samples
    const messages = document.getElementById('messages')
    if (!messages) throw new Error('no #messages in the playground')
    new MutationObserver(() => {
      const bubbles = messages.querySelectorAll(sel)
      const text = bubbles[bubbles.length - 1]?.querySelector('.body')?.textContent
      if (text && text !== samples[samples.length - 1]) samples.push(text)
    }).observe(messages, { subtree: true, childList: true, characterData: true })
  }, selector)
}

export function textSamples(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { __samples: string[] }).__samples)
}

/** Each sample extends the one before and the last is `full`: the text grew, never jumped back. */
export function growsInto(samples: string[], full: string): boolean {
  return (
    samples.at(-1) === full &&
    samples.every(
      (s, i) => full.startsWith(s) && (i === 0 || s.length > (samples[i - 1] ?? '').length),
    )
  )
}
