import type { EngineEvent } from '../types.js'
import type { ContainerEvent } from './events.js'

// The Docker supervisor's states, inputs and effects: the words of its state machine. The table
// that joins them is supervisor-transitions.ts; the supervisor (supervisor.ts) runs the effects
// and feeds their outcomes back as inputs.

/** How crashes are retried. */
export interface RestartPolicy {
  /** Restarts allowed within `windowMs` before giving up. @default 5 */
  maxAttempts: number
  /** First delay; doubled per attempt, at most 30 s. @default 1000 */
  baseDelayMs: number
  /** @default 300000 (5 minutes) */
  windowMs: number
}

export type Phase =
  /** Ollama answers; a `die` nobody asked for is a crash. */
  | 'running'
  /** A restart (ours, or the user's `docker start`) is under way, waiting for Ollama to answer. */
  | 'recovering'
  /** Stopped or removed by the user: respected, never started again behind their back. */
  | 'stopped'
  /** Crashed too often within the policy's window: we gave up. */
  | 'failed'
  /**
   * Ollama stopped answering while Docker itself was unreachable, so nothing can be restarted
   * yet: judged again from the container's state when Docker answers.
   */
  | 'lost'
  /** The supervisor was closed: every input is ignored. */
  | 'closed'

export interface SupervisorState {
  readonly phase: Phase
  /**
   * The user asked the container to stop (a `stop`, a kill other than a lone SIGKILL, or a
   * `destroy`): the next `die` is theirs, and a restart in flight is dropped. Not a phase of its
   * own: it is seen while running (before the `die`), recovering or lost alike, and only a
   * `start` while stopped or failed clears it.
   */
  readonly stopAsked: boolean
  /**
   * Docker (or the socket to it) does not answer, so container events cannot arrive: Ollama is
   * watched over HTTP meanwhile. Independent of the phase, the container may well still run.
   */
  readonly dockerAway: boolean
  /** An `oom` event came since the last crash was reported: the next crash message says so. */
  readonly oomSeen: boolean
  /** When (ms) the crashes counted against the restart limit happened, oldest first. */
  readonly crashes: readonly number[]
}

/** What Ollama is awaited after, when someone other than our restart loop started it. */
export type AwaitedAfter = 'user-start' | 'docker-back'

export type SupervisorInput =
  // Container events, from the events stream (watchContainerEvents).
  | { type: 'kill'; signal?: string | undefined }
  | { type: 'stop' }
  | { type: 'oom' }
  | { type: 'die'; exitCode?: number | undefined }
  | { type: 'destroy' }
  | { type: 'start' }
  // The events stream itself.
  /** It opened for the first time: events before it were missed. */
  | { type: 'watching' }
  | { type: 'docker-unreachable'; reason: string }
  | { type: 'docker-reconnected' }
  // The HTTP health watch while Docker is away.
  | { type: 'health-due' }
  | { type: 'health-ok' }
  | { type: 'health-failed' }
  // Outcomes of the effects.
  /** `death` is how it died, undefined while it runs (containerDeath). */
  | { type: 'state-checked'; death: string | undefined; when: string }
  | { type: 'lost-judged'; death: string | undefined }
  | { type: 'ollama-answered'; after: AwaitedAfter; version: string }
  | { type: 'ollama-unanswered'; after: AwaitedAfter }
  | { type: 'backoff-elapsed'; attempt: number }
  | { type: 'restart-succeeded'; version: string }
  | { type: 'restart-failed'; attempt: number }
  // The engine is stopped.
  | { type: 'close' }

export type InputType = SupervisorInput['type']

export type SupervisorEffect =
  | { type: 'emit'; event: EngineEvent }
  /** The Ollama version now answering, for EngineInfo. */
  | { type: 'set-version'; version: string }
  /** Wait `delayMs`, then `backoff-elapsed`. */
  | { type: 'backoff'; attempt: number; delayMs: number }
  /** Start the container, wait for Ollama: `restart-succeeded` or `restart-failed`. */
  | { type: 'restart'; attempt: number }
  /** Wait for Ollama in a container someone else started: `ollama-answered` or `-unanswered`. */
  | { type: 'await-ollama'; after: AwaitedAfter }
  /** Read the container's state: `state-checked`. */
  | { type: 'check-state'; when: string }
  /** Read the container's state: `lost-judged`. */
  | { type: 'judge-lost' }
  /** Read the log tail, then emit `failed`. */
  | { type: 'give-up'; attempt: number }
  /** Probe Ollama in a while (unless a probe is already due): `health-due`. */
  | { type: 'watch-health' }
  /** Probe Ollama now: `health-ok` or `health-failed`. */
  | { type: 'probe-health' }
  | { type: 'unwatch-health' }
  /** Stop every timer, wait and the events stream. */
  | { type: 'release' }

export interface Step {
  state: SupervisorState
  effects: SupervisorEffect[]
}

/** What a transition needs besides the state: the container's name and URL, policy and clock. */
export interface StepEnv {
  name: string
  url: string
  policy: RestartPolicy
  /** Date.now() when the input arrived. */
  now: number
}

export function initialSupervisorState(): SupervisorState {
  // The supervisor starts once Ollama answered in the container.
  return { phase: 'running', stopAsked: false, dockerAway: false, oomSeen: false, crashes: [] }
}

/** A container event as an input; undefined for the ones that change nothing. */
export function inputOfEvent(event: ContainerEvent): SupervisorInput | undefined {
  switch (event.action) {
    case 'kill':
      return { type: 'kill', signal: event.signal }
    case 'die':
      return { type: 'die', exitCode: event.exitCode }
    case 'stop':
    case 'oom':
    case 'destroy':
    case 'start':
      return { type: event.action }
    // `docker restart` also sends kill, die, stop and start, which say all there is to say.
    case 'restart':
      return undefined
  }
  return undefined // not asked for (the events filter names the actions above)
}

/** `docker kill` with no `-s`: the `kill` event's signal attribute is "9". */
export function isSigkill(signal: string | undefined): boolean {
  return signal === '9' || signal === 'KILL' || signal === 'SIGKILL'
}
