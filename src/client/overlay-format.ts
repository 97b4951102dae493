// Pure text for the overlay: how phases, engines, GPUs, sizes, speeds and ETAs read. Kept apart from
// the DOM code so it can be unit-tested in Node and reused by the badge and the card alike.
import type {
  EngineInfo,
  ModelState,
  Phase,
  PullProgressEvent,
  StateSnapshot,
  WaitingChats,
} from '../protocol.js'

/** Words users read for each phase; the colour comes from the `phase` attribute in the CSS. */
export const phaseLabels: Record<Phase, string> = {
  detecting: 'Detecting',
  starting: 'Starting',
  pulling: 'Pulling',
  ready: 'Ready',
  unavailable: 'Unavailable',
  error: 'Error',
  stopped: 'Stopped',
}

export function phaseLabel(phase: string): string {
  return (phaseLabels as Record<string, string>)[phase] ?? phase
}

/** "Docker · Ollama 0.12.3", "Adopted · Ollama 0.12.3", or "No engine". */
export function engineLine(engine: EngineInfo | null): string {
  if (!engine) return 'No engine'
  const kind = engine.label ?? engine.kind
  return `${kind} · ${engine.version ? `Ollama ${engine.version}` : 'version unknown'}`
}

/** One line: the first GPU with its VRAM (and how many more), or "CPU only". */
export function gpuLine(gpu: StateSnapshot['gpu']): string {
  if (!gpu) return 'detecting…'
  const [first, ...rest] = gpu.gpus
  if (!first || gpu.accelerator === 'cpu') return 'CPU only'
  const vram = first.vramBytes ? ` · ${formatBytes(first.vramBytes)}` : ''
  const more = rest.length > 0 ? ` (+${rest.length} more)` : ''
  return `${first.name}${vram}${more}`
}

const units = ['B', 'KB', 'MB', 'GB', 'TB']

/**
 * Decimal sizes for every size the card shows, VRAM included (the terminal's rule, src/format.ts):
 * as Ollama's CLI prints a pull ("1.2 GB/2.0 GB"), so a 24 GiB card reads "25.8 GB".
 */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes <= 0) return '0 B'
  let value = bytes
  let unit = 0
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000
    unit++
  }
  const digits = unit === 0 || value >= 100 || Number.isInteger(value) ? 0 : 1
  return `${value.toFixed(digits)} ${units[unit]}`
}

/** Download speed in decimal MB/s, as the brief and Ollama's own CLI show it. */
export function formatSpeed(bytesPerSecond: number): string {
  if (!Number.isFinite(bytesPerSecond) || bytesPerSecond <= 0) return '– MB/s'
  const mb = bytesPerSecond / 1_000_000
  return `${mb >= 100 ? mb.toFixed(0) : mb.toFixed(1)} MB/s`
}

/** "42s", "3m 05s", "1h 02m"; null (unknown) reads as a dash. */
export function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds) || seconds < 0) return '–'
  const s = Math.round(seconds)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

/** Clamp to 0–100 and keep one decimal, so the bar and the text always agree. */
export function clampPercent(percent: number): number {
  if (!Number.isFinite(percent)) return 0
  return Math.round(Math.min(100, Math.max(0, percent)) * 10) / 10
}

export function formatPercent(percent: number): string {
  const p = clampPercent(percent)
  return `${p >= 10 || Number.isInteger(p) ? Math.floor(p) : p.toFixed(1)}%`
}

/** "812 MB / 2.0 GB", or the status Ollama reports while sizes are unknown ("pulling manifest"). */
export function formatTransfer(progress: PullProgressEvent): string {
  if (progress.total > 0) {
    return `${formatBytes(progress.completed)} / ${formatBytes(progress.total)}`
  }
  return progress.status
}

/**
 * Ollama normalises "llama3.2" to "llama3.2:latest"; progress events and snapshots may use
 * either form, so rows are matched on the normalised name.
 */
export function normaliseModelName(name: string): string {
  const lastSegment = name.slice(name.lastIndexOf('/') + 1)
  return lastSegment.includes(':') ? name : `${name}:latest`
}

export function isPulling(model: ModelState): boolean {
  return model.status === 'pulling'
}

/** The pulls in progress as one figure: the badge and the hidden tab's title show it. */
export interface PullSummary {
  /** Over every pulling model's bytes; null while no size is known yet. */
  percent: number | null
  /** The model's name, or "3 models". */
  what: string
}

export function summarisePulls(models: readonly ModelState[]): PullSummary | undefined {
  const pulling = models.filter(isPulling)
  if (pulling.length === 0) return undefined
  const total = pulling.reduce((sum, m) => sum + (m.progress?.total ?? 0), 0)
  const completed = pulling.reduce((sum, m) => sum + (m.progress?.completed ?? 0), 0)
  return {
    percent: total > 0 ? clampPercent((completed / total) * 100) : null,
    what: pulling.length === 1 ? (pulling[0]?.name ?? '') : `${pulling.length} models`,
  }
}

/** Status words for a model row; "loaded" adds where it runs when Ollama says. */
export function modelStatusText(model: ModelState): string {
  switch (model.status) {
    case 'loaded':
      return model.processor ? `loaded · ${model.processor}` : 'loaded'
    case 'present':
      return 'present'
    case 'missing':
      return 'missing'
    case 'pulling':
      return 'pulling'
    case 'error':
      return 'failed'
    default:
      return String(model.status)
  }
}

/**
 * What chats wait for, in words: "A chat is waiting for llama3.2 — 44%, about 12s",
 * "2 chats are waiting for qwen3 — Ollama is starting".
 */
export function waitingLine(waiting: WaitingChats, snapshot: StateSnapshot): string {
  const who = waiting.chats === 1 ? 'A chat is waiting' : `${waiting.chats} chats are waiting`
  const key = normaliseModelName(waiting.model)
  const model = snapshot.models.find((m) => normaliseModelName(m.name) === key)
  const progress = model?.status === 'pulling' ? model.progress : undefined
  let why = ''
  if (snapshot.phase === 'detecting' || snapshot.phase === 'starting') why = 'Ollama is starting'
  else if (progress && progress.total > 0) {
    const eta = progress.etaSeconds === null ? '' : `, about ${formatEta(progress.etaSeconds)}`
    why = `${formatPercent(progress.percent)}${eta}`
  } else if (model?.status === 'pulling' || model?.status === 'missing')
    why = 'its pull is starting'
  return `${who} for ${waiting.model}${why ? ` — ${why}` : ''}`
}

/** The badge's word for waiting chats: "a chat waits", "3 chats wait", or nothing. */
export function waitingBadge(snapshot: StateSnapshot): string {
  const chats = (snapshot.waitingChats ?? []).reduce((sum, w) => sum + w.chats, 0)
  if (chats === 0) return ''
  return chats === 1 ? 'a chat waits' : `${chats} chats wait`
}
