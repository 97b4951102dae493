// The README's "AI SDK (useChat)" section, in Chromium: a React app (test/fixtures/use-chat-app)
// with @ai-sdk/react's useChat and DefaultChatTransport({ api: chatUrl }) against a real dev server
// with the plugin, the simulator behind it (engine 'external' on a simulator this test starts, so
// its stats and faults are at hand). No server code of the app's: text streams in, reasoning
// shows, a client-side tool round trip is one assistant message, stop() cancels upstream, an error
// shows as error.message, and the resume request is answered 204.
import { mkdtempSync, realpathSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import type { ViteDevServer } from 'vite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import ollama from '../src/index.js'
import { type Simulator, simulatedReply, startSimulator } from '../src/simulator/index.js'
import { waitForStatus } from './helpers/faults.js'
import { startVite } from './helpers/vite.js'
import {
  browserSuiteName,
  collectPageErrors,
  launchChromium,
  repoRoot,
  skipBrowser,
} from './overlay-harness.js'

const APP = join(repoRoot, 'test/fixtures/use-chat-app')
const poll = { timeout: 15_000, interval: 20 }

describe.skipIf(skipBrowser)(browserSuiteName('useChat against the dev server'), () => {
  let sim: Simulator
  let server: ViteDevServer
  let url: string
  let browser: Browser
  let cacheDir: string
  const errors: string[] = []

  beforeAll(async () => {
    sim = await startSimulator({ models: ['llama3.2', 'qwen3'], tokenDelayMs: 10 })
    cacheDir = mkdtempSync(join(tmpdir(), 'vpo-use-chat-'))
    ;({ server, url } = await startVite({
      root: APP,
      cacheDir,
      plugins: [
        ollama({
          engine: 'external',
          url: sim.url,
          models: ['llama3.2', 'qwen3'],
          warmup: false,
          overlay: false,
        }),
      ],
      // Bundled before the first page load, so no re-optimisation reloads the page mid-test.
      optimizeDeps: {
        include: ['react', 'react/jsx-dev-runtime', 'react-dom/client', '@ai-sdk/react', 'ai'],
      },
      server: { fs: { allow: [repoRoot, realpathSync(join(repoRoot, 'node_modules'))] } },
    }))
    await waitForStatus(url, (s) => s.phase === 'ready')
    browser = await launchChromium()
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await server?.close()
    await sim?.close()
    if (cacheDir) rmSync(cacheDir, { recursive: true, force: true })
    expect(errors).toEqual([])
  })

  /** The app at `?model=`, with its POSTs to /chat and every answer's status recorded. */
  async function openApp(model = 'llama3.2') {
    const page = await browser.newPage()
    collectPageErrors(page, errors)
    const posts: string[] = []
    const answers: { url: string; method: string; status: number }[] = []
    page.on('request', (r) => {
      if (r.method() === 'POST' && r.url().endsWith('/__ollama/chat'))
        posts.push(r.postData() ?? '')
    })
    page.on('response', (r) =>
      answers.push({ url: r.url(), method: r.request().method(), status: r.status() }),
    )
    await page.goto(`${url}/?model=${model}`)
    await page.locator('[data-testid="status"]').waitFor()
    return { page, posts, answers }
  }

  async function send(page: Page, text: string, button = 'send'): Promise<void> {
    await page.fill('[data-testid="input"]', text)
    await page.click(`[data-testid="${button}"]`)
  }

  const status = (page: Page) => page.locator('[data-testid="status"]').textContent()
  const assistant = (page: Page) => page.locator('[data-testid="message"][data-role="assistant"]')

  it('streams the answer in, and answers the resume request with 204', async () => {
    const { page, answers } = await openApp()
    // Every text the answer showed, as it changed.
    await page.evaluate(() => {
      const seen = new Set<string>()
      ;(window as unknown as { seen: Set<string> }).seen = seen
      new MutationObserver(() => {
        const text = document.querySelector('[data-role="assistant"] [data-testid="text"]')
        if (text?.textContent) seen.add(text.textContent)
      }).observe(document.body, { subtree: true, childList: true, characterData: true })
    })
    const prompt = 'Why is the sky blue?'
    await send(page, prompt)
    const reply = simulatedReply('llama3.2', prompt)
    await expect
      .poll(() => assistant(page).locator('[data-testid="text"]').textContent(), poll)
      .toBe(reply)
    await expect.poll(() => status(page), poll).toBe('ready')
    const seen = await page.evaluate(() => (window as unknown as { seen: Set<string> }).seen.size)
    expect(seen).toBeGreaterThan(3)
    expect(answers.filter((a) => /\/__ollama\/chat\/[^/]+\/stream$/.test(a.url))).toEqual([
      expect.objectContaining({ method: 'GET', status: 204 }),
    ])
    expect(await page.locator('[data-testid="error"]').count()).toBe(0)
    await page.close()
  })

  it('shows a thinking model’s reasoning, then its answer', async () => {
    const { page } = await openApp('qwen3')
    await send(page, 'Explain rainbows briefly')
    await expect.poll(() => status(page), poll).toBe('ready')
    const reasoning = assistant(page).locator('[data-testid="reasoning"]')
    expect(((await reasoning.textContent()) ?? '').length).toBeGreaterThan('Thinking'.length)
    expect(
      ((await assistant(page).locator('[data-testid="text"]').textContent()) ?? '').length,
    ).toBeGreaterThan(0)
    await page.close()
  })

  it('completes a client-side tool round trip in one assistant message that uses the result', async () => {
    const { page, posts } = await openApp()
    await send(page, 'Please roll the dice with 6 sides')
    await expect
      .poll(() => assistant(page).locator('[data-testid="text"]').textContent(), poll)
      .toContain('{"rolled":4}')
    await expect.poll(() => status(page), poll).toBe('ready')
    expect(posts).toHaveLength(2)
    const resent = JSON.parse(posts[1] as string) as {
      messageId: string
      messages: { id: string; role: string; parts: { type: string; state?: string }[] }[]
    }
    const last = resent.messages.at(-1)
    expect(last?.role).toBe('assistant')
    expect(resent.messageId).toBe(last?.id)
    expect(last?.parts.find((p) => p.type === 'tool-roll_dice')?.state).toBe('output-available')
    expect(await assistant(page).count()).toBe(1)
    expect(await assistant(page).locator('[data-testid="tool"]').getAttribute('data-state')).toBe(
      'output-available',
    )
    await page.close()
  })

  it('stop() cancels the model’s stream upstream within 100 ms', async () => {
    const { page } = await openApp()
    /** One long answer stopped mid-stream: ms from the stop to the simulator seeing its client go. */
    async function stopLatency(): Promise<number> {
      await send(page, 'Tell me a long story', 'send-long')
      await expect.poll(() => status(page), poll).toBe('streaming')
      const before = sim.stats.cancelledStreams
      const cancelled = new Promise<number>((resolve) =>
        sim.events.once('stream-cancel', () => resolve(performance.now())),
      )
      const stoppedAt = performance.now()
      // A click in the page itself: Playwright's click waits for its own checks first.
      await page.evaluate(() =>
        (document.querySelector('[data-testid="stop"]') as HTMLElement).click(),
      )
      const latency = (await cancelled) - stoppedAt
      expect(sim.stats.cancelledStreams).toBe(before + 1)
      await expect.poll(() => status(page), poll).toBe('ready')
      return latency
    }
    // The median of three after a warm-up, as the production abort tests measure it.
    await stopLatency()
    const runs = [await stopLatency(), await stopLatency(), await stopLatency()]
    expect(runs.sort((a, b) => a - b)[1]).toBeLessThan(100)
    expect(await page.locator('[data-testid="error"]').count()).toBe(0)
    await page.close()
  })

  it('shows an error part from the stream as error.message', async () => {
    const { page } = await openApp()
    sim.configure({ failAfterTokens: 3 })
    try {
      await send(page, 'This one breaks')
      await expect.poll(() => status(page), poll).toBe('error')
      const message = await page.locator('[data-testid="error"]').textContent()
      expect(message).toMatch(/Ollama/)
      // The tokens before the failure stay.
      expect(
        ((await assistant(page).locator('[data-testid="text"]').textContent()) ?? '').length,
      ).toBeGreaterThan(0)
    } finally {
      sim.configure({ failAfterTokens: undefined })
    }
    await page.close()
  })
})
