// The Docker supervisor's transition table, row by row, without Docker: what each input does in
// each state, the effects it asks for and the words it says. docker-engine.test.ts and
// reliability-docker.test.ts run the same behaviour against a real engine.
import { describe, expect, it } from 'vitest'
import { gaveUpProblem } from '../src/engines/docker/supervisor-messages.js'
import {
  type InputType,
  initialSupervisorState,
  inputOfEvent,
  type Phase,
  type RestartPolicy,
  type Step,
  type SupervisorInput,
  type SupervisorState,
} from '../src/engines/docker/supervisor-states.js'
import { backoffDelayMs, transition } from '../src/engines/docker/supervisor-transitions.js'
import type { EngineEvent } from '../src/engines/types.js'

const NAME = 'vpo-ollama'
const OLLAMA_URL = 'http://127.0.0.1:11434'
const POLICY: RestartPolicy = { maxAttempts: 5, baseDelayMs: 1000, windowMs: 300_000 }
const NOW = 1_700_000_000_000

/** A state in `phase`; the facts default to a quiet container and a reachable Docker. */
function at(phase: Phase, facts: Partial<Omit<SupervisorState, 'phase'>> = {}): SupervisorState {
  return { ...initialSupervisorState(), phase, ...facts }
}

function feed(
  state: SupervisorState,
  input: SupervisorInput,
  { now = NOW, policy = POLICY }: { now?: number; policy?: RestartPolicy } = {},
): Step {
  return transition(state, input, { name: NAME, url: OLLAMA_URL, policy, now })
}

function emitted(step: Step): EngineEvent[] {
  return step.effects.flatMap((effect) => (effect.type === 'emit' ? [effect.event] : []))
}

const crashedAndRestarting = (message: string, attempt = 1, delayMs = 1000) => [
  { type: 'emit', event: { type: 'crashed', message } },
  { type: 'emit', event: { type: 'restarting', attempt, delayMs } },
  { type: 'backoff', attempt, delayMs },
]

const USER_STOPPED = (code: number | string) =>
  `The container ${NAME} was stopped outside the plugin (exit code ${code}). Start it with \`docker start ${NAME}\`, or restart Vite.`

