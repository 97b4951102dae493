// The production handler runs unchanged outside Node: Deno, installed from npm (the `deno`
// package ships the binary), imports the built `vite-plugin-ollama/server` and streams a chat
// from the simulator; a client that goes away aborts the upstream request there too.
import { existsSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Simulator, startSimulator } from '../src/simulator/index.js'
import { abortLatency, repo, type ServerProcess, spawnServer } from './helpers/prod.js'

const deno = path.join(repo, 'node_modules/.bin/deno')
const skip = !existsSync(deno) && !process.env.CI

describe.skipIf(skip)(
  `${skip ? '[skipped: deno is not installed; npm ci installs it] ' : ''}the handler on Deno`,
  () => {
    let sim: Simulator
    let server: ServerProcess
    let url: string

    beforeAll(async () => {
      sim = await startSimulator({ models: ['llama3.2'], tokenDelayMs: 2 })
      server = await spawnServer(
        deno,
        [
          'run',
          '--no-config',
          '--allow-net',
          '--allow-env',
          path.join(repo, 'test/fixtures/deno-server.ts'),
          sim.url,
        ],
        { DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' },
        /listening on (\S+)/,
      )
      url = `${server.url}/__ollama`
    }, 60_000)

    afterAll(async () => {
      await server?.close()
      await sim?.close()
    })

    it('streams a chat as our SSE events', async () => {
      const res = await fetch(`${url}/chat`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: '{"prompt":"hi from deno"}',
      })
      expect(res.status).toBe(200)
      const text = await res.text()
      const tokens = [...text.matchAll(/^event: token\ndata: (.+)$/gm)].map(
        (m) => JSON.parse(m[1] as string).content,
      )
      expect(tokens.join('')).toContain('You wrote: "hi from deno"')
      expect(text).toMatch(/event: done\ndata: \{"metrics":\{"model":"llama3.2"/)
    })

    it('refuses another site, and aborts the upstream when the client goes away', async () => {
      const foreign = await fetch(`${url}/status`, { headers: { Origin: 'https://evil.example' } })
      expect(foreign.status).toBe(403)
      expect(await abortLatency(sim, `${url}/chat`)).toBeLessThan(100)
    })
  },
)
