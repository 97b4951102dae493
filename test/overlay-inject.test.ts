// The overlay appears with no user code on every page that runs Vite's client (src/overlay-inject.ts):
// a plain index.html app, and a page whose HTML an SSR-style server writes itself, with Vite in
// middleware mode. Real Vite, the plugin on the simulator engine, Debian's Chromium.
import { createServer as createHttpServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Browser, Page } from 'playwright-core'
import { createServer } from 'vite'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import ollama from '../src/index.js'
import { makeApp, startVite } from './helpers/vite.js'
import {
  browserSuiteName,
  collectPageErrors,
  launchChromium,
  skipBrowser,
} from './overlay-harness.js'

const TAG = 'vite-plugin-ollama-overlay'
const poll = { timeout: 20_000, interval: 50 }
// No favicon request: its 404 would read as a page error.
const HEAD = '<meta charset="utf-8"><link rel="icon" href="data:,"><title>app</title>'
const APP_HTML = `<!doctype html><html><head>${HEAD}</head><body><h1>app</h1></body></html>`
const plugin = (options: Parameters<typeof ollama>[0] = {}) =>
  ollama({ engine: 'simulator', models: [], ...options })

describe.skipIf(skipBrowser)(browserSuiteName('the overlay with no user code (Chromium)'), () => {
  let browser: Browser
  const cleanups: Array<() => unknown> = []
  const errors: string[] = []

  beforeAll(async () => {
    browser = await launchChromium()
  })
  afterAll(async () => {
    await browser?.close()
  })
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn()
    expect(errors.splice(0)).toEqual([])
  })

  /** A page in a fresh context, with the URLs it requested. */
  async function open(url: string): Promise<{ page: Page; requests: string[] }> {
    const context = await browser.newContext()
    cleanups.push(() => context.close())
    const page = await context.newPage()
    collectPageErrors(page, errors)
    const requests: string[] = []
    page.on('request', (request) => requests.push(request.url()))
    await page.goto(url)
    return { page, requests }
  }

  /** One overlay on the page, fed by the dev server (its phase comes from the plugin's state). */
  async function expectOneLiveOverlay(page: Page): Promise<void> {
    await expect.poll(() => page.locator(TAG).getAttribute('phase'), poll).toBe('ready')
    expect(await page.evaluate((tag) => document.querySelectorAll(tag).length, TAG)).toBe(1)
  }

  async function serveApp(html: string, options?: Parameters<typeof plugin>[0]) {
    const app = makeApp(html)
    const { server, url } = await startVite({ root: app.root, plugins: [plugin(options)] })
    cleanups.push(app.remove, () => server.close())
    return url
  }

  it('appears in a plain index.html app', async () => {
    const { page } = await open(`${await serveApp(APP_HTML)}/`)
    await expectOneLiveOverlay(page)
  })

  it('appears once when the page also loads it itself (the old manual tag)', async () => {
    const html = `<!doctype html><html><head>${HEAD}
      <script type="module" src="/@id/virtual:ollama/overlay"></script></head>
      <body><h1>app</h1></body></html>`
    const { page, requests } = await open(`${await serveApp(html)}/`)
    await expectOneLiveOverlay(page)
    // Two URLs of the module, both loaded: still one overlay.
    expect(requests.filter((url) => url.includes('virtual:ollama/overlay'))).toHaveLength(2)
  })

  it('appears on a page an SSR server writes itself, with Vite in middleware mode', async () => {
    const httpServer = createHttpServer()
    const app = makeApp()
    cleanups.push(app.remove)
    const vite = await createServer({
      configFile: false,
      root: app.root,
      logLevel: 'silent',
      appType: 'custom',
      // The HMR socket on the host's own server, as SSR set-ups do.
      server: { middlewareMode: true, hmr: { server: httpServer } },
      plugins: [plugin({ middlewareMode: true })],
    })
    cleanups.push(
      () => vite.close(),
      () => closeServer(httpServer),
    )
    // The host's HTML names Vite's client and nothing else: no index.html, no transformIndexHtml.
    httpServer.on('request', (req, res) => {
      vite.middlewares(req, res, () => {
        res.setHeader('Content-Type', 'text/html')
        res.end(
          `<!doctype html><html><head>${HEAD}<script type="module" src="/@vite/client"></script></head><body><h1>rendered on the server</h1></body></html>`,
        )
      })
    })
    await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve))
    const { port } = httpServer.address() as AddressInfo
    const { page } = await open(`http://127.0.0.1:${port}/some/route`)
    expect(await page.locator('h1').textContent()).toBe('rendered on the server')
    await expectOneLiveOverlay(page)
  })

  it('stays away with overlay: false', async () => {
    const { page, requests } = await open(`${await serveApp(APP_HTML, { overlay: false })}/`)
    // Vite's client has run (it loaded and connected) when the network settles.
    await page.waitForLoadState('networkidle')
    expect(requests.some((url) => url.endsWith('/@vite/client'))).toBe(true)
    expect(requests.filter((url) => url.includes('ollama'))).toEqual([])
    expect(await page.locator(TAG).count()).toBe(0)
  })
})

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()))
}
