// The fixture app as a user ships it: `vite build` with the real Vite, then served by its own Node
// server (toNodeHandler + createOllamaHandler from the shared options file) and by `vite preview`,
// each routed to the simulator's OpenAI-compatible /v1 standing in for a cloud provider that
// requires a Bearer key. A chat streams in real Chromium from the built app.
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Browser } from 'playwright-core'
import { build, createLogger, type PreviewServer, preview } from 'vite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import ollama from '../src/index.js'
import { type Simulator, startSimulator } from '../src/simulator/index.js'
import {
  abortLatency,
  prodApp,
  readTree,
  repo,
  type ServerProcess,
  startAppServer,
} from './helpers/prod.js'
import { browserSuiteName, launchChromium, skipBrowser } from './overlay-harness.js'

const KEY = `sk-test-${Math.random().toString(36).slice(2)}`
let sim: Simulator
let outDir: string
let browser: Browser | undefined

/** The provider's settings, as the deployment's environment gives them. */
function providerEnv(withKey: boolean): Record<string, string | undefined> {
  return {
    CLOUD_BASE_URL: `${sim.url}/v1`,
    CLOUD_MODEL: 'llama3.2',
    CLOUD_API_KEY: withKey ? KEY : undefined,
    DIST_DIR: `${outDir}/`,
  }
}

function setEnv(env: Record<string, string | undefined>): void {
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete process.env[name]
    else process.env[name] = value
  }
}

beforeAll(async () => {
  sim = await startSimulator({ models: ['llama3.2'], apiKey: KEY, tokenDelayMs: 2 })
  outDir = mkdtempSync(path.join(os.tmpdir(), 'vpo-prod-'))
  // The key is in the environment while building, as on a CI machine that also deploys.
  setEnv(providerEnv(true))
  await build({ root: prodApp, logLevel: 'silent', build: { outDir, emptyOutDir: true } })
})

afterAll(async () => {
  await browser?.close()
  setEnv({
    CLOUD_BASE_URL: undefined,
    CLOUD_MODEL: undefined,
    CLOUD_API_KEY: undefined,
    DIST_DIR: undefined,
  })
  await sim?.close()
  rmSync(outDir, { recursive: true, force: true })
})

describe('vite build', () => {
  it('builds the app, its client aimed at productionBase, with no key, key name or upstream in dist', () => {
    const files = readTree(outDir)
    const all = files.map((f) => f.text).join('\n')
    expect(files.some((f) => f.file.endsWith('.js'))).toBe(true)
    expect(all).toContain('/__ollama')
    for (const secret of [KEY, 'CLOUD_API_KEY', sim.url, `127.0.0.1:${sim.port}`])
      expect(all).not.toContain(secret)
  })

  it('bakes an absolute productionBase, and builds the playground', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vpo-prod-abs-'))
    const pg = mkdtempSync(path.join(os.tmpdir(), 'vpo-pg-'))
    try {
      await build({
        root: prodApp,
        configFile: false,
        logLevel: 'silent',
        plugins: [ollama({ models: ['llama3.2'], productionBase: 'https://api.example.com/ai' })],
        build: { outDir: dir, emptyOutDir: true },
      })
      const all = readTree(dir)
        .map((f) => f.text)
        .join('\n')
      // The client is configured with it (the minifier may quote it any way).
      expect(all).toMatch(/base:\s*["'`]https:\/\/api\.example\.com\/ai["'`]/)
      await build({
        root: path.join(repo, 'playground'),
        logLevel: 'silent',
        build: { outDir: pg, emptyOutDir: true },
      })
      expect(readTree(pg).some((f) => f.file.endsWith('index.html'))).toBe(true)
    } finally {
      rmSync(dir, { recursive: true, force: true })
      rmSync(pg, { recursive: true, force: true })
    }
  })
})

describe('the built app on its own Node server (toNodeHandler)', () => {
  let server: ServerProcess
  beforeAll(async () => {
    server = await startAppServer(providerEnv(true))
  })
  afterAll(() => server?.close())

  it('says which provider answers, and never its key or address', async () => {
    const res = await fetch(`${server.url}/__ollama/status`)
    const text = await res.text()
    expect(JSON.parse(text)).toMatchObject({
      phase: 'ready',
      provider: { name: 'cloud', type: 'openai' },
    })
    expect(text).not.toContain(KEY)
    expect(text).not.toContain(sim.url)
  })

  it('refuses a model it does not serve (400) and a page of another site (403)', async () => {
    const post = (headers: Record<string, string>, body: object) =>
      fetch(`${server.url}/__ollama/chat`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...headers },
        body: JSON.stringify(body),
      })
    const unmapped = await post({}, { model: 'gpt-4o', prompt: 'hi' })
    expect(unmapped.status).toBe(400)
    expect((await unmapped.json()).error).toMatch(/not served/)
    const foreign = await post({ Origin: 'https://evil.example' }, { prompt: 'hi' })
    expect(foreign.status).toBe(403)
    const crossSite = await post({ 'Sec-Fetch-Site': 'cross-site' }, { prompt: 'hi' })
    expect(crossSite.status).toBe(403)
    const before = sim.stats.requests['POST /v1/chat/completions'] ?? 0
    const own = await post({ Origin: server.url }, { prompt: 'hi' })
    expect(own.status).toBe(200)
    expect((await own.json()).content).toContain('You wrote: "hi"')
    expect(sim.stats.requests['POST /v1/chat/completions']).toBe(before + 1)
  })

  it('aborts the provider request within 100 ms of the client going away', async () => {
    const latency = await abortLatency(sim, `${server.url}/__ollama/chat`)
    expect(latency).toBeLessThan(100)
  })

  it.skipIf(skipBrowser)(
    browserSuiteName('streams a chat in Chromium from the built app'),
    async () => {
      browser ??= await launchChromium()
      const page = await browser.newPage()
      try {
        await page.goto(server.url)
        await page.waitForFunction(
          () => document.getElementById('provider')?.textContent === 'cloud (openai)',
        )
        await page.fill('#prompt', 'hello from production')
        await page.click('#send')
        await page.waitForFunction(() =>
          /llama3\.2 · \d+ tokens/.test(document.getElementById('metrics')?.textContent ?? ''),
        )
        expect(await page.textContent('#answer')).toContain('You wrote: "hello from production"')
      } finally {
        await page.close()
      }
    },
  )
})

