import { type ChildProcess, spawn } from 'node:child_process'
import { accessSync, constants, statSync } from 'node:fs'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { debuglog } from 'node:util'
import { safeTuningEnv } from '../gpu/tuning.js'
import { isPortFree, waitForOllama } from '../ollama/probe.js'
import { ProblemError, withLogTail } from '../problem.js'
import type { EngineInfo } from '../protocol.js'
import { createEngineEventHub } from './events.js'
import { engineEnv } from './settings.js'
import type { Driver, Engine } from './types.js'

const debug = debuglog('vite-plugin-ollama')

/** Lines of `ollama serve` output kept for start errors and crash reports. */
const LOG_LINES = 200

/** The `ollama` executable on PATH, or undefined. Looks like the shell does, without spawning. */
export function findOllamaBinary(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): string | undefined {
  const dirs = (env.PATH ?? env.Path ?? '').split(path.delimiter).filter(Boolean)
  const names =
    platform === 'win32'
      ? (env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';').map((ext) => `ollama${ext.toLowerCase()}`)
      : ['ollama']
  for (const dir of dirs) {
    for (const name of names) {
      const file = path.join(dir, name)
      try {
        if (!statSync(file).isFile()) continue
        if (platform !== 'win32') accessSync(file, constants.X_OK)
        return file
      } catch {
        // not here
      }
    }
  }
  return undefined
}

export interface NativeEngineOptions {
  /** Where Ollama must listen: its host and port become OLLAMA_HOST. */
  url: string
  /** The executable; found on PATH when absent. */
  binary?: string
  /** Default environment (tuning): the process's own variables win over it. */
  env?: Record<string, string>
  /**
   * What the plugin's options set (`parallel`, `numCtx`): written in vite.config.ts, so it wins
   * over a variable the shell happens to carry.
   */
  settings?: Record<string, string>
  readyTimeoutMs?: number
  /** Grace between SIGTERM and SIGKILL on stop. */
  stopGraceMs?: number
  signal?: AbortSignal
  reason?: string
  /** This machine has a GPU Ollama would use: a model found on the CPU means it went missing. */
  gpuPlanned?: boolean
}

/** A native engine also exposes its last log lines (`ollama serve` output). */
export interface NativeEngine extends Engine {
  logTail(): string[]
}

/** Keeps the last lines of a stream, for start errors. */
function collectLines(stream: NodeJS.ReadableStream | null, lines: string[]): void {
  if (!stream) return
  const rl = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY })
  rl.on('line', (line) => {
    lines.push(line)
    if (lines.length > LOG_LINES) lines.splice(0, lines.length - LOG_LINES)
  })
}

/** OLLAMA_HOST for a URL: Ollama reads `host:port` (a bare scheme would change the default port). */
export function ollamaHostFor(url: string): string {
  const u = new URL(url)
  const port = u.port || (u.protocol === 'https:' ? '443' : '80')
  return `${u.hostname}:${port}`
}

/**
 * `ollama serve`'s environment: the tuning, then the process's own variables, then what the
 * options set, and OLLAMA_HOST from `url`.
 */
export function serveEnv(
  opts: Pick<NativeEngineOptions, 'env' | 'settings'>,
  url: string,
  processEnv: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  return { ...opts.env, ...processEnv, ...opts.settings, OLLAMA_HOST: ollamaHostFor(url) }
}

function isLoopback(hostname: string): boolean {
  return (
    hostname === 'localhost' ||
    hostname === '[::1]' ||
    hostname === '::1' ||
    hostname.startsWith('127.')
  )
}

/**
 * Spawns `ollama serve` listening where `url` says, waits until it answers, and stops it with
 * SIGTERM (SIGKILL after a grace period) when asked.
 */
