// The playground end to end: the real Vite CLI serving a copy of playground/ with the plugin,
// Debian's Chromium on it, and the project's simulator as Ollama. Two set-ups:
// - `engine: 'simulator'` (OLLAMA_ENGINE, as the playground documents): the in-process simulator
//   the README's screenshot shows, marked "simulated";
// - `engine: 'external'` at a simulator this test starts itself, whose stats (cancelled streams,
//   POST /api/pull count) the specs read directly.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type Simulator, startSimulator } from '../src/simulator/index.js'
import { simulatedReply, tokenize } from '../src/simulator/tokens.js'
import { type ViteProcess, waitForModels, waitForText } from '../test/helpers/spawn-vite.js'
import { waitFor } from '../test/helpers/vite.js'
import { browserSuiteName, launchChromium, skipBrowser } from '../test/overlay-harness.js'
import {
  growsInto,
  isCollapsed,
  OVERLAY,
  pageSet,
  type RowSample,
  readRow,
  recordBubbleText,
  textSamples,
  waitForPhase,
} from './helpers/browser.js'
import { replaceOnce, repoRoot, type Served, serve, stop } from './helpers/playground.js'

const MODEL = 'llama3.2:1b' // the playground's model: 1.32 GB in the simulator's catalog
const SCREENSHOTS = join(repoRoot, 'e2e/screenshots')
// Slow enough to watch: llama3.2:1b takes about 10 s (the first page must open while it still
// pulls, even on a busy machine), tokens come at a readable pace.
const PULL_BYTES_PER_SECOND = 130_000_000
const TOKEN_DELAY_MS = 25

let browser: Browser | undefined
const getBrowser = () => {
  if (!browser) throw new Error('Chromium did not start')
  return browser
}

/** expect.poll with room for a loaded machine (its default gives up after one second). */
function eventually<T>(read: () => T | Promise<T>, timeout = 20_000) {
  return expect.poll(read, { timeout, interval: 50 })
}

/** Sends `text` from the composer and resolves with the answer bubble. */
async function ask(page: Page, text: string) {
  await page.locator('#prompt').fill(text)
  await page.locator('#send').click()
  return page.locator('[data-testid="answer"]').last()
}

/** The bubble's label says how it ended: "… · 37 tok/s" when done, "… · stopped" when stopped. */
async function waitForEnd(bubble: ReturnType<Page['locator']>, how: RegExp, timeout = 30_000) {
  await expect
    .poll(() => bubble.locator('.who').textContent(), { timeout, interval: 50 })
    .toMatch(how)
}

beforeAll(async () => {
  if (skipBrowser) return
  browser = await launchChromium()
  mkdirSync(SCREENSHOTS, { recursive: true })
})

afterAll(async () => {
  await browser?.close()
})

