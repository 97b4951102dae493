// A peer on another machine, for real: a network namespace joined to this one by a veth pair, so
// its requests arrive from an address outside 127.0.0.0/8 (the dev server exposed with
// `server.host`). The namespace and the link are created here and removed after; root only.
import { execFile } from 'node:child_process'
import { randomInt } from 'node:crypto'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { ViteDevServer } from 'vite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import ollama from '../src/index.js'
import type { NetworkPolicy } from '../src/options.js'
import { type Simulator, startSimulator } from '../src/simulator/index.js'
import { waitForStatus } from './helpers/faults.js'
import { makeApp, memoryLogger, startVite } from './helpers/vite.js'

const run = promisify(execFile)
const PEER_SCRIPT = fileURLToPath(new URL('./fixtures/peer-requests.mjs', import.meta.url))
const repoRoot = path.resolve(fileURLToPath(new URL('..', import.meta.url)))

const canMakeNamespaces = process.getuid?.() === 0 && existsSync('/usr/sbin/ip')
/** Root and iproute2 are what this needs; under CI their absence fails instead of skipping. */
const skip = !canMakeNamespaces && !process.env.CI

interface PeerAnswer {
  what: string
  status: number
  body: string
}

/** A namespace whose only way out is a veth pair to this one: 10.231.N.2 → 10.231.N.1. */
async function createPeer(): Promise<{
  hostAddress: string
  ask(url: string): Promise<PeerAnswer[]>
  remove(): Promise<void>
}> {
  const n = randomInt(1, 250)
  const ns = `vpo-peer-${process.pid}-${n}`
  const hostSide = `vpoh${n}${process.pid % 1000}`
  const peerSide = `vpop${n}${process.pid % 1000}`
  const hostAddress = `10.231.${n}.1`
  const ip = (...args: string[]) => run('ip', args)
  await ip('netns', 'add', ns)
  try {
    await ip('link', 'add', hostSide, 'type', 'veth', 'peer', 'name', peerSide)
    await ip('link', 'set', peerSide, 'netns', ns)
    await ip('addr', 'add', `${hostAddress}/30`, 'dev', hostSide)
    await ip('link', 'set', hostSide, 'up')
    await ip('-n', ns, 'addr', 'add', `10.231.${n}.2/30`, 'dev', peerSide)
    await ip('-n', ns, 'link', 'set', peerSide, 'up')
    await ip('-n', ns, 'link', 'set', 'lo', 'up')
  } catch (error) {
    await ip('netns', 'del', ns).catch(() => {})
    await ip('link', 'del', hostSide).catch(() => {})
    throw error
  }
  return {
    hostAddress,
    async ask(url) {
      const { stdout } = await run(
        'ip',
        ['netns', 'exec', ns, process.execPath, PEER_SCRIPT, url],
        { cwd: repoRoot, timeout: 30_000 },
      )
      return JSON.parse(stdout) as PeerAnswer[]
    },
    async remove() {
      // Deleting the namespace deletes the peer end, and with it the host end.
      await ip('netns', 'del', ns).catch(() => {})
      await ip('link', 'del', hostSide).catch(() => {})
    },
  }
}

describe.skipIf(skip)('a peer on the network (a veth pair into a network namespace)', () => {
  let sim: Simulator
  let peer: Awaited<ReturnType<typeof createPeer>>
  const apps: Array<{ remove(): void }> = []
  const servers: ViteDevServer[] = []

  beforeAll(async () => {
    sim = await startSimulator({ models: ['llama3.2', 'qwen2.5:0.5b'] })
    peer = await createPeer()
  })
  afterAll(async () => {
    for (const server of servers) await server.close()
    for (const app of apps) app.remove()
    await peer?.remove()
    await sim?.close()
  })

  async function exposed(network: NetworkPolicy) {
    const app = makeApp()
    apps.push(app)
    const logger = memoryLogger()
    const { server } = await startVite({
      root: app.root,
      customLogger: logger,
      logLevel: 'info',
      server: { host: '0.0.0.0' },
      plugins: [
        ollama({
          engine: 'external',
          url: sim.url,
          models: ['llama3.2'],
          overlay: false,
          warmup: false,
          network,
        }),
      ],
    })
    servers.push(server)
    const port = (server.httpServer!.address() as { port: number }).port
    await waitForStatus(`http://127.0.0.1:${port}`, (s) => s.phase === 'ready')
    const answers = await peer.ask(`http://${peer.hostAddress}:${port}`)
    const by = Object.fromEntries(answers.map((a) => [a.what, a]))
    return { by, lines: logger.lines, port }
  }

  const management = [
    'pull',
    'delete',
    'copy',
    'create',
    'push',
    'blobs',
    'own pull',
    'cancel pull',
  ]

  it("network: 'chat' (the default) lets the peer chat and never manage models", async () => {
    const before = { ...sim.stats.requests }
    const { by, lines } = await exposed('chat')
    expect(by.app?.status).toBe(200)
    expect(by.status?.status).toBe(200)
    expect(by.chat?.status).toBe(200)
    expect(by['proxied chat']?.status).toBe(200)
    expect(by.tags?.status).toBe(200)
    expect(by.websocket?.body).toContain('"type":"done"')
    for (const what of management) {
      expect(by[what]?.status, what).toBe(403)
      expect(JSON.parse(by[what]!.body).error, what).toMatch(/network: 'chat'/)
    }
    // HEAD answers carry no body: the status alone says the proxy refused.
    expect(by['blob check']?.status).toBe(403)
    for (const route of [
      'POST /api/pull',
      'DELETE /api/delete',
      'POST /api/copy',
      'POST /api/create',
      'POST /api/push',
    ]) {
      expect(sim.stats.requests[route] ?? 0, route).toBe(before[route] ?? 0)
    }
    expect(lines.join('\n')).toMatch(/may chat, but not manage models \(network: 'chat'\)/)
  }, 60_000)

  it("network: 'none' gives the peer the app and nothing of Ollama", async () => {
    const { by, lines } = await exposed('none')
    expect(by.app?.status).toBe(200)
    for (const what of ['status', 'chat', 'proxied chat', 'tags', 'blob check', ...management]) {
      expect(by[what]?.status, what).toBe(403)
    }
    expect(by.websocket?.status).toBe(403)
    expect(lines.join('\n')).toMatch(/none of the Ollama routes/)
  }, 60_000)

  it("network: 'full' lets the peer manage models, and says so", async () => {
    const { by, lines } = await exposed('full')
    expect(by.copy?.status).toBe(200)
    expect(by.create?.status).toBe(200)
    expect(by['blob check']?.status).toBe(404)
    expect(lines.join('\n')).toMatch(/anyone who reaches this port controls Ollama/)
  }, 60_000)

  it('this machine still manages models when the server is exposed', async () => {
    const { port } = await exposed('chat')
    const res = await fetch(`http://127.0.0.1:${port}/__ollama/api/copy`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ source: 'llama3.2', destination: 'local-copy' }),
    })
    expect(res.status).toBe(200)
  }, 60_000)
})
