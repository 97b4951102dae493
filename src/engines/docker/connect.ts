import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { debuglog } from 'node:util'
import Docker from 'dockerode'
import type { DockerGpuInfo } from '../../gpu/container.js'
import { errorMessage } from '../../problem.js'

const debug = debuglog('vite-plugin-ollama')

/** One place a Docker engine may listen, and where we learnt about it. */
export interface DockerEndpoint {
  /** As the Docker CLI writes it: `unix:///var/run/docker.sock`, `tcp://host:2375`. */
  host: string
  /** Why we try it: `DOCKER_HOST`, `docker context "colima"`, `Docker Desktop`, … */
  source: string
  /** dockerode options that reach it. */
  modem: Docker.DockerOptions
}

/** One connection attempt, for `doctor` and for the message when none worked. */
export interface DockerAttempt {
  host: string
  source: string
  ok: boolean
  /** `/var/run/docker.sock: permission denied — add your user to the docker group` */
  reason: string
}

/** A Docker engine that answered. */
export interface DockerConnection {
  docker: Docker
  endpoint: DockerEndpoint
  /** What the daemon says about itself, in the shape src/gpu/container.ts reads. */
  gpuInfo: DockerGpuInfo
  /** The daemon's ID (stable per install), name and version. */
  daemonId: string
  serverVersion: string
  operatingSystem: string
  /**
   * Rootless Docker or Podman: the container's root is the user who runs the daemon, so files it
   * writes in a bind mount are that user's (docs/decisions.md, "The host's model store").
   */
  rootless: boolean
  attempts: DockerAttempt[]
  /**
   * A second, independent client to the same daemon. Streams (events, followed logs) need their own
   * connection without an idle timeout (docs/decisions.md, "Docker event streams need their own
   * connection").
   */
  createClient(): Docker
}

interface ResolveDeps {
  env: NodeJS.ProcessEnv
  home: string
  platform: NodeJS.Platform
  exists(file: string): boolean
  readFile(file: string): string
}

const defaultDeps: ResolveDeps = {
  env: process.env,
  home: os.homedir(),
  platform: process.platform,
  exists: existsSync,
  readFile: (file) => readFileSync(file, 'utf8'),
}

/**
 * Every keyed value docker-modem would otherwise take from its own reading of DOCKER_HOST:
 * it merges `Object.assign({}, envDefaults, ours)`, so a key we leave out comes from the env.
 */
const BLANK: Docker.DockerOptions = {
  socketPath: undefined,
  host: undefined,
  port: undefined,
  protocol: undefined,
  ca: undefined,
  cert: undefined,
  key: undefined,
  timeout: undefined,
}

/** dockerode options for a Docker host string, or why it cannot be used. */
export function parseDockerHost(
  host: string,
  env: NodeJS.ProcessEnv = process.env,
  tlsDir?: string,
  readFile: (file: string) => string = (file) => readFileSync(file, 'utf8'),
): Docker.DockerOptions {
  if (host.startsWith('unix://')) return { ...BLANK, socketPath: host.slice('unix://'.length) }
  if (host.startsWith('npipe://')) return { ...BLANK, socketPath: host.slice('npipe://'.length) }
  const url = new URL(host.includes('://') ? host : `tcp://${host}`)
  if (url.protocol === 'ssh:') {
    return {
      ...BLANK,
      protocol: 'ssh',
      host: url.hostname,
      port: url.port || 22,
      username: decodeURIComponent(url.username) || undefined,
      sshOptions: { agent: env.SSH_AUTH_SOCK },
    } as Docker.DockerOptions
  }
  if (url.protocol !== 'tcp:' && url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(
      `unsupported scheme "${url.protocol}" (use unix://, tcp://, ssh:// or npipe://)`,
    )
  }
  const certDir = env.DOCKER_CERT_PATH ?? tlsDir
  const tls = url.protocol === 'https:' || env.DOCKER_TLS_VERIFY === '1' || url.port === '2376'
  const opts: Docker.DockerOptions = {
    ...BLANK,
    host: url.hostname,
    port: url.port || (tls ? 2376 : 2375),
    protocol: tls ? 'https' : 'http',
  }
  if (tls && certDir) {
    opts.ca = readFile(path.join(certDir, 'ca.pem'))
    opts.cert = readFile(path.join(certDir, 'cert.pem'))
    opts.key = readFile(path.join(certDir, 'key.pem'))
  }
  return opts
}

