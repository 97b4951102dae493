import { debuglog } from 'node:util'
import { probeOllama } from '../ollama/probe.js'
import type { ResolvedOptions } from '../options.js'
import { errorMessage, ProblemError } from '../problem.js'
import type { Problem, ResolutionStep } from '../protocol.js'
import type { Availability, Driver, Engine, StartContext, World } from './types.js'

export type { EngineLogger, StartContext } from './types.js'

const debug = debuglog('vite-plugin-ollama')

/**
 * Every engine kind and its driver: the one list. The kinds in the options, `doctor`, the CLI and
 * the browser's types are this object's keys. Drivers load when first asked, so the CLI and the
 * options never pay for dockerode.
 */
const drivers = {
  external: () => import('./external.js'),
  docker: () => import('./docker/index.js'),
  native: () => import('./native.js'),
  dmr: () => import('./dmr.js'),
  simulator: () => import('./simulator.js'),
} satisfies Record<string, () => Promise<{ driver: Driver }>>

export type EngineName = keyof typeof drivers

/** The engine kinds, in the registry's order. */
export const engineNames = Object.keys(drivers) as [EngineName, ...EngineName[]]

/** The driver of one kind, loaded on first use. */
export async function driverOf(kind: EngineName): Promise<Driver> {
  return (await drivers[kind]()).driver
}

/**
 * The kinds `auto` tries, in order: an Ollama already at `url`; on macOS native Ollama, then
 * Docker Model Runner (both use Metal, which the Ollama container cannot reach), then a Docker
 * engine; elsewhere a Docker engine, native Ollama, then Docker Model Runner; then the fallback.
 */
function candidates(options: ResolvedOptions, platform: NodeJS.Platform): EngineName[] {
  if (options.engine !== 'auto') return [options.engine]
  const order: EngineName[] =
    platform === 'darwin'
      ? ['external', 'native', 'dmr', 'docker']
      : ['external', 'docker', 'native', 'dmr']
  if (options.fallback === 'simulator') order.push('simulator')
  return order
}

/** The machine, as tests and `doctor` may replace it. */
export interface ResolveDeps {
  probe: World['probe']
  connectDocker(signal?: AbortSignal): ReturnType<World['docker']>
  findOllama: World['findOllama']
  platform: NodeJS.Platform
}

const defaultDeps: Omit<ResolveDeps, 'findOllama'> = {
  probe: (url) => probeOllama(url),
  connectDocker: async (signal) => (await import('./docker/connect.js')).connectDocker({ signal }),
  platform: process.platform,
}

/** The world of one resolution: each probe, and the Docker connection, asked once. */
async function worldOf(options: ResolvedOptions, partial: Partial<ResolveDeps>): Promise<World> {
  const deps = { ...defaultDeps, ...partial }
  const { findOllamaBinary } = await import('./native.js')
  const findOllama = partial.findOllama ?? (() => findOllamaBinary())
  const probes = new Map<string, ReturnType<World['probe']>>()
  let docker: ReturnType<World['docker']> | undefined
  return {
    options,
    platform: deps.platform,
    probe(url) {
      let probe = probes.get(url)
      if (!probe) {
        probe = deps.probe(url)
        probes.set(url, probe)
      }
      return probe
    },
    docker() {
      docker ??= deps.connectDocker()
      return docker
    },
    findOllama,
  }
}

/** The outcome of a resolution: each step, and the engine that runs or why none does. */
export type Resolution = { choice: EngineName | null; steps: ResolutionStep[] } & (
  | {
      engine: Engine
      /** The terminal's line about the engine that runs. */
      description: string
      problem?: undefined
    }
  | { engine: null; problem?: Problem }
)

/**
 * The one walk over the candidates, shared by `planEngine` (`start` absent: decide, start
 * nothing) and `startEngine`. A candidate that is available but fails to start is recorded and
 * the next one is tried.
 */
