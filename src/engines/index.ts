import { debuglog } from 'node:util'
import type { GpuReport } from '../gpu/detect.js'
import { recommendTuning } from '../gpu/tuning.js'
import { type ProbeResult, probeOllama } from '../ollama/probe.js'
import type { ResolvedOptions } from '../options.js'
import { errorMessage, ProblemError } from '../problem.js'
import type { Problem, ResolutionStep } from '../protocol.js'
import { connectDocker, type DockerAttempt, type DockerConnection } from './docker/connect.js'
import { boundHostPort, inspectByName, isManaged } from './docker/container.js'
import { noDockerProblem, startDockerEngine } from './docker/index.js'
import type { EngineLogger } from './events.js'
import { createExternalEngine } from './external.js'
import { findOllamaBinary, startNativeEngine } from './native.js'
import { startSimulatorEngine } from './simulator.js'
import type { Engine } from './types.js'

export type { EngineLogger } from './events.js'

/** The engine kinds. */
export type EngineName = 'external' | 'docker' | 'native' | 'simulator'

const debug = debuglog('vite-plugin-ollama')

/** The world as resolution sees it; tests and `doctor` may replace any part. */
export interface ResolveDeps {
  probe(url: string): Promise<ProbeResult>
  connectDocker(
    signal?: AbortSignal,
  ): Promise<{ connection: DockerConnection | null; attempts: DockerAttempt[] }>
  findOllama(): string | undefined
  platform: NodeJS.Platform
}

const defaultDeps: ResolveDeps = {
  probe: (url) => probeOllama(url),
  connectDocker: (signal) => connectDocker({ signal }),
  findOllama: () => findOllamaBinary(),
  platform: process.platform,
}

const INSTALL_HINT =
  "Install Docker (https://docs.docker.com/get-docker/) and start it, or install Ollama (https://ollama.com/download) so `ollama` is on PATH; or set fallback: 'simulator' in vite.config.ts to use the built-in simulator meanwhile."

/** What a candidate found when asked, without starting anything. */
type Availability =
  | { ok: true; reason: string; start(ctx: StartContext): Promise<Engine>; as?: EngineName }
  | { ok: false; reason: string; hint?: string }

interface StartContext {
  gpu: GpuReport
  logger: EngineLogger
  signal?: AbortSignal
}

interface Candidate {
  engine: EngineName
  available(): Promise<Availability>
}

/** Options and world, memoised: probing twice in one resolution would waste seconds. */
function candidates(options: ResolvedOptions, deps: ResolveDeps): Candidate[] {
  let probe: Promise<ProbeResult> | undefined
  let docker: ReturnType<ResolveDeps['connectDocker']> | undefined
  const probeUrl = () => {
    probe ??= deps.probe(options.url)
    return probe
  }
  const dockerConn = () => {
    docker ??= deps.connectDocker()
    return docker
  }

  const external: Candidate = {
    engine: 'external',
    async available() {
      const p = await probeUrl()
      if (p.kind === 'ollama') {
        const own = await ownContainerServing(options, dockerConn)
        if (own) {
          // Our container from an earlier run: adopt it through the docker engine, so it keeps
          // crash recovery, and a changed docker option still recreates it (docs/architecture.md,
          // "Engine life cycle").
          const connection = own
          return {
            ok: true,
            as: 'docker',
            reason: `our container ${options.docker.containerName} already answers at ${options.url}`,
            start: (ctx) =>
              startDockerEngine({
                docker: options.docker,
                gpu: ctx.gpu,
                connection,
                logger: ctx.logger,
                signal: ctx.signal,
              }),
          }
        }
        const reason = `an Ollama (version ${p.version}) already answers at ${options.url}`
        return {
          ok: true,
          reason,
          start: async () => createExternalEngine(options.url, p.version, reason),
        }
      }
      return { ok: false, reason: p.reason }
    },
  }

  const native = (why = ''): Candidate => ({
    engine: 'native',
    async available() {
      const binary = deps.findOllama()
      if (!binary) {
        return {
          ok: false,
          reason: `no \`ollama\` on PATH${why}`,
          hint: 'Install Ollama from https://ollama.com/download.',
        }
      }
      const reason = `\`${binary}\` found on PATH${why}`
      return {
        ok: true,
        reason,
        start: (ctx) =>
          startNativeEngine({
            url: options.url,
            binary,
            env: safeTuning(ctx.gpu),
            signal: ctx.signal,
            reason: `started \`${binary} serve\`: ${reason}`,
          }),
      }
    },
  })

  const dockerCandidate: Candidate = {
    engine: 'docker',
    async available() {
      const found = await dockerConn()
      if (!found.connection) {
        const problem = noDockerProblem(found.attempts)
        return {
          ok: false,
          reason: found.attempts.map((a) => a.reason).join('; '),
          hint: problem.hint,
        }
      }
      const connection = found.connection
      const ok = found.attempts.find((a) => a.ok)
      return {
        ok: true,
        reason: `Docker engine reachable: ${ok?.reason ?? connection.endpoint.host}`,
        start: (ctx) =>
          startDockerEngine({
            docker: options.docker,
            gpu: ctx.gpu,
            connection,
            logger: ctx.logger,
            signal: ctx.signal,
          }),
      }
    },
  }

  const simulator = (reason: string): Candidate => ({
    engine: 'simulator',
    async available() {
      const { tokenDelayMs, pullBytesPerSecond, installed } = options.simulator
      return {
        ok: true,
        reason,
        start: () =>
          startSimulatorEngine({
            reason,
            simulator: { tokenDelayMs, pullBytesPerSecond, models: installed },
          }),
      }
    },
  })

  switch (options.engine) {
    case 'external':
      return [external]
    case 'docker':
      return [dockerCandidate]
    case 'native':
      return [native()]
    case 'simulator':
      return [simulator('engine is "simulator": the built-in Ollama simulator (no real model)')]
  }
  const list: Candidate[] = [external]
  if (deps.platform === 'darwin')
    list.push(native(' (on macOS native Ollama uses the GPU; Docker cannot)'))
  list.push(dockerCandidate)
  if (deps.platform !== 'darwin') list.push(native())
  if (options.fallback === 'simulator') {
    list.push(
      simulator(
        "fallback: 'simulator': no way to run Ollama was found, so the built-in simulator answers",
      ),
    )
  }
  return list
}

