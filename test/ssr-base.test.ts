import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { build } from 'vite'
import { afterEach, describe, expect, it } from 'vitest'
import { handlerFetch } from '../src/client/server-fetch.js'
import ollama from '../src/index.js'
import { disposeOrchestrator } from '../src/lifecycle.js'
import { startSimulator } from '../src/simulator/index.js'
import { readTree, repo, spawnServer } from './helpers/prod.js'
import { makeApp, startVite } from './helpers/vite.js'
import { rawRequest } from './routes-harness.js'

// `virtual:ollama` in server code (loaders, actions, server routes, an SSR entry): it keeps the
// browser's base and sends through a fetch that knows where the routes are: the routes' own
// loopback port in `vite`, the app's own createOllamaHandler in-process in the server build.

const fixture = path.join(repo, 'test/fixtures/classic-ssr')
const PROMPT = 'Say hello in five words.'
const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
  await disposeOrchestrator()
})

/** What the simulator answers the fixture's prompt: it is deterministic. */
async function expectedAnswer(url: string): Promise<string> {
  const res = await fetch(`${url}/api/chat`, {
    method: 'POST',
    body: JSON.stringify({
      model: 'llama3.2:1b',
      messages: [{ role: 'user', content: PROMPT }],
      stream: false,
    }),
  })
  return ((await res.json()) as { message: { content: string } }).message.content
}

