// Under Vitest, `virtual:ollama` answers with zero setup: a fixture app's own Vitest suite (node
// and jsdom projects) imports it with no alias and no mock and gets the simulator's deterministic
// answer. The run is a real nested `vitest run`, as a user's CI runs it.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createServer } from 'vite'
import { describe, expect, it } from 'vitest'
import ollama from '../src/index.js'
import { repo } from './helpers/prod.js'
import { chromiumPath, skipBrowser } from './overlay-harness.js'

describe('an app’s Vitest suite', () => {
  it(`passes in node, jsdom${skipBrowser ? '' : ' and browser mode (Chromium)'} with virtual:ollama answered by the simulator`, () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vpo-vitest-'))
    const report = path.join(dir, 'report.json')
    try {
      // A clean environment: the nested run must not think it is this run's worker.
      const env = Object.fromEntries(
        Object.entries(process.env).filter(([name]) => !/^(VITEST|NODE_OPTIONS|TEST)/.test(name)),
      )
      const run = spawnSync(
        process.execPath,
        [
          path.join(repo, 'node_modules/vitest/vitest.mjs'),
          'run',
          '--root',
          path.join(repo, 'test/fixtures/vitest-app'),
          '--reporter=json',
          `--outputFile=${report}`,
          // Without Chromium (never under CI) the browser project is left out.
          ...(skipBrowser ? ['--project', 'node', '--project', 'jsdom'] : []),
        ],
        {
          env: { ...env, CI: 'true', CHROMIUM_PATH: chromiumPath },
          encoding: 'utf8',
          timeout: 120_000,
        },
      )
      expect(run.status, run.stderr + run.stdout).toBe(0)
      const result = JSON.parse(readFileSync(report, 'utf8'))
      expect(result.numPassedTests).toBe(skipBrowser ? 3 : 4)
      expect(result.numFailedTests).toBe(0)
      const files = result.testResults.map((r: { name: string }) => path.basename(r.name)).sort()
      expect(files).toEqual(
        [
          'chat.node.test.ts',
          'component.dom.test.ts',
          ...(skipBrowser ? [] : ['component.browser.test.ts']),
        ].sort(),
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 150_000)
})

describe('virtual:ollama in mode test', () => {
  async function clientCode(options: Parameters<typeof ollama>[0]): Promise<string> {
    const server = await createServer({
      configFile: false,
      root: path.join(repo, 'test/fixtures/vitest-app'),
      mode: 'test',
      logLevel: 'silent',
      plugins: [ollama(options)],
      server: { middlewareMode: true, ws: false },
    })
    try {
      return (await server.transformRequest('virtual:ollama'))?.code ?? ''
    } finally {
      await server.close()
    }
  }

  it('is configured with the absolute URL of the run’s simulator, or left alone with vitest: false', async () => {
    expect(await clientCode({ models: ['llama3.2'] })).toMatch(
      /"base":"http:\/\/127\.0\.0\.1:\d+\/__ollama"/,
    )
    const optedOut = await clientCode({ models: ['llama3.2'], simulator: { vitest: false } })
    expect(optedOut).toContain('"base":"/__ollama"')
  })
})
