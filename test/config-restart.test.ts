import { writeFileSync } from 'node:fs'
import { createServer, type ViteDevServer } from 'vite'
import { afterEach, describe, expect, it } from 'vitest'
import type { StateSnapshot } from '../src/protocol.js'
import { startSimulator } from '../src/simulator/index.js'
import { makeConfigProject } from './helpers/faults.js'
import { waitFor } from './helpers/vite.js'

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

// A real config file, so each restart builds a new plugin instance from the edited file (an inline
// config would hand the same instance back: docs/decisions.md, "Inline configs restart with the
// same plugin instance").
describe('a vite.config.ts edit', () => {
  it('unloads a dropped model from memory without deleting it, and warms the new default up', async () => {
    const sim = await startSimulator({ models: ['llama3.2', 'qwen2.5:0.5b'] })
    cleanups.push(() => sim.close())
    let pluginImport = ''
    const config = (models: string[]) =>
      `import ollama from ${pluginImport}\nexport default { plugins: [ollama({ engine: 'external', url: ${JSON.stringify(sim.url)}, models: ${JSON.stringify(models)}, overlay: false })] }\n`
    const project = makeConfigProject((plugin) => {
      pluginImport = plugin
      return config(['llama3.2', 'qwen2.5:0.5b'])
    })
    cleanups.push(project.remove)
    const server: ViteDevServer = await createServer({
      configFile: project.configFile,
      root: project.root,
      logLevel: 'silent',
      server: { port: 0 },
    })
    cleanups.push(() => server.close())
    await server.listen()
    const url = () => server.resolvedUrls!.local[0]!.replace(/\/$/, '')
    const status = async () =>
      (await (await fetch(`${url()}/__ollama/status`)).json()) as StateSnapshot
    const loaded = async () =>
      (
        (await (await fetch(`${sim.url}/api/ps`)).json()) as { models: { name: string }[] }
      ).models.map((m) => m.name)
    await waitFor(async () => (await status()).phase === 'ready', 20_000, 'ready')
    expect(await loaded()).toEqual(['llama3.2:latest'])

    writeFileSync(project.configFile, config(['qwen2.5:0.5b']))
    await server.restart()
    await waitFor(
      async () => {
        const s = await status()
        return s.phase === 'ready' && s.defaultModel === 'qwen2.5:0.5b' && s.models.length === 1
      },
      20_000,
      'ready with the new models',
    )
    await waitFor(
      async () => (await loaded()).join() === 'qwen2.5:0.5b',
      10_000,
      'the new default loaded',
    )
    // Dropped from memory, never from disk; and no model was pulled again.
    const tags = (await (await fetch(`${sim.url}/api/tags`)).json()) as {
      models: { name: string }[]
    }
    expect(tags.models.map((m) => m.name).sort()).toEqual(['llama3.2:latest', 'qwen2.5:0.5b'])
    expect(sim.stats.requests['DELETE /api/delete']).toBeUndefined()
    expect(sim.stats.requests['POST /api/pull']).toBeUndefined()
  })
})
