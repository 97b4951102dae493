// Which host model store the Docker engine mounts, who the container runs as, and that the
// adopt-or-create hash tells the stores apart (the real mount is in docker-host-models.test.ts).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { buildContainerSpec } from '../src/engines/docker/container.js'
import {
  describeHostModels,
  findHostModelStore,
  HOST_MODELS_TARGET,
  hostModelsMount,
  storeUser,
} from '../src/engines/docker/host-models.js'
import type { ContainerGpuPlan } from '../src/gpu/container.js'
import { resolveOptions } from '../src/options.js'
import { ProblemError } from '../src/problem.js'

const home = mkdtempSync(path.join(os.tmpdir(), 'i15-gpu-home-'))
afterAll(() => rmSync(home, { recursive: true, force: true }))

const cpu: ContainerGpuPlan = { gpu: 'none', hostConfig: {}, env: {}, reason: 'no GPU' }
const docker = resolveOptions().docker

describe('findHostModelStore', () => {
  it("'auto' without ~/.ollama/models keeps models in the volume, and says why", () => {
    const choice = findHostModelStore(docker, { home, env: {} })
    expect(choice.store).toBeUndefined()
    expect(choice.reason).toBe(
      `no host model store (${path.join(home, '.ollama', 'models')} does not exist): models stay in the volume ollama`,
    )
  })

  it("'auto' takes ~/.ollama/models once it exists, with its owner", () => {
    const standard = path.join(home, '.ollama', 'models')
    mkdirSync(standard, { recursive: true })
    const choice = findHostModelStore(docker, { home, env: {} })
    expect(choice.store).toEqual({
      path: standard,
      source: '~/.ollama/models',
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
    })
    expect(choice.reason).toMatch(/not downloaded again/)
  })

  it("'auto' follows $OLLAMA_MODELS as Ollama does, and never falls back from it", () => {
    const custom = mkdtempSync(path.join(home, 'store-'))
    expect(
      findHostModelStore(docker, { home, env: { OLLAMA_MODELS: custom } }).store,
    ).toMatchObject({ path: custom, source: '$OLLAMA_MODELS' })
    const missing = findHostModelStore(docker, {
      home,
      env: { OLLAMA_MODELS: path.join(home, 'nope') },
    })
    expect(missing.store).toBeUndefined()
    expect(missing.reason).toMatch(/^OLLAMA_MODELS is .*nope, which is not a folder/)
  })

  it('a path is used as given (~ expanded), and a missing one stops the start naming the option', () => {
    mkdirSync(path.join(home, 'models-here'))
    const given = findHostModelStore({ ...docker, hostModels: '~/models-here' }, { home, env: {} })
    expect(given.store).toMatchObject({
      path: path.join(home, 'models-here'),
      source: 'docker.hostModels',
    })
    const error = (() => {
      try {
        findHostModelStore({ ...docker, hostModels: '/no/such/store' }, { home, env: {} })
      } catch (e) {
        return e
      }
    })()
    expect(error).toBeInstanceOf(ProblemError)
    expect((error as ProblemError).message).toBe(
      'docker.hostModels is /no/such/store, which is not a folder.',
    )
    expect((error as ProblemError).hint).toMatch(/set docker\.hostModels to 'auto' or false/)
    expect(describeHostModels({ ...docker, hostModels: '/no/such/store' })).toMatch(
      /^docker\.hostModels is \/no\/such\/store, which is not a folder\. Fix the path/,
    )
  })

  it("'auto' leaves a daemon on another machine alone: the folder would be on its disk", () => {
    const remote = findHostModelStore(docker, {
      home,
      env: {},
      daemonHost: 'tcp://build-box.lan:2375',
    })
    expect(remote).toEqual({
      reason:
        'Docker runs on another machine (tcp://build-box.lan:2375): models stay in the volume ollama',
    })
    for (const local of [
      'unix:///var/run/docker.sock',
      'tcp://127.0.0.1:2375',
      'npipe:////./pipe/docker_engine',
    ]) {
      expect(
        findHostModelStore(docker, { home, env: {}, daemonHost: local }).store,
        local,
      ).toBeDefined()
    }
  })

  it('false keeps models in the volume even when a store exists', () => {
    const choice = findHostModelStore({ ...docker, hostModels: false }, { home, env: {} })
    expect(choice).toEqual({
      reason: 'docker.hostModels is false: models stay in the volume ollama',
    })
  })
})

