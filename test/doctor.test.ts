import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { formatDoctor, runDoctor } from '../src/doctor.js'
import { connectDocker, type DockerConnection } from '../src/engines/docker/connect.js'
import { detectGpus } from '../src/gpu/detect.js'
import { resolveOptions } from '../src/options.js'
import { type Simulator, startSimulator } from '../src/simulator/index.js'
import { loadGpuFixture } from './fixtures/gpu/fixture.js'

const ANSI = /\x1b\[[0-9;]*m/g

/** A port that refuses connections: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** What connectDocker returns for a daemon with the NVIDIA toolkit configured. */
function dockerWithNvidia(): DockerConnection {
  return {
    endpoint: { host: 'unix:///var/run/docker.sock', source: 'default socket', modem: {} },
    gpuInfo: {
      runtimes: { nvidia: { path: 'nvidia-container-runtime' }, runc: { path: 'runc' } },
      cdiSpecDirs: [],
      operatingSystem: 'Ubuntu 24.04.1 LTS',
      isPodman: false,
      serverVersion: '27.3.1',
    },
    daemonId: 'test',
    serverVersion: '27.3.1',
    operatingSystem: 'Ubuntu 24.04.1 LTS',
    attempts: [],
  } as unknown as DockerConnection
}

let sim: Simulator | undefined
afterEach(async () => {
  await sim?.close()
  sim = undefined
})

describe('runDoctor', () => {
  it('reports an RTX 4090 machine with Docker and a running Ollama, and what fits', async () => {
    sim = await startSimulator({ models: ['llama3.2'] })
    const options = resolveOptions({ url: sim.url, models: ['llama3.2', 'llama3.1:70b'] })
    const report = await runDoctor(options, {
      detect: () => detectGpus(loadGpuFixture('nvidia-rtx4090').deps),
      connectDocker: async () => ({ connection: dockerWithNvidia(), attempts: [] }),
    })
    expect(report.gpu.accelerator).toBe('cuda')
    expect(report.docker).toMatchObject({
      reachable: true,
      version: '27.3.1',
      runtimes: ['nvidia', 'runc'],
    })
    expect(report.docker.gpuPlan?.gpu).toBe('nvidia')
    expect(report.ollama).toEqual({ url: sim.url, reachable: true, version: expect.any(String) })
    expect(report.engine.choice).toBe('external')
    expect(report.models.map((m) => m.status)).toEqual(['fits', 'partial'])
    expect(report.recommended.length).toBeGreaterThan(0)
    expect(report.recommended.every((r) => r.needBytes <= report.gpu.budgetBytes)).toBe(true)
    expect(report.tuning.map((t) => t.env)).toContain('OLLAMA_FLASH_ATTENTION')

    const text = formatDoctor(report).replace(ANSI, '')
    expect(text).toMatch(
      /✓ GPU\s+NVIDIA GeForce RTX 4090 \(25\.8 GB, driver 550\.54\.14, CC 8\.9\)/,
    )
    expect(text).toMatch(/✓ Docker\s+Docker 27\.3\.1/)
    expect(text).toMatch(/container GPU: nvidia/)
    expect(text).toMatch(/✓ Ollama\s+\S+ at http:\/\/127\.0\.0\.1:\d+/)
    expect(text).toMatch(/➜ Engine\s+auto picks external/)
    expect(text).toContain(
      '! llama3.1:70b needs about 52.1 GB; your GPU has 25.8 GB: it will run partly on the CPU, much slower',
    )
    expect(text).toContain('✓ OLLAMA_FLASH_ATTENTION=1')
    // One unit system: the card and what fits it both in decimal GB (it once read "needs about
    // 25 GB of the 24 GB on the GPU" for a model that fits).
    expect(text).toMatch(
      /qwen3:32b\s+large chat with thinking mode; needs about 24\.5 GB of the 25\.8 GB on the GPU/,
    )
    expect(text).toContain('cuda, 25.8 GB for one model')
    expect(text).not.toMatch(/\d\s*[KMGT]iB\b/)
    expect(text).not.toMatch(/of the 24 GB/)
  })

  it('on an Intel Arc machine names the engine, the GPU path and the model store, each with why', async () => {
    const port = await closedPort()
    const store = mkdtempSync(path.join(os.tmpdir(), 'i15-gpu-doctor-'))
    try {
      const options = resolveOptions({
        url: `http://127.0.0.1:${port}`,
        engine: 'docker',
        docker: { hostPort: port, hostModels: store },
      })
      const report = await runDoctor(options, {
        detect: () => detectGpus(loadGpuFixture('intel-arc-b580').deps),
        connectDocker: async () => ({ connection: dockerWithNvidia(), attempts: [] }),
      })
      expect(report.engine.choice).toBe('docker')
      expect(report.docker.gpuPlan).toMatchObject({ gpu: 'intel', env: { OLLAMA_VULKAN: '1' } })
      expect(report.modelStore).toMatch(
        new RegExp(`^the host's model store ${store} \\(docker\\.hostModels\\)`),
      )
      const text = formatDoctor(report).replace(ANSI, '')
      expect(text).toMatch(/✓ GPU\s+Intel Arc B580 \(12\.9 GB, driver xe\)/)
      expect(text).toMatch(
        /container GPU: intel — Intel Arc B580 through Vulkan \(\/dev\/dri, OLLAMA_VULKAN=1\)/,
      )
      expect(text).toMatch(/➜ Engine\s+auto picks docker/)
      expect(text).toMatch(/✓ Models\s+the host's model store .*not downloaded again/)
    } finally {
      rmSync(store, { recursive: true, force: true })
    }
  })

  it('shows the parallel and numCtx options as the settings engines get, over the suggestions', async () => {
    const port = await closedPort()
    const options = resolveOptions({ url: `http://127.0.0.1:${port}`, parallel: 3, numCtx: 16384 })
    const report = await runDoctor(options, {
      detect: () => detectGpus(loadGpuFixture('nvidia-rtx4090').deps),
      connectDocker: async () => ({ connection: dockerWithNvidia(), attempts: [] }),
    })
    const byEnv = Object.fromEntries(report.tuning.map((t) => [t.env, t]))
    expect(byEnv.OLLAMA_NUM_PARALLEL).toMatchObject({ value: '3', safe: true })
    expect(byEnv.OLLAMA_NUM_PARALLEL?.reason).toMatch(/^parallel: 3 in vite\.config\.ts/)
    expect(byEnv.OLLAMA_CONTEXT_LENGTH).toMatchObject({ value: '16384', safe: true })
    expect(report.tuning.filter((t) => t.env === 'OLLAMA_NUM_PARALLEL')).toHaveLength(1)
    const text = formatDoctor(report).replace(ANSI, '')
    expect(text).toMatch(/✓ OLLAMA_NUM_PARALLEL=3\s+parallel: 3 in vite\.config\.ts/)
    expect(text).toMatch(/✓ OLLAMA_CONTEXT_LENGTH=16384\s+numCtx: 16384 in vite\.config\.ts/)

    // Without the options, the suggestion for this GPU stands.
    const plain = await runDoctor(resolveOptions({ url: `http://127.0.0.1:${port}` }), {
      detect: () => detectGpus(loadGpuFixture('nvidia-rtx4090').deps),
      connectDocker: async () => ({ connection: dockerWithNvidia(), attempts: [] }),
    })
    expect(plain.tuning.find((t) => t.env === 'OLLAMA_NUM_PARALLEL')?.reason).not.toMatch(
      /parallel:/,
    )
    expect(plain.tuning.some((t) => t.env === 'OLLAMA_CONTEXT_LENGTH')).toBe(false)
  })

  it('answers within 3 s on a machine with no GPU, no Docker and no Ollama, saying so', async () => {
    const port = await closedPort()
    const options = resolveOptions({ url: `http://127.0.0.1:${port}` })
    const started = performance.now()
    const report = await runDoctor(options, {
      detect: () => detectGpus(loadGpuFixture('no-gpu').deps),
      connectDocker: () =>
        connectDocker({
          timeoutMs: 1000,
          deps: { env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' } },
        }),
    })
    expect(performance.now() - started).toBeLessThan(3000)
    expect(report.gpu.accelerator).toBe('cpu')
    expect(report.docker.reachable).toBe(false)
    expect(report.docker.attempts[0]?.reason).toMatch(/no such socket/)
    expect(report.ollama.reachable).toBe(false)
    expect(report.ollama.reason).toMatch(/ECONNREFUSED/)
    const text = formatDoctor(report).replace(ANSI, '')
    expect(text).toMatch(/✗ GPU\s+none found/)
    expect(text).toMatch(/✗ Docker\s+not reachable/)
    expect(text).toMatch(/✗ Ollama\s+nothing answers at/)
  })

  it('reports a check that hangs as late instead of waiting for it', async () => {
    const port = await closedPort()
    const report = await runDoctor(resolveOptions({ url: `http://127.0.0.1:${port}` }), {
      detect: () => detectGpus(loadGpuFixture('no-gpu').deps),
      connectDocker: () => new Promise(() => {}),
      timeoutMs: 200,
    })
    expect(report.docker.reachable).toBe(false)
    expect(report.docker.attempts[0]?.reason).toBe('Docker did not answer within 0.2 s')
    expect(report.engine.choice).toBeNull()
    expect(report.engine.error).toBe('engine resolution did not answer within 0.2 s')
  })
})
