import { mkdir, readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  engineLine,
  formatBytes,
  formatEta,
  formatPercent,
  formatSpeed,
  gpuLine,
  normaliseModelName,
  summarisePulls,
} from '../src/client/overlay-format.js'
import { pullTitle } from '../src/client/overlay-title.js'
import type { PullProgressEvent, StateSnapshot } from '../src/protocol.js'
import {
  browserSuiteName,
  CSP_NONCE,
  collectPageErrors,
  type Harness,
  launchChromium,
  OVERLAY_BASE,
  readySnapshot,
  repoRoot,
  skipBrowser,
  startHarness,
} from './overlay-harness.js'

const TAG = 'vite-plugin-ollama-overlay'
const poll = { timeout: 5_000, interval: 25 }

describe('overlay text', () => {
  it('formats sizes, speeds, ETAs and percentages the way the card shows them', () => {
    // One unit rule with the terminal (src/format.ts): decimal, so a 24 GiB card is 25.8 GB.
    expect(formatBytes(24 * 1024 ** 3)).toBe('25.8 GB')
    expect(formatBytes(8_589_934_592 - 300 * 1024 ** 2)).toBe('8.3 GB')
    expect(formatBytes(2_019_393_189)).toBe('2.0 GB')
    expect(formatBytes(809_000_000)).toBe('809 MB')
    expect(formatBytes(0)).toBe('0 B')
    expect(formatSpeed(86_400_000)).toBe('86.4 MB/s')
    expect(formatSpeed(0)).toBe('– MB/s')
    expect(formatEta(null)).toBe('–')
    expect(formatEta(14.4)).toBe('14s')
    expect(formatEta(65)).toBe('1m 05s')
    expect(formatEta(3720)).toBe('1h 02m')
    expect(formatPercent(42.37)).toBe('42%')
    expect(formatPercent(2.5)).toBe('2.5%')
    expect(formatPercent(140)).toBe('100%')
  })

  it('names the engine, the GPU and the model the way users know them', () => {
    expect(engineLine(readySnapshot.engine)).toBe('Docker · Ollama 0.12.3')
    expect(engineLine(null)).toBe('No engine')
    expect(gpuLine(readySnapshot.gpu)).toBe('NVIDIA GeForce RTX 4090 · 25.8 GB')
    expect(gpuLine({ gpus: [], accelerator: 'cpu' })).toBe('CPU only')
    expect(normaliseModelName('llama3.2')).toBe('llama3.2:latest')
    expect(normaliseModelName('hf.co/org/model:Q4_K_M')).toBe('hf.co/org/model:Q4_K_M')
    expect(normaliseModelName('localhost:5000/llama3.2')).toBe('localhost:5000/llama3.2:latest')
  })

  it('sums the pulls for the badge and the hidden tab’s title', () => {
    const pulling = (name: string, completed: number, total: number) => ({
      name,
      status: 'pulling' as const,
      progress: {
        model: name,
        status: 'pulling',
        completed,
        total,
        percent: 0,
        bytesPerSecond: 0,
        etaSeconds: null,
      },
    })
    expect(summarisePulls([{ name: 'a', status: 'present' }])).toBeUndefined()
    const one = summarisePulls([pulling('llama3.2', 420, 1000), { name: 'b', status: 'loaded' }])
    expect(one).toEqual({ percent: 42, what: 'llama3.2' })
    expect(pullTitle(one!, 'My app')).toBe('↓ 42% llama3.2 · My app')
    const two = summarisePulls([pulling('a', 100, 1000), pulling('b', 0, 1000)])
    expect(pullTitle(two!, '')).toBe('↓ 5% 2 models')
    // Before any size is known: no figure, just what pulls.
    const early = summarisePulls([{ name: 'qwen3', status: 'pulling' }])
    expect(pullTitle(early!, 'x')).toBe('↓ qwen3 · x')
  })

  it('never parses markup: no innerHTML, outerHTML, insertAdjacentHTML or document.write', async () => {
    const dir = join(repoRoot, 'src/client')
    const files = (await readdir(dir)).filter((f) => f.startsWith('overlay'))
    expect(files.length).toBeGreaterThanOrEqual(2)
    for (const file of files) {
      const source = await readFile(join(dir, file), 'utf8')
      expect(source, file).not.toMatch(
        /\.(innerHTML|outerHTML)\b|insertAdjacentHTML|document\.write/,
      )
    }
  })
})