/**
 * The Docker connection when the Ollama at `url` is our own running container (by name, label
 * and published port). Asked only when something answers at a loopback `url` on docker.hostPort.
 */
async function ownContainerServing(
  options: ResolvedOptions,
  dockerConn: () => ReturnType<ResolveDeps['connectDocker']>,
): Promise<DockerConnection | undefined> {
  const url = new URL(options.url)
  if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost') return undefined
  if (Number(url.port || 80) !== options.docker.hostPort) return undefined
  try {
    const { connection } = await dockerConn()
    if (!connection) return undefined
    const info = await inspectByName(connection.docker, options.docker.containerName)
    if (!info || !isManaged(info) || !info.State.Running) return undefined
    return boundHostPort(info) === options.docker.hostPort ? connection : undefined
  } catch (err) {
    debug('checking for our container failed: %s', errorMessage(err))
    return undefined
  }
}

function safeTuning(report: GpuReport): Record<string, string> {
  const env: Record<string, string> = {}
  for (const t of recommendTuning(report)) if (t.safe) env[t.env] = t.value
  return env
}

/** Candidates left untried, recorded as skipped with one reason. */
function skipRest(rest: Candidate[], reason: string, steps: ResolutionStep[]): void {
  for (const c of rest) steps.push({ engine: c.engine, outcome: 'skipped', reason })
}

/**
 * Decides which engine `startEngine` would use, starting nothing (for `doctor`). `autoStart:
 * false` allows only an Ollama that already answers.
 */
export async function planEngine(
  options: ResolvedOptions,
  partialDeps: Partial<ResolveDeps> = {},
): Promise<{ choice: EngineName | null; steps: ResolutionStep[] }> {
  const deps = { ...defaultDeps, ...partialDeps }
  const list = candidates(options, deps)
  const steps: ResolutionStep[] = []
  for (const [i, c] of list.entries()) {
    if (!options.autoStart && c.engine !== 'external') {
      steps.push(...autoStartSteps(options, list.slice(i)))
      return { choice: null, steps }
    }
    const a = await c.available()
    if (a.ok) {
      const choice = a.as ?? c.engine
      steps.push({ engine: choice, outcome: 'chosen', reason: a.reason })
      skipRest(list.slice(i + 1), `${choice} comes first`, steps)
      return { choice, steps }
    }
    steps.push({ engine: c.engine, outcome: 'skipped', reason: a.reason, hint: a.hint })
  }
  if (options.engine === 'auto' && options.fallback !== 'simulator') {
    steps.push({ engine: 'simulator', outcome: 'skipped', reason: "fallback is 'none'" })
  }
  return { choice: null, steps }
}