/** The endpoint of the Docker CLI's current context, as `docker context use` left it. */
function contextEndpoint(deps: ResolveDeps): DockerEndpoint | undefined {
  const configDir = deps.env.DOCKER_CONFIG ?? path.join(deps.home, '.docker')
  let name = deps.env.DOCKER_CONTEXT
  let source = 'DOCKER_CONTEXT'
  if (!name) {
    try {
      const config = JSON.parse(deps.readFile(path.join(configDir, 'config.json'))) as {
        currentContext?: unknown
      }
      if (typeof config.currentContext === 'string') name = config.currentContext
      source = `docker context "${name}" (${path.join(configDir, 'config.json')})`
    } catch {
      return undefined
    }
  }
  if (!name || name === 'default') return undefined
  // The CLI stores each context under the sha256 of its name (docker/cli context/store).
  const digest = createHash('sha256').update(name).digest('hex')
  const metaFile = path.join(configDir, 'contexts', 'meta', digest, 'meta.json')
  try {
    const meta = JSON.parse(deps.readFile(metaFile)) as {
      Endpoints?: { docker?: { Host?: unknown } }
    }
    const host = meta.Endpoints?.docker?.Host
    if (typeof host !== 'string') return undefined
    const tlsDir = path.join(configDir, 'contexts', 'tls', digest, 'docker')
    const modem = parseDockerHost(
      host,
      deps.env,
      deps.exists(tlsDir) ? tlsDir : undefined,
      deps.readFile,
    )
    return { host, source, modem }
  } catch (err) {
    debug('docker context %s unreadable: %s', name, errorMessage(err))
    return undefined
  }
}

/**
 * Where to look for a Docker engine, in the order the Docker CLI would (DOCKER_HOST, then the
 * context), then the sockets of the usual desktop runtimes. DOCKER_HOST is the user's explicit
 * choice: when set it is the only candidate, as it is for the CLI.
 */
