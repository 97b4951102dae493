import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import type Docker from 'dockerode'
import type { ContainerGpuPlan } from '../../gpu/container.js'
import type { ResolvedDockerOptions } from '../../options.js'
import { dockerMessage, isNotFound, isNotModified } from './errors.js'

/** Label prefix of everything the plugin creates. */
export const LABEL = 'dev.vite-plugin-ollama'
/** Bumped when the create body changes shape, so old containers are recreated, not adopted. */
export const LABEL_SCHEMA_VERSION = '1'
/** Ollama inside the container. */
export const CONTAINER_PORT = '11434/tcp'
const DEFAULT_IMAGE = 'ollama/ollama:latest'
/** Seconds Docker waits after SIGTERM before SIGKILL when we stop the container. */
export const STOP_TIMEOUT_S = 10

/** What to run, and the hash that says whether an existing container already runs it. */
export interface ContainerSpec {
  name: string
  image: string
  body: Docker.ContainerCreateOptions
  /** sha256 of the requested create body (GPU included) and the daemon's GPU setup. */
  hash: string
  gpu: ContainerGpuPlan['gpu']
  /** True when this is the CPU-only retry after the daemon refused the GPU request. */
  cpuFallback: boolean
  /** The named volume it mounts; none while the host's model store is mounted instead. */
  volume: string | undefined
}

export interface SpecInput {
  options: ResolvedDockerOptions
  plan: ContainerGpuPlan
  /** Safe tuning from src/gpu/tuning.ts, as env; the settings below override it. */
  tuningEnv: Record<string, string>
  /** What the plugin's options set (`parallel`, `numCtx`: engines/settings.ts); `docker.env` wins. */
  settingsEnv?: Record<string, string>
  /**
   * What of the daemon's GPU setup the plan depends on (runtimes, CDI). In the hash, so a
   * container made before the user installed the NVIDIA toolkit is recreated afterwards.
   */
  daemonKey: string
  /** The host's model store (host-models.ts), mounted instead of the named volume. */
  hostModels?: { mount: object; env: Record<string, string>; user?: string }
}

/** The create body for the Ollama container. */
export function buildContainerSpec(input: SpecInput): ContainerSpec {
  const { options, plan, hostModels } = input
  // `:rocm` for AMD unless the user chose an image (the resolved default means "not chosen").
  const image = options.image === DEFAULT_IMAGE && plan.image ? plan.image : options.image
  const env: Record<string, string> = {
    ...input.tuningEnv,
    ...input.settingsEnv,
    ...plan.env,
    ...options.env,
    // Ollama must look where the store is mounted, whatever docker.env says.
    ...hostModels?.env,
    // The port mapping reaches Ollama only if it listens on every interface inside the container.
    OLLAMA_HOST: '0.0.0.0:11434',
  }
  const volume = hostModels ? undefined : options.volume
  const body: Docker.ContainerCreateOptions = {
    name: options.containerName,
    Image: image,
    Env: Object.keys(env)
      .sort()
      .map((k) => `${k}=${env[k]}`),
    ExposedPorts: { [CONTAINER_PORT]: {} },
    HostConfig: {
      // 127.0.0.1 only: Ollama has no authentication (docs/decisions.md, "Ports on 127.0.0.1
      // only").
      PortBindings: {
        [CONTAINER_PORT]: [{ HostIp: '127.0.0.1', HostPort: String(options.hostPort) }],
      },
      Mounts: [
        hostModels?.mount ?? { Type: 'volume', Source: options.volume, Target: '/root/.ollama' },
      ],
      // We supervise restarts ourselves (with backoff, and respecting a user's `docker stop`).
      RestartPolicy: { Name: 'no' },
      ...plan.hostConfig,
    } as Docker.HostConfig,
  }
  if (hostModels?.user) body.User = hostModels.user
  const hash = createHash('sha256')
    .update(JSON.stringify({ v: LABEL_SCHEMA_VERSION, body, daemon: input.daemonKey }))
    .digest('hex')
  body.Labels = {
    [`${LABEL}.managed`]: 'true',
    [`${LABEL}.version`]: LABEL_SCHEMA_VERSION,
    [`${LABEL}.config-hash`]: hash,
    [`${LABEL}.gpu`]: plan.gpu,
  }
  return {
    name: options.containerName,
    image,
    body,
    hash,
    gpu: plan.gpu,
    cpuFallback: false,
    volume,
  }
}

/**
 * The same container without the GPU: no device requests, devices or groups, none of the GPU
 * env. It keeps the requested hash (and says it fell back), so the next start adopts it rather
 * than asking the daemon for a GPU it has just refused.
 */