describe('docker supervisor states', () => {
  describe('container events', () => {
    it('starts out running, with no stop asked, Docker reachable and no crash counted', () => {
      expect(initialSupervisorState()).toEqual({
        phase: 'running',
        stopAsked: false,
        dockerAway: false,
        oomSeen: false,
        crashes: [],
      })
    })

    it('restarts after a lone SIGKILL', () => {
      for (const signal of ['9', 'KILL', 'SIGKILL']) {
        const killed = feed(at('running'), { type: 'kill', signal })
        expect(killed).toEqual({ state: at('running'), effects: [] })
        const died = feed(killed.state, { type: 'die', exitCode: 137 })
        expect(died.state).toEqual(at('recovering', { crashes: [NOW] }))
        expect(died.effects).toEqual(
          crashedAndRestarting(
            `Ollama's container ${NAME} was killed (exit code 137); restarting it (\`docker stop ${NAME}\` keeps it stopped)`,
          ),
        )
      }
    })

    it('takes a kill with any other signal (docker stop sends SIGTERM) as a user stop', () => {
      for (const signal of ['15', 'SIGTERM', 'SIGINT', undefined]) {
        expect(feed(at('running'), { type: 'kill', signal })).toEqual({
          state: at('running', { stopAsked: true }),
          effects: [],
        })
      }
    })

    it('takes a stop event as a user stop, in any phase', () => {
      for (const phase of ['running', 'recovering', 'failed', 'lost'] as const) {
        expect(feed(at(phase), { type: 'stop' })).toEqual({
          state: at(phase, { stopAsked: true }),
          effects: [],
        })
      }
    })

    it('reports the die after a user stop as stopped, with the docker start hint', () => {
      const step = feed(at('running', { stopAsked: true }), { type: 'die', exitCode: 0 })
      expect(step).toEqual({
        state: at('stopped', { stopAsked: true }),
        effects: [{ type: 'emit', event: { type: 'stopped', message: USER_STOPPED(0) } }],
      })
      expect(emitted(feed(at('running', { stopAsked: true }), { type: 'die' }))).toEqual([
        { type: 'stopped', message: USER_STOPPED('unknown') },
      ])
    })

    it('reports a die after a user stop as stopped whatever the phase, dropping a restart', () => {
      for (const phase of ['recovering', 'stopped', 'failed', 'lost'] as const) {
        const step = feed(at(phase, { stopAsked: true }), { type: 'die', exitCode: 143 })
        expect(step.state.phase).toBe('stopped')
        expect(emitted(step)).toEqual([{ type: 'stopped', message: USER_STOPPED(143) }])
      }
    })

    it('reports a crash with its exit code and restarts it', () => {
      const step = feed(at('running'), { type: 'die', exitCode: 1 })
      expect(step.state).toEqual(at('recovering', { crashes: [NOW] }))
      expect(step.effects).toEqual(
        crashedAndRestarting(`Ollama's container ${NAME} exited with code 1`),
      )
    })

    it('remembers an oom for the next crash message, and forgets it once said', () => {
      const oom = feed(at('running'), { type: 'oom' })
      expect(oom).toEqual({ state: at('running', { oomSeen: true }), effects: [] })
      const died = feed(oom.state, { type: 'die', exitCode: 137 })
      expect(died.state.oomSeen).toBe(false)
      expect(emitted(died)[0]).toEqual({
        type: 'crashed',
        message: `Ollama's container ${NAME} was killed (exit code 137, out of memory); restarting it (\`docker stop ${NAME}\` keeps it stopped)`,
      })
    })

    it('ignores a die nobody asked for unless running: a restart attempt sees its own death', () => {
      for (const phase of ['recovering', 'stopped', 'failed', 'lost'] as const) {
        const state = at(phase, { oomSeen: true })
        expect(feed(state, { type: 'die', exitCode: 1 })).toEqual({ state, effects: [] })
      }
    })

    it('reports a container removed outside the plugin as stopped, and drops any restart', () => {
      for (const phase of ['running', 'recovering', 'failed', 'lost'] as const) {
        expect(feed(at(phase), { type: 'destroy' })).toEqual({
          state: at('stopped', { stopAsked: true }),
          effects: [
            {
              type: 'emit',
              event: {
                type: 'stopped',
                message: `The container ${NAME} was removed outside the plugin; restart Vite to create it again.`,
              },
            },
          ],
        })
      }
    })

    it('says nothing more when a container already stopped is removed', () => {
      const state = at('stopped', { stopAsked: true })
      expect(feed(state, { type: 'destroy' })).toEqual({ state, effects: [] })
    })

    it('waits for Ollama after a docker start while stopped or failed', () => {
      for (const phase of ['stopped', 'failed'] as const) {
        expect(feed(at(phase, { stopAsked: true }), { type: 'start' })).toEqual({
          state: at('recovering', { stopAsked: false }),
          effects: [{ type: 'await-ollama', after: 'user-start' }],
        })
      }
    })

    it('ignores a start while running, recovering or lost (our own restart)', () => {
      for (const phase of ['running', 'recovering', 'lost'] as const) {
        expect(feed(at(phase), { type: 'start' })).toEqual({ state: at(phase), effects: [] })
      }
    })

    it('reads container events as inputs; restart and unknown actions change nothing', () => {
      const event = { id: 'abc', time: 1 }
      expect(inputOfEvent({ ...event, action: 'kill', signal: '9' })).toEqual({
        type: 'kill',
        signal: '9',
      })
      expect(inputOfEvent({ ...event, action: 'die', exitCode: 137 })).toEqual({
        type: 'die',
        exitCode: 137,
      })
      for (const action of ['stop', 'oom', 'destroy', 'start']) {
        expect(inputOfEvent({ ...event, action })).toEqual({ type: action })
      }
      expect(inputOfEvent({ ...event, action: 'restart' })).toBeUndefined()
      expect(inputOfEvent({ ...event, action: 'pause' })).toBeUndefined()
    })
  })

  describe('restarting a crash', () => {
    it('restarts the container once the backoff elapsed', () => {
      const state = at('recovering', { crashes: [NOW] })
      expect(feed(state, { type: 'backoff-elapsed', attempt: 1 })).toEqual({
        state,
        effects: [{ type: 'restart', attempt: 1 }],
      })
    })

    it('is running again, with the version, once Ollama answers after a restart', () => {
      const state = at('recovering', { crashes: [NOW] })
      expect(feed(state, { type: 'restart-succeeded', version: '0.6.2' })).toEqual({
        state: at('running', { crashes: [NOW] }),
        effects: [
          { type: 'set-version', version: '0.6.2' },
          { type: 'emit', event: { type: 'recovered' } },
        ],
      })
    })

    it('drops the restart when the user stopped the container meanwhile', () => {
      const state = at('recovering', { stopAsked: true, crashes: [NOW] })
      const inputs: SupervisorInput[] = [
        { type: 'backoff-elapsed', attempt: 1 },
        { type: 'restart-succeeded', version: '0.6.2' },
        { type: 'restart-failed', attempt: 1 },
      ]
      for (const input of inputs) expect(feed(state, input)).toEqual({ state, effects: [] })
    })

    it('tries again after a failed attempt, doubling the delay from baseDelayMs', () => {
      let step = feed(at('running'), { type: 'die', exitCode: 1 })
      const delays = [emitted(step)[1]]
      for (let attempt = 1; attempt < 5; attempt++) {
        step = feed(step.state, { type: 'restart-failed', attempt }, { now: NOW + attempt * 1000 })
        expect(step.state.phase).toBe('recovering')
        delays.push(...emitted(step))
      }
      expect(delays).toEqual(
        [1000, 2000, 4000, 8000, 16_000].map((delayMs, i) => ({
          type: 'restarting',
          attempt: i + 1,
          delayMs,
        })),
      )
      expect(step.effects.at(-1)).toEqual({ type: 'backoff', attempt: 5, delayMs: 16_000 })
    })

    it('never waits more than 30 s between attempts', () => {
      const policy = { ...POLICY, baseDelayMs: 5000 }
      expect([1, 2, 3, 4, 5].map((attempt) => backoffDelayMs(attempt, policy))).toEqual([
        5000, 10_000, 20_000, 30_000, 30_000,
      ])
      const state = at('recovering', { crashes: [NOW, NOW, NOW] })
      expect(emitted(feed(state, { type: 'restart-failed', attempt: 3 }, { policy }))).toEqual([
        { type: 'restarting', attempt: 4, delayMs: 30_000 },
      ])
    })

    it('gives up after maxAttempts crashes within windowMs, reading the log tail', () => {
      const crashes = [NOW - 4000, NOW - 3000, NOW - 2000, NOW - 1000, NOW - 500]
      const step = feed(at('recovering', { crashes }), { type: 'restart-failed', attempt: 5 })
      expect(step).toEqual({
        state: at('failed', { crashes: [...crashes, NOW] }),
        effects: [{ type: 'give-up', attempt: 6 }],
      })
    })

    it('gives up at the first crash when no restart is allowed', () => {
      const step = feed(
        at('running'),
        { type: 'die', exitCode: 1 },
        { policy: { ...POLICY, maxAttempts: 0 } },
      )
      expect(step.state.phase).toBe('failed')
      expect(step.effects).toEqual([
        {
          type: 'emit',
          event: { type: 'crashed', message: `Ollama's container ${NAME} exited with code 1` },
        },
        { type: 'give-up', attempt: 1 },
      ])
    })

    it('forgets crashes older than windowMs', () => {
      const old = [NOW - 400_000, NOW - 350_000, NOW - 1000]
      const step = feed(at('running', { crashes: old }), { type: 'die', exitCode: 1 })
      expect(step.state.crashes).toEqual([NOW - 1000, NOW])
      expect(emitted(step)[1]).toEqual({ type: 'restarting', attempt: 2, delayMs: 2000 })
    })

    it('says how often it crashed, and shows the log tail, when it gives up', () => {
      expect(gaveUpProblem(NAME, 1, 300_000, ['Listening on [::]:11434'])).toEqual({
        message: `Ollama's container ${NAME} crashed 1 time in 5 minutes; not restarting it again.`,
        hint: `See \`docker logs ${NAME}\`, then restart Vite.\nLast log lines:\nListening on [::]:11434`,
      })
      expect(gaveUpProblem(NAME, 6, 600_000, []).message).toBe(
        `Ollama's container ${NAME} crashed 6 times in 10 minutes; not restarting it again.`,
      )
    })
  })

  describe('a docker start by the user', () => {
    it('is running again once Ollama answers', () => {
      const state = at('recovering')
      const step = feed(state, { type: 'ollama-answered', after: 'user-start', version: '0.6.2' })
      expect(step).toEqual({
        state: at('running'),
        effects: [
          { type: 'set-version', version: '0.6.2' },
          { type: 'emit', event: { type: 'recovered' } },
        ],
      })
    })

    it('only notes the version when the user stopped it again meanwhile', () => {
      const state = at('stopped', { stopAsked: true })
      const step = feed(state, { type: 'ollama-answered', after: 'user-start', version: '0.6.2' })
      expect(step).toEqual({ state, effects: [{ type: 'set-version', version: '0.6.2' }] })
    })

    it('takes Ollama never answering after the start as a crash (exit code unknown)', () => {
      const step = feed(at('recovering'), { type: 'ollama-unanswered', after: 'user-start' })
      expect(step.state).toEqual(at('recovering', { crashes: [NOW] }))
      expect(step.effects).toEqual(
        crashedAndRestarting(`Ollama's container ${NAME} exited with code unknown`),
      )
    })

    it('says nothing when Ollama never answered because the user stopped it again', () => {
      const state = at('stopped', { stopAsked: true })
      expect(feed(state, { type: 'ollama-unanswered', after: 'user-start' })).toEqual({
        state,
        effects: [],
      })
    })
  })

  describe('events missed', () => {
    it('reads the container state once the events stream opens', () => {
      expect(feed(at('running'), { type: 'watching' })).toEqual({
        state: at('running'),
        effects: [{ type: 'check-state', when: '' }],
      })
    })

    it('reads the container state after the daemon restarted, without a restored event', () => {
      expect(feed(at('running'), { type: 'docker-reconnected' })).toEqual({
        state: at('running'),
        effects: [
          { type: 'unwatch-health' },
          { type: 'check-state', when: ' while the Docker daemon restarted' },
        ],
      })
    })

    it('reports a death found in the state as a crash, and restarts it', () => {
      const step = feed(at('running'), {
        type: 'state-checked',
        death: 'exited with code 2',
        when: ' while the Docker daemon restarted',
      })
      expect(step.state).toEqual(at('recovering', { crashes: [NOW] }))
      expect(step.effects).toEqual(
        crashedAndRestarting(
          `Ollama's container ${NAME} exited with code 2 while the Docker daemon restarted`,
        ),
      )
    })

    it('does nothing when the state shows it running, or an event already moved it on', () => {
      const alive = { type: 'state-checked', death: undefined, when: '' } as const
      expect(feed(at('running'), alive)).toEqual({ state: at('running'), effects: [] })
      const dead = { type: 'state-checked', death: 'exited with code 1', when: '' } as const
      for (const phase of ['recovering', 'stopped', 'failed', 'lost'] as const) {
        expect(feed(at(phase), dead)).toEqual({ state: at(phase), effects: [] })
        expect(feed(at(phase), { type: 'watching' })).toEqual({ state: at(phase), effects: [] })
      }
    })
  })

  describe('Docker unreachable', () => {
    it('reports it once as degraded, and watches Ollama over HTTP', () => {
      const step = feed(at('running'), { type: 'docker-unreachable', reason: 'connect ENOENT' })
      expect(step).toEqual({
        state: at('running', { dockerAway: true }),
        effects: [
          {
            type: 'emit',
            event: {
              type: 'degraded',
              problem: {
                message: `Docker does not answer (connect ENOENT): crash recovery of the container ${NAME} is paused.`,
                hint: 'Start Docker again (Docker Desktop, Colima, Podman or `sudo systemctl start docker`); the plugin reconnects by itself.',
              },
            },
          },
          { type: 'watch-health' },
        ],
      })
      expect(feed(step.state, { type: 'docker-unreachable', reason: 'again' })).toEqual({
        state: step.state,
        effects: [],
      })
    })

    it('probes Ollama when due while running, and only re-arms the watch otherwise', () => {
      expect(feed(at('running', { dockerAway: true }), { type: 'health-due' }).effects).toEqual([
        { type: 'probe-health' },
      ])
      for (const phase of ['recovering', 'stopped', 'failed', 'lost'] as const) {
        expect(feed(at(phase, { dockerAway: true }), { type: 'health-due' }).effects).toEqual([
          { type: 'watch-health' },
        ])
      }
    })

    it('ends the watch once Docker answers again', () => {
      expect(feed(at('running'), { type: 'health-due' })).toEqual({
        state: at('running'),
        effects: [],
      })
      expect(feed(at('running'), { type: 'health-failed' })).toEqual({
        state: at('running'),
        effects: [],
      })
    })

    it('keeps watching while Ollama answers', () => {
      const state = at('running', { dockerAway: true })
      expect(feed(state, { type: 'health-ok' })).toEqual({
        state,
        effects: [{ type: 'watch-health' }],
      })
    })

    it('marks Ollama lost and reports a crash when it stops answering', () => {
      const step = feed(at('running', { dockerAway: true }), { type: 'health-failed' })
      expect(step).toEqual({
        state: at('lost', { dockerAway: true }),
        effects: [
          {
            type: 'emit',
            event: {
              type: 'crashed',
              message: `Ollama stopped answering at ${OLLAMA_URL} while Docker is unreachable; the plugin restarts the container ${NAME} once Docker answers again`,
            },
          },
          { type: 'watch-health' },
        ],
      })
    })

    it('ends the watch when a failed probe finds the phase moved on', () => {
      for (const phase of ['recovering', 'stopped', 'failed', 'lost'] as const) {
        const state = at(phase, { dockerAway: true })
        expect(feed(state, { type: 'health-failed' })).toEqual({ state, effects: [] })
      }
    })

    it('says restored when Docker is back, and reads the state missed meanwhile', () => {
      expect(feed(at('running', { dockerAway: true }), { type: 'docker-reconnected' })).toEqual({
        state: at('running'),
        effects: [
          { type: 'unwatch-health' },
          {
            type: 'emit',
            event: {
              type: 'restored',
              message: 'Docker answers again: crash recovery is back on.',
            },
          },
          { type: 'check-state', when: ' while Docker was unreachable' },
        ],
      })
    })

    it('judges a lost Ollama from the container state when Docker is back', () => {
      expect(feed(at('lost', { dockerAway: true }), { type: 'docker-reconnected' })).toEqual({
        state: at('lost'),
        effects: [
          { type: 'unwatch-health' },
          {
            type: 'emit',
            event: {
              type: 'restored',
              message: 'Docker answers again: crash recovery is back on.',
            },
          },
          { type: 'judge-lost' },
        ],
      })
    })

    it('only lifts the warning on reconnect while recovering, stopped or failed', () => {
      for (const phase of ['recovering', 'stopped', 'failed'] as const) {
        const step = feed(at(phase, { dockerAway: true }), { type: 'docker-reconnected' })
        expect(step.state).toEqual(at(phase))
        expect(step.effects.map((e) => e.type)).toEqual(['unwatch-health', 'emit'])
      }
    })

    it('restarts a lost container found dead, without reporting the crash twice', () => {
      const step = feed(at('lost'), { type: 'lost-judged', death: 'exited with code 137' })
      expect(step).toEqual({
        state: at('recovering', { crashes: [NOW] }),
        effects: [
          { type: 'emit', event: { type: 'restarting', attempt: 1, delayMs: 1000 } },
          { type: 'backoff', attempt: 1, delayMs: 1000 },
        ],
      })
    })

    it('waits for Ollama in a lost container found running', () => {
      expect(feed(at('lost'), { type: 'lost-judged', death: undefined })).toEqual({
        state: at('recovering'),
        effects: [{ type: 'await-ollama', after: 'docker-back' }],
      })
    })

    it('ignores the judgement when a replayed event decided first', () => {
      for (const phase of ['running', 'recovering', 'stopped', 'failed'] as const) {
        const state = at(phase, { stopAsked: phase === 'stopped' })
        expect(feed(state, { type: 'lost-judged', death: 'exited with code 1' })).toEqual({
          state,
          effects: [],
        })
      }
    })

    it('is running again once Ollama answers after Docker is back', () => {
      const answered = { type: 'ollama-answered', after: 'docker-back', version: '0.6.2' } as const
      expect(feed(at('recovering'), answered)).toEqual({
        state: at('running'),
        effects: [
          { type: 'set-version', version: '0.6.2' },
          { type: 'emit', event: { type: 'recovered' } },
        ],
      })
      const stopped = at('stopped', { stopAsked: true })
      expect(feed(stopped, answered)).toEqual({
        state: stopped,
        effects: [{ type: 'set-version', version: '0.6.2' }],
      })
    })

    it('restarts it when Ollama never answers after Docker is back', () => {
      const step = feed(at('recovering'), { type: 'ollama-unanswered', after: 'docker-back' })
      expect(step.state).toEqual(at('recovering', { crashes: [NOW] }))
      expect(step.effects.map((e) => e.type)).toEqual(['emit', 'backoff'])
    })
  })

  describe('closing', () => {
    it('releases timers, waits and the events stream on close', () => {
      for (const phase of ['running', 'recovering', 'stopped', 'failed', 'lost'] as const) {
        expect(feed(at(phase), { type: 'close' })).toEqual({
          state: at('closed'),
          effects: [{ type: 'release' }],
        })
      }
    })

    it('ignores every input once closed, close included', () => {
      for (const input of Object.values(SAMPLES)) {
        for (const facts of [{}, { stopAsked: true }, { dockerAway: true }]) {
          const state = at('closed', facts)
          expect(feed(state, input)).toEqual({ state, effects: [] })
        }
      }
    })
  })

  describe('the table', () => {
    it('has a row for every input in every phase', () => {
      expectNextPhases({}, NEXT_PHASE)
    })

    it('has a row for every input in every phase while Docker is away', () => {
      expectNextPhases({ dockerAway: true }, NEXT_PHASE_AWAY)
    })

    it('never changes the state it is given', () => {
      for (const phase of PHASES) {
        for (const input of Object.values(SAMPLES)) {
          const state = Object.freeze({ ...usual(phase), crashes: Object.freeze([NOW - 1]) })
          const copy = structuredClone(state)
          feed(state, input)
          expect(state).toEqual(copy)
        }
      }
    })
  })
})