describe.skipIf(skipBrowser)(
  browserSuiteName('the playground on the simulator engine (real Vite CLI, Chromium)'),
  () => {
    const served: Served = {}
    const pages = pageSet(getBrowser)
    let vite: ViteProcess

    beforeAll(async () => {
      vite = await serve(
        served,
        [
          `simulator: { tokenDelayMs: ${TOKEN_DELAY_MS}, pullBytesPerSecond: ${PULL_BYTES_PER_SECOND} }`,
        ],
        { OLLAMA_ENGINE: 'simulator' },
      )
    })
    afterEach(async () => {
      await pages.close()
      // Spec (7): no console error and no uncaught exception on any page of any spec.
      expect(pages.errors.splice(0)).toEqual([])
    })
    afterAll(() => stop(served))

    it('first load: the overlay shows the model pulling with a growing bar, then ready', async () => {
      // Wide enough that the overlay's screenshot has nothing of the app behind it.
      const page = await pages.open(`${vite.url}/`, { viewport: { width: 1600, height: 720 } })
      await eventually(() => page.locator(OVERLAY).count()).toBe(1)

      // Sample the bar until the pull is over: it must have been seen at several widths. The
      // screenshot is taken at the first sample past 30 %: a loaded machine samples a 5 s pull sparsely.
      const widths: number[] = []
      let shot = false
      let last: RowSample | null = null
      await waitFor(
        async () => {
          last = await readRow(page, MODEL)
          if (last?.status === 'pulling' && last.width !== widths.at(-1)) widths.push(last.width)
          if (last?.status === 'pulling' && !shot && last.width >= 30 && last.width < 100) {
            shot = true
            await screenshotOverlay(page)
          }
          return last && last.status !== 'pulling' && last.status !== 'missing' && widths.length > 0
        },
        40_000,
        `${MODEL} to finish pulling`,
      ).catch((error: Error) => {
        error.message += `\nwidths seen: ${widths.join(', ')}; last row: ${JSON.stringify(last)}`
        throw error
      })

      const midPull = widths.filter((w) => w > 0 && w < 100)
      expect(midPull.length, `bar widths seen: ${widths.join(', ')}`).toBeGreaterThanOrEqual(3)
      expect(widths).toEqual([...widths].sort((a, b) => a - b))
      expect(shot, 'a screenshot was taken mid-pull').toBe(true)

      await waitForPhase(page, 'ready')
      const row = await readRow(page, MODEL)
      expect(['present', 'loaded']).toContain(row?.status)
      const overlay = page.locator(OVERLAY)
      await eventually(() => overlay.getByTestId('engine').textContent()).toMatch(
        /^Simulator · Ollama /,
      )
      expect(await overlay.getByTestId('simulated-badge').isVisible()).toBe(true)
      // The model picker lists the playground's model once the plugin has read it.
      await eventually(() => page.locator('#model').inputValue()).toBe(MODEL)
    }, 60_000)

    it('streams a chat answer token by token: the simulator’s exact reply, then the metrics line', async () => {
      const page = await pages.open(`${vite.url}/?room=stream-${Date.now()}`)
      await waitForPhase(page, 'ready')
      await eventually(() => page.locator('#model').inputValue()).toBe(MODEL)
      const prompt = 'What does a Vite plugin do when the dev server starts?'
      const reply = simulatedReply(MODEL, prompt)

      await recordBubbleText(page, '[data-testid="answer"]')
      const answer = await ask(page, prompt)
      expect(
        await page.locator('[data-testid="user-message"]').last().locator('.body').textContent(),
      ).toBe(prompt)
      await waitForEnd(answer, /tok\/s$/)

      expect(await answer.locator('.body').textContent()).toBe(reply)
      const samples = await textSamples(page)
      expect(samples.length, `samples: ${JSON.stringify(samples)}`).toBeGreaterThanOrEqual(5)
      expect(growsInto(samples, reply), JSON.stringify(samples)).toBe(true)

      const metrics = await page.locator('#metrics').textContent()
      expect(metrics).toMatch(
        new RegExp(
          `^${MODEL.replace('.', '\\.')} · \\d+ tokens · \\d+\\.\\d tok/s · first token after \\d+ ms$`,
        ),
      )
      expect(metrics).toContain(` ${tokenize(reply).length} tokens `)
      expect(
        Number(await page.locator('#metrics').getAttribute('data-tokens-per-second')),
      ).toBeGreaterThan(0)
      expect(await page.locator('#stop').isDisabled()).toBe(true)
    }, 60_000)

    it('a second page in the same room watches the answer stream live', async () => {
      const room = `watch-${Date.now()}`
      const watcher = await pages.open(`${vite.url}/?room=${room}`)
      const asker = await pages.open(`${vite.url}/?room=${room}`)
      await Promise.all([waitForPhase(watcher, 'ready'), waitForPhase(asker, 'ready')])
      await eventually(() => asker.locator('#model').inputValue()).toBe(MODEL)
      expect(await watcher.locator('#room').textContent()).toBe(`room: ${room}`)
      const prompt = 'Explain streaming to a room of watchers in one line.'
      const reply = simulatedReply(MODEL, prompt)

      await recordBubbleText(watcher, '[data-testid="watched-answer"]')
      const answer = await ask(asker, prompt)
      const watched = watcher.locator('[data-testid="watched-answer"]').last()
      await waitForEnd(answer, /tok\/s$/)
      await waitForEnd(watched, /tok\/s$/)

      expect(await watched.locator('.body').textContent()).toBe(reply)
      expect(await watched.locator('.who').textContent()).toMatch(
        new RegExp(`^${MODEL.replace('.', '\\.')} \\(live\\)`),
      )
      const samples = await textSamples(watcher)
      expect(samples.length, `samples: ${JSON.stringify(samples)}`).toBeGreaterThanOrEqual(3)
      expect(growsInto(samples, reply), JSON.stringify(samples)).toBe(true)
      // The watcher sees the question too, and is not mistaken for the asker.
      expect(await watcher.locator('.msg.user.watched .body').last().textContent()).toBe(prompt)
      expect(await watcher.locator('[data-testid="answer"]').count()).toBe(0)
    }, 60_000)

    it('the overlay remembers being expanded or collapsed across reloads', async () => {
      // Wide enough for the card to have a corner free of the page's controls: narrower, the
      // expanded card docks as the badge rather than cover the model picker (overlay-dock.ts).
      const page = await pages.open(`${vite.url}/`, { viewport: { width: 1280, height: 800 } })
      await waitForPhase(page, 'ready')
      // All ready and quiet, no choice made: it folds to its badge by itself.
      await eventually(() => isCollapsed(page)).toBe(true)
      const toggle = page.locator(OVERLAY).getByTestId('toggle')

      await toggle.click()
      expect(await isCollapsed(page)).toBe(false)
      await page.reload()
      await waitForPhase(page, 'ready')
      // The choice wins over folding by itself once ready.
      expect(await isCollapsed(page)).toBe(false)
      expect(await toggle.getAttribute('aria-expanded')).toBe('true')

      await toggle.click()
      expect(await isCollapsed(page)).toBe(true)
      await page.reload()
      await waitForPhase(page, 'ready')
      expect(await isCollapsed(page)).toBe(true)
      expect(await toggle.getAttribute('aria-expanded')).toBe('false')
    }, 60_000)

    it('pulls another model from the pull box while the overlay shows its progress (README screenshot)', async () => {
      const page = await pages.open(`${vite.url}/?room=readme`)
      await waitForPhase(page, 'ready')
      await eventually(() => page.locator('#model').inputValue()).toBe(MODEL)
      for (const question of [
        'What does vite-plugin-ollama do when I run npm run dev?',
        'Write a haiku about a local LLM in my Vite dev server.',
      ]) {
        await waitForEnd(await ask(page, question), /tok\/s$/)
      }

      const added = 'qwen2.5:1.5b' // 986 MB: about 8 s at the simulated speed
      await page.locator('#pull-model').fill(added)
      await page.locator('#pull button[type="submit"]').click()
      // The overlay unfolds for the pull; shoot it part-way, with the answer above.
      let shot = false
      const progress: number[] = []
      await waitFor(
        async () => {
          const value = await page
            .locator('#pull-progress')
            .evaluate((el: HTMLProgressElement) => (el.hidden ? -1 : el.value))
          if (value > 0 && value < 100 && value !== progress.at(-1)) progress.push(value)
          const row = await readRow(page, added)
          if (!shot && row?.status === 'pulling' && row.width >= 35 && !(await isCollapsed(page))) {
            shot = true
            await page.screenshot({
              path: join(SCREENSHOTS, 'playground.png'),
              animations: 'disabled',
            })
          }
          return (await page.locator('#pull-status').textContent()) === `${added} is ready`
        },
        40_000,
        `${added} to be pulled`,
      )
      expect(shot, 'a screenshot was taken mid-pull').toBe(true)
      expect(progress.length, `progress values: ${progress.join(', ')}`).toBeGreaterThanOrEqual(2)
      expect(progress).toEqual([...progress].sort((a, b) => a - b))
      expect(await page.locator('#pull-progress').isHidden()).toBe(true)
      await eventually(() => page.locator('#model').inputValue()).toBe(added)
      await waitForPhase(page, 'ready')
    }, 60_000)

    it("the examples: a thinking model's reasoning folds away, the dice tool round-trips, a JSON schema shapes a city card", async () => {
      const page = await pages.open(`${vite.url}/`, { viewport: { width: 1280, height: 800 } })
      await waitForPhase(page, 'ready')

      // A client-side tool: the model calls roll_dice, the page rolls, the answer quotes the roll.
      await page.locator('#mode').selectOption('dice')
      const dice = await ask(page, 'Roll 2 dice with 6 sides, please')
      await waitForEnd(dice, /tok\/s/)
      const note = (await dice.locator('[data-testid="note"]').first().textContent()) ?? ''
      const faces = /→ ([\d, ]+)$/.exec(note)?.[1]?.split(', ').map(Number) ?? []
      expect(note).toMatch(/^🎲 roll_dice\(/)
      expect(faces.length).toBeGreaterThan(0)
      for (const face of faces) expect(face).toBeGreaterThanOrEqual(1)
      expect(await dice.locator('.body').textContent()).toContain(String(faces[0]))

      // Structured output: the reply parses and fills the card's four fields.
      await page.locator('#mode').selectOption('structured')
      const card = await ask(page, 'Tell me about Paris')
      await waitForEnd(card, /tok\/s/)
      const cells = await card.locator('[data-testid="card"] td:first-child').allTextContents()
      expect(cells).toEqual(['city', 'country', 'population', 'landmarks'])

      // A thinking model: pulled here, its reasoning streams open and folds once the answer starts.
      await page.locator('#mode').selectOption('chat')
      await page.locator('#pull-model').fill('qwen3:0.6b')
      await page.locator('#pull button').click()
      await eventually(() => page.locator('#pull-status').textContent(), 40_000).toBe(
        'qwen3:0.6b is ready',
      )
      await page.locator('#model').selectOption('qwen3:0.6b')
      const thought = await ask(page, 'Why is the sky blue?')
      await waitForEnd(thought, /tok\/s/)
      const reasoning = thought.locator('[data-testid="reasoning"]')
      expect(await reasoning.locator('summary').textContent()).toMatch(/^Thought for \d+ s$/)
      expect(await reasoning.evaluate((el) => (el as HTMLDetailsElement).open)).toBe(false)
      expect((await reasoning.locator('div').textContent())?.length).toBeGreaterThan(0)
    }, 120_000)
  },
)

/** The overlay card with a margin around it, as the README shows it. */
async function screenshotOverlay(page: Page): Promise<void> {
  const box = await page.locator(`${OVERLAY} .card`).boundingBox()
  if (!box) throw new Error('the overlay card is not visible')
  const margin = 24
  await page.screenshot({
    path: join(SCREENSHOTS, 'overlay-pull.png'),
    animations: 'disabled',
    clip: {
      x: Math.max(0, box.x - margin),
      y: Math.max(0, box.y - margin),
      width: box.width + 2 * margin,
      height: box.height + 2 * margin,
    },
  })
}

describe.skipIf(skipBrowser)(
  browserSuiteName('the playground on an Ollama it adopts (a simulator the test reads)'),
  () => {
    const served: Served = {}
    const pages = pageSet(getBrowser)
    let sim: Simulator
    let vite: ViteProcess
    const pulls = () => sim.stats.requests['POST /api/pull'] ?? 0

    beforeAll(async () => {
      // Fast at first: the start-up pull of llama3.2:1b is not what these specs watch.
      sim = await startSimulator({ tokenDelayMs: TOKEN_DELAY_MS })
      vite = await serve(served, [`url: ${JSON.stringify(sim.url.replace(/\/+$/, ''))}`], {
        OLLAMA_ENGINE: 'external',
      })
      await waitForModels(vite, [MODEL])
    })
    afterEach(async () => {
      await pages.close()
      expect(pages.errors.splice(0)).toEqual([])
    })
    afterAll(async () => {
      await stop(served)
      await sim?.close()
    })

    it('Stop ends a long answer and the simulator counts the cancelled stream', async () => {
      const page = await pages.open(`${vite.url}/?room=stop-${Date.now()}`)
      await waitForPhase(page, 'ready')
      await eventually(() => page.locator('#model').inputValue()).toBe(MODEL)
      const full = simulatedReply(MODEL, 'count to 400') // about 800 tokens: 20 s at 25 ms each
      // Nothing else streaming (the warm-up after the start-up pull is over), so the counts below
      // are this chat's alone.
      await eventually(() => sim.stats.activeStreams).toBe(0)
      const before = { ...sim.stats }

      const answer = await ask(page, 'count to 400')
      await eventually(
        async () => (await answer.locator('.body').textContent())?.length ?? 0,
      ).toBeGreaterThan(30)
      expect(sim.stats.activeStreams).toBe(1)
      await page.locator('#stop').click()
      await waitForEnd(answer, /· stopped$/)

      await eventually(() => sim.stats.cancelledStreams).toBe(before.cancelledStreams + 1)
      expect(sim.stats.activeStreams).toBe(0)
      expect(sim.stats.completedStreams).toBe(before.completedStreams)
      const text = (await answer.locator('.body').textContent()) ?? ''
      expect(full.startsWith(text)).toBe(true)
      expect(text.length).toBeLessThan(full.length / 2)
      expect(await page.locator('#send').isEnabled()).toBe(true)
      expect(await page.locator('#stop').isDisabled()).toBe(true)
    }, 60_000)

    it('adding a model to vite.config.ts restarts Vite and pulls only that model while the page reconnects', async () => {
      const added = 'qwen2.5:0.5b' // 398 MB: about 4 s at 100 MB/s
      sim.configure({ pullBytesPerSecond: 100_000_000 })
      const page = await pages.open(`${vite.url}/`)
      await waitForPhase(page, 'ready')
      const pullsBefore = pulls()
      expect(pullsBefore, 'the start-up pull of the missing model').toBe(1)
      const restartsBefore = vite.count('server restarted')
      let loads = 0
      page.on('load', () => loads++)

      served.copy?.editConfig((source) =>
        replaceOnce(source, `models: ['${MODEL}']`, `models: ['${MODEL}', '${added}']`),
      )
      await waitForText(vite, 'server restarted', restartsBefore + 1)

      // The reloaded page's overlay shows the new model's bar moving, then all ready.
      let row: RowSample | null = null
      await waitFor(
        async () => {
          row = await readRow(page, added)
          return row?.status === 'pulling' && row.width > 0
        },
        30_000,
        `the overlay to show ${added} pulling`,
      ).catch((error: Error) => {
        error.message += `\nlast row: ${JSON.stringify(row)}\n${vite.output().slice(-3000)}`
        throw error
      })
      await waitForPhase(page, 'ready', 30_000)
      expect(['present', 'loaded']).toContain((await readRow(page, added))?.status)
      expect(['present', 'loaded']).toContain((await readRow(page, MODEL))?.status)
      expect(loads, 'Vite reloaded the page once the server was back').toBeGreaterThanOrEqual(1)
      // One pull for the new model; the old one is not pulled again.
      expect(pulls()).toBe(pullsBefore + 1)
      const snapshot = await waitForModels(vite, [MODEL, added])
      expect(snapshot.engine?.kind).toBe('external')
      expect(vite.output()).not.toMatch(/restart failed|EADDRINUSE|error/i)
    }, 60_000)
  },
)