describe('a server whose key is missing', () => {
  it('logs one line naming the variable and answers 503 naming no secret', async () => {
    const server = await startAppServer(providerEnv(false))
    try {
      const answers = await Promise.all(
        [1, 2, 3].map(() =>
          fetch(`${server.url}/__ollama/chat`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: '{"prompt":"hi"}',
          }).then(async (r) => ({ status: r.status, text: await r.text() })),
        ),
      )
      for (const answer of answers) {
        expect(answer.status).toBe(503)
        expect(answer.text).not.toMatch(/CLOUD_API_KEY|sk-/)
      }
      expect(server.stderr().match(/CLOUD_API_KEY is not set/g)).toHaveLength(1)
    } finally {
      await server.close()
    }
  })
})

describe('vite preview', () => {
  let server: PreviewServer | undefined
  const lines: string[] = []

  async function startPreview(): Promise<string> {
    const logger = createLogger('info')
    const info = logger.info.bind(logger)
    logger.info = (msg, options) => {
      lines.push(msg)
      info(msg, { ...options, clear: false })
    }
    server = await preview({
      root: prodApp,
      customLogger: logger,
      logLevel: 'info',
      build: { outDir },
      preview: { port: 0, host: '127.0.0.1', open: false },
    })
    return server.resolvedUrls?.local[0]?.replace(/\/$/, '') ?? ''
  }
  afterAll(() => server?.close())

  it('routes to the production provider when its key is set, says so, and streams', async () => {
    setEnv(providerEnv(true))
    const url = await startPreview()
    expect(lines.join('\n')).toMatch(
      /preview: \/__ollama → provider "cloud" \(CLOUD_API_KEY is set\)/,
    )
    const res = await fetch(`${url}/__ollama/chat`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Accept-Encoding': 'gzip' },
      body: '{"prompt":"hi"}',
    })
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/)
    // Mounted before Vite's compression, which would hold the events back.
    expect(res.headers.get('content-encoding')).toBeNull()
    const text = await res.text()
    expect(text).toContain('event: token')
    expect(text).toContain('event: done')
    expect(await abortLatency(sim, `${url}/__ollama/chat`)).toBeLessThan(100)
    if (!skipBrowser) {
      browser ??= await launchChromium()
      const page = await browser.newPage()
      try {
        await page.goto(url)
        await page.fill('#prompt', 'hello from preview')
        await page.click('#send')
        await page.waitForFunction(() =>
          /tokens/.test(document.getElementById('metrics')?.textContent ?? ''),
        )
        expect(await page.textContent('#answer')).toContain('You wrote: "hello from preview"')
      } finally {
        await page.close()
      }
    }
  })

  it('falls back to the local Ollama when the key is not set, and says why', async () => {
    await server?.close()
    lines.length = 0
    setEnv(providerEnv(false))
    await startPreview()
    expect(lines.join('\n')).toMatch(
      /preview: \/__ollama → the Ollama at http:\/\/127\.0\.0\.1:11434 \(CLOUD_API_KEY is not set/,
    )
  })
})

describe('the playground, built and previewed', () => {
  it.skipIf(skipBrowser)(
    browserSuiteName(
      'chats in Chromium through vite preview, on the simulator when no Ollama answers',
    ),
    async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'vpo-pg-preview-'))
      // The playground's options, with `url` on a port where nothing answers.
      const plugins = [
        ollama({ models: ['llama3.2:1b'], fallback: 'simulator', url: 'http://127.0.0.1:9' }),
      ]
      const root = path.join(repo, 'playground')
      await build({
        root,
        configFile: false,
        logLevel: 'silent',
        plugins,
        build: { outDir: dir, emptyOutDir: true },
      })
      const lines: string[] = []
      const logger = createLogger('info')
      logger.info = (msg) => void lines.push(msg)
      const server = await preview({
        root,
        configFile: false,
        plugins,
        customLogger: logger,
        build: { outDir: dir },
        preview: { port: 0, host: '127.0.0.1', open: false },
      })
      browser ??= await launchChromium()
      const page = await browser.newPage()
      try {
        expect(lines.join('\n')).toMatch(
          /preview: \/__ollama → the simulator \(nothing answers at http:\/\/127\.0\.0\.1:9; fallback: 'simulator'\)/,
        )
        await page.goto(server.resolvedUrls?.local[0] ?? '')
        await page.waitForFunction(
          () => (document.getElementById('model') as HTMLSelectElement).value === 'llama3.2:1b',
        )
        await page.fill('#prompt', 'hello from the built playground')
        await page.click('#send')
        await page.waitForFunction(() =>
          /tok\/s/.test(document.querySelector('[data-testid="answer"] .who')?.textContent ?? ''),
        )
        expect(await page.textContent('[data-testid="answer"] .body')).toContain(
          'You wrote: "hello from the built playground"',
        )
        expect(await page.isHidden('#pull')).toBe(true)
      } finally {
        await page.close()
        await server.close()
        rmSync(dir, { recursive: true, force: true })
      }
    },
  )
})