export function dockerEndpointCandidates(partial: Partial<ResolveDeps> = {}): DockerEndpoint[] {
  const deps = { ...defaultDeps, ...partial }
  const { env, home, platform } = deps
  if (env.DOCKER_HOST) {
    try {
      return [
        {
          host: env.DOCKER_HOST,
          source: 'DOCKER_HOST',
          modem: parseDockerHost(env.DOCKER_HOST, env),
        },
      ]
    } catch (err) {
      return [
        { host: env.DOCKER_HOST, source: `DOCKER_HOST (invalid: ${errorMessage(err)})`, modem: {} },
      ]
    }
  }
  const out: DockerEndpoint[] = []
  const context = contextEndpoint(deps)
  if (context) out.push(context)
  if (platform === 'win32') {
    for (const pipe of ['//./pipe/docker_engine', '//./pipe/dockerDesktopLinuxEngine']) {
      out.push({
        host: `npipe://${pipe}`,
        source: 'Docker Desktop',
        modem: { ...BLANK, socketPath: pipe },
      })
    }
    return out
  }
  const runtime = env.XDG_RUNTIME_DIR
  const sockets: [string | undefined, string][] = [
    [path.join(home, '.docker', 'run', 'docker.sock'), 'Docker Desktop'],
    [path.join(home, '.docker', 'desktop', 'docker.sock'), 'Docker Desktop for Linux'],
    [path.join(home, '.colima', 'default', 'docker.sock'), 'Colima'],
    [path.join(home, '.orbstack', 'run', 'docker.sock'), 'OrbStack'],
    [path.join(home, '.rd', 'docker.sock'), 'Rancher Desktop'],
    [runtime && path.join(runtime, 'docker.sock'), 'rootless Docker'],
    [runtime && path.join(runtime, 'podman', 'podman.sock'), 'Podman'],
    ['/run/podman/podman.sock', 'Podman (rootful)'],
  ]
  for (const [socket, source] of sockets) {
    if (socket && deps.exists(socket)) {
      out.push({ host: `unix://${socket}`, source, modem: { ...BLANK, socketPath: socket } })
    }
  }
  // Always tried, so the message names it even when it is missing.
  out.push({
    host: 'unix:///var/run/docker.sock',
    source: 'default socket',
    modem: { ...BLANK, socketPath: '/var/run/docker.sock' },
  })
  const seen = new Set<string>()
  return out.filter((e) => {
    const key = e.modem.socketPath ?? e.host
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

/** A transport or HTTP error from the daemon, as the user should read it. */
export function describeDockerFailure(
  endpoint: DockerEndpoint,
  err: unknown,
  timeoutMs: number,
): string {
  const e = err as NodeJS.ErrnoException & { statusCode?: number; json?: { message?: string } }
  const where = endpoint.modem.socketPath ?? endpoint.host
  switch (e.code) {
    case 'EACCES':
    case 'EPERM':
      return `${where}: permission denied — add your user to the docker group (sudo usermod -aG docker $USER, then log in again) or use rootless Docker`
    case 'ENOENT':
      return `${where}: no such socket — Docker is not installed or not started`
    case 'ECONNREFUSED':
      return `${where}: connection refused — the Docker daemon is not running`
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `${where}: host not found — check DOCKER_HOST`
    case 'ABORT_ERR':
      return `${where}: no answer within ${timeoutMs} ms — the Docker daemon is not responding`
  }
  if (e.name === 'AbortError' || e.name === 'TimeoutError') {
    return `${where}: no answer within ${timeoutMs} ms — the Docker daemon is not responding`
  }
  if (e.statusCode) return `${where}: HTTP ${e.statusCode} ${e.json?.message ?? e.message}`
  return `${where}: ${errorMessage(err)}`
}

export interface ConnectDockerOptions {
  /** Per endpoint: ping and info must answer within this. */
  timeoutMs?: number
  signal?: AbortSignal
  /** For tests and `doctor`: look elsewhere than the real environment. */
  deps?: Partial<ResolveDeps>
}

/**
 * Finds a Docker engine that answers. Each candidate gets a ping with a short timeout, so an
 * unreachable daemon costs a clear reason in well under two seconds, not a hang.
 */
export async function connectDocker(
  opts: ConnectDockerOptions = {},
): Promise<
  | { connection: DockerConnection; attempts: DockerAttempt[] }
  | { connection: null; attempts: DockerAttempt[] }
> {
  const timeoutMs = opts.timeoutMs ?? 1200
  const attempts: DockerAttempt[] = []
  for (const endpoint of dockerEndpointCandidates(opts.deps)) {
    opts.signal?.throwIfAborted()
    if (!endpoint.modem.socketPath && !endpoint.modem.host) {
      attempts.push({
        host: endpoint.host,
        source: endpoint.source,
        ok: false,
        reason: endpoint.source,
      })
      continue
    }
    const docker = new Docker(endpoint.modem)
    try {
      await withSignal(docker, 'ping', timeoutSignal(timeoutMs, opts.signal))
      const info = (await withSignal(
        docker,
        'info',
        timeoutSignal(timeoutMs * 2, opts.signal),
      )) as Record<string, unknown>
      const version = (await withSignal(
        docker,
        'version',
        timeoutSignal(timeoutMs * 2, opts.signal),
      )) as {
        Components?: { Name?: string }[]
      }
      const isPodman = (version.Components ?? []).some((c) => /podman/i.test(c.Name ?? ''))
      const serverVersion = String(info.ServerVersion ?? '')
      attempts.push({
        host: endpoint.host,
        source: endpoint.source,
        ok: true,
        reason: `${endpoint.host}: ${isPodman ? 'Podman' : 'Docker'} ${serverVersion} (${endpoint.source})`,
      })
      const connection: DockerConnection = {
        docker,
        endpoint,
        gpuInfo: {
          runtimes: (info.Runtimes as Record<string, unknown> | undefined) ?? {},
          cdiSpecDirs: Array.isArray(info.CDISpecDirs) ? (info.CDISpecDirs as string[]) : [],
          operatingSystem: String(info.OperatingSystem ?? ''),
          isPodman,
          serverVersion,
          architecture: String(info.Architecture ?? ''),
        },
        rootless: isRootless(info.SecurityOptions),
        daemonId: String(info.ID ?? ''),
        serverVersion,
        operatingSystem: String(info.OperatingSystem ?? ''),
        attempts,
        createClient: () => new Docker(endpoint.modem),
      }
      return { connection, attempts }
    } catch (err) {
      opts.signal?.throwIfAborted()
      const reason = describeDockerFailure(endpoint, err, timeoutMs)
      debug('docker: %s', reason)
      attempts.push({ host: endpoint.host, source: endpoint.source, ok: false, reason })
    }
  }
  return { connection: null, attempts }
}

/** `docker info` lists `name=rootless` among its security options for rootless Docker and Podman. */
function isRootless(securityOptions: unknown): boolean {
  return (
    Array.isArray(securityOptions) &&
    securityOptions.some((o) => /\bname=rootless\b/.test(String(o)))
  )
}

function timeoutSignal(ms: number, outer?: AbortSignal): AbortSignal {
  const timeout = AbortSignal.timeout(ms)
  return outer ? AbortSignal.any([outer, timeout]) : timeout
}

/** dockerode 5 takes `abortSignal` on every call; @types/dockerode does not know it yet. */
function withSignal(
  docker: Docker,
  method: 'ping' | 'info' | 'version',
  abortSignal: AbortSignal,
): Promise<unknown> {
  const call = docker[method] as unknown as (
    this: Docker,
    opts: { abortSignal: AbortSignal },
  ) => Promise<unknown>
  return call.call(docker, { abortSignal })
}
