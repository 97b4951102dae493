import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  connectDocker,
  dockerEndpointCandidates,
  parseDockerHost,
} from '../src/engines/docker/connect.js'
import { isGpuRefused, isNameConflict, isPortTaken } from '../src/engines/docker/errors.js'
import { demuxDockerLog, parseInferenceCompute } from '../src/engines/docker/logs.js'

/** A fake home: which files exist and what they hold. */
function world(files: Record<string, string>, env: NodeJS.ProcessEnv = {}) {
  return {
    env,
    home: '/home/dev',
    platform: 'linux' as const,
    exists: (file: string) => file in files,
    readFile: (file: string) => {
      const text = files[file]
      if (text === undefined) throw Object.assign(new Error(`ENOENT ${file}`), { code: 'ENOENT' })
      return text
    },
  }
}

/** A daemon error as docker-modem builds it. */
function apiError(statusCode: number, message: string) {
  return Object.assign(new Error(`(HTTP code ${statusCode}) server error - ${message} `), {
    statusCode,
    json: { message },
  })
}

describe('docker socket resolution', () => {
  it('uses DOCKER_HOST alone when it is set, like the Docker CLI', () => {
    const found = dockerEndpointCandidates(
      world({ '/home/dev/.docker/run/docker.sock': '' }, { DOCKER_HOST: 'tcp://10.0.0.5:2375' }),
    )
    expect(found).toHaveLength(1)
    expect(found[0]?.source).toBe('DOCKER_HOST')
    expect(found[0]?.modem).toMatchObject({ host: '10.0.0.5', port: '2375', protocol: 'http' })
    expect(found[0]?.modem.socketPath).toBeUndefined()
  })

  it('reads the current docker context from config.json and contexts/meta', () => {
    const digest = createHash('sha256').update('colima').digest('hex')
    const found = dockerEndpointCandidates(
      world({
        '/home/dev/.docker/config.json': JSON.stringify({ currentContext: 'colima' }),
        [`/home/dev/.docker/contexts/meta/${digest}/meta.json`]: JSON.stringify({
          Name: 'colima',
          Endpoints: { docker: { Host: 'unix:///home/dev/.colima/default/docker.sock' } },
        }),
      }),
    )
    expect(found[0]).toMatchObject({
      host: 'unix:///home/dev/.colima/default/docker.sock',
      modem: { socketPath: '/home/dev/.colima/default/docker.sock' },
    })
    expect(found[0]?.source).toContain('docker context "colima"')
  })

  it('tries the desktop runtimes that exist, then /var/run/docker.sock', () => {
    const found = dockerEndpointCandidates(
      world(
        {
          '/home/dev/.docker/run/docker.sock': '',
          '/home/dev/.colima/default/docker.sock': '',
          '/run/user/1000/podman/podman.sock': '',
        },
        { XDG_RUNTIME_DIR: '/run/user/1000' },
      ),
    )
    expect(found.map((e) => e.source)).toEqual([
      'Docker Desktop',
      'Colima',
      'Podman',
      'default socket',
    ])
    expect(found.at(-1)?.modem.socketPath).toBe('/var/run/docker.sock')
  })

  it('parses ssh and unix hosts', () => {
    expect(parseDockerHost('ssh://me@build:2222', { SSH_AUTH_SOCK: '/tmp/agent' })).toMatchObject({
      protocol: 'ssh',
      host: 'build',
      port: '2222',
      username: 'me',
    })
    expect(parseDockerHost('unix:///x/docker.sock').socketPath).toBe('/x/docker.sock')
  })
})

