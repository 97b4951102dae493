import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as vite8 from 'vite'
import * as vite7 from 'vite7'
import { describe, expect, it } from 'vitest'
import ollama from '../src/index.js'
import type { StateSnapshot } from '../src/protocol.js'
import { waitFor } from './helpers/vite.js'

// peerDependencies say vite ^7 || ^8. Vite >= 8.3 tells closeServer whether a close is a restart;
// older versions do not, and the plugin counts restarts itself (docs/decisions.md, "Restart versus
// close"). Both paths must keep the engine across a restart and stop it on close.
describe.each([
  ['7', vite7.createServer, vite7.version],
  ['8', vite8.createServer, vite8.version],
] as const)('on Vite %s', (_major, createServer, version) => {
  it(`keeps the engine across server.restart() and stops it on close (vite ${version})`, async () => {
    const root = mkdtempSync(join(tmpdir(), 'vpo-versions-'))
    writeFileSync(join(root, 'index.html'), '<!doctype html><title>app</title>')
    const server = await createServer({
      configFile: false,
      root,
      logLevel: 'silent',
      server: { port: 0 },
      plugins: [
        ollama({
          engine: 'simulator',
          models: ['llama3.2'],
          simulator: { installed: ['llama3.2'] },
        }) as never,
      ],
    })
    try {
      await server.listen()
      const status = async () => {
        const url = server.resolvedUrls!.local[0]!.replace(/\/$/, '')
        return (await (await fetch(`${url}/__ollama/status`)).json()) as StateSnapshot
      }
      const ready = await waitFor(
        async () => {
          const s = await status()
          return s.phase === 'ready' ? s : null
        },
        20_000,
        'ready',
      )
      const engineUrl = ready.engine!.url
      expect(version.startsWith(_major)).toBe(true)
      // This Vite's own client loads the overlay (src/overlay-inject.ts), once.
      const base = server.resolvedUrls!.local[0]!.replace(/\/$/, '')
      const client = await (await fetch(`${base}/@vite/client`)).text()
      expect(client.match(/import\("[^"]*virtual:ollama\/overlay"\)/g)).toHaveLength(1)

      await server.restart()
      const after = await waitFor(
        async () => {
          const s = await status()
          return s.phase === 'ready' ? s : null
        },
        20_000,
        'ready after the restart',
      )
      expect(after.engine?.url).toBe(engineUrl)
      expect((await fetch(`${engineUrl}/api/version`)).ok).toBe(true)
      await server.close()
      await waitFor(
        () =>
          fetch(`${engineUrl}/api/version`).then(
            () => false,
            () => true,
          ),
        10_000,
        'the simulator stopped',
      )
    } finally {
      await server.close()
      rmSync(root, { recursive: true, force: true })
    }
  })
})