/** Every phase, checked by the compiler: a phase added to the machine must be added here. */
const PHASE_SET: Record<Phase, null> = {
  running: null,
  recovering: null,
  stopped: null,
  failed: null,
  lost: null,
  closed: null,
}
const PHASES = Object.keys(PHASE_SET) as Phase[]

/** Each phase as it usually is: stopped means the user stopped it. */
function usual(phase: Phase): SupervisorState {
  return at(phase, { stopAsked: phase === 'stopped' })
}

/** One input of each type, checked by the compiler: a new input must be added here. */
const SAMPLES: { [T in InputType]: Extract<SupervisorInput, { type: T }> } = {
  kill: { type: 'kill', signal: '15' },
  stop: { type: 'stop' },
  oom: { type: 'oom' },
  die: { type: 'die', exitCode: 1 },
  destroy: { type: 'destroy' },
  start: { type: 'start' },
  watching: { type: 'watching' },
  'docker-unreachable': { type: 'docker-unreachable', reason: 'connect ENOENT' },
  'docker-reconnected': { type: 'docker-reconnected' },
  'health-due': { type: 'health-due' },
  'health-ok': { type: 'health-ok' },
  'health-failed': { type: 'health-failed' },
  'state-checked': { type: 'state-checked', death: 'exited with code 1', when: '' },
  'lost-judged': { type: 'lost-judged', death: undefined },
  'ollama-answered': { type: 'ollama-answered', after: 'user-start', version: '0.6.2' },
  'ollama-unanswered': { type: 'ollama-unanswered', after: 'docker-back' },
  'backoff-elapsed': { type: 'backoff-elapsed', attempt: 1 },
  'restart-succeeded': { type: 'restart-succeeded', version: '0.6.2' },
  'restart-failed': { type: 'restart-failed', attempt: 1 },
  close: { type: 'close' },
}

