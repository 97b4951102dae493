import { setTimeout as sleep } from 'node:timers/promises'
import { debuglog } from 'node:util'
import type Docker from 'dockerode'
import { type ContainerGpuPlan, planContainerGpu } from '../../gpu/container.js'
import type { GpuReport } from '../../gpu/detect.js'
import { recommendTuning } from '../../gpu/tuning.js'
import { isPortFree, probeOllama, waitForOllama } from '../../ollama/probe.js'
import type { ResolvedDockerOptions } from '../../options.js'
import { ProblemError } from '../../problem.js'
import type { EngineLogger } from '../events.js'
import { createExternalEngine } from '../external.js'
import type { Engine } from '../types.js'
import { connectDocker, type DockerAttempt, type DockerConnection } from './connect.js'
import {
  boundHostPort,
  buildContainerSpec,
  type ContainerSpec,
  configHashOf,
  containerDeath,
  cpuFallbackSpec,
  ensureVolume,
  inspectByName,
  isManaged,
  LABEL,
  removeContainer,
  STOP_TIMEOUT_S,
  startContainer,
  stopContainerDetached,
} from './container.js'
import { dockerMessage, isGpuRefused, isNameConflict, isPortTaken } from './errors.js'
import { ensureImage } from './image.js'
import { readLogTail } from './logs.js'
import { createDockerSupervisor, type RestartPolicy } from './supervisor.js'

const debug = debuglog('vite-plugin-ollama')