describe('who the container runs as', () => {
  const store = {
    path: '/home/ada/.ollama/models',
    source: '~/.ollama/models',
    uid: 1000,
    gid: 1000,
  }

  it("the store's owner on a rootful engine, root where root is the user or owns the store", () => {
    expect(storeUser(store, false)).toBe('1000:1000')
    expect(storeUser(store, true)).toBeUndefined()
    expect(storeUser({ ...store, uid: 0, gid: 0 }, false)).toBeUndefined()
  })

  it('mounts the store where OLLAMA_MODELS points, with a HOME a non-root Ollama can write', () => {
    expect(hostModelsMount(store, false)).toEqual({
      mount: { Type: 'bind', Source: store.path, Target: HOST_MODELS_TARGET },
      env: { OLLAMA_MODELS: HOST_MODELS_TARGET, HOME: '/tmp' },
      user: '1000:1000',
    })
    expect(hostModelsMount(store, true)).toEqual({
      mount: { Type: 'bind', Source: store.path, Target: HOST_MODELS_TARGET },
      env: { OLLAMA_MODELS: HOST_MODELS_TARGET },
    })
  })

  it('puts the mount and the user in the create body and its hash, instead of the volume', () => {
    const base = { options: docker, plan: cpu, tuningEnv: {}, daemonKey: 'd' }
    const volume = buildContainerSpec(base)
    const mounted = buildContainerSpec({ ...base, hostModels: hostModelsMount(store, false) })
    const other = buildContainerSpec({
      ...base,
      hostModels: hostModelsMount({ ...store, path: '/srv/models' }, false),
    })
    expect(volume.volume).toBe('ollama')
    expect(mounted.volume).toBeUndefined()
    expect(mounted.body.User).toBe('1000:1000')
    expect(mounted.body.HostConfig?.Mounts).toEqual([
      { Type: 'bind', Source: store.path, Target: HOST_MODELS_TARGET },
    ])
    expect(mounted.body.Env).toContain(`OLLAMA_MODELS=${HOST_MODELS_TARGET}`)
    expect(new Set([volume.hash, mounted.hash, other.hash]).size).toBe(3)
    // docker.env cannot point Ollama away from the mount.
    const env = buildContainerSpec({
      ...base,
      options: { ...docker, env: { OLLAMA_MODELS: '/elsewhere' } },
      hostModels: hostModelsMount(store, false),
    })
    expect(env.body.Env).toContain(`OLLAMA_MODELS=${HOST_MODELS_TARGET}`)
  })
})

describe('the simulator keeps a model store like Ollama', () => {
  it('lists the manifests it finds, writes one per pull and removes it on delete', async () => {
    const { startSimulator } = await import('../src/simulator/index.js')
    const store = mkdtempSync(path.join(home, 'sim-store-'))
    const manifest = path.join(store, 'manifests', 'registry.ollama.ai', 'library', 'llama3.2')
    mkdirSync(manifest, { recursive: true })
    writeFileSync(path.join(manifest, 'latest'), '{"schemaVersion":2}')
    const sim = await startSimulator({ modelStore: store })
    try {
      const tags = (await (await fetch(`${sim.url}/api/tags`)).json()) as {
        models: { name: string }[]
      }
      expect(tags.models.map((m) => m.name)).toEqual(['llama3.2:latest'])
      const pull = await fetch(`${sim.url}/api/pull`, {
        method: 'POST',
        body: JSON.stringify({ model: 'qwen2.5:0.5b', stream: false }),
      })
      expect(await pull.json()).toEqual({ status: 'success' })
      const written = path.join(store, 'manifests/registry.ollama.ai/library/qwen2.5/0.5b')
      const { readFileSync, existsSync } = await import('node:fs')
      expect(JSON.parse(readFileSync(written, 'utf8'))).toMatchObject({
        schemaVersion: 2,
        config: { mediaType: 'application/vnd.docker.container.image.v1+json' },
      })
      expect(existsSync(path.join(store, 'blobs'))).toBe(true)
      await fetch(`${sim.url}/api/delete`, {
        method: 'DELETE',
        body: JSON.stringify({ model: 'qwen2.5:0.5b' }),
      })
      expect(existsSync(written)).toBe(false)
    } finally {
      await sim.close()
    }
  })
})