export function cpuFallbackSpec(spec: ContainerSpec, plan: ContainerGpuPlan): ContainerSpec {
  const hostConfig = { ...spec.body.HostConfig }
  delete hostConfig.DeviceRequests
  delete hostConfig.Devices
  delete hostConfig.GroupAdd
  const gpuEnv = new Set(Object.keys(plan.env).filter((k) => k !== 'OLLAMA_HOST'))
  const body: Docker.ContainerCreateOptions = {
    ...spec.body,
    Env: (spec.body.Env ?? []).filter((e) => !gpuEnv.has(e.slice(0, e.indexOf('=')))),
    HostConfig: hostConfig,
    Labels: { ...spec.body.Labels, [`${LABEL}.gpu`]: 'none', [`${LABEL}.gpu-fallback`]: 'true' },
  }
  return { ...spec, body, gpu: 'none', cpuFallback: true }
}

/** The container with that name, or undefined. */
export async function inspectByName(
  docker: Docker,
  name: string,
): Promise<Docker.ContainerInspectInfo | undefined> {
  try {
    return await docker.getContainer(name).inspect()
  } catch (err) {
    if (isNotFound(err)) return undefined
    throw err
  }
}

/** Whether a container carries our labels. */
export function isManaged(info: Docker.ContainerInspectInfo): boolean {
  return info.Config?.Labels?.[`${LABEL}.managed`] === 'true'
}

export function configHashOf(info: Docker.ContainerInspectInfo): string | undefined {
  return info.Config?.Labels?.[`${LABEL}.config-hash`]
}

/** Removes a container (stopping it first); its named volume stays (never `v: true`). */
export async function removeContainer(docker: Docker, id: string): Promise<void> {
  try {
    await docker.getContainer(id).remove({ force: true, v: false })
  } catch (err) {
    if (!isNotFound(err) && !isConflictRemoving(err)) throw err
  }
}

function isConflictRemoving(err: unknown): boolean {
  // 409 "removal of container … is already in progress": someone else is removing it.
  return (err as { statusCode?: number }).statusCode === 409
}

/** Starts a container; "already started" (304) is fine. */
export async function startContainer(container: Docker.Container): Promise<void> {
  try {
    await container.start()
  } catch (err) {
    if (!isNotModified(err)) throw err
  }
}

/**
 * The named volume for models, labelled as ours the first time. createVolume is idempotent and
 * keeps the first labels (docs/decisions.md, "The model volume keeps its first labels"), so a
 * volume the user made is reused as is.
 */
export async function ensureVolume(docker: Docker, name: string): Promise<void> {
  await docker.createVolume({ Name: name, Labels: { [`${LABEL}.managed`]: 'true' } })
}

/** The host port the daemon actually bound, from inspect. */
export function boundHostPort(info: Docker.ContainerInspectInfo): number | undefined {
  const bindings = info.NetworkSettings?.Ports?.[CONTAINER_PORT]
  const port = bindings?.find((b) => b.HostIp === '127.0.0.1')?.HostPort ?? bindings?.[0]?.HostPort
  return port ? Number(port) : undefined
}

/** How the container died, or undefined while it runs (or is starting). */
export async function containerDeath(container: Docker.Container): Promise<string | undefined> {
  try {
    const { State } = await container.inspect()
    if (State.Running || State.Restarting || State.Status === 'created') return undefined
    if (State.OOMKilled) return `was killed for lack of memory (exit code ${State.ExitCode})`
    return `exited with code ${State.ExitCode}${State.Error ? ` (${State.Error})` : ''}`
  } catch (err) {
    return `disappeared (${dockerMessage(err)})`
  }
}

/**
 * Asks the daemon to stop the container from a detached helper process, for `process.on('exit')`
 * where no async work can finish: the helper outlives us and sends `POST /containers/<id>/stop`.
 * Plain unix sockets and tcp only (TLS and ssh endpoints are skipped: best effort).
 */
export function stopContainerDetached(
  modem: Docker.DockerOptions,
  id: string,
  timeoutS: number,
): void {
  const target = modem.socketPath
    ? { socketPath: String(modem.socketPath) }
    : modem.host && modem.protocol === 'http'
      ? { host: modem.host, port: Number(modem.port) }
      : undefined
  if (!target) return
  const request = {
    ...target,
    method: 'POST',
    path: `/containers/${encodeURIComponent(id)}/stop?t=${timeoutS}`,
  }
  const script = `require('http').request(${JSON.stringify(request)}, (r) => r.resume()).on('error', () => {}).end()`
  try {
    spawn(process.execPath, ['-e', script], {
      detached: true,
      stdio: 'ignore',
      windowsHide: true,
    }).unref()
  } catch {
    // Exiting anyway: the container keeps running, and the next start adopts it.
  }
}