describe('connecting to a Docker engine', () => {
  const dirs: string[] = []
  const servers: net.Server[] = []
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
    for (const s of servers.splice(0)) s.close()
  })

  it('gives a clear reason within 2 s when DOCKER_HOST points at nothing', async () => {
    const t0 = Date.now()
    const found = await connectDocker({ deps: { env: { DOCKER_HOST: 'tcp://127.0.0.1:1' } } })
    expect(Date.now() - t0).toBeLessThan(2000)
    expect(found.connection).toBeNull()
    expect(found.attempts).toHaveLength(1)
    expect(found.attempts[0]?.reason).toMatch(
      /connection refused — the Docker daemon is not running/,
    )
  })

  it('names a missing unix socket', async () => {
    const found = await connectDocker({
      deps: { env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' } },
    })
    expect(found.connection).toBeNull()
    expect(found.attempts[0]?.reason).toBe(
      '/nonexistent/docker.sock: no such socket — Docker is not installed or not started',
    )
  })

  it('gives up on a daemon that accepts but never answers within 2 s', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'silent-docker-'))
    dirs.push(dir)
    const socket = path.join(dir, 'docker.sock')
    const server = net.createServer(() => {}) // accepts, never answers
    servers.push(server)
    await new Promise<void>((resolve) => server.listen(socket, resolve))
    const t0 = Date.now()
    const found = await connectDocker({ deps: { env: { DOCKER_HOST: `unix://${socket}` } } })
    expect(Date.now() - t0).toBeLessThan(2000)
    expect(found.attempts[0]?.reason).toMatch(/no answer within 1200 ms/)
  })
})

describe('docker error classification (docs/decisions.md, "Classifying Docker errors")', () => {
  it('recognises a refused GPU request', () => {
    expect(
      isGpuRefused(
        apiError(500, 'could not select device driver "nvidia" with capabilities: [[gpu]]'),
      ),
    ).toBe(true)
    expect(
      isGpuRefused(apiError(500, 'could not select device driver "" with capabilities: [[gpu]]')),
    ).toBe(true)
    expect(
      isGpuRefused(
        apiError(
          500,
          'error gathering device information while adding custom device "/dev/kfd": no such file or directory',
        ),
      ),
    ).toBe(true)
    expect(isGpuRefused(apiError(500, 'No such image: ollama/ollama:latest'))).toBe(false)
  })

  it('recognises a taken host port, from a container or a host process', () => {
    expect(
      isPortTaken(
        apiError(
          500,
          'driver failed programming external connectivity on endpoint x (abc): Bind for 127.0.0.1:11434 failed: port is already allocated',
        ),
      ),
    ).toBe(true)
    expect(
      isPortTaken(
        apiError(
          500,
          'driver failed programming external connectivity on endpoint x (abc): Error starting userland proxy: listen tcp4 127.0.0.1:11434: bind: address already in use',
        ),
      ),
    ).toBe(true)
  })

  it('recognises a name conflict by its status', () => {
    expect(
      isNameConflict(apiError(409, 'Conflict. The container name "/x" is already in use')),
    ).toBe(true)
  })
})

describe('container logs', () => {
  it('demultiplexes stdout and stderr frames', () => {
    const frame = (type: number, text: string) => {
      const body = Buffer.from(text)
      const head = Buffer.alloc(8)
      head[0] = type
      head.writeUInt32BE(body.length, 4)
      return Buffer.concat([head, body])
    }
    const buf = Buffer.concat([frame(1, 'out line\n'), frame(2, 'err line\n')])
    expect(demuxDockerLog(buf)).toBe('out line\nerr line\n')
    expect(demuxDockerLog(Buffer.from('plain tty text\n'))).toBe('plain tty text\n')
  })

  it("reads whether Ollama uses the GPU from its 'inference compute' line", () => {
    const cpu =
      'time=… level=INFO source=types.go:60 msg="inference compute" id=cpu library=cpu total="31.3 GiB"'
    const cuda =
      'time=… level=INFO msg="inference compute" id=GPU-1 library=CUDA compute=8.9 name=CUDA0'
    expect(parseInferenceCompute([cpu])).toEqual({ library: 'cpu', gpu: false })
    expect(parseInferenceCompute([cuda, cpu])).toEqual({ library: 'CUDA', gpu: true })
    expect(parseInferenceCompute(['Listening on [::]:11434'])).toBeUndefined()
  })
})
