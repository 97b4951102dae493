import colors from 'picocolors'
import type { Logger } from 'vite'
import { formatBytes } from './format.js'
import type { Orchestrator } from './orchestrator.js'
import type { Phase, PullProgressEvent, StateSnapshot } from './protocol.js'
import { processState } from './singleton.js'
import { createThrottle, isFinalProgress } from './throttle.js'

const TAG = colors.magenta('[ollama]')
const BAR_WIDTH = 24
/** The terminal redraws bars at most this often; in CI a plain line per 10% is enough. */
const REDRAW_MS = 120

export interface TerminalOptions {
  logger: Logger
  /** Where bars are drawn in place; `undefined` (or not a TTY) gives plain lines instead. */
  stream?: NodeJS.WriteStream
  /** The chat endpoint, shown in the ready line. */
  chatUrl: () => string
}

/**
 * The plugin's voice in the terminal, through Vite's logger: the GPU and the engine in one line
 * each, a progress bar per pulling model redrawn in place on a TTY (a plain line every 10% when
 * not), and one ready line with the chat endpoint.
 */
export function reportToTerminal(orchestrator: Orchestrator, options: TerminalOptions): () => void {
  // Read at each line: a shared reporter speaks through its newest server (shareTerminal).
  const logger = {
    info: (msg: string) => options.logger.info(msg),
    warn: (msg: string) => options.logger.warn(msg),
    error: (msg: string) => options.logger.error(msg),
  }
  const tty = options.stream?.isTTY && !process.env.CI ? options.stream : undefined
  const bars = new Map<string, PullProgressEvent>()
  const tenths = new Map<string, number>()
  let drawn = 0
  let lastBytesWritten = -1
  let lastPhase: Phase | undefined
  /** The error each model last reported, so a failure is printed once. */
  const reported = new Map<string, string>()
  /** What the last ready line said, with the app's models' health. */
  let lastReady: string | undefined
  /** The models pulling now, once an engine is up (see onState). */
  let modelPulls: Set<string> | undefined

  function clearBars(): void {
    if (!tty || drawn === 0) return
    // Only move up over our own block: if anything else was printed since, leave it be.
    if ((tty as unknown as { bytesWritten: number }).bytesWritten === lastBytesWritten) {
      tty.write(`\x1b[${drawn}A\x1b[0J`)
    }
    drawn = 0
  }

  function drawBars(): void {
    if (!tty) return
    clearBars()
    const rows = [...bars.values()].map(formatBar)
    if (!rows.length) return
    tty.write(`${rows.join('\n')}\n`)
    drawn = rows.length
    lastBytesWritten = (tty as unknown as { bytesWritten: number }).bytesWritten
  }

  const print = (level: 'info' | 'warn' | 'error', message: string) => {
    clearBars()
    if (level === 'info') logger.info(line(message))
    else if (level === 'warn') logger.warn(line(colors.yellow(message)))
    else logger.error(line(colors.red(message)))
    drawBars()
  }

  const throttle = createThrottle<PullProgressEvent>(
    REDRAW_MS,
    (event) => {
      // Sent late by the throttle, after its pull ended.
      if (modelPulls && !modelPulls.has(event.model)) return
      if (tty) {
        if (isFinalProgress(event)) bars.delete(event.model)
        else bars.set(event.model, event)
        drawBars()
        return
      }
      // Not a TTY (CI, a log file): one quiet line per 10%, once the size is known.
      if (event.total === 0) return
      const step = Math.floor(event.percent / 10)
      if (step === tenths.get(event.model)) return
      tenths.set(event.model, step)
      logger.info(line(formatPlain(event)))
    },
    isFinalProgress,
  )

  const onProgress = (event: PullProgressEvent) => throttle.push(event.model, event)

  const onState = (snapshot: StateSnapshot) => {
    // Once an engine is up, every bar is a model the state says is pulling: a pull that ended
    // without a last progress event (it failed, or a one-off pull's model was forgotten) leaves no
    // bar and no per-model count behind. Before, the Docker image's download has a bar of its own.
    modelPulls =
      snapshot.phase === 'ready' || snapshot.phase === 'pulling'
        ? new Set(snapshot.models.filter((m) => m.status === 'pulling').map((m) => m.name))
        : undefined
    if (modelPulls) {
      for (const name of bars.keys()) if (!modelPulls.has(name)) bars.delete(name)
      for (const name of tenths.keys()) if (!modelPulls.has(name)) tenths.delete(name)
    }
    for (const model of snapshot.models) {
      if (model.status !== 'error' || !model.error) {
        reported.delete(model.name)
        continue
      }
      // Each failure once, the moment it happens, whatever else is going on.
      const key = `${model.error.message}|${model.error.hint}`
      if (reported.get(model.name) === key) continue
      reported.set(model.name, key)
      bars.delete(model.name)
      const hint = model.error.hint ? `\n  ${model.error.hint}` : ''
      print('error', `${model.name}: ${model.error.message}${hint}`)
    }
    if (snapshot.phase === lastPhase) return
    const previous = lastPhase
    lastPhase = snapshot.phase
    if (snapshot.phase !== 'ready') return
    // The app's models only: a one-off pull (POST /pull) is not the app's, and its name is the
    // client's to choose.
    const configured = orchestrator.currentOptions.models
    const models = configured.join(', ') || 'no models configured'
    const health = configured
      .map((name) => snapshot.models.find((m) => m.name === name)?.status === 'error')
      .join()
    // Back from a one-off pull that changed nothing of the app's: ready says nothing new.
    const said = `${models}|${health}`
    if (previous === 'pulling' && said === lastReady) return
    lastReady = said
    print(
      'info',
      `${colors.green('ready')} ${colors.dim(`(${models})`)} → chat at ${colors.cyan(options.chatUrl())}`,
    )
  }

  const onLog = (level: 'info' | 'warn' | 'error', message: string) => print(level, message)

  orchestrator.on('progress', onProgress)
  orchestrator.on('state', onState)
  orchestrator.on('log', onLog)
  return function stopTerminalReport() {
    orchestrator.off('progress', onProgress)
    orchestrator.off('state', onState)
    orchestrator.off('log', onLog)
    throttle.dispose()
    clearBars()
  }
}