export async function startNativeEngine(opts: NativeEngineOptions): Promise<NativeEngine> {
  const binary = opts.binary ?? findOllamaBinary()
  if (!binary) {
    throw new ProblemError({
      message: 'The native engine needs the `ollama` command, and it is not on PATH.',
      hint: 'Install Ollama from https://ollama.com/download, or set engine: "docker" in vite.config.ts.',
    })
  }
  const url = opts.url.replace(/\/+$/, '')
  const { hostname, port } = new URL(url)
  if (!isLoopback(hostname)) {
    throw new ProblemError({
      message: `Cannot start a native Ollama at ${url}: it is not on this machine.`,
      hint: 'Set url to a loopback address such as "http://127.0.0.1:11434", or start Ollama on that host yourself.',
    })
  }
  const bindHost = hostname === 'localhost' ? '127.0.0.1' : hostname.replace(/^\[|\]$/g, '')
  if (!(await isPortFree(bindHost, Number(port || 80)))) {
    throw new ProblemError({
      message: `Port ${port} on ${bindHost} is held by a process that is not Ollama, so \`ollama serve\` cannot listen there.`,
      hint: 'Set url in vite.config.ts to a free port (e.g. "http://127.0.0.1:11435"), or stop that process.',
    })
  }

  const lines: string[] = []
  const child = spawn(binary, ['serve'], {
    env: serveEnv(opts, url),
    stdio: ['ignore', 'pipe', 'pipe'],
    windowsHide: true,
  })
  collectLines(child.stdout, lines)
  collectLines(child.stderr, lines)
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined
  let spawnError: Error | undefined
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal }
      resolve()
    })
    child.once('error', (err) => {
      spawnError = err
      if (child.exitCode === null && child.pid === undefined) resolve()
    })
  })

  let version: string
  try {
    version = await waitForOllama(url, {
      timeoutMs: opts.readyTimeoutMs ?? 60_000,
      signal: opts.signal,
      what: `\`${binary} serve\``,
      logTail: () => lines,
      died: async () => {
        if (spawnError) return `could not be run (${spawnError.message})`
        if (exit)
          return exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`
        return undefined
      },
    })
  } catch (err) {
    await terminate(child, exited, opts.stopGraceMs ?? 5000)
    throw err
  }

  const hub = createEngineEventHub()
  const info: EngineInfo = {
    kind: 'native',
    url,
    version,
    simulated: false,
    pid: child.pid,
    reason: opts.reason ?? `started \`${binary} serve\``,
  }
  if (opts.gpuPlanned) info.gpuPlanned = true
  let stopping = false
  child.once('exit', (code, signal) => {
    if (stopping) return
    const how = signal ? `was killed by ${signal}` : `exited with code ${code}`
    debug('native ollama %s', how)
    hub.emit({ type: 'crashed', message: `\`ollama serve\` (pid ${child.pid}) ${how}` })
    hub.emit({
      type: 'failed',
      problem: {
        message: `\`ollama serve\` ${how}.`,
        hint: withLogTail(
          'Restart Vite to start it again, or run `ollama serve` yourself to see why.',
          lines,
        ),
      },
    })
  })

  let stopped: Promise<void> | undefined
  function stop(): Promise<void> {
    stopping = true
    stopped ??= terminate(child, exited, opts.stopGraceMs ?? 5000)
    return stopped
  }
  return {
    info,
    owned: true,
    onEvent: hub.onEvent,
    logTail: () => [...lines],
    stop,
    // A process started again is all there is to make afresh.
    discard: stop,
    stopSync() {
      // At process exit: SIGTERM is all we can send; `ollama serve` shuts down on its own.
      stopping = true
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    },
  }
}

/** SIGTERM, then SIGKILL when it has not exited within the grace period. */
async function terminate(
  child: ChildProcess,
  exited: Promise<void>,
  graceMs: number,
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
  child.kill('SIGTERM')
  const timer = setTimeout(() => {
    debug('`ollama serve` ignored SIGTERM for %d ms: SIGKILL', graceMs)
    child.kill('SIGKILL')
  }, graceMs)
  try {
    await exited
  } finally {
    clearTimeout(timer)
  }
  child.stdout?.destroy()
  child.stderr?.destroy()
}

/** `ollama serve` from PATH, listening at `url`. */
export const driver: Driver = {
  label: 'Native',
  async probe(world) {
    // On macOS `auto` asks before Docker: say why, since it is not the usual order.
    const why =
      world.platform === 'darwin' && world.options.engine === 'auto'
        ? ' (on macOS native Ollama uses the GPU; Docker cannot)'
        : ''
    const binary = world.findOllama()
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
          url: world.options.url,
          binary,
          env: safeTuningEnv(ctx.gpu),
          gpuPlanned: ctx.gpu.accelerator !== 'cpu',
          settings: engineEnv(world.options),
          signal: ctx.signal,
          reason: `started \`${binary} serve\`: ${reason}`,
        }),
    }
  },
  describe: (info) =>
    `ollama serve${info.version ? ` ${info.version}` : ''} (pid ${info.pid}) at ${info.url}`,
  modelStore: () =>
    `\`ollama serve\` keeps its own models: ${process.env.OLLAMA_MODELS ? `$OLLAMA_MODELS (${process.env.OLLAMA_MODELS})` : '~/.ollama/models'}`,
}
