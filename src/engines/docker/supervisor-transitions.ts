import type { EngineEvent } from '../types.js'
import {
  crashedMessage,
  DOCKER_BACK_MESSAGE,
  dockerUnreachableProblem,
  lostMessage,
  missedDeathMessage,
  removedMessage,
  userStoppedMessage,
} from './supervisor-messages.js'
import {
  type InputType,
  isSigkill,
  type RestartPolicy,
  type Step,
  type StepEnv,
  type SupervisorEffect,
  type SupervisorInput,
  type SupervisorState,
} from './supervisor-states.js'

// The Docker supervisor's transition table, without I/O: for each input, the next state and the
// effects to run, so every decision about the container is made here and nowhere else.

/** The longest wait between two restart attempts. */
const MAX_BACKOFF_MS = 30_000

/** The wait before restart attempt `attempt` (1-based): doubling from the base, at most 30 s. */
export function backoffDelayMs(attempt: number, policy: RestartPolicy): number {
  return Math.min(policy.baseDelayMs * 2 ** (attempt - 1), MAX_BACKOFF_MS)
}

/** The next state and effects for `input`: the one place the supervisor's behaviour is decided. */
export function transition(state: SupervisorState, input: SupervisorInput, env: StepEnv): Step {
  // Closed is final: late events, timers and outcomes of work in flight change nothing.
  if (state.phase === 'closed') return stay(state)
  const row = TRANSITIONS[input.type] as Transition<InputType>
  return row(state, input, env)
}

type Transition<T extends InputType> = (
  state: SupervisorState,
  input: Extract<SupervisorInput, { type: T }>,
  env: StepEnv,
) => Step

/** One row per input; a row whose outcome depends on the phase switches over every phase. */
const TRANSITIONS: { [T in InputType]: Transition<T> } = {
  kill(state, input) {
    // `docker stop` sends SIGTERM first (a SIGKILL only after its timeout), so a SIGTERM (or any
    // other signal) is the user stopping it. A lone SIGKILL (`docker kill`, the way chaos tools
    // and scripts crash a container) is treated as a crash and restarted; the message says how
    // to stop it for good.
    return isSigkill(input.signal) ? stay(state) : stay({ ...state, stopAsked: true })
  },

  stop(state) {
    return stay({ ...state, stopAsked: true })
  },

  oom(state) {
    return stay({ ...state, oomSeen: true })
  },

  die(state, input, env) {
    if (state.stopAsked) {
      return go({ ...state, phase: 'stopped' }, [
        emit({ type: 'stopped', message: userStoppedMessage(env.name, input.exitCode) }),
      ])
    }
    switch (state.phase) {
      case 'running':
        return recover({ ...state, oomSeen: false }, env, [
          emit({
            type: 'crashed',
            message: crashedMessage(env.name, input.exitCode, state.oomSeen),
          }),
        ])
      // A restart attempt died: the attempt itself sees it.
      case 'recovering':
      // Already dead; a replayed `die` while lost is not trusted: the state is read instead.
      case 'stopped':
      case 'failed':
      case 'lost':
      case 'closed':
        return stay(state)
    }
  },

  destroy(state, _input, env) {
    // Gone for good: a restart in flight must not try to start it again.
    const gone = { ...state, stopAsked: true }
    switch (state.phase) {
      case 'stopped':
        return stay(gone)
      case 'running':
      case 'recovering':
      case 'failed':
      case 'lost':
      case 'closed':
        return go({ ...gone, phase: 'stopped' }, [
          emit({ type: 'stopped', message: removedMessage(env.name) }),
        ])
    }
  },

  start(state) {
    switch (state.phase) {
      // The user started it again (`docker start`): back to running once Ollama answers.
      case 'stopped':
      case 'failed':
        return go({ ...state, phase: 'recovering', stopAsked: false }, [
          { type: 'await-ollama', after: 'user-start' },
        ])
      // Our own restart, or a start that changes nothing we know.
      case 'running':
      case 'recovering':
      case 'lost':
      case 'closed':
        return stay(state)
    }
  },

  watching(state) {
    return checkMissedDeath(state, '')
  },

  'docker-unreachable'(state, input, env) {
    // Reported once, however many reconnect attempts fail.
    if (state.dockerAway) return stay(state)
    return go({ ...state, dockerAway: true }, [
      emit({ type: 'degraded', problem: dockerUnreachableProblem(env.name, input.reason) }),
      { type: 'watch-health' },
    ])
  },

  'docker-reconnected'(state) {
    const back: SupervisorState = { ...state, dockerAway: false }
    const effects: SupervisorEffect[] = [{ type: 'unwatch-health' }]
    if (state.dockerAway) effects.push(emit({ type: 'restored', message: DOCKER_BACK_MESSAGE }))
    switch (state.phase) {
      // Replayed `die` events are ignored while lost: decide from the container's state instead.
      case 'lost':
        return go(back, [...effects, { type: 'judge-lost' }])
      case 'running': {
        const when = state.dockerAway
          ? ' while Docker was unreachable'
          : ' while the Docker daemon restarted'
        const checked = checkMissedDeath(back, when)
        return go(checked.state, [...effects, ...checked.effects])
      }
      case 'recovering':
      case 'stopped':
      case 'failed':
      case 'closed':
        return go(back, effects)
    }
  },

  'health-due'(state) {
    // Docker answers again: the watch ends.
    if (!state.dockerAway) return stay(state)
    switch (state.phase) {
      case 'running':
        return go(state, [{ type: 'probe-health' }])
      case 'recovering':
      case 'stopped':
      case 'failed':
      case 'lost':
      case 'closed':
        return go(state, [{ type: 'watch-health' }])
    }
  },

  'health-ok'(state) {
    return go(state, [{ type: 'watch-health' }])
  },

  'health-failed'(state, _input, env) {
    // Docker came back while the probe ran: its own check takes over.
    if (!state.dockerAway) return stay(state)
    switch (state.phase) {
      case 'running':
        return go({ ...state, phase: 'lost' }, [
          emit({ type: 'crashed', message: lostMessage(env.url, env.name) }),
          { type: 'watch-health' },
        ])
      // Something else moved it on while the probe ran; the watch ends here.
      case 'recovering':
      case 'stopped':
      case 'failed':
      case 'lost':
      case 'closed':
        return stay(state)
    }
  },

  'state-checked'(state, input, env) {
    if (input.death === undefined) return stay(state)
    switch (state.phase) {
      case 'running':
        return recover(state, env, [
          emit({ type: 'crashed', message: missedDeathMessage(env.name, input.death, input.when) }),
        ])
      // An event arrived meanwhile and moved it on.
      case 'recovering':
      case 'stopped':
      case 'failed':
      case 'lost':
      case 'closed':
        return stay(state)
    }
  },

  'lost-judged'(state, input, env) {
    switch (state.phase) {
      case 'lost':
        // Its crash was already reported when it went quiet.
        if (input.death !== undefined) return recover(state, env)
        return go({ ...state, phase: 'recovering' }, [
          { type: 'await-ollama', after: 'docker-back' },
        ])
      // A replayed event decided meanwhile.
      case 'running':
      case 'recovering':
      case 'stopped':
      case 'failed':
      case 'closed':
        return stay(state)
    }
  },

  'ollama-answered'(state, input) {
    const version: SupervisorEffect = { type: 'set-version', version: input.version }
    const recovered = (): Step =>
      go({ ...state, phase: 'running' }, [version, emit({ type: 'recovered' })])
    switch (input.after) {
      case 'user-start':
        return state.stopAsked ? go(state, [version]) : recovered()
      case 'docker-back':
        return state.phase === 'recovering' ? recovered() : go(state, [version])
    }
  },

  'ollama-unanswered'(state, input, env) {
    switch (input.after) {
      case 'user-start':
        // It died again after the user's start: a crash like any other (exit code unknown).
        if (state.stopAsked) return stay(state)
        return TRANSITIONS.die({ ...state, phase: 'running' }, { type: 'die' }, env)
      case 'docker-back':
        return recover(state, env)
    }
  },

  'backoff-elapsed'(state, input) {
    // The user stopped it meanwhile: the restart is dropped.
    if (state.stopAsked) return stay(state)
    return go(state, [{ type: 'restart', attempt: input.attempt }])
  },

  'restart-succeeded'(state, input) {
    if (state.stopAsked) return stay(state)
    return go({ ...state, phase: 'running' }, [
      { type: 'set-version', version: input.version },
      emit({ type: 'recovered' }),
    ])
  },

  'restart-failed'(state, _input, env) {
    if (state.stopAsked) return stay(state)
    return nextAttempt(state, env)
  },

  close(state) {
    return go({ ...state, phase: 'closed' }, [{ type: 'release' }])
  },
}

