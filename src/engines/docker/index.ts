import { debuglog } from 'node:util'
import { planContainerGpu } from '../../gpu/container.js'
import type { GpuReport } from '../../gpu/detect.js'
import { safeTuningEnv } from '../../gpu/tuning.js'
import { waitForOllama } from '../../ollama/probe.js'
import type { ResolvedDockerOptions } from '../../options.js'
import { errorMessage, ProblemError } from '../../problem.js'
import { engineEnv } from '../settings.js'
import type { Driver, Engine, EngineLogger, StartContext, World } from '../types.js'
import { connectDocker, type DockerAttempt, type DockerConnection } from './connect.js'
import {
  boundHostPort,
  buildContainerSpec,
  containerDeath,
  inspectByName,
  isManaged,
  removeContainer,
  STOP_TIMEOUT_S,
  stopContainerDetached,
} from './container.js'
import { describeHostModels, findHostModelStore, hostModelsMount } from './host-models.js'
import { readLogTail } from './logs.js'
import { reconcileContainer } from './reconcile.js'
import { createDockerSupervisor, type RestartPolicy } from './supervisor.js'

const debug = debuglog('vite-plugin-ollama')

export interface DockerEngineOptions {
  docker: ResolvedDockerOptions
  /** The container environment the plugin's own options set (`parallel`, `numCtx`). */
  settingsEnv?: Record<string, string>
  gpu: GpuReport
  /** An engine already found (the resolver found it while deciding); else one is looked for. */
  connection?: DockerConnection
  /** Start-time progress (image pull, recreation) goes here; the running engine uses events. */
  logger?: EngineLogger
  signal?: AbortSignal
  /** Until Ollama in the container answers. @default 120000 */
  readyTimeoutMs?: number
  restart?: Partial<RestartPolicy>
}

/** The running container, as an Engine. */
export interface DockerEngine extends Engine {
  readonly containerId: string
  /** The container's last log lines (demultiplexed). */
  logTail(lines?: number): Promise<string[]>
}

/** Why no Docker engine answered, as a Problem naming each place tried. */
export function noDockerProblem(attempts: DockerAttempt[]): { message: string; hint: string } {
  return {
    message: 'No Docker engine answered.',
    hint: [
      ...attempts.map((a) => `  ${a.source}: ${a.reason}`),
      'Start Docker (Docker Desktop, Colima, Podman or `sudo systemctl start docker`), or set DOCKER_HOST to its socket.',
    ].join('\n'),
  }
}

/** What the GPU plan depends on in the daemon: installing the NVIDIA toolkit changes it. */
function daemonGpuKey(conn: DockerConnection): string {
  const info = conn.gpuInfo
  return JSON.stringify({
    runtimes: Object.keys(info.runtimes ?? {}).sort(),
    cdi: info.cdiSpecDirs ?? [],
    podman: Boolean(info.isPodman),
  })
}

/**
 * Runs Ollama in a container (see reconcile.ts for adopt, start, recreate or create), waits until
 * Ollama answers from the host, and supervises it (crash → restart with backoff; a user's
 * `docker stop` is respected).
 */