export interface DockerEngineOptions {
  docker: ResolvedDockerOptions
  gpu: GpuReport
  /** An engine already found (resolve.ts found it while deciding); else one is looked for. */
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

function tuningEnv(report: GpuReport): Record<string, string> {
  const env: Record<string, string> = {}
  for (const t of recommendTuning(report)) if (t.safe) env[t.env] = t.value
  return env
}

interface Running {
  id: string
  spec: ContainerSpec
  /** We created or started it in this process (so stopOnExit may stop it). */
  owned: boolean
  how: string
}

/**
 * Runs Ollama in a container: adopts ours when it has the same options, recreates it when they
 * changed (the model volume stays), creates it otherwise, waits until Ollama answers from the
 * host, and supervises it (crash → restart with backoff; a user's `docker stop` is respected).
 * When the host port already serves an Ollama that is not our container, that Ollama is adopted
 * as an external engine instead.
 */
export async function startDockerEngine(opts: DockerEngineOptions): Promise<DockerEngine | Engine> {
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
  const requested = buildContainerSpec({
    options,
    plan,
    tuningEnv: tuningEnv(opts.gpu),
    daemonKey: daemonGpuKey(conn),
  })
  const warnings: string[] = []

  /**
   * The host port must be free, unless an Ollama already answers there (then that one is used),
   * or our own container holds it: another dev server started it a moment ago and Ollama inside
   * is still booting (docker-proxy accepts and drops connections meanwhile).
   */
  async function checkHostPort(): Promise<Engine | Running | undefined> {
    const probe = await probeOllama(url)
    if (probe.kind !== 'ollama' && probe.kind !== 'absent') {
      const ours = await inspectByName(docker, requested.name)
      if (
        ours &&
        isManaged(ours) &&
        ours.State.Running &&
        configHashOf(ours) === requested.hash &&
        boundHostPort(ours) === options.hostPort
      ) {
        return { id: ours.Id, spec: specOf(ours), owned: false, how: 'adopted running' }
      }
    }
    if (probe.kind === 'ollama') {
      return createExternalEngine(
        url,
        probe.version,
        `an Ollama (version ${probe.version}) already answers on docker.hostPort ${options.hostPort}; using it instead of starting a container`,
      )
    }
    if (probe.kind === 'other' || !(await isPortFree('127.0.0.1', options.hostPort))) {
      throw new ProblemError({
        message: `Port ${options.hostPort} on 127.0.0.1 is held by a process that is not Ollama${probe.kind === 'other' ? ` (${probe.reason})` : ''}.`,
        hint: 'Set docker.hostPort in vite.config.ts to a free port, or stop that process.',
      })
    }
    return undefined
  }

  /** The spec an existing container of ours runs: the CPU variant when the GPU was refused. */
  function specOf(info: Docker.ContainerInspectInfo): ContainerSpec {
    return info.Config.Labels?.[`${LABEL}.gpu-fallback`] === 'true'
      ? cpuFallbackSpec(requested, plan)
      : requested
  }

  /** Creates and starts; a refused GPU request is retried once on CPU. */
  async function createAndStart(spec: ContainerSpec): Promise<Running | Engine> {
    let container: Docker.Container
    try {
      container = await docker.createContainer(spec.body)
    } catch (err) {
      if (!isNameConflict(err)) throw startProblem(err, spec)
      // Another dev server created it between our inspect and create: use theirs if it matches.
      debug('409 creating %s: adopting the winner', spec.name)
      const info = await inspectWinner(docker, spec.name)
      if (!isManaged(info)) throw foreignProblem(spec.name)
      if (configHashOf(info) !== spec.hash) {
        throw new ProblemError({
          message: `Another dev server has just created the container ${spec.name} with different docker options.`,
          hint: 'Give each project its own docker.containerName (and docker.hostPort) in vite.config.ts, or use the same options in both.',
        })
      }
      if (!info.State.Running) await startContainer(docker.getContainer(info.Id))
      return {
        id: info.Id,
        spec,
        owned: true,
        how: 'adopted the container another dev server created',
      }
    }
    try {
      // A racing dev server that lost the create (409) starts the winner's container too: our own
      // start may then answer 304, which must not be taken for a failure (and remove it).
      await startContainer(container)
      return { id: container.id, spec, owned: true, how: 'created' }
    } catch (err) {
      await removeContainer(docker, container.id)
      if (isGpuRefused(err) && !spec.cpuFallback) {
        const warning = `Docker refused the GPU (${dockerMessage(err)}); the container runs on CPU. ${gpuFixHint(plan)}`
        // Reported as an engine event (replayed to the first listener), not through the logger.
        warnings.push(warning)
        return createAndStart(cpuFallbackSpec(spec, plan))
      }
      if (isPortTaken(err)) {
        const adopted = await checkHostPort()
        if (adopted) return adopted
        throw new ProblemError({
          message: `Docker could not publish Ollama on 127.0.0.1:${options.hostPort}: ${dockerMessage(err)}`,
          hint: 'Set docker.hostPort in vite.config.ts to a free port, or stop what holds it.',
          cause: err,
        })
      }
      throw startProblem(err, spec)
    }
  }

  /** Adopt, start, recreate or create, by name and config hash. */
  async function reconcile(): Promise<Running | Engine> {
    const existing = await inspectByName(docker, requested.name)
    if (existing) {
      if (!isManaged(existing)) throw foreignProblem(requested.name)
      if (configHashOf(existing) === requested.hash) {
        const spec = specOf(existing)
        if (spec.cpuFallback) {
          warnings.push(
            `The container runs on CPU: Docker refused the GPU when it was created. ${gpuFixHint(plan)}`,
          )
        }
        if (existing.State.Running)
          return { id: existing.Id, spec, owned: false, how: 'adopted running' }
        const adopted = await checkHostPort()
        if (adopted) return adopted
        try {
          await startContainer(docker.getContainer(existing.Id))
          return { id: existing.Id, spec, owned: true, how: 'started stopped' }
        } catch (err) {
          // A daemon that changed under it (toolkit removed, port taken): start afresh.
          debug('starting existing %s failed: %s', existing.Id, dockerMessage(err))
          await removeContainer(docker, existing.Id)
        }
      } else {
        log.info(
          `docker options changed: recreating container ${requested.name} (volume ${options.volume} kept)`,
        )
        await removeContainer(docker, existing.Id)
      }
    }
    const adopted = await checkHostPort()
    if (adopted) return adopted
    await ensureImage(docker, requested.image, {
      policy: options.pullImage,
      signal: opts.signal,
      onProgress: (m) => log.info(m),
      onBytes: (completed, total, done) => log.progress?.(requested.image, completed, total, done),
      onWarning: (m) => log.warn(m),
    })
    await ensureVolume(docker, options.volume)
    return createAndStart(requested)
  }

  const outcome = await reconcile()
  if (!('spec' in outcome)) return outcome
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
  info.reason = `${outcome.how} container ${outcome.spec.name} (${outcome.spec.image}) on ${conn.endpoint.host}; GPU: ${
    outcome.spec.cpuFallback ? 'refused by Docker, running on CPU' : plan.reason
  }`
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
 * The container another process is creating under our name. The daemon reserves the name before
 * the container can be inspected, so a 409 can precede a 404: look again for a few seconds.
 */
async function inspectWinner(docker: Docker, name: string): Promise<Docker.ContainerInspectInfo> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const info = await inspectByName(docker, name)
    if (info) return info
    if (Date.now() > deadline) {
      throw new ProblemError({
        message: `The container name ${name} is taken, but no such container appears.`,
        hint: 'Retry, or set docker.containerName in vite.config.ts to another name.',
      })
    }
    await sleep(200)
  }
}

function foreignProblem(name: string): ProblemError {
  return new ProblemError({
    message: `A container named "${name}" exists, but vite-plugin-ollama did not create it (no ${LABEL}.managed label).`,
    hint: `Set docker.containerName in vite.config.ts to another name, or remove it yourself (\`docker rm ${name}\`) if it is not needed.`,
  })
}

function startProblem(err: unknown, spec: ContainerSpec): ProblemError {
  if (err instanceof ProblemError) return err
  return new ProblemError({
    message: `Docker could not start the Ollama container ${spec.name}: ${dockerMessage(err)}`,
    hint: 'Check docker.image and docker.env in vite.config.ts, and `docker info`.',
    cause: err,
  })
}

/** What to install so the GPU works next time. */
function gpuFixHint(plan: ContainerGpuPlan): string {
  if (plan.gpu === 'amd') {
    return 'Check that /dev/kfd and /dev/dri exist (ROCm driver installed), or set docker.gpu to "none".'
  }
  if (process.platform === 'darwin') {
    return 'Docker on macOS has no GPU: install the native Ollama app (https://ollama.com/download) for Metal.'
  }
  return 'Install the NVIDIA Container Toolkit and run `sudo nvidia-ctk runtime configure --runtime=docker && sudo systemctl restart docker`, or set docker.gpu to "none".'
}
