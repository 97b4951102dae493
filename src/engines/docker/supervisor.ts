import { setTimeout as sleep } from 'node:timers/promises'
import { debuglog } from 'node:util'
import type Docker from 'dockerode'
import { probeOllama, waitForOllama } from '../../ollama/probe.js'
import { errorMessage, withLogTail } from '../../problem.js'
import type { EngineInfo } from '../../protocol.js'
import { createEngineEventHub, type EngineEventHub } from '../events.js'
import { containerDeath, STOP_TIMEOUT_S } from './container.js'
import { isNotFound, isNotModified } from './errors.js'
import { type ContainerEvent, watchContainerEvents } from './events.js'
import { parseInferenceCompute, readLogTail } from './logs.js'

const debug = debuglog('vite-plugin-ollama')

/** How often Ollama is probed over HTTP while Docker cannot tell us about the container. */
const HEALTH_INTERVAL_MS = 2000

/** `docker kill` with no `-s`: the `kill` event's signal attribute is "9". */
function isSigkill(signal: string | undefined): boolean {
  return signal === '9' || signal === 'KILL' || signal === 'SIGKILL'
}

/** How crashes are retried. */
export interface RestartPolicy {
  /** Restarts allowed within `windowMs` before giving up. @default 5 */
  maxAttempts: number
  /** First delay; doubled per attempt, at most 30 s. @default 1000 */
  baseDelayMs: number
  /** @default 300000 (5 minutes) */
  windowMs: number
}

export interface SupervisorOptions {
  docker: Docker
  /** A client of its own for the events stream (no idle timeout, closed with us). */
  eventsClient: Docker
  containerId: string
  name: string
  url: string
  restart?: Partial<RestartPolicy>
  readyTimeoutMs: number
  /** The container was given a GPU: a `library=cpu` from Ollama deserves a warning. */
  gpuExpected: boolean
}

export interface DockerSupervisor {
  hub: EngineEventHub
  info: EngineInfo
  /** Reads Ollama's `inference compute` line now, and keeps looking a while if it is not there yet. */
  checkGpuUse(): Promise<void>
  /** Stops watching; stops (never removes) the container when asked. */
  close(opts: { stopContainer: boolean }): Promise<void>
  /** Stops watching, synchronously (for `process.on('exit')`). */
  closeSync(): void
}

/**
 * Watches our container and keeps Ollama up: a crash (a `die` with no `stop` or non-SIGKILL
 * `kill` before it; a plain `docker kill` counts as a crash) is restarted with backoff up to a
 * limit; a user's `docker stop` is respected and reported, and a later `docker start` is noticed.
 * While Docker itself does not answer, that is reported (`degraded`) until it is back (`restored`).
 */