const browserSuite = browserSuiteName('overlay in Chromium')

describe.skipIf(skipBrowser)(browserSuite, () => {
  let harness: Harness
  let browser: Browser
  let context: BrowserContext | undefined
  const errors: string[] = []

  beforeAll(async () => {
    browser = await launchChromium()
    harness = await startHarness()
  })

  afterAll(async () => {
    await browser?.close()
    await harness?.close()
  })

  afterEach(async () => {
    await context?.close()
    context = undefined
    harness.snapshot = readySnapshot
    harness.pullOutcome = 'done'
    harness.pulls.length = 0
    const seen = errors.splice(0)
    expect(seen).toEqual([])
  })

  /** A fresh context (so fresh localStorage) and a page showing the overlay with `snapshot`. */
  async function openOverlay(snapshot: StateSnapshot, query = ''): Promise<Page> {
    harness.snapshot = snapshot
    context ??= await browser.newContext({
      viewport: { width: 1024, height: 640 },
      deviceScaleFactor: 2,
    })
    const page = await context.newPage()
    collectPageErrors(page, errors)
    await page.goto(`${harness.url}${query}`)
    await waitForPhase(page, snapshot)
    return page
  }

  async function waitForPhase(page: Page, snapshot: StateSnapshot): Promise<void> {
    await expect.poll(() => page.locator(TAG).getAttribute('phase'), poll).toBe(snapshot.phase)
    await expect.poll(() => part(page, 'phase').textContent(), poll).not.toBe('Connecting')
  }

  function part(page: Page | Locator, testid: string): Locator {
    return page.locator(`[data-testid="${testid}"]`)
  }

  function modelRow(page: Page, name: string): Locator {
    return page.locator(`[data-testid="model"][data-model="${name}"]`)
  }

  it('renders the phase, the engine and the GPU from the snapshot the server sends on hello', async () => {
    const hellosBefore = harness.hellos
    const page = await openOverlay(readySnapshot)
    expect(harness.hellos).toBeGreaterThan(hellosBefore)
    expect(await part(page, 'phase').textContent()).toBe('Ready')
    expect(await part(page, 'phase').getAttribute('role')).toBe('status')
    expect(await part(page, 'phase').getAttribute('aria-live')).toBe('polite')
    expect(await part(page, 'engine').textContent()).toBe('Docker · Ollama 0.12.3')
    expect(await part(page, 'gpu').textContent()).toBe('NVIDIA GeForce RTX 4090 · 25.8 GB')
    expect(await part(page, 'simulated-badge').isVisible()).toBe(false)
    const row = modelRow(page, 'llama3.2:latest')
    expect(await part(row, 'model-status').textContent()).toBe('loaded · 100% GPU')
    // Compact ready state: no bar, no error, no Retry.
    expect(await part(row, 'bar').isVisible()).toBe(false)
    expect(await part(row, 'retry').isVisible()).toBe(false)
    // Ready and quiet, with no choice stored: folded to the badge, off the app's own controls.
    expect(await page.locator(TAG).getAttribute('collapsed')).toBe('')

    harness.sendState({
      ...readySnapshot,
      phase: 'stopped',
      error: { message: 'Container stopped' },
    })
    await expect.poll(() => part(page, 'phase').textContent(), poll).toBe('Stopped')
    expect(await part(page, 'problem-message').textContent()).toBe('Container stopped')
    // Something to read: the card opens again by itself.
    expect(await page.locator(TAG).getAttribute('collapsed')).toBeNull()
  })

  it('shows a warning in yellow and stays open while it lasts (Docker unreachable)', async () => {
    const page = await openOverlay({
      ...readySnapshot,
      warning: {
        message: 'Docker is unreachable: crash recovery is paused',
        hint: 'Start Docker again; chat keeps working while Ollama answers.',
      },
    })
    await expect
      .poll(() => part(page, 'problem-message').textContent(), poll)
      .toBe('Docker is unreachable: crash recovery is paused')
    expect(await part(page, 'problem').getAttribute('data-warning')).toBe('')
    expect(await part(page, 'problem-hint').textContent()).toMatch(/Start Docker again/)
    expect(await page.locator(TAG).getAttribute('collapsed')).toBeNull()
    harness.sendState(readySnapshot)
    await expect.poll(() => part(page, 'problem').isVisible(), poll).toBe(false)
    expect(await page.locator(TAG).getAttribute('collapsed')).toBe('')
  })

  it('shows a chat’s context warning and stays open until a chat fits again', async () => {
    const page = await openOverlay(readySnapshot)
    expect(await part(page, 'context-warning').isVisible()).toBe(false)
    harness.sendState({
      ...readySnapshot,
      contextWarning: {
        model: 'llama3.2',
        level: 'over',
        promptTokens: 6012,
        numCtx: 4096,
        maxCtx: 131072,
        message:
          "The prompt (about 6012 tokens) does not fit llama3.2's context window (num_ctx 4096): Ollama cut its start to fit, without an error, so the model never saw it.",
        hint: 'Raise num_ctx: numCtx in the ollama() options in vite.config.ts (engines the plugin starts), or options.num_ctx in the request; llama3.2 takes up to 131072. Or send less history.',
      },
    })
    await expect
      .poll(() => part(page, 'context-message').textContent(), poll)
      .toMatch(/^The prompt \(about 6012 tokens\) does not fit llama3\.2's context window/)
    expect(await part(page, 'context-hint').textContent()).toMatch(/takes up to 131072/)
    expect(await part(page, 'context-warning').getAttribute('data-warning')).toBe('')
    expect(await part(page, 'problem').isVisible()).toBe(false)
    expect(await page.locator(TAG).getAttribute('collapsed')).toBeNull()
    harness.sendState(readySnapshot)
    await expect.poll(() => part(page, 'context-warning').isVisible(), poll).toBe(false)
    expect(await page.locator(TAG).getAttribute('collapsed')).toBe('')
  })

  it('shows a clear "simulated" badge when the engine is the simulator', async () => {
    const page = await openOverlay({
      ...readySnapshot,
      engine: {
        kind: 'simulator',
        label: 'Simulator',
        url: 'http://127.0.0.1:40123',
        version: '0.12.3',
        simulated: true,
      },
      gpu: { gpus: [], accelerator: 'cpu' },
    })
    expect(await part(page, 'simulated-badge').isVisible()).toBe(true)
    expect(await part(page, 'simulated-badge').textContent()).toBe('simulated')
    expect(await part(page, 'engine').textContent()).toBe('Simulator · Ollama 0.12.3')
    expect(await part(page, 'gpu').textContent()).toBe('CPU only')
    // Still said when collapsed (ready folds the card by itself): nobody should mistake
    // simulated replies for a model's.
    expect(await page.locator(TAG).getAttribute('collapsed')).toBe('')
    expect(await part(page, 'simulated-badge').isVisible()).toBe(true)
  })

  it('grows a model bar as progress events arrive, with percent, speed and ETA', async () => {
    const total = 2_019_393_189
    const pulling: StateSnapshot = {
      ...readySnapshot,
      phase: 'pulling',
      models: [
        { name: 'qwen2.5-coder:7b', status: 'loaded', processor: '100% GPU' },
        { name: 'llama3.2:latest', status: 'pulling' },
      ],
    }
    const page = await openOverlay(pulling)
    const row = modelRow(page, 'llama3.2:latest')
    const bar = part(row, 'bar')
    const progress = (percent: number, etaSeconds: number): PullProgressEvent => ({
      model: 'llama3.2', // the short name: rows match on the normalised name
      status: 'pulling dde5aa3fc5ff',
      completed: Math.round((total * percent) / 100),
      total,
      percent,
      bytesPerSecond: 86_400_000,
      etaSeconds,
    })

    const widths: number[] = []
    for (const [percent, eta] of [
      [5, 22],
      [42, 14],
      [85, 3],
    ] as const) {
      harness.sendProgress(progress(percent, eta))
      await expect
        .poll(() => bar.evaluate((el) => (el as HTMLElement).style.width), poll)
        .toBe(`${percent}%`)
      expect(await part(row, 'percent').textContent()).toBe(`${percent}%`)
      expect(await row.locator('[role="progressbar"]').getAttribute('aria-valuenow')).toBe(
        String(percent),
      )
      expect(await part(row, 'speed').textContent()).toBe('86.4 MB/s')
      expect(await part(row, 'eta').textContent()).toBe(`${eta}s left`)
      // The drawn width follows (after its short transition).
      await expect
        .poll(async () => {
          const [barBox, trackBox] = await Promise.all([
            bar.boundingBox(),
            row.locator('[role="progressbar"]').boundingBox(),
          ])
          return Math.round(((barBox?.width ?? 0) / (trackBox?.width ?? 1)) * 100)
        }, poll)
        .toBe(percent)
      widths.push((await bar.boundingBox())?.width ?? 0)

      if (percent === 42) await saveReadmeScreenshot(page)
    }
    expect(widths[0]).toBeLessThan(widths[1]!)
    expect(widths[1]).toBeLessThan(widths[2]!)
    expect(await modelRow(page, 'qwen2.5-coder:7b').count()).toBe(1)
    expect(await page.locator('[data-testid="model"]').count()).toBe(2)

    harness.sendState({
      ...readySnapshot,
      models: [{ name: 'llama3.2:latest', status: 'present' }],
    })
    await expect.poll(() => part(row, 'model-status').textContent(), poll).toBe('present')
    expect(await bar.isVisible()).toBe(false)
    expect(await page.locator('[data-testid="model"]').count()).toBe(1)
  })

  async function saveReadmeScreenshot(page: Page): Promise<void> {
    const dir = join(repoRoot, 'e2e/screenshots')
    await mkdir(dir, { recursive: true })
    const box = await page.locator(`${TAG} .card`).boundingBox()
    if (!box) throw new Error('overlay card is not visible')
    const margin = 28
    await page.screenshot({
      path: join(dir, 'overlay.png'),
      animations: 'disabled', // the pulsing dot, caught at full colour
      clip: {
        x: box.x - margin,
        y: box.y - margin,
        width: box.width + 2 * margin,
        height: box.height + 2 * margin,
      },
    })
  }

  it('shows a failed model with its error, hint and a Retry that posts to base/pull', async () => {
    const failed: StateSnapshot = {
      ...readySnapshot,
      phase: 'error',
      models: [
        {
          name: 'llama3.2:latest',
          status: 'error',
          error: {
            message: 'max retries exceeded: connection reset',
            hint: 'Check your network, then Retry.',
          },
        },
      ],
    }
    const page = await openOverlay(failed)
    const row = modelRow(page, 'llama3.2:latest')
    expect(await part(row, 'error').textContent()).toBe('max retries exceeded: connection reset')
    expect(await part(row, 'hint').textContent()).toBe('Check your network, then Retry.')
    const retry = part(row, 'retry')
    expect(await retry.getAttribute('aria-label')).toBe('Retry pulling llama3.2:latest')
    expect(await retry.evaluate((el) => el.tagName)).toBe('BUTTON')

    await retry.click()
    await expect.poll(() => harness.pulls.length, poll).toBe(1)
    expect(harness.pulls[0]).toEqual({
      body: { model: 'llama3.2:latest' },
      contentType: 'application/json',
    })
    // The stream ended with `done`: the button is usable again, the row still follows the server.
    await expect.poll(() => retry.isEnabled(), poll).toBe(true)
    expect(await retry.textContent()).toBe('Retry')

    harness.pullOutcome = 'error'
    await retry.click()
    await expect
      .poll(() => part(row, 'error').textContent(), poll)
      .toBe('Retry failed: pull model manifest: file does not exist')
    expect(await part(row, 'hint').textContent()).toBe('Check the name on ollama.com/library')
    expect(harness.pulls).toHaveLength(2)
    expect(OVERLAY_BASE).toBe('/__ollama')
  })

  it('renders text from the server as text, never as markup', async () => {
    const hostile = '<img src=x onerror="window.__pwned=1">'
    const page = await openOverlay({
      ...readySnapshot,
      phase: 'error',
      error: { message: `<b>bold</b> ${hostile}`, hint: '<script>window.__pwned=2</script>' },
      models: [{ name: hostile, status: 'error', error: { message: hostile } }],
    })
    expect(await part(page, 'problem-message').textContent()).toBe(`<b>bold</b> ${hostile}`)
    expect(await part(page, 'problem-hint').textContent()).toBe('<script>window.__pwned=2</script>')
    expect(await part(page.locator('[data-testid="model"]'), 'error').textContent()).toBe(hostile)
    expect(await page.locator(`${TAG} img, ${TAG} b, ${TAG} script`).count()).toBe(0)
    expect(await page.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined()
  })

  it('collapses to a badge on click and remembers it across reloads', async () => {
    const starting: StateSnapshot = { ...readySnapshot, phase: 'starting' }
    const page = await openOverlay(starting)
    const host = page.locator(TAG)
    const toggle = part(page, 'toggle')
    expect(await toggle.getAttribute('aria-expanded')).toBe('true')

    await toggle.click()
    expect(await host.getAttribute('collapsed')).toBe('')
    expect(await toggle.getAttribute('aria-expanded')).toBe('false')
    expect(await part(page, 'engine').isVisible()).toBe(false)
    expect(await part(page, 'phase').isVisible()).toBe(true)

    await page.reload()
    await waitForPhase(page, starting)
    expect(await host.getAttribute('collapsed')).toBe('')

    // A click anywhere on the badge expands it again, and that choice is remembered too.
    await page.locator(`${TAG} .title`).click()
    expect(await host.getAttribute('collapsed')).toBeNull()
    await page.reload()
    await waitForPhase(page, starting)
    expect(await host.getAttribute('collapsed')).toBeNull()
  })

  it('takes config.collapsed as the default only until the user chooses', async () => {
    const page = await openOverlay(readySnapshot, '?collapsed=true')
    const host = page.locator(TAG)
    expect(await host.getAttribute('collapsed')).toBe('')
    await part(page, 'toggle').click()
    await page.reload()
    await waitForPhase(page, readySnapshot)
    expect(await host.getAttribute('collapsed')).toBeNull()
  })

  it('mounts one overlay however often mountOverlay runs, and still updates it', async () => {
    const hellosBefore = harness.hellos
    const page = await openOverlay(readySnapshot, '?twice')
    // Both evaluations of the module said hello (each wires itself to the one element); then count.
    // (A hello from the previous test's page may still land here, hence at least two.)
    await expect.poll(() => harness.hellos - hellosBefore, poll).toBeGreaterThanOrEqual(2)
    expect(await page.evaluate((tag) => document.querySelectorAll(tag).length, TAG)).toBe(1)
    harness.sendState({ ...readySnapshot, phase: 'starting' })
    await expect.poll(() => part(page, 'phase').textContent(), poll).toBe('Starting')
  })

  it('sits in the configured corner', async () => {
    const page = await openOverlay(readySnapshot, '?position=top-left')
    const box = await page.locator(`${TAG} .card`).boundingBox()
    expect(box?.x).toBe(16)
    expect(box?.y).toBe(16)
  })

  it('keeps its styles under a strict CSP, with a nonce and with none', async () => {
    for (const query of [`?csp&nonce=${CSP_NONCE}`, '?csp']) {
      const page = await openOverlay(readySnapshot, query)
      const background = await page
        .locator(`${TAG} .card`)
        .evaluate((el) => getComputedStyle(el).backgroundColor)
      expect(background, query).toBe('rgb(24, 24, 24)')
      await page.close()
    }
  })
})
