import { setTimeout as sleep } from 'node:timers/promises'
import { debuglog } from 'node:util'
import type Docker from 'dockerode'
import { probeOllama, waitForOllama } from '../../ollama/probe.js'
import { errorMessage } from '../../problem.js'
import type { EngineInfo } from '../../protocol.js'
import { createEngineEventHub, type EngineEventHub } from '../events.js'
import { containerDeath, STOP_TIMEOUT_S, startContainer } from './container.js'
import { isNotFound, isNotModified } from './errors.js'
import { type ContainerEvent, watchContainerEvents } from './events.js'
import { parseInferenceCompute, readLogTail } from './logs.js'
import { gaveUpProblem } from './supervisor-messages.js'
import {
  type AwaitedAfter,
  initialSupervisorState,
  inputOfEvent,
  type RestartPolicy,
  type SupervisorEffect,
  type SupervisorInput,
} from './supervisor-states.js'
import { transition } from './supervisor-transitions.js'

export type { RestartPolicy } from './supervisor-states.js'

const debug = debuglog('vite-plugin-ollama')

/** How often Ollama is probed over HTTP while Docker cannot tell us about the container. */
const HEALTH_INTERVAL_MS = 2000

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
 *
 * What happens when is decided by the transition table (supervisor-transitions.ts): this function
 * only feeds it the container's events and the outcomes of its own I/O, and runs the effects it
 * names.
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
  /** Aborted on close: ends every backoff and wait for Ollama in flight. */
  const lifetime = new AbortController()
  let state = initialSupervisorState()
  let healthTimer: NodeJS.Timeout | undefined
  let gpuTimer: NodeJS.Timeout | undefined

  /** Runs one input through the table, then the effects it names, in order. */
  function feed(input: SupervisorInput): void {
    const step = transition(state, input, {
      name: opts.name,
      url: opts.url,
      policy,
      now: Date.now(),
    })
    state = step.state
    for (const effect of step.effects) perform(effect)
  }

  function perform(effect: SupervisorEffect): void {
    switch (effect.type) {
      case 'emit':
        hub.emit(effect.event)
        return
      case 'set-version':
        info.version = effect.version
        return
      case 'backoff':
        void backoff(effect.attempt, effect.delayMs)
        return
      case 'restart':
        void restart(effect.attempt)
        return
      case 'await-ollama':
        void awaitOllama(effect.after)
        return
      case 'check-state':
        void checkState(effect.when)
        return
      case 'judge-lost':
        void judgeLost()
        return
      case 'give-up':
        void giveUp(effect.attempt)
        return
      case 'watch-health':
        watchHealth()
        return
      case 'probe-health':
        void probeHealth()
        return
      case 'unwatch-health':
        unwatchHealth()
        return
      case 'release':
        release()
        return
    }
  }

  function onContainerEvent(event: ContainerEvent): void {
    if (event.id && event.id !== opts.containerId) return
    const input = inputOfEvent(event)
    if (input) feed(input)
  }

  async function backoff(attempt: number, delayMs: number): Promise<void> {
    try {
      await sleep(delayMs, undefined, { signal: lifetime.signal })
    } catch {
      return // closed meanwhile
    }
    feed({ type: 'backoff-elapsed', attempt })
  }

  async function restart(attempt: number): Promise<void> {
    let outcome: SupervisorInput
    try {
      await startContainer(container)
      const version = await waitForOllama(opts.url, {
        timeoutMs: opts.readyTimeoutMs,
        signal: lifetime.signal,
        what: `The container ${opts.name}`,
        // A user's stop while Ollama boots ends the wait at once: the restart is dropped.
        died: async () => (state.stopAsked ? 'was stopped' : await containerDeath(container)),
      })
      outcome = { type: 'restart-succeeded', version }
    } catch (err) {
      if (state.phase !== 'closed' && !state.stopAsked)
        debug('restart attempt %d of %s failed: %s', attempt, opts.name, errorMessage(err))
      outcome = { type: 'restart-failed', attempt }
    }
    feed(outcome)
  }

  /** Someone else started the container (the user, or it outlived Docker's absence). */
  async function awaitOllama(after: AwaitedAfter): Promise<void> {
    let outcome: SupervisorInput
    try {
      const version = await waitForOllama(opts.url, {
        timeoutMs: opts.readyTimeoutMs,
        signal: lifetime.signal,
        what: `The container ${opts.name}`,
        died: () => containerDeath(container),
      })
      outcome = { type: 'ollama-answered', after, version }
    } catch (err) {
      if (state.phase !== 'closed') {
        debug(
          after === 'user-start' ? 'after docker start: %s' : 'after Docker came back: %s',
          errorMessage(err),
        )
      }
      outcome = { type: 'ollama-unanswered', after }
    }
    feed(outcome)
  }

  async function checkState(when: string): Promise<void> {
    feed({ type: 'state-checked', death: await containerDeath(container), when })
  }

  async function judgeLost(): Promise<void> {
    feed({ type: 'lost-judged', death: await containerDeath(container) })
  }

  async function giveUp(attempt: number): Promise<void> {
    const lines = await readLogTail(container)
    hub.emit({
      type: 'failed',
      problem: gaveUpProblem(opts.name, attempt, policy.windowMs, lines),
    })
  }

  /**
   * While the events stream cannot reconnect, the container may well still run (chat keeps
   * working), but a crash would go unnoticed: Ollama is probed over HTTP meanwhile, so a container
   * that dies too is reported.
   */
  function watchHealth(): void {
    if (healthTimer) return
    healthTimer = setTimeout(() => {
      healthTimer = undefined
      feed({ type: 'health-due' })
    }, HEALTH_INTERVAL_MS)
    healthTimer.unref()
  }

  async function probeHealth(): Promise<void> {
    const probe = await probeOllama(opts.url)
    feed({ type: probe.kind === 'ollama' ? 'health-ok' : 'health-failed' })
  }

  function unwatchHealth(): void {
    if (healthTimer) clearTimeout(healthTimer)
    healthTimer = undefined
  }

  function release(): void {
    lifetime.abort()
    if (gpuTimer) clearTimeout(gpuTimer)
    unwatchHealth()
    watcher.close()
  }

  async function readGpuUse(): Promise<boolean> {
    const compute = parseInferenceCompute(await readLogTail(container, 500))
    if (!compute) return false
    info.gpuInUse = compute.gpu
    // The GPU watchdog says it once, with the causes and a Restart (orchestrator.ts).
    if (opts.gpuExpected && !compute.gpu) {
      hub.emit({ type: 'gpu-unused', name: opts.name, library: compute.library })
    }
    return true
  }

  async function checkGpuUse(): Promise<void> {
    if (await readGpuUse()) return
    // Ollama prints the line after it starts listening: look again for a while, off the start path.
    const deadline = Date.now() + 30_000
    const tick = async (): Promise<void> => {
      gpuTimer = undefined
      if (state.phase === 'closed' || (await readGpuUse()) || Date.now() > deadline) return
      gpuTimer = setTimeout(tick, 500)
      gpuTimer.unref()
    }
    gpuTimer = setTimeout(tick, 500)
    gpuTimer.unref()
  }

  function closeSync(): void {
    feed({ type: 'close' })
  }

  const watcher = watchContainerEvents(
    opts.eventsClient,
    opts.name,
    onContainerEvent,
    () => feed({ type: 'docker-reconnected' }),
    (reason) => feed({ type: 'docker-unreachable', reason }),
  )
  await watcher.ready
  feed({ type: 'watching' })

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
