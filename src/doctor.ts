import { setTimeout as delay } from 'node:timers/promises'
import pc from 'picocolors'
import type { DockerAttempt, DockerConnection } from './engines/docker/connect.js'
import { type EngineSetting, engineSettings } from './engines/settings.js'
import { formatBytes } from './format.js'
import { type ContainerGpuPlan, planContainerGpu } from './gpu/container.js'
import { detectGpus, type GpuReport } from './gpu/detect.js'
import {
  checkModelFit,
  type ModelFit,
  type ModelRecommendation,
  recommendModels,
} from './gpu/recommend.js'
import { recommendTuning, type Tuning } from './gpu/tuning.js'
import type { ProbeResult } from './ollama/probe.js'
import type { ResolvedOptions } from './options.js'
import { errorMessage } from './problem.js'
import type { EngineName, ResolutionStep } from './protocol.js'

export interface DoctorDeps {
  detect(): Promise<GpuReport>
  connectDocker(): Promise<{ connection: DockerConnection | null; attempts: DockerAttempt[] }>
  probeOllama(url: string): Promise<ProbeResult>
  /** Gets the doctor's own Docker and Ollama probes, so nothing is asked twice. */
  planEngine(
    options: ResolvedOptions,
    shared: Pick<DoctorDeps, 'connectDocker' | 'probeOllama'>,
  ): Promise<{ choice: EngineName | null; steps: ResolutionStep[] }>
  /** Where the chosen engine keeps its models, and why (its driver's `modelStore`). */
  modelStore(choice: EngineName, options: ResolvedOptions): Promise<string | undefined>
  /** Each check gets this long; one that is late is reported as such. @default 2500 */
  timeoutMs: number
}

export interface DoctorReport {
  gpu: GpuReport
  docker: {
    reachable: boolean
    host?: string
    source?: string
    version?: string
    operatingSystem?: string
    podman?: boolean
    runtimes: string[]
    cdi: boolean
    /** Every socket tried, with why it did or did not answer. */
    attempts: DockerAttempt[]
    /** The GPU settings the `docker` engine would give the Ollama container. */
    gpuPlan?: ContainerGpuPlan
  }
  ollama: { url: string; reachable: boolean; version?: string; reason?: string }
  /** Docker Model Runner at `dmr.url`: found by its `GET /` banner. */
  dmr: { url: string; reachable: boolean; version?: string; reason?: string }
  engine: { choice: EngineName | null; steps: ResolutionStep[]; error?: string }
  /** Which model store the chosen engine uses and why (the host's, a volume, its own). */
  modelStore?: string
  recommended: ModelRecommendation[]
  models: ModelFit[]
  tuning: Tuning[]
  elapsedMs: number
}

const defaultDeps: DoctorDeps = {
  detect: () => detectGpus(),
  // Imported when needed: dockerode and the engines are most of the CLI's start-up time.
  connectDocker: async () =>
    (await import('./engines/docker/connect.js')).connectDocker({ timeoutMs: 1000 }),
  probeOllama: async (url) => (await import('./ollama/probe.js')).probeOllama(url, 1500),
  planEngine: async (options, shared) =>
    (await import('./engines/index.js')).planEngine(options, {
      probe: shared.probeOllama,
      connectDocker: shared.connectDocker,
    }),
  modelStore: async (choice, options) =>
    (await (await import('./engines/index.js')).driverOf(choice)).modelStore?.(options),
  timeoutMs: 2500,
}

class LateError extends Error {}

/** Resolves with the promise, or rejects with a LateError after `ms`; the timer never holds the process. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  const stop = new AbortController()
  const late = delay(ms, undefined, { ref: false, signal: stop.signal }).then(
    () => {
      throw new LateError(`${what} did not answer within ${ms / 1000} s`)
    },
    () => undefined as never,
  )
  try {
    return await Promise.race([promise, late])
  } finally {
    stop.abort()
  }
}

/**
 * Everything a developer needs to know before `vite`: GPUs, Docker, Ollama, the engine `auto`
 * would pick, what models fit. Every check runs at once with its own timeout, so a machine with
 * nothing installed answers in well under three seconds.
 */