/** The answer paragraph the server rendered, unescaped. */
function renderedAnswer(html: string): string | undefined {
  const m = /<p id="answer">([\s\S]*?)<\/p>/.exec(html)
  return m?.[1]?.replace(/&#(\d+);/g, (_, code) => String.fromCharCode(Number(code)))
}

function startFixture(env: Record<string, string>) {
  return spawnServer(
    process.execPath,
    [path.join(fixture, 'server.js'), '0'],
    env,
    /listening on (\S+)/,
  )
}

describe("classic SSR (Vite's SSR guide: Node http, Vite in middleware mode, ssrLoadModule)", () => {
  it('renders a page whose HTML holds a chat() answer made on the server, in dev', async () => {
    // No model installed: the plugin pulls it, and the server's chat waits for it.
    const sim = await startSimulator({ pullBytesPerSecond: 2e9 })
    cleanups.push(() => sim.close())
    const app = await startFixture({ OLLAMA_URL: sim.url, NODE_ENV: 'development' })
    cleanups.push(() => app.close())
    const res = await fetch(`${app.url}/`)
    const html = await res.text()
    expect(res.status, html).toBe(200)
    const answer = renderedAnswer(html)
    expect(answer).toBeTruthy()
    expect(answer).toBe(await expectedAnswer(sim.url))
    // The plugin works in this host by default: its routes answer on the host's server.
    const status = await fetch(`${app.url}/__ollama/status`)
    expect(status.headers.get('content-type')).toMatch(/json/)
  }, 60_000)

  it("answers the server's chat() in production through the app's own handler, in-process", async () => {
    const sim = await startSimulator({ models: ['llama3.2:1b'] })
    cleanups.push(() => sim.close())
    const dist = mkdtempSync(path.join(tmpdir(), 'vpo-ssr-'))
    cleanups.push(() => rmSync(dist, { recursive: true, force: true }))
    const common = { root: fixture, logLevel: 'silent' as const }
    await build({ ...common, build: { outDir: path.join(dist, 'client'), emptyOutDir: true } })
    await build({
      ...common,
      build: { ssr: 'src/entry-server.js', outDir: path.join(dist, 'server'), emptyOutDir: true },
    })
    const server = readTree(path.join(dist, 'server'))
      .map((f) => f.text)
      .join('\n')
    const client = readTree(path.join(dist, 'client'))
      .map((f) => f.text)
      .join('\n')
    expect(server).toContain('vite-plugin-ollama/handlers')
    expect(client).not.toContain('vite-plugin-ollama/handlers')

    const app = await startFixture({
      OLLAMA_URL: sim.url,
      NODE_ENV: 'production',
      DIST_DIR: dist,
    })
    cleanups.push(() => app.close())
    const res = await fetch(`${app.url}/`)
    const html = await res.text()
    expect(res.status, html).toBe(200)
    expect(renderedAnswer(html)).toBe(await expectedAnswer(sim.url))
    // The browser's routes are the same handler's.
    const status = await fetch(`${app.url}/__ollama/status`)
    expect(((await status.json()) as { phase: string }).phase).toBe('ready')
  }, 120_000)
})

describe("the README's classic SSR recipe", () => {
  it('is the tested fixture, word for word', () => {
    const readme = readFileSync(path.join(repo, 'README.md'), 'utf8')
    for (const file of ['server.js', 'src/entry-server.js']) {
      const marker = `<!-- recipe: classic-ssr/${file} -->\n\`\`\`js\n`
      const block = readme.split(marker)[1]?.split('```')[0]
      expect(block, `README block for ${file}`).toBe(readFileSync(path.join(fixture, file), 'utf8'))
    }
  })
})

describe('virtual:ollama in server code', () => {
  it("reaches the dev server's own origin from an SSR module of a plain vite server", async () => {
    const sim = await startSimulator({ models: ['llama3.2:1b'] })
    cleanups.push(() => sim.close())
    const app = makeApp()
    cleanups.push(app.remove)
    mkdirSync(path.join(app.root, 'src'))
    writeFileSync(
      path.join(app.root, 'src/loader.js'),
      `import { chat } from 'virtual:ollama'\nexport const load = () => chat(${JSON.stringify(PROMPT)})\n`,
    )
    const { server } = await startVite({
      root: app.root,
      plugins: [ollama({ engine: 'external', url: sim.url, models: ['llama3.2:1b'] })],
    })
    cleanups.push(() => server.close())
    const { load } = (await server.ssrLoadModule('/src/loader.js')) as {
      load(): Promise<{ content: string }>
    }
    expect((await load()).content).toBe(await expectedAnswer(sim.url))
  })

  it("keeps the browser's base on the server, so what the server renders with it matches", async () => {
    const app = makeApp()
    cleanups.push(app.remove)
    const { server } = await startVite({
      root: app.root,
      base: '/app/',
      plugins: [ollama({ engine: 'simulator', models: ['llama3.2:1b'] })],
    })
    cleanups.push(() => server.close())
    const browser = (await server.transformRequest('virtual:ollama'))?.code ?? ''
    const ssr = (await server.environments.ssr.transformRequest('virtual:ollama'))?.code ?? ''
    expect(browser).toContain('"base":"/app/__ollama"')
    expect(ssr).toContain('"base":"/app/__ollama"')
    expect(ssr).toContain('devServerFetch')
    expect(browser).not.toContain('devServerFetch')

    // The loopback port baked into the server's module serves the routes to this machine's
    // names only: a page on a rebound DNS name is refused.
    const origin = /devServerFetch\)?\("(http:\/\/127\.0\.0\.1:\d+)"\)/.exec(ssr)?.[1]
    expect(origin).toBeDefined()
    const status = await fetch(`${origin}/app/__ollama/status`)
    expect(status.status).toBe(200)
    expect(((await status.json()) as { phase: string }).phase).toBeDefined()
    const rebound = await rawRequest(`${origin}/app/__ollama/status`, {
      headers: { Host: 'evil.example:80' },
    })
    expect(rebound.status).toBe(403)
    const elsewhere = await fetch(`${origin}/other`)
    expect(elsewhere.status).toBe(404)
  })

  it('says which handler to create when the server build finds none in its process', async () => {
    await expect(handlerFetch('/nowhere/chat', { method: 'POST' })).rejects.toMatchObject({
      message: expect.stringContaining('no handler in this process serves /nowhere/chat'),
      hint: expect.stringContaining('createOllamaHandler(options)'),
    })
  })
})
