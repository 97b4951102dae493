// The README's production recipes are these files (test/fixtures/recipes), checked word for word,
// and each one serves a streamed chat: Hono, Cloudflare Workers (the key in `env`), Vercel and
// Netlify functions. There is no internet here: requests to api.openai.com go to the simulator,
// which requires the key and serves the mapped model, as OpenAI would.
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Simulator, startSimulator } from '../src/simulator/index.js'
import { repo } from './helpers/prod.js'

const dir = path.join(repo, 'test/fixtures/recipes')
const KEY = 'sk-recipe-test'
let sim: Simulator
const realFetch = globalThis.fetch

beforeAll(async () => {
  sim = await startSimulator({ models: ['gpt-4o-mini'], apiKey: KEY })
  globalThis.fetch = ((input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input instanceof Request ? input.url : input)
    const routed = url.replace('https://api.openai.com/v1', `${sim.url}/v1`)
    return realFetch(input instanceof Request ? new Request(routed, input) : routed, init)
  }) as typeof fetch
})
afterAll(async () => {
  globalThis.fetch = realFetch
  delete process.env.OPENAI_API_KEY
  await sim.close()
})

async function chatThrough(
  handle: (request: Request) => Response | Promise<Response>,
): Promise<string> {
  const response = await handle(
    new Request('https://app.example.com/__ollama/chat', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Origin: 'https://app.example.com' },
      body: '{"prompt":"hi"}',
    }),
  )
  expect(response.status).toBe(200)
  return response.text()
}

describe('the README’s production recipes', () => {
  it('are the tested files, word for word', () => {
    const readme = readFileSync(path.join(repo, 'README.md'), 'utf8')
    const files = readdirSync(dir)
    expect(files.length).toBeGreaterThanOrEqual(5)
    for (const file of files) {
      const block = new RegExp(
        `<!-- recipe: ${file.replace('.', '\\.')} -->\\n\`\`\`\\w+\\n([\\s\\S]*?)\`\`\``,
      ).exec(readme)
      expect(block?.[1], `README block for ${file}`).toBe(
        readFileSync(path.join(dir, file), 'utf8'),
      )
    }
  })

  it('the framework recipes are the fixture apps’ files, word for word', () => {
    const readme = readFileSync(path.join(repo, 'README.md'), 'utf8')
    const blocks = [
      ...readme.matchAll(/<!-- recipe: (frameworks\/[^ ]+) -->\n```\w+\n([\s\S]*?)```/g),
    ]
    const shown = blocks.map(([, file]) => file)
    // Every fixture app (test/frameworks.test.ts runs each) shows at least its config line.
    for (const app of readdirSync(path.join(repo, 'test/fixtures/frameworks'))) {
      expect(shown.some((file) => file?.startsWith(`frameworks/${app}/`))).toBe(true)
    }
    for (const [, file, body] of blocks) {
      expect(body, `README block for ${file}`).toBe(
        readFileSync(path.join(repo, 'test/fixtures', file ?? ''), 'utf8'),
      )
    }
  })

  it('Hono: streams a chat, the key from process.env', async () => {
    process.env.OPENAI_API_KEY = KEY
    const app = (await import('./fixtures/recipes/hono.js')).default
    expect(await chatThrough((request) => app.fetch(request))).toMatch(
      /event: token[\s\S]*event: done/,
    )
  })

  it('Cloudflare Workers: streams a chat, the key from env only', async () => {
    delete process.env.OPENAI_API_KEY
    const worker = (await import('./fixtures/recipes/worker.js')).default
    expect(
      await chatThrough((request) => worker.fetch(request, { OPENAI_API_KEY: KEY })),
    ).toContain('event: done')
    const missing = await worker.fetch(new Request('https://app.example.com/__ollama/status'), {})
    expect(missing.status).toBe(200)
    const other = await worker.fetch(new Request('https://app.example.com/elsewhere'), {})
    expect(other.status).toBe(404)
  })

  it('Vercel and Netlify functions: stream a chat', async () => {
    process.env.OPENAI_API_KEY = KEY
    const vercel = await import('./fixtures/recipes/vercel.js')
    expect(await chatThrough(vercel.POST)).toContain('event: done')
    const netlify = await import('./fixtures/recipes/netlify.js')
    expect(netlify.config.path).toBe('/__ollama/*')
    expect(await chatThrough(netlify.default)).toContain('event: done')
  })
})