export async function runDoctor(
  options: ResolvedOptions,
  deps: Partial<DoctorDeps> = {},
): Promise<DoctorReport> {
  const started = performance.now()
  const d = { ...defaultDeps, ...deps }
  const dockerCheck = d.connectDocker()
  const ollamaCheck = d.probeOllama(options.url)
  const dmrCheck = options.dmr.url === options.url ? ollamaCheck : d.probeOllama(options.dmr.url)
  const shared = {
    connectDocker: () => dockerCheck,
    probeOllama: (url: string) =>
      url === options.url ? ollamaCheck : url === options.dmr.url ? dmrCheck : d.probeOllama(url),
  }
  const [gpu, docker, ollama, dmr, engine] = await Promise.all([
    d.detect(),
    within(dockerCheck, d.timeoutMs, 'Docker').catch(
      (err): { connection: null; attempts: DockerAttempt[] } => ({
        connection: null,
        attempts: [{ host: '', source: 'docker', ok: false, reason: errorMessage(err) }],
      }),
    ),
    within(ollamaCheck, d.timeoutMs, 'Ollama').catch(
      (err): ProbeResult => ({ kind: 'other', reason: errorMessage(err) }),
    ),
    within(dmrCheck, d.timeoutMs, 'Docker Model Runner').catch(
      (err): ProbeResult => ({ kind: 'other', reason: errorMessage(err) }),
    ),
    within(d.planEngine(options, shared), d.timeoutMs, 'engine resolution').catch(
      (err): DoctorReport['engine'] => ({ choice: null, steps: [], error: errorMessage(err) }),
    ),
  ])
  const conn = docker.connection
  const info = conn?.gpuInfo
  const dockerReport: DoctorReport['docker'] = {
    reachable: Boolean(conn),
    runtimes: Object.keys(info?.runtimes ?? {}).sort(),
    cdi: Boolean(info?.cdiSpecDirs?.length),
    attempts: docker.attempts,
  }
  if (conn && info) {
    dockerReport.host = conn.endpoint.host
    dockerReport.source = conn.endpoint.source
    dockerReport.version = conn.serverVersion
    dockerReport.operatingSystem = conn.operatingSystem
    dockerReport.podman = Boolean(info.isPodman)
    dockerReport.gpuPlan = planContainerGpu(gpu, options.docker.gpu, info, options.docker.image)
  }
  const accelerator = gpu.accelerator
  const modelStore = engine.choice ? await d.modelStore(engine.choice, options) : undefined
  return {
    gpu,
    docker: dockerReport,
    ollama:
      ollama.kind === 'ollama'
        ? { url: options.url, reachable: true, version: ollama.version }
        : { url: options.url, reachable: false, reason: ollama.reason },
    dmr: describeDmr(options.dmr.url, dmr),
    engine,
    ...(modelStore ? { modelStore } : {}),
    recommended: recommendModels(gpu.budgetBytes, { accelerator, limit: 5 }),
    models: options.models.map((m) => checkModelFit(m, gpu.budgetBytes, { accelerator })),
    tuning: withSettings(recommendTuning(gpu), engineSettings(options)),
    elapsedMs: Math.round(performance.now() - started),
  }
}

/** What answers at `dmr.url`, as the report says it. */
function describeDmr(url: string, probe: ProbeResult): DoctorReport['dmr'] {
  if (probe.kind === 'dmr') {
    return { url, reachable: true, ...(probe.version ? { version: probe.version } : {}) }
  }
  const reason =
    probe.kind === 'absent'
      ? `not found at ${url}`
      : probe.kind === 'ollama'
        ? `not found: an Ollama answers at ${url}`
        : `not found: ${probe.reason}`
  return { url, reachable: false, reason }
}

/**
 * The suggested tuning, with what the plugin's options set (`parallel`, `numCtx`) in place of the
 * suggestion for the same variable: those are what the engines the plugin starts get.
 */
function withSettings(tuning: Tuning[], settings: EngineSetting[]): Tuning[] {
  const set = new Map(settings.map((s) => [s.env, { ...s, safe: true }]))
  const merged = tuning.map((t) => set.get(t.env) ?? t)
  for (const setting of set.values()) {
    if (!tuning.some((t) => t.env === setting.env)) merged.push(setting)
  }
  return merged
}

const ok = pc.green('✓')
const bad = pc.red('✗')
const warn = pc.yellow('!')
const arrow = pc.cyan('➜')

function row(mark: string, label: string, text: string): string {
  return `  ${mark} ${pc.bold(label.padEnd(8))} ${text}`
}

function more(text: string): string {
  return `${' '.repeat(13)}${text}`
}

function describeGpuLines(gpu: GpuReport): string[] {
  const lines: string[] = []
  if (!gpu.gpus.length || gpu.accelerator === 'cpu') {
    const names = gpu.gpus.map((g) => g.name).join(', ')
    lines.push(row(bad, 'GPU', names ? `${names}: not usable by Ollama` : 'none found'))
  } else {
    gpu.gpus.forEach((g, i) => {
      const facts = [
        g.vramBytes ? formatBytes(g.vramBytes) : undefined,
        g.driver ? `driver ${g.driver}` : undefined,
        g.computeCapability
          ? g.vendor === 'nvidia'
            ? `CC ${g.computeCapability}`
            : g.computeCapability
          : undefined,
      ].filter(Boolean)
      const text = `${g.name}${facts.length ? pc.dim(` (${facts.join(', ')})`) : ''}`
      lines.push(i === 0 ? row(ok, 'GPU', text) : more(text))
    })
    lines.push(more(`${gpu.accelerator}, ${formatBytes(gpu.budgetBytes)} for one model`))
  }
  for (const note of gpu.notes) lines.push(more(pc.dim(`· ${note}`)))
  return lines
}