/** Next phases in the order of PHASES: running, recovering, stopped, failed, lost, closed. */
type Row = [Phase, Phase, Phase, Phase, Phase, Phase]
const SAME: Row = ['running', 'recovering', 'stopped', 'failed', 'lost', 'closed']
/** `phase` from every phase but closed. */
const all = (phase: Phase): Row => [phase, phase, phase, phase, phase, 'closed']

/** The phase each sample input leads to from each phase in its `usual` state, Docker reachable. */
const NEXT_PHASE: Record<InputType, Row> = {
  kill: SAME,
  stop: SAME,
  oom: SAME,
  die: ['recovering', 'recovering', 'stopped', 'failed', 'lost', 'closed'],
  destroy: all('stopped'),
  start: ['running', 'recovering', 'recovering', 'recovering', 'lost', 'closed'],
  watching: SAME,
  'docker-unreachable': SAME,
  'docker-reconnected': SAME,
  'health-due': SAME,
  'health-ok': SAME,
  'health-failed': SAME,
  'state-checked': ['recovering', 'recovering', 'stopped', 'failed', 'lost', 'closed'],
  'lost-judged': ['running', 'recovering', 'stopped', 'failed', 'recovering', 'closed'],
  // A user's start answered: running, unless they stopped it again (stopped keeps stopAsked).
  'ollama-answered': ['running', 'running', 'stopped', 'running', 'running', 'closed'],
  // Ollama never answered after Docker came back: a restart, whatever happened meanwhile.
  'ollama-unanswered': all('recovering'),
  'backoff-elapsed': SAME,
  'restart-succeeded': ['running', 'running', 'stopped', 'running', 'running', 'closed'],
  'restart-failed': SAME,
  close: all('closed'),
}

/** The same while Docker is away: only a failed health probe while running differs. */
const NEXT_PHASE_AWAY: Record<InputType, Row> = {
  ...NEXT_PHASE,
  'health-failed': ['lost', 'recovering', 'stopped', 'failed', 'lost', 'closed'],
}

function expectNextPhases(facts: Partial<SupervisorState>, table: Record<InputType, Row>): void {
  for (const phase of PHASES) {
    for (const [type, input] of Object.entries(SAMPLES) as [InputType, SupervisorInput][]) {
      const step = feed({ ...usual(phase), ...facts }, input)
      expect(step.state.phase, `${type} while ${phase}`).toBe(table[type][PHASES.indexOf(phase)])
      expect(Array.isArray(step.effects), `${type} while ${phase}`).toBe(true)
    }
  }
}