/**
 * Events can be missed: before the stream opened (between readiness and now), and while the
 * daemon restarted (it keeps events in memory only). Judge from the container's state then.
 */
function checkMissedDeath(state: SupervisorState, when: string): Step {
  switch (state.phase) {
    case 'running':
      return go(state, [{ type: 'check-state', when }])
    case 'recovering':
    case 'stopped':
    case 'failed':
    case 'lost':
    case 'closed':
      return stay(state)
  }
}

/** Enters recovery: restarts with doubling delays until Ollama answers, or the limit is reached. */
function recover(state: SupervisorState, env: StepEnv, before: SupervisorEffect[] = []): Step {
  const step = nextAttempt({ ...state, phase: 'recovering' }, env)
  return go(step.state, [...before, ...step.effects])
}

/** Counts a crash now; past the limit within the window gives up, else waits and restarts. */
function nextAttempt(state: SupervisorState, env: StepEnv): Step {
  const crashes = countCrash(state.crashes, env.now, env.policy.windowMs)
  const attempt = crashes.length
  if (attempt > env.policy.maxAttempts) {
    return go({ ...state, phase: 'failed', crashes }, [{ type: 'give-up', attempt }])
  }
  const delayMs = backoffDelayMs(attempt, env.policy)
  return go({ ...state, crashes }, [
    emit({ type: 'restarting', attempt, delayMs }),
    { type: 'backoff', attempt, delayMs },
  ])
}

/** The crash times with `now` added and those older than the window dropped. */
function countCrash(crashes: readonly number[], now: number, windowMs: number): number[] {
  const counted = [...crashes, now]
  while (counted.length && (counted[0] ?? now) < now - windowMs) counted.shift()
  return counted
}

function go(state: SupervisorState, effects: SupervisorEffect[]): Step {
  return { state, effects }
}

function stay(state: SupervisorState): Step {
  return { state, effects: [] }
}

function emit(event: EngineEvent): SupervisorEffect {
  return { type: 'emit', event }
}