function describeDockerLines(docker: DoctorReport['docker']): string[] {
  if (!docker.reachable) {
    const lines = [row(bad, 'Docker', 'not reachable')]
    for (const a of docker.attempts) lines.push(more(pc.dim(`· ${a.reason}`)))
    return lines
  }
  const kind = docker.podman ? 'Podman' : 'Docker'
  const gpuSupport = [
    docker.runtimes.includes('nvidia') ? 'nvidia runtime' : undefined,
    docker.cdi ? 'CDI' : undefined,
  ].filter(Boolean)
  const lines = [
    row(
      ok,
      'Docker',
      `${kind} ${docker.version} at ${docker.host}${pc.dim(` (${docker.source}; ${docker.operatingSystem}${gpuSupport.length ? `; ${gpuSupport.join(', ')}` : ''})`)}`,
    ),
  ]
  if (docker.gpuPlan) {
    const plan = docker.gpuPlan
    lines.push(more(`container GPU: ${plan.gpu}${pc.dim(` — ${plan.reason}`)}`))
  }
  return lines
}

function describeEngineLines(engine: DoctorReport['engine']): string[] {
  const lines: string[] = []
  const chosen = engine.steps.find((s) => s.outcome === 'chosen')
  if (engine.choice) {
    lines.push(
      row(
        arrow,
        'Engine',
        `auto picks ${pc.bold(engine.choice)}${chosen ? pc.dim(`: ${chosen.reason}`) : ''}`,
      ),
    )
  } else {
    lines.push(row(bad, 'Engine', engine.error ?? 'auto finds no way to run Ollama'))
  }
  for (const step of engine.steps) {
    if (step === chosen) continue
    const hint = step.hint ? ` — ${step.hint}` : ''
    lines.push(more(pc.dim(`· ${step.engine} ${step.outcome}: ${step.reason}${hint}`)))
  }
  return lines
}

/** The report for people: one line per fact, marks for good (✓), bad (✗) and worth a look (!). */
export function formatDoctor(report: DoctorReport): string {
  const lines = ['', `  ${pc.bold(pc.cyan('vite-plugin-ollama'))} ${pc.dim('doctor')}`, '']
  lines.push(...describeGpuLines(report.gpu))
  lines.push(...describeDockerLines(report.docker))
  const o = report.ollama
  lines.push(
    o.reachable
      ? row(ok, 'Ollama', `${o.version} at ${o.url}`)
      : row(bad, 'Ollama', o.reason ?? `not running at ${o.url}`),
  )
  const dmr = report.dmr
  lines.push(
    dmr.reachable
      ? row(ok, 'DMR', `Docker Model Runner${dmr.version ? ` ${dmr.version}` : ''} at ${dmr.url}`)
      : row(pc.dim('·'), 'DMR', pc.dim(`Docker Model Runner ${dmr.reason}`)),
  )
  lines.push(...describeEngineLines(report.engine))
  if (report.modelStore) lines.push(row(ok, 'Models', report.modelStore))
  if (report.models.length) {
    lines.push('', `  ${pc.bold('Your models')}`)
    for (const fit of report.models) {
      const mark = fit.status === 'fits' ? ok : fit.status === 'unknown' ? pc.dim('?') : warn
      lines.push(`  ${mark} ${fit.message}`)
    }
  }
  if (report.recommended.length) {
    lines.push('', `  ${pc.bold('Models that fit')}`)
    const width = Math.max(...report.recommended.map((r) => r.name.length))
    for (const r of report.recommended) {
      lines.push(`  ${arrow} ${r.name.padEnd(width)}  ${pc.dim(r.reason)}`)
    }
  }
  if (report.tuning.length) {
    lines.push(
      '',
      `  ${pc.bold('Ollama settings')} ${pc.dim('(engines the plugin starts get the ✓ ones)')}`,
    )
    const width = Math.max(...report.tuning.map((t) => t.env.length + t.value.length + 1))
    for (const t of report.tuning) {
      lines.push(
        `  ${t.safe ? ok : warn} ${`${t.env}=${t.value}`.padEnd(width)}  ${pc.dim(t.reason)}`,
      )
    }
  }
  lines.push('', pc.dim(`  checked in ${report.elapsedMs} ms`), '')
  return lines.join('\n')
}
