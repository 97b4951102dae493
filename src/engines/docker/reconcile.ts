import { setTimeout as sleep } from 'node:timers/promises'
import { debuglog } from 'node:util'
import type Docker from 'dockerode'
import type { ContainerGpuPlan } from '../../gpu/container.js'
import { isPortFree, probeOllama } from '../../ollama/probe.js'
import type { ResolvedDockerOptions } from '../../options.js'
import { ProblemError } from '../../problem.js'
import type { EngineLogger } from '../types.js'
import {
  boundHostPort,
  type ContainerSpec,
  configHashOf,
  cpuFallbackSpec,
  ensureVolume,
  inspectByName,
  isManaged,
  LABEL,
  removeContainer,
  startContainer,
} from './container.js'
import { dockerMessage, isGpuRefused, isNameConflict, isPortTaken } from './errors.js'
import { ensureImage } from './image.js'

const debug = debuglog('vite-plugin-ollama')

/** The container to wait for, and how we came by it. */
export interface Reconciled {
  id: string
  spec: ContainerSpec
  /** We created or started it in this process (so stopOnExit may stop it). */
  owned: boolean
  how: string
}

export interface ReconcileInput {
  docker: Docker
  options: ResolvedDockerOptions
  /** The container the options ask for. */
  requested: ContainerSpec
  plan: ContainerGpuPlan
  log: EngineLogger
  signal?: AbortSignal
  /** Said once the engine runs (a GPU refused, a CPU-only container adopted). */
  warnings: string[]
}

/**
 * Gets our container running, by name and config hash: adopts it when it has the same options,
 * starts it when stopped, recreates it when the options changed (the model volume stays), creates
 * it otherwise (pulling the image when missing). A refused GPU request is retried once on CPU.
 */
export async function reconcileContainer(input: ReconcileInput): Promise<Reconciled> {
  const { docker, options, requested, plan, log, warnings } = input
  const existing = await inspectByName(docker, requested.name)
  if (existing) {
    if (!isManaged(existing)) throw foreignProblem(requested.name)
    if (configHashOf(existing) === requested.hash) {
      const spec = specOf(input, existing)
      if (spec.cpuFallback) {
        warnings.push(
          `The container runs on CPU: Docker refused the GPU when it was created. ${gpuFixHint(plan)}`,
        )
      }
      if (existing.State.Running)
        return { id: existing.Id, spec, owned: false, how: 'adopted running' }
      const adopted = await checkHostPort(input)
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
  const adopted = await checkHostPort(input)
  if (adopted) return adopted
  await ensureImage(docker, requested.image, {
    policy: options.pullImage,
    signal: input.signal,
    onProgress: (m) => log.info(m),
    onBytes: (completed, total, done) => log.progress?.(requested.image, completed, total, done),
    onWarning: (m) => log.warn(m),
  })
  if (requested.volume) await ensureVolume(docker, requested.volume)
  return createAndStart(input, requested)
}

/**
 * The host port must be free, or held by our own container: another dev server started it a
 * moment ago and Ollama inside is still booting (docker-proxy accepts and drops connections
 * meanwhile). An Ollama already answering there was adopted by the resolver before this start;
 * one that appears now raced us, and is reported rather than silently used.
 */
async function checkHostPort(input: ReconcileInput): Promise<Reconciled | undefined> {
  const { docker, options, requested } = input
  const url = `http://127.0.0.1:${options.hostPort}`
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
      return { id: ours.Id, spec: specOf(input, ours), owned: false, how: 'adopted running' }
    }
  }
  if (probe.kind === 'ollama') {
    throw new ProblemError({
      message: `An Ollama (version ${probe.version}) started on 127.0.0.1:${options.hostPort} while the container was being prepared.`,
      hint: 'Restart Vite to use that Ollama, or set docker.hostPort in vite.config.ts to a free port.',
    })
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
function specOf(input: ReconcileInput, info: Docker.ContainerInspectInfo): ContainerSpec {
  const { requested, plan } = input
  return info.Config.Labels?.[`${LABEL}.gpu-fallback`] === 'true'
    ? cpuFallbackSpec(requested, plan)
    : requested
}

/** Creates and starts; a refused GPU request is retried once on CPU. */
async function createAndStart(input: ReconcileInput, spec: ContainerSpec): Promise<Reconciled> {
  const { docker, options, plan, warnings } = input
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
      return createAndStart(input, cpuFallbackSpec(spec, plan))
    }
    if (isPortTaken(err)) {
      const adopted = await checkHostPort(input)
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
  if (plan.gpu === 'intel' || plan.gpu === 'vulkan') {
    return 'Check that /dev/dri exists (the i915, xe or amdgpu kernel driver loaded), or set docker.gpu to "none".'
  }
  if (process.platform === 'darwin') {
    return 'Docker on macOS has no GPU: install the native Ollama app (https://ollama.com/download) for Metal.'
  }
  return 'Install the NVIDIA Container Toolkit and run `sudo nvidia-ctk runtime configure --runtime=docker && sudo systemctl restart docker`, or set docker.gpu to "none".'
}