function formatBar(event: PullProgressEvent): string {
  const filled = Math.round((event.percent / 100) * BAR_WIDTH)
  const bar = colors.green('█'.repeat(filled)) + colors.dim('░'.repeat(BAR_WIDTH - filled))
  return `  ${TAG} ${event.model.padEnd(18)} ${bar} ${`${event.percent.toFixed(0)}%`.padStart(4)} ${colors.dim(details(event))}`
}

function formatPlain(event: PullProgressEvent): string {
  return `pulling ${event.model}: ${event.percent.toFixed(0)}% ${colors.dim(details(event))}`
}

function details(event: PullProgressEvent): string {
  const parts = [`${formatBytes(event.completed)} / ${formatBytes(event.total)}`]
  if (event.bytesPerSecond > 0) parts.push(`${formatBytes(event.bytesPerSecond)}/s`)
  if (event.etaSeconds !== null && event.etaSeconds > 0)
    parts.push(`eta ${formatEta(event.etaSeconds)}`)
  return parts.join(', ')
}

function formatEta(seconds: number): string {
  if (seconds < 60) return `${seconds}s`
  const m = Math.floor(seconds / 60)
  return m < 60
    ? `${m}m${String(seconds % 60).padStart(2, '0')}s`
    : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`
}

/**
 * The terminal reporter of the process: every server that uses the orchestrator prints through
 * one, so two Vite servers in one process (Nuxt's client and server, a test runner beside an app)
 * print each line once. The newest server's logger and URL speak; the last one to leave stops it.
 */
export function shareTerminal(orchestrator: Orchestrator, options: TerminalOptions): () => void {
  const state = processState()
  let shared = state.terminal
  if (shared?.orchestrator !== orchestrator) {
    shared?.stop()
    const users: TerminalOptions[] = []
    const newest = () => users.at(-1) ?? options
    const stop = reportToTerminal(orchestrator, {
      get logger() {
        return newest().logger
      },
      stream: options.stream,
      chatUrl: () => newest().chatUrl(),
    })
    shared = { orchestrator, users, stop }
    state.terminal = shared
  }
  const current = shared
  current.users.push(options)
  return function leaveTerminal() {
    const at = current.users.indexOf(options)
    if (at === -1) return
    current.users.splice(at, 1)
    if (current.users.length > 0 || state.terminal !== current) return
    current.stop()
    state.terminal = undefined
  }
}

/** A line in the plugin's voice: Vite's timestamp, then the tag. */
function line(message: string): string {
  return `${colors.dim(new Date().toLocaleTimeString())} ${TAG} ${message}`
}

/** One line outside the reporter's flow, such as the start-up line about the network. */
export function announce(logger: Logger, message: string): void {
  logger.info(line(message))
}