export async function createDockerSupervisor(opts: SupervisorOptions): Promise<DockerSupervisor> {
  const policy: RestartPolicy = {
    maxAttempts: 5,
    baseDelayMs: 1000,
    windowMs: 300_000,
    ...opts.restart,
  }
  const hub = createEngineEventHub()
  const info: EngineInfo = { kind: 'docker', url: opts.url, simulated: false }
  const container = opts.docker.getContainer(opts.containerId)
  const lifetime = new AbortController()
  // 'lost': Ollama stopped answering while Docker itself was unreachable, so nothing can be
  // restarted yet; judged again when Docker answers.
  let state: 'running' | 'recovering' | 'stopped' | 'failed' | 'lost' = 'running'
  let userStopped = false
  /** The Docker daemon (or the socket to it) does not answer: crash recovery is paused. */
  let unreachable = false
  let healthTimer: NodeJS.Timeout | undefined
  let oom = false
  let closing = false
  const crashes: number[] = []
  let gpuTimer: NodeJS.Timeout | undefined

  function onContainerEvent(event: ContainerEvent): void {
    if (closing || (event.id && event.id !== opts.containerId)) return
    switch (event.action) {
      case 'kill':
        // `docker stop` sends SIGTERM first (a SIGKILL only after its timeout), so a SIGTERM (or
        // any other signal) is the user stopping it. A lone SIGKILL (`docker kill`, the way chaos
        // tools and scripts crash a container) is treated as a crash and restarted; the message
        // says how to stop it for good. Docker sends the signal as a number ("9").
        if (!isSigkill(event.signal)) userStopped = true
        return
      case 'stop':
        userStopped = true
        return
      case 'oom':
        oom = true
        return
      case 'die':
        onDie(event)
        return
      case 'destroy':
        // Gone for good: a recovery loop in flight must not try to start it again.
        userStopped = true
        if (state !== 'stopped') {
          state = 'stopped'
          hub.emit({
            type: 'stopped',
            message: `The container ${opts.name} was removed outside the plugin; restart Vite to create it again.`,
          })
        }
        return
      case 'start':
        if (state === 'stopped' || state === 'failed') void onUserStart()
        return
    }
  }

  function onDie(event: ContainerEvent): void {
    const code = event.exitCode ?? 'unknown'
    if (userStopped) {
      state = 'stopped'
      hub.emit({
        type: 'stopped',
        message: `The container ${opts.name} was stopped outside the plugin (exit code ${code}). Start it with \`docker start ${opts.name}\`, or restart Vite.`,
      })
      return
    }
    if (state !== 'running') return // a restart attempt died: the recovery loop sees it
    const why =
      oom || code === 137
        ? `was killed (exit code ${code}${oom ? ', out of memory' : ''}); restarting it (\`docker stop ${opts.name}\` keeps it stopped)`
        : `exited with code ${code}`
    oom = false
    hub.emit({ type: 'crashed', message: `Ollama's container ${opts.name} ${why}` })
    void recover()
  }

  /** Restarts with doubling delays until Ollama answers again, or the limit is reached. */
  async function recover(): Promise<void> {
    state = 'recovering'
    for (;;) {
      const now = Date.now()
      crashes.push(now)
      while (crashes.length && (crashes[0] ?? now) < now - policy.windowMs) crashes.shift()
      const attempt = crashes.length
      if (attempt > policy.maxAttempts) {
        state = 'failed'
        const lines = await readLogTail(container)
        hub.emit({
          type: 'failed',
          problem: {
            message: `Ollama's container ${opts.name} crashed ${attempt} time${attempt === 1 ? '' : 's'} in ${Math.round(policy.windowMs / 60_000)} minutes; not restarting it again.`,
            hint: withLogTail(`See \`docker logs ${opts.name}\`, then restart Vite.`, lines),
          },
        })
        return
      }
      const delayMs = Math.min(policy.baseDelayMs * 2 ** (attempt - 1), 30_000)
      hub.emit({ type: 'restarting', attempt, delayMs })
      try {
        await sleep(delayMs, undefined, { signal: lifetime.signal })
        if (userStopped || closing) return
        await startQuietly()
        const version = await waitForOllama(opts.url, {
          timeoutMs: opts.readyTimeoutMs,
          signal: lifetime.signal,
          what: `The container ${opts.name}`,
          died: async () => (userStopped ? 'was stopped' : await containerDeath(container)),
        })
        if (userStopped || closing) return
        info.version = version
        state = 'running'
        hub.emit({ type: 'recovered' })
        return
      } catch (err) {
        if (closing || userStopped) return
        debug('restart attempt %d of %s failed: %s', attempt, opts.name, errorMessage(err))
      }
    }
  }

  /** The user started it again (`docker start`): back to running once Ollama answers. */
  async function onUserStart(): Promise<void> {
    userStopped = false
    state = 'recovering'
    try {
      info.version = await waitForOllama(opts.url, {
        timeoutMs: opts.readyTimeoutMs,
        signal: lifetime.signal,
        what: `The container ${opts.name}`,
        died: () => containerDeath(container),
      })
      if (closing || userStopped) return
      state = 'running'
      hub.emit({ type: 'recovered' })
    } catch (err) {
      if (closing) return
      debug('after docker start: %s', errorMessage(err))
      if (!userStopped) {
        state = 'running'
        onDie({ action: 'die', id: opts.containerId, time: Date.now() / 1000 })
      }
    }
  }

  async function startQuietly(): Promise<void> {
    try {
      await container.start()
    } catch (err) {
      if (!isNotModified(err)) throw err
    }
  }

  async function readGpuUse(): Promise<boolean> {
    const compute = parseInferenceCompute(await readLogTail(container, 500))
    if (!compute) return false
    info.gpuInUse = compute.gpu
    if (opts.gpuExpected && !compute.gpu) {
      hub.emit({
        type: 'log',
        level: 'warn',
        message: `Ollama reports library=${compute.library}: the GPU passed to ${opts.name} is not used (driver too old, or the GPU is lost after suspend). Check \`docker logs ${opts.name}\`.`,
      })
    }
    return true
  }

  async function checkGpuUse(): Promise<void> {
    if (await readGpuUse()) return
    // Ollama prints the line after it starts listening: look again for a while, off the start path.
    const deadline = Date.now() + 30_000
    const tick = async (): Promise<void> => {
      gpuTimer = undefined
      if (closing || (await readGpuUse()) || Date.now() > deadline) return
      gpuTimer = setTimeout(tick, 500)
      gpuTimer.unref()
    }
    gpuTimer = setTimeout(tick, 500)
    gpuTimer.unref()
  }

  /**
   * Events can be missed: before the stream opened (between readiness and now), and while the
   * daemon restarted (it keeps events in memory only). Judge from the container's state then.
   */
  async function checkState(when: string): Promise<void> {
    if (closing || state !== 'running') return
    const death = await containerDeath(container)
    if (death && !closing && state === 'running') {
      hub.emit({ type: 'crashed', message: `Ollama's container ${opts.name} ${death}${when}` })
      void recover()
    }
  }

  /**
   * The events stream cannot reconnect: Docker stopped, or its socket went away. The container may
   * well still run (chat keeps working), but a crash would go unnoticed: say so, and watch Ollama
   * over HTTP meanwhile, so a container that dies too is reported.
   */
  function onUnreachable(reason: string): void {
    if (closing || unreachable) return
    unreachable = true
    hub.emit({
      type: 'degraded',
      problem: {
        message: `Docker does not answer (${reason}): crash recovery of the container ${opts.name} is paused.`,
        hint: 'Start Docker again (Docker Desktop, Colima, Podman or `sudo systemctl start docker`); the plugin reconnects by itself.',
      },
    })
    watchHealth()
  }

  function watchHealth(): void {
    if (healthTimer || closing) return
    healthTimer = setTimeout(async () => {
      healthTimer = undefined
      if (closing || !unreachable) return
      if (state === 'running' && (await probeOllama(opts.url)).kind !== 'ollama') {
        if (closing || !unreachable || state !== 'running') return
        state = 'lost'
        hub.emit({
          type: 'crashed',
          message: `Ollama stopped answering at ${opts.url} while Docker is unreachable; the plugin restarts the container ${opts.name} once Docker answers again`,
        })
      }
      watchHealth()
    }, HEALTH_INTERVAL_MS)
    healthTimer.unref()
  }

  /** The events stream is back: lift the warning and judge what happened meanwhile. */
  async function onReconnect(): Promise<void> {
    if (closing) return
    if (healthTimer) clearTimeout(healthTimer)
    healthTimer = undefined
    const was = unreachable
    unreachable = false
    if (was)
      hub.emit({ type: 'restored', message: 'Docker answers again: crash recovery is back on.' })
    if (state === 'lost') {
      // Replayed `die` events are ignored while lost: decide from the container's state instead.
      const death = await containerDeath(container)
      if (closing || state !== 'lost') return
      if (death) {
        void recover()
        return
      }
      state = 'recovering'
      try {
        info.version = await waitForOllama(opts.url, {
          timeoutMs: opts.readyTimeoutMs,
          signal: lifetime.signal,
          what: `The container ${opts.name}`,
          died: () => containerDeath(container),
        })
        if (closing || state !== 'recovering') return
        state = 'running'
        hub.emit({ type: 'recovered' })
      } catch (err) {
        if (closing) return
        debug('after Docker came back: %s', errorMessage(err))
        void recover()
      }
      return
    }
    await checkState(was ? ' while Docker was unreachable' : ' while the Docker daemon restarted')
  }

  function closeSync(): void {
    closing = true
    lifetime.abort()
    if (gpuTimer) clearTimeout(gpuTimer)
    if (healthTimer) clearTimeout(healthTimer)
    watcher.close()
  }

  const watcher = watchContainerEvents(
    opts.eventsClient,
    opts.name,
    onContainerEvent,
    () => void onReconnect(),
    onUnreachable,
  )
  await watcher.ready
  void checkState('')

  return {
    hub,
    info,
    checkGpuUse,
    closeSync,
    async close({ stopContainer }) {
      closeSync()
      if (!stopContainer) return
      try {
        await container.stop({ t: STOP_TIMEOUT_S })
      } catch (err) {
        if (!isNotModified(err) && !isNotFound(err)) throw err
      }
    },
  }
}
