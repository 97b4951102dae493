// `parallel` and `numCtx` reach the engines the plugin starts: the Docker container's create body,
// `ollama serve`'s environment (and, through a fake `ollama` that runs the simulator, the server
// itself), and `OLLAMA_NUM_PARALLEL` suggested for the GPU gives way to the option.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { buildContainerSpec } from '../src/engines/docker/container.js'
import { serveEnv, startNativeEngine } from '../src/engines/native.js'
import { engineEnv, engineSettings } from '../src/engines/settings.js'
import { planContainerGpu } from '../src/gpu/container.js'
import { detectGpus } from '../src/gpu/detect.js'
import { safeTuningEnv } from '../src/gpu/tuning.js'
import { resolveOptions } from '../src/options.js'
import { loadGpuFixture } from './fixtures/gpu/fixture.js'
import { freePort } from './helpers/docker-image.js'

const linuxDocker = {
  runtimes: { runc: { path: 'runc' }, nvidia: { path: 'nvidia-container-runtime' } },
  cdiSpecDirs: [],
  operatingSystem: 'Ubuntu 24.04.1 LTS',
  serverVersion: '27.3.1',
}

async function containerEnv(options: Parameters<typeof resolveOptions>[0]) {
  const resolved = resolveOptions(options)
  // 80 GB of H100s: the tuning suggests 4 chats at once.
  const gpu = await detectGpus(loadGpuFixture('nvidia-2x-h100').deps)
  const spec = buildContainerSpec({
    options: resolved.docker,
    plan: planContainerGpu(gpu, resolved.docker.gpu, linuxDocker),
    tuningEnv: safeTuningEnv(gpu),
    settingsEnv: engineEnv(resolved),
    daemonKey: 'test',
  })
  const env = Object.fromEntries((spec.body.Env ?? []).map((e) => e.split(/=(.*)/s).slice(0, 2)))
  return { env, hash: spec.hash }
}

describe('parallel and numCtx', () => {
  it('validate with a message that names the option and the fix', () => {
    expect(() => resolveOptions({ parallel: 0 })).toThrow(/parallel: use 1 or more/)
    expect(() => resolveOptions({ parallel: 2.5 })).toThrow(/parallel: use a whole number/)
    expect(() => resolveOptions({ parallel: 500 })).toThrow(/parallel: use 64 at most/)
    expect(() => resolveOptions({ numCtx: 100 })).toThrow(/numCtx: use 256 tokens or more/)
    expect(resolveOptions({}).parallel).toBeUndefined()
  })

  it('set OLLAMA_NUM_PARALLEL and OLLAMA_CONTEXT_LENGTH in the container, over the GPU tuning', async () => {
    const suggested = await containerEnv({})
    expect(suggested.env.OLLAMA_NUM_PARALLEL).toBe('4')
    expect(suggested.env.OLLAMA_CONTEXT_LENGTH).toBeUndefined()

    const set = await containerEnv({ parallel: 2, numCtx: 32768 })
    expect(set.env).toMatchObject({
      OLLAMA_NUM_PARALLEL: '2',
      OLLAMA_CONTEXT_LENGTH: '32768',
      OLLAMA_HOST: '0.0.0.0:11434',
    })
    // Another setting is another container: the hash changes, so it is recreated.
    expect(set.hash).not.toBe(suggested.hash)
    expect((await containerEnv({ parallel: 2, numCtx: 32768 })).hash).toBe(set.hash)

    // docker.env is the most specific of all, and wins.
    const explicit = await containerEnv({
      parallel: 2,
      docker: { env: { OLLAMA_NUM_PARALLEL: '8' } },
    })
    expect(explicit.env.OLLAMA_NUM_PARALLEL).toBe('8')
  })

  it("set them in `ollama serve`'s environment, over the shell's variables", () => {
    const settings = engineEnv(resolveOptions({ parallel: 3, numCtx: 8192 }))
    const env = serveEnv(
      { env: { OLLAMA_NUM_PARALLEL: '1', OLLAMA_FLASH_ATTENTION: '1' }, settings },
      'http://127.0.0.1:11500',
      {
        OLLAMA_NUM_PARALLEL: '6',
        OLLAMA_FLASH_ATTENTION: '0',
        PATH: '/usr/bin',
      },
    )
    expect(env).toMatchObject({
      OLLAMA_NUM_PARALLEL: '3',
      OLLAMA_CONTEXT_LENGTH: '8192',
      // The shell's own variable still beats the tuning.
      OLLAMA_FLASH_ATTENTION: '0',
      OLLAMA_HOST: '127.0.0.1:11500',
      PATH: '/usr/bin',
    })
    expect(engineSettings(resolveOptions({})).length).toBe(0)
  })

  it('reach the server `ollama serve` runs', async () => {
    // A fake `ollama` whose `serve` is the simulator: it reads OLLAMA_CONTEXT_LENGTH like Ollama,
    // and prints its settings in its first log line.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fake-ollama-'))
    const binary = path.join(dir, 'ollama')
    writeFileSync(
      binary,
      `#!/bin/sh\nexec "${process.execPath}" --import "${import.meta.resolve('tsx')}" "${path.resolve('src/simulator/main.ts')}"\n`,
    )
    chmodSync(binary, 0o755)
    const url = `http://127.0.0.1:${await freePort()}`
    const engine = await startNativeEngine({
      url,
      binary,
      settings: engineEnv(resolveOptions({ parallel: 3, numCtx: 8192 })),
    })
    try {
      expect(engine.logTail().join('\n')).toMatch(
        /server config.*OLLAMA_CONTEXT_LENGTH:8192 .*OLLAMA_NUM_PARALLEL:3 /,
      )
      // SIM_MODELS is unset: install one the way a user would, then load it.
      const pull = await fetch(`${url}/api/pull`, {
        method: 'POST',
        body: JSON.stringify({ model: 'qwen2.5:0.5b', stream: false }),
      })
      expect(pull.status).toBe(200)
      await fetch(`${url}/api/generate`, {
        method: 'POST',
        body: JSON.stringify({ model: 'qwen2.5:0.5b', stream: false }),
      }).then((r) => r.json())
      const ps = (await (await fetch(`${url}/api/ps`)).json()) as {
        models: Array<{ context_length: number }>
      }
      expect(ps.models[0]?.context_length).toBe(8192)
    } finally {
      await engine.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
