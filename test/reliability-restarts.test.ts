// Twenty config restarts in a row with the docker engine, through a real vite.config.ts (Vite
// bundles the plugin into the config and evaluates it afresh on every restart, the hard case of
// docs/decisions.md, "Only globalThis survives a restart"): one container the whole time, and
// nothing that grows.
import type Docker from 'dockerode'
import { createServer, type ViteDevServer } from 'vite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { processState } from '../src/singleton.js'
import {
  freePort,
  probeDocker,
  removeDockerThings,
  simulatorImage,
  uniqueName,
} from './helpers/docker-image.js'
import {
  makeConfigProject,
  type ResourceCounts,
  resourceCounts,
  waitForStatus,
} from './helpers/faults.js'

const dockerState = await probeDocker()
const skip = !dockerState.ok && !process.env.CI
const title = skip
  ? `twenty config restarts (skipped: ${dockerState.ok ? '' : dockerState.reason})`
  : 'twenty config restarts'

interface Sample extends ResourceCounts {
  orchestrator: Record<'state' | 'progress' | 'log', number>
  httpServerListeners: number
}

describe.skipIf(skip)(title, () => {
  let docker: Docker
  const name = uniqueName('vpo-restarts')
  const volume = `${name}-models`
  let project: ReturnType<typeof makeConfigProject> | undefined
  let server: ViteDevServer | undefined

  beforeAll(async () => {
    if (!dockerState.ok) throw new Error(`CI requires a Docker engine: ${dockerState.reason}`)
    docker = dockerState.docker
  })

  afterAll(async () => {
    await server?.close()
    project?.remove()
    await removeDockerThings(docker, { containers: [name], volumes: [volume] })
  })

  it('keeps exactly one container (same id) and grows no handles, sockets or listeners', async () => {
    const image = await simulatorImage(docker)
    const hostPort = await freePort()
    const port = await freePort()
    const options = {
      engine: 'docker',
      models: ['llama3.2'],
      docker: {
        image,
        containerName: name,
        volume,
        hostPort,
        pullImage: 'never',
        // Never the developer's own ~/.ollama/models: a test's pulls would land there.
        hostModels: false,
        gpu: 'none',
        env: { SIM_MODELS: 'llama3.2' },
      },
    }
    project = makeConfigProject(
      (plugin) => `import ollama from ${plugin}
export default {
  clearScreen: false,
  logLevel: 'silent',
  plugins: [ollama(${JSON.stringify(options)})],
  server: { host: '127.0.0.1', port: ${port}, strictPort: true },
}
`,
    )
    server = await createServer({ configFile: project.configFile, root: project.root })
    await server.listen()
    const url = `http://127.0.0.1:${port}`
    const ready = async () => waitForStatus(url, (s) => s.phase === 'ready', 90_000, 'phase ready')
    const first = await ready()
    const containerId = first.engine?.container?.id
    expect(containerId).toMatch(/^[0-9a-f]{64}$/)

    async function containers(): Promise<string[]> {
      const list = await docker.listContainers({ all: true, filters: { name: [name] } })
      return list.map((c) => c.Id)
    }

    function sample(): Sample {
      const orchestrator = processState().orchestrator
      if (!orchestrator) throw new Error('no orchestrator after a restart')
      return {
        ...resourceCounts(),
        orchestrator: {
          state: orchestrator.listenerCount('state'),
          progress: orchestrator.listenerCount('progress'),
          log: orchestrator.listenerCount('log'),
        },
        httpServerListeners: server!.httpServer!.listenerCount('upgrade'),
      }
    }

    const samples = new Map<number, Sample>()
    for (let i = 1; i <= 20; i++) {
      await server.restart()
      const s = await ready()
      expect(s.engine?.container?.id).toBe(containerId)
      expect(await containers()).toEqual([containerId])
      if (i === 5 || i === 20) {
        // Let connections of the restart finish closing before counting.
        await new Promise((r) => setTimeout(r, 500))
        samples.set(i, sample())
      }
    }
    const at5 = samples.get(5)!
    const at20 = samples.get(20)!
    const report = JSON.stringify({ at5, at20 }, null, 1)
    // The plugin is attached (overlay feed and terminal report listen) by one dev server only.
    expect(at5.orchestrator.state, report).toBeGreaterThan(0)
    expect(processState().owners).toBe(1)
    // Listeners are exact: one leaked per restart would show as +15.
    expect(at20.processListeners, report).toEqual(at5.processListeners)
    expect(at20.orchestrator, report).toEqual(at5.orchestrator)
    expect(at20.httpServerListeners, report).toBe(at5.httpServerListeners)
    // Handles and sockets: a leak per restart would show as +15; allow two of jitter
    // (a keep-alive connection closing late, a timer of the last status poll).
    for (const [type, count] of Object.entries(at20.resources)) {
      expect(count, `${type}\n${report}`).toBeLessThanOrEqual((at5.resources[type] ?? 0) + 2)
    }
    expect(at20.socketFds, report).toBeLessThanOrEqual(at5.socketFds + 2)
    // One orchestrator for the whole process, one set of signal handlers.
    expect(at20.processListeners.SIGINT, report).toBeLessThanOrEqual(at5.processListeners.SIGINT)
  }, 300_000)
})