async function walk(
  options: ResolvedOptions,
  world: World,
  start?: StartContext,
): Promise<Resolution> {
  const list = candidates(options, world.platform)
  const steps: ResolutionStep[] = []
  let failure: Problem | undefined
  for (const [i, kind] of list.entries()) {
    start?.signal?.throwIfAborted()
    if (!options.autoStart && kind !== 'external') {
      skipRest(
        list.slice(i),
        `autoStart is false: only an Ollama already running at ${options.url} is used`,
        steps,
      )
      return {
        choice: null,
        engine: null,
        steps,
        problem: {
          message: `No Ollama answers at ${options.url}, and autoStart is false.`,
          hint: 'Start Ollama yourself (`ollama serve`, or the Ollama app), or set autoStart: true in vite.config.ts.',
        },
      }
    }
    const driver = await driverOf(kind)
    const { chosen, found } = (await adoption(driver, world)) ?? {
      chosen: kind,
      found: await driver.probe(world),
    }
    if (!found.ok) {
      steps.push({ engine: kind, outcome: 'skipped', reason: found.reason, hint: found.hint })
      continue
    }
    const rest = list.slice(i + 1).filter((k) => k !== chosen)
    if (!start) {
      steps.push({ engine: chosen, outcome: 'chosen', reason: found.reason })
      skipRest(rest, `${chosen} comes first`, steps)
      return { choice: chosen, engine: null, steps }
    }
    try {
      const engine = await found.start(start)
      const chosenDriver = await driverOf(chosen)
      engine.info.label = chosenDriver.label
      steps.push({ engine: chosen, outcome: 'chosen', reason: engine.info.reason ?? found.reason })
      skipRest(rest, `${chosen} was chosen first`, steps)
      return { choice: chosen, engine, steps, description: chosenDriver.describe(engine.info) }
    } catch (err) {
      start.signal?.throwIfAborted()
      const problem: Problem =
        err instanceof ProblemError
          ? err.problem
          : { message: `${chosen} engine failed: ${errorMessage(err)}` }
      debug('engine %s failed: %s', chosen, problem.message)
      steps.push({ engine: chosen, outcome: 'failed', reason: problem.message, hint: problem.hint })
      failure = problem
      if (rest.length)
        start.logger.warn(`${chosen} engine failed (${problem.message}); trying the next way`)
    }
  }
  if (options.engine === 'auto' && options.fallback !== 'simulator') {
    steps.push({ engine: 'simulator', outcome: 'skipped', reason: "fallback is 'none'" })
  }
  return { choice: null, engine: null, steps, problem: nothingProblem(options, steps, failure) }
}

/**
 * Adoption, decided here alone: when an Ollama already answers where this driver's engine would
 * listen, it is used as it is — through the driver that claims it (our own container from an
 * earlier run, which keeps its supervision and is recreated when the docker options change), or
 * as an external engine that is never touched.
 */
async function adoption(
  driver: Driver,
  world: World,
): Promise<{ chosen: EngineName; found: Availability } | undefined> {
  const at = driver.servesAt?.(world.options)
  if (!at) return undefined
  const probe = await world.probe(at.url)
  if (probe.kind !== 'ollama') return undefined
  for (const kind of engineNames) {
    const claimed = await (await driverOf(kind)).claim?.(world, at.url)
    if (claimed) return { chosen: kind, found: claimed }
  }
  const { adoptExternal } = await import('./external.js')
  return {
    chosen: 'external',
    found: adoptExternal(
      at.url,
      probe.version,
      `an Ollama (version ${probe.version}) already answers ${at.where}`,
    ),
  }
}

/** Candidates left untried, recorded as skipped with one reason. */
function skipRest(rest: EngineName[], reason: string, steps: ResolutionStep[]): void {
  for (const engine of rest) steps.push({ engine, outcome: 'skipped', reason })
}

/**
 * Decides which engine `startEngine` would use, starting nothing (for `doctor`). `autoStart:
 * false` allows only an Ollama that already answers.
 */
export async function planEngine(
  options: ResolvedOptions,
  deps: Partial<ResolveDeps> = {},
): Promise<{ choice: EngineName | null; steps: ResolutionStep[] }> {
  const { choice, steps } = await walk(options, await worldOf(options, deps))
  return { choice, steps }
}

/**
 * Starts the engine `options.engine` asks for; under `auto`, the first that works in the order of
 * `candidates`. When nothing runs, `engine` is null and `problem` says what to install or set.
 */
export async function startEngine(
  options: ResolvedOptions,
  ctx: StartContext & { deps?: Partial<ResolveDeps> },
): Promise<Resolution> {
  return walk(options, await worldOf(options, ctx.deps ?? {}), ctx)
}

const INSTALL_HINT =
  "Install Docker (https://docs.docker.com/get-docker/) and start it, or install Ollama (https://ollama.com/download) so `ollama` is on PATH; or set fallback: 'simulator' in vite.config.ts to use the built-in simulator meanwhile."

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