function autoStartSteps(options: ResolvedOptions, rest: Candidate[]): ResolutionStep[] {
  const steps: ResolutionStep[] = []
  skipRest(
    rest,
    `autoStart is false: only an Ollama already running at ${options.url} is used`,
    steps,
  )
  return steps
}

/**
 * Starts the engine `options.engine` asks for; under `auto`, the first that works in the order the
 * README's Engines section gives (adopt at `url`, native on macOS, Docker, native, fallback). An
 * engine that is available but fails to start is recorded and the next one is tried. When nothing
 * runs, `engine` is null and `problem` says what to install or set.
 */
export async function startEngine(
  options: ResolvedOptions,
  ctx: StartContext & { deps?: Partial<ResolveDeps> },
): Promise<{ engine: Engine | null; steps: ResolutionStep[]; problem?: Problem }> {
  const deps = { ...defaultDeps, ...ctx.deps }
  const list = candidates(options, deps)
  const steps: ResolutionStep[] = []
  let failure: Problem | undefined
  for (const [i, c] of list.entries()) {
    ctx.signal?.throwIfAborted()
    if (!options.autoStart && c.engine !== 'external') {
      steps.push(...autoStartSteps(options, list.slice(i)))
      return {
        engine: null,
        steps,
        problem: {
          message: `No Ollama answers at ${options.url}, and autoStart is false.`,
          hint: 'Start Ollama yourself (`ollama serve`, or the Ollama app), or set autoStart: true in vite.config.ts.',
        },
      }
    }
    const a = await c.available()
    if (!a.ok) {
      steps.push({ engine: c.engine, outcome: 'skipped', reason: a.reason, hint: a.hint })
      continue
    }
    try {
      const engine = await a.start(ctx)
      // The docker engine adopts an Ollama already on its host port: that is an external engine.
      steps.push({
        engine: engine.info.kind,
        outcome: 'chosen',
        reason: engine.info.reason ?? a.reason,
      })
      skipRest(list.slice(i + 1), `${engine.info.kind} was chosen first`, steps)
      return { engine, steps }
    } catch (err) {
      ctx.signal?.throwIfAborted()
      const problem: Problem =
        err instanceof ProblemError
          ? err.problem
          : { message: `${c.engine} engine failed: ${errorMessage(err)}` }
      debug('engine %s failed: %s', c.engine, problem.message)
      steps.push({
        engine: c.engine,
        outcome: 'failed',
        reason: problem.message,
        hint: problem.hint,
      })
      failure = problem
      if (list.length > i + 1)
        ctx.logger.warn(`${c.engine} engine failed (${problem.message}); trying the next way`)
    }
  }
  if (options.engine === 'auto' && options.fallback !== 'simulator') {
    steps.push({ engine: 'simulator', outcome: 'skipped', reason: "fallback is 'none'" })
  }
  return { engine: null, steps, problem: nothingProblem(options, steps, failure) }
}

/** The message when no engine runs: the last failure if one failed, else what to install. */
function nothingProblem(
  options: ResolvedOptions,
  steps: ResolutionStep[],
  failure: Problem | undefined,
): Problem {
  if (options.engine !== 'auto') {
    if (failure) return failure
    const step = steps[0]
    if (options.engine === 'external') {
      return {
        message: `No Ollama answers at ${options.url} (engine is "external"): ${step?.reason ?? 'nothing there'}.`,
        hint: "Start Ollama there, fix url in vite.config.ts, or set engine: 'auto' to let the plugin start one.",
      }
    }
    return {
      message: `The ${options.engine} engine is not available: ${step?.reason ?? 'unknown reason'}.`,
      hint: step?.hint ?? "Set engine: 'auto' in vite.config.ts to try every way.",
    }
  }
  if (failure) {
    return {
      message: failure.message,
      hint: [failure.hint, INSTALL_HINT].filter(Boolean).join('\n'),
    }
  }
  const tried = steps
    .filter((s) => s.outcome !== 'chosen')
    .map((s) => `  ${s.engine}: ${s.reason}`)
    .join('\n')
  return {
    message: `No Ollama at ${options.url}, and no way to start one on this machine.`,
    hint: `${INSTALL_HINT}\nTried:\n${tried}`,
  }
}