export async function startDockerEngine(opts: DockerEngineOptions): Promise<DockerEngine> {
  const log: EngineLogger = opts.logger ?? { info: debug, warn: debug }
  const options = opts.docker
  let conn = opts.connection
  if (!conn) {
    const found = await connectDocker({ signal: opts.signal })
    if (!found.connection) throw new ProblemError(noDockerProblem(found.attempts))
    conn = found.connection
  }
  const docker = conn.docker
  const url = `http://127.0.0.1:${options.hostPort}`
  const plan = planContainerGpu(opts.gpu, options.gpu, conn.gpuInfo)
  const models = findHostModelStore(options, { daemonHost: conn.endpoint.host })
  const store = models.store ? hostModelsMount(models.store, conn.rootless) : undefined
  const requested = buildContainerSpec({
    options,
    plan,
    tuningEnv: safeTuningEnv(opts.gpu),
    settingsEnv: opts.settingsEnv,
    daemonKey: daemonGpuKey(conn),
    hostModels: store,
  })
  const warnings: string[] = []
  const outcome = await reconcileContainer({
    docker,
    options,
    requested,
    plan,
    log,
    signal: opts.signal,
    warnings,
  })
  const container = docker.getContainer(outcome.id)
  const version = await waitForOllama(url, {
    timeoutMs: opts.readyTimeoutMs ?? 120_000,
    signal: opts.signal,
    what: `The container ${outcome.spec.name}`,
    died: () => containerDeath(container),
    logTail: () => readLogTail(container),
  })
  debug('docker engine ready: %s %s (%s)', outcome.how, outcome.spec.name, version)

  const supervisor = await createDockerSupervisor({
    docker,
    eventsClient: conn.createClient(),
    containerId: outcome.id,
    name: outcome.spec.name,
    url,
    restart: opts.restart,
    readyTimeoutMs: opts.readyTimeoutMs ?? 120_000,
    gpuExpected: outcome.spec.gpu !== 'none',
  })
  for (const warning of warnings)
    supervisor.hub.emit({ type: 'log', level: 'warn', message: warning })

  const info = supervisor.info
  info.url = url
  info.version = version
  info.container = { id: outcome.id, name: outcome.spec.name, image: outcome.spec.image }
  const runsAs = store?.user ? ` (running as ${store.user}, the store's owner)` : ''
  info.reason = `${outcome.how} container ${outcome.spec.name} (${outcome.spec.image}) on ${conn.endpoint.host}; GPU: ${
    outcome.spec.cpuFallback ? 'refused by Docker, running on CPU' : plan.reason
  }; models: ${models.reason}${runsAs}`
  // What the GPU watchdog compares `/api/ps` against (orchestrator.ts).
  info.gpuPlanned = outcome.spec.gpu !== 'none'
  await supervisor.checkGpuUse()

  let stopped: Promise<void> | undefined
  return {
    info,
    owned: outcome.owned,
    containerId: outcome.id,
    onEvent: supervisor.hub.onEvent,
    logTail: (lines?: number) => readLogTail(container, lines),
    stop() {
      stopped ??= supervisor.close({ stopContainer: outcome.owned && options.stopOnExit })
      return stopped
    },
    // Recreated, not restarted: a container detached from its GPU by the cgroup driver gets it
    // back only with new devices (docs/decisions.md, "The GPU watchdog"). The volume stays.
    discard() {
      stopped ??= supervisor
        .close({ stopContainer: false })
        .then(() => removeContainer(docker, outcome.id))
      return stopped
    },
    stopSync() {
      if (stopped) return
      stopped = Promise.resolve()
      supervisor.closeSync()
      if (outcome.owned && options.stopOnExit) {
        stopContainerDetached(conn.endpoint.modem, outcome.id, STOP_TIMEOUT_S)
      }
    },
  }
}

/**
 * The Docker connection when the Ollama at `url` is our own running container (by name, label
 * and published port). Asked only when something answers at a loopback `url` on docker.hostPort.
 */
async function ownContainerServing(
  world: World,
  url: string,
): Promise<DockerConnection | undefined> {
  const { hostname, port } = new URL(url)
  const options = world.options.docker
  if (hostname !== '127.0.0.1' && hostname !== 'localhost') return undefined
  if (Number(port || 80) !== options.hostPort) return undefined
  try {
    const { connection } = await world.docker()
    if (!connection) return undefined
    const info = await inspectByName(connection.docker, options.containerName)
    if (!info || !isManaged(info) || !info.State.Running) return undefined
    return boundHostPort(info) === options.hostPort ? connection : undefined
  } catch (err) {
    debug('checking for our container failed: %s', errorMessage(err))
    return undefined
  }
}

/** Starts the container through a connection already found. */
function startWith(
  world: World,
  connection: DockerConnection,
): (ctx: StartContext) => Promise<Engine> {
  return (ctx) =>
    startDockerEngine({
      docker: world.options.docker,
      settingsEnv: engineEnv(world.options),
      gpu: ctx.gpu,
      connection,
      logger: ctx.logger,
      signal: ctx.signal,
    })
}

/** Ollama in the `ollama/ollama` container, on a Docker engine that answers. */
export const driver: Driver = {
  label: 'Docker',
  servesAt: (options) => ({
    url: `http://127.0.0.1:${options.docker.hostPort}`,
    where: `on docker.hostPort ${options.docker.hostPort}; using it instead of starting a container`,
  }),
  async probe(world) {
    const found = await world.docker()
    if (!found.connection) {
      return {
        ok: false,
        reason: found.attempts.map((a) => a.reason).join('; '),
        hint: noDockerProblem(found.attempts).hint,
      }
    }
    const ok = found.attempts.find((a) => a.ok)
    return {
      ok: true,
      reason: `Docker engine reachable: ${ok?.reason ?? found.connection.endpoint.host}`,
      start: startWith(world, found.connection),
    }
  },
  // Our container from an earlier run: adopted through this driver, so it keeps crash recovery,
  // and a changed docker option still recreates it.
  async claim(world, url) {
    const connection = await ownContainerServing(world, url)
    if (!connection) return undefined
    return {
      ok: true,
      reason: `our container ${world.options.docker.containerName} already answers at ${url}`,
      start: startWith(world, connection),
    }
  },
  describe: (info) =>
    `docker container ${info.container?.name ?? ''}${info.version ? ` ${info.version}` : ''} at ${info.url}`,
  modelStore: (options) => describeHostModels(options.docker),
}
