import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import type Docker from 'dockerode'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { PullProgressEvent } from '../src/protocol.js'
import {
  freePort,
  probeDocker,
  removeDockerThings,
  simulatorImage,
  uniqueName,
} from './helpers/docker-image.js'
import { servePlugin, waitForStatus } from './helpers/faults.js'
import { type LocalRegistry, startRegistry } from './helpers/registry.js'
import { connectHmr } from './helpers/vite.js'

const run = promisify(execFile)
const dockerState = await probeDocker()
const skip = !dockerState.ok && !process.env.CI
const title = skip
  ? `Ollama image pull (skipped: ${dockerState.ok ? '' : dockerState.reason})`
  : 'Ollama image pull from a registry, on the real Docker engine'

describe.skipIf(skip)(title, () => {
  let docker: Docker
  let registry: LocalRegistry
  let image: string
  const containers: string[] = []
  const volumes: string[] = []
  const cleanups: Array<() => unknown> = []

  beforeAll(async () => {
    if (!dockerState.ok) throw new Error(`CI requires a Docker engine: ${dockerState.reason}`)
    docker = dockerState.docker
    // A 24 MB layer the daemon lacks, at 8 MB/s: about three seconds of real pull progress.
    registry = await startRegistry(await simulatorImage(docker), 8e6)
    image = `${registry.host}/vpo-test/ollama:${uniqueName('tag')}`
  }, 180_000)

  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn()
    await removeDockerThings(docker, {
      containers: containers.splice(0),
      volumes: volumes.splice(0),
    })
  })

  afterAll(async () => {
    await run('docker', ['rmi', '-f', image]).catch(() => {})
    await registry?.close()
  })

  it('pulls the missing image with a progress bar, then starts it; the next start pulls nothing', async () => {
    const name = uniqueName('vpo-pull')
    containers.push(name)
    volumes.push(`${name}-models`)
    const options = {
      engine: 'docker' as const,
      models: ['llama3.2'],
      docker: {
        image,
        containerName: name,
        volume: `${name}-models`,
        hostPort: await freePort(),
        pullImage: 'missing' as const,
        gpu: 'none' as const,
        env: { SIM_MODELS: 'llama3.2' },
      },
    }
    const served = await servePlugin(options)
    cleanups.push(() => served.close())
    const hmr = await connectHmr(served.url)
    cleanups.push(() => hmr.close())
    const ready = await waitForStatus(served.url, (s) => s.phase === 'ready', 120_000, 'ready')
    expect(ready.engine?.container?.image).toBe(image)

    const progress = hmr.messages
      .filter((m) => m.event === 'ollama:progress')
      .map((m) => m.data as PullProgressEvent)
      .filter((e) => e.model === image)
    expect(progress.length).toBeGreaterThan(3)
    const percents = progress.map((e) => e.percent)
    expect(percents).toEqual([...percents].sort((a, b) => a - b))
    expect(progress.at(-1)).toMatchObject({ status: 'success', percent: 100 })
    expect(progress.some((e) => e.percent > 0 && e.percent < 100)).toBe(true)
    expect(served.lines.join('\n')).toMatch(
      /pulling 127\.0\.0\.1:\d+\/vpo-test\/ollama:\S+: \d+% of/,
    )
    // Its size was said before the pull started, read from the registry's manifest, and the
    // first figure already had the whole size rather than the first layer's.
    const upFront = served.lines.findIndex((l) =>
      /: [\d.]+ MB to download, on the first start/.test(l),
    )
    const firstPercent = served.lines.findIndex((l) => /: \d+% of/.test(l))
    expect(upFront).toBeGreaterThanOrEqual(0)
    expect(upFront).toBeLessThan(firstPercent)
    expect(progress[0]).toMatchObject({ completed: 0 })
    expect(progress[0]?.total).toBeGreaterThan(24e6)
    const blobGets = () =>
      registry.requests.filter((r) => r.startsWith('GET /v2/vpo-test/ollama/blobs/')).length
    const pulled = blobGets()
    expect(pulled).toBeGreaterThanOrEqual(1)

    // The image is there now: a second dev server adopts the container and pulls nothing.
    await served.close()
    const again = await servePlugin(options)
    cleanups.push(() => again.close())
    await waitForStatus(again.url, (s) => s.phase === 'ready', 60_000, 'ready again')
    expect(blobGets()).toBe(pulled)
  }, 240_000)
})
