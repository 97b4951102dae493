#!/usr/bin/env node
import { existsSync } from 'node:fs'
import path from 'node:path'
import { type ParseArgsConfig, parseArgs } from 'node:util'
import pc from 'picocolors'
import type { PluginOption } from 'vite'
import {
  engineKinds,
  OllamaOptionsError,
  type OllamaPluginOptions,
  resolveOptions,
} from './options.js'
import { errorMessage, formatProblem, toProblem } from './problem.js'

const HELP = `
  ${pc.bold('vite-plugin-ollama')} <command> [options]

  ${pc.bold('Commands')}
    doctor      GPU, Docker, Ollama and model-fit report
    simulate    run the Ollama simulator as a standalone server (for CI)

  ${pc.bold('doctor')}
    --json              print the report as JSON
    --config <file>     read the plugin options from a Vite config (flags below override them)
    --url <url>         where Ollama is, or will be (default http://127.0.0.1:11434)
    --model <name>      a model your app needs; repeat for several
    --engine <kind>     ${engineKinds.join(' | ')} (default auto)

  ${pc.bold('simulate')}
    --port <n>          port to listen on (default 11434; 0 picks a free one)
    --host <host>       address to bind (default 127.0.0.1)
    --models <a,b>      models installed at start, e.g. llama3.2,nomic-embed-text
    --token-delay <ms>  delay between streamed tokens (default 0)

  -h, --help            show this help
`

/** Exit codes: 0 done, 1 the command failed, 2 it was called wrongly. */
class UsageError extends Error {}

function parse(
  args: string[],
  options: NonNullable<ParseArgsConfig['options']>,
): Record<string, unknown> {
  try {
    const all = { ...options, help: { type: 'boolean', short: 'h' } } as const
    return parseArgs({ args, options: all, strict: true }).values as Record<string, unknown>
  } catch (err) {
    throw new UsageError(errorMessage(err))
  }
}

function integer(value: unknown, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(
      `${flag} must be a whole number from ${min} to ${max}, got "${String(value)}"`,
    )
  }
  return n
}

async function doctorCommand(args: string[]): Promise<number> {
  const v = parse(args, {
    json: { type: 'boolean' },
    config: { type: 'string' },
    url: { type: 'string' },
    model: { type: 'string', multiple: true },
    engine: { type: 'string' },
  })
  if (v.help) return help()
  let input: OllamaPluginOptions = {}
  if (typeof v.config === 'string') {
    input = { ...(await optionsFromViteConfig(v.config)) }
  }
  if (typeof v.url === 'string') input.url = v.url
  if (Array.isArray(v.model)) input.models = v.model as string[]
  if (typeof v.engine === 'string') input.engine = v.engine as OllamaPluginOptions['engine']
  let options: ReturnType<typeof resolveOptions>
  try {
    options = resolveOptions(input)
  } catch (err) {
    // The options' own messages name vite.config.ts; here they came from flags.
    if (err instanceof OllamaOptionsError) {
      throw new UsageError(
        err.message.replace('invalid options in vite.config.ts', 'invalid flags'),
      )
    }
    throw err
  }
  const { runDoctor, formatDoctor } = await import('./doctor.js')
  const report = await runDoctor(options)
  await write(v.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatDoctor(report)}\n`)
  return 0
}

async function simulateCommand(args: string[]): Promise<number> {
  const v = parse(args, {
    port: { type: 'string' },
    host: { type: 'string' },
    models: { type: 'string' },
    'token-delay': { type: 'string' },
  })
  if (v.help) return help()
  const port = integer(v.port, '--port', 0, 65535) ?? 11434
  const tokenDelayMs = integer(v['token-delay'], '--token-delay', 0, 60_000) ?? 0
  const host = typeof v.host === 'string' ? v.host : '127.0.0.1'
  const models =
    typeof v.models === 'string'
      ? v.models
          .split(',')
          .map((m) => m.trim())
          .filter(Boolean)
      : []
  const { startSimulator } = await import('./simulator/index.js')
  let sim: Awaited<ReturnType<typeof startSimulator>>
  try {
    sim = await startSimulator({ host, port, models, tokenDelayMs })
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    if (e.code === 'EADDRINUSE') {
      throw new Error(
        `port ${port} on ${host} is taken (is Ollama running?); pick another with --port`,
      )
    }
    throw err
  }
  const installed = models.length ? models.join(', ') : 'none (pull any model)'
  process.stdout.write(
    `\n  ${pc.green('➜')}  ${pc.bold('Ollama simulator')} listening on ${pc.cyan(sim.url)} ${pc.dim(`(models: ${installed}; Ctrl+C to stop)`)}\n`,
  )
  await new Promise<void>((resolve) => {
    const stop = () => resolve()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
  await sim.close()
  return 0
}

async function flattenPlugins(option: PluginOption): Promise<unknown[]> {
  const value = await option
  if (Array.isArray(value)) return (await Promise.all(value.map(flattenPlugins))).flat()
  return value ? [value] : []
}

/**
 * The options given to `ollama()` in a Vite config, for `doctor --config`. Vite loads the file the
 * way `vite` does; the plugin hands its options out through `api.options`.
 */
async function optionsFromViteConfig(file: string): Promise<OllamaPluginOptions> {
  const { loadConfigFromFile } = await import('vite')
  const configFile = path.resolve(file)
  if (!existsSync(configFile)) throw new Error(`--config: there is no file ${configFile}`)
  const loaded = await loadConfigFromFile(
    { command: 'serve', mode: 'development' },
    configFile,
    path.dirname(configFile),
    'silent',
  )
  if (!loaded) throw new Error(`no Vite config could be loaded from ${configFile}`)
  const plugins = await flattenPlugins(loaded.config.plugins ?? [])
  const plugin = plugins.find(
    (p): p is { name: string; api?: { options?: OllamaPluginOptions } } =>
      typeof p === 'object' &&
      p !== null &&
      (p as { name?: unknown }).name === 'vite-plugin-ollama',
  )
  if (!plugin) {
    throw new Error(`${configFile} does not use vite-plugin-ollama: add ollama() to its plugins`)
  }
  const options = plugin.api?.options
  if (!options) {
    throw new Error(
      `the vite-plugin-ollama in ${configFile} does not expose its options (api.options)`,
    )
  }
  return options
}

function help(): number {
  process.stdout.write(HELP)
  return 0
}

function write(text: string): Promise<void> {
  return new Promise((resolve) => process.stdout.write(text, () => resolve()))
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  try {
    switch (command) {
      case 'doctor':
        return await doctorCommand(rest)
      case 'simulate':
        return await simulateCommand(rest)
      case undefined:
      case 'help':
      case '-h':
      case '--help':
        return help()
      default:
        throw new UsageError(`unknown command "${command}"`)
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(
        `${pc.red('✗')} ${err.message}\n  run ${pc.cyan('vite-plugin-ollama --help')} for usage\n`,
      )
      return 2
    }
    process.stderr.write(`${pc.red('✗')} ${formatProblem(toProblem(err))}\n`)
    return 1
  }
}

// Exit explicitly: a keep-alive socket to Docker or a late probe must not hold the terminal.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  () => process.exit(1),
)
