// docker.hostModels on the real Docker engine: a temporary model store on the host, holding
// llama3.2, is mounted into the container (the simulator image, built with `docker import`, reads
// and writes it as Ollama would). The model there is not pulled again, and what the container
// writes keeps the store owner's uid and gid.
import { execFile } from 'node:child_process'
import {
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import type Docker from 'dockerode'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { HOST_MODELS_TARGET } from '../src/engines/docker/host-models.js'
import ollama from '../src/index.js'
import type { StateSnapshot } from '../src/protocol.js'
import {
  freePort,
  probeDocker,
  removeDockerThings,
  simulatorImage,
  uniqueName,
} from './helpers/docker-image.js'
import { makeApp, memoryLogger, startVite, waitFor } from './helpers/vite.js'

const run = promisify(execFile)
const dockerState = await probeDocker()
const skip = !dockerState.ok && !process.env.CI
const title = skip
  ? `docker.hostModels (skipped: ${dockerState.ok ? '' : dockerState.reason})`
  : 'docker.hostModels'

// Running as root, the test hands the store to another user, so "ownership unchanged" cannot pass
// by the container happening to be root too.
const root = process.getuid?.() === 0
const OWNER = root ? { uid: 4242, gid: 4243 } : { uid: process.getuid!(), gid: process.getgid!() }

/** Every file and folder under `dir`, the folder itself included. */
function entries(dir: string): string[] {
  const out = [dir]
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name)
    if (statSync(full).isDirectory()) out.push(...entries(full))
    else out.push(full)
  }
  return out
}

/** A store as Ollama leaves it: llama3.2's manifest (its blobs play no part here). */
function makeStore(): string {
  const store = mkdtempSync(path.join(os.tmpdir(), 'i15-gpu-store-'))
  const dir = path.join(store, 'manifests', 'registry.ollama.ai', 'library', 'llama3.2')
  mkdirSync(dir, { recursive: true })
  mkdirSync(path.join(store, 'blobs'))
  writeFileSync(
    path.join(dir, 'latest'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: {
        mediaType: 'application/vnd.docker.container.image.v1+json',
        digest: `sha256:${'3'.repeat(64)}`,
        size: 561,
      },
      layers: [],
    }),
  )
  if (root) for (const entry of entries(store)) chownSync(entry, OWNER.uid, OWNER.gid)
  return store
}

async function status(url: string): Promise<StateSnapshot> {
  return (await (await fetch(`${url}/__ollama/status`)).json()) as StateSnapshot
}

describe.skipIf(skip)(title, () => {
  let docker: Docker
  let image: string
  const containers: string[] = []
  const volumes: string[] = []
  const cleanups: Array<() => unknown> = []

  beforeAll(async () => {
    if (!dockerState.ok) throw new Error(`CI requires a Docker engine: ${dockerState.reason}`)
    docker = dockerState.docker
    image = await simulatorImage(docker)
  }, 180_000)

  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn()
    await removeDockerThings(docker, {
      containers: containers.splice(0),
      volumes: volumes.splice(0),
    })
  })

  afterAll(async () => {
    await removeDockerThings(docker, { containers, volumes })
  })

  it('mounts the store, pulls nothing it holds, and leaves what it writes to the owner', async () => {
    const store = makeStore()
    cleanups.push(() => rmSync(store, { recursive: true, force: true }))
    const name = uniqueName('i15-gpu-models')
    containers.push(name)
    volumes.push(`${name}-volume`)
    const app = makeApp()
    const logger = memoryLogger()
    const { server, url } = await startVite({
      root: app.root,
      customLogger: logger,
      logLevel: 'info',
      plugins: [
        ollama({
          engine: 'docker',
          models: ['llama3.2'],
          overlay: false,
          docker: {
            image,
            containerName: name,
            volume: `${name}-volume`,
            hostPort: await freePort(),
            pullImage: 'never',
            hostModels: store,
          },
        }),
      ],
    })
    cleanups.push(app.remove, () => server.close())

    const ready = await waitFor(
      async () => {
        const s = await status(url)
        if (s.phase === 'error' || s.phase === 'unavailable') throw new Error(s.error?.message)
        return s.phase === 'ready' ? s : undefined
      },
      60_000,
      'ready',
    )
    expect(ready.models).toEqual([
      expect.objectContaining({
        name: 'llama3.2',
        status: expect.stringMatching(/present|loaded/),
      }),
    ])
    expect(ready.engine?.reason).toContain(`models: the host's model store ${store}`)

    const info = await docker.getContainer(name).inspect()
    // On a rootless engine the container's root already is the user.
    const rootless = JSON.stringify((await docker.info()).SecurityOptions).includes('rootless')
    expect(info.Config.User).toBe(rootless ? '' : `${OWNER.uid}:${OWNER.gid}`)
    expect(info.Config.Env).toContain(`OLLAMA_MODELS=${HOST_MODELS_TARGET}`)
    expect(info.Mounts).toEqual([
      expect.objectContaining({ Type: 'bind', Source: store, Destination: HOST_MODELS_TARGET }),
    ])
    // The named volume is not made while the store replaces it.
    await expect(docker.getVolume(`${name}-volume`).inspect()).rejects.toMatchObject({
      statusCode: 404,
    })

    // A model the store lacks is pulled into it, by the store's owner.
    const pull = await fetch(`${url}/__ollama/pull`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'qwen2.5:0.5b' }),
    })
    expect(await pull.text()).toMatch(/event: done/)
    const written = path.join(store, 'manifests/registry.ollama.ai/library/qwen2.5/0.5b')
    expect(statSync(written).isFile()).toBe(true)
    const owners = entries(store).map((entry) => {
      const s = statSync(entry)
      return `${path.relative(store, entry) || '.'} ${s.uid}:${s.gid}`
    })
    expect(owners.length).toBeGreaterThan(6)
    for (const owner of owners) expect(owner).toMatch(new RegExp(` ${OWNER.uid}:${OWNER.gid}$`))

    // Nothing pulled that the store already held: Ollama's access log shows one pull, qwen2.5's.
    const { stdout, stderr } = await run('docker', ['logs', name])
    const pulls = `${stdout}${stderr}`.split('\n').filter((l) => l.includes('"/api/pull"'))
    expect(pulls).toHaveLength(1)
  }, 120_000)
})
