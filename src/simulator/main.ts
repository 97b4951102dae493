// Runnable entry of the simulator (`node dist/simulator/main.js`): the process the
// simulator container image runs, configured like `ollama serve` through the environment, and
// logging like it, so the Docker engine's log parsing (the "inference compute" line) works on it.
// Only node: built-ins, transitively: the image has Node and nothing else.
//
// Environment: OLLAMA_HOST ("0.0.0.0:11434"; default 127.0.0.1:11434), OLLAMA_ORIGINS,
// OLLAMA_MODELS (a model store on disk; unlike Ollama, none when unset, so a test never touches
// the real ~/.ollama), OLLAMA_CONTEXT_LENGTH (the default num_ctx), SIM_MODELS (comma list,
// installed at start), SIM_GPU=1 (models report `size_vram` and the log says library=CUDA),
// SIM_TOKEN_DELAY_MS, SIM_EXIT_AFTER_TOKENS, SIM_FAIL_AFTER_TOKENS, SIM_FIRST_BYTE_DELAY_MS,
// SIM_PULL_BYTES_PER_SECOND. Like Ollama, it prints the OLLAMA_* settings in its first line.

import { freemem, totalmem } from 'node:os'
import { SIMULATED_VERSION, type SimulatorOptions, startSimulator } from './index.js'

/** OLLAMA_HOST as envconfig.Host() reads it: scheme-less hosts get 11434, http:// gets 80. */
function parseOllamaHost(value: string | undefined): { host: string; port: number } {
  let rest = (value ?? '').trim().replace(/^["']|["']$/g, '')
  let defaultPort = 11434
  const scheme = /^(https?):\/\//.exec(rest)
  if (scheme) {
    defaultPort = scheme[1] === 'https' ? 443 : 80
    rest = rest.slice(scheme[0].length)
  }
  rest = rest.replace(/\/.*$/, '')
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest)
  if (bracketed) return { host: bracketed[1] ?? '::', port: Number(bracketed[2] ?? defaultPort) }
  const [host = '', port] = rest.split(':')
  return { host: host || '127.0.0.1', port: port ? Number(port) : defaultPort }
}

function intEnv(name: string): number | undefined {
  const raw = process.env[name]
  if (raw === undefined || raw.trim() === '') return undefined
  const value = Number(raw)
  if (!Number.isFinite(value) || value < 0) {
    process.stderr.write(
      `Error: ${name}=${raw} is not a non-negative number; unset it or fix it.\n`,
    )
    process.exit(1)
  }
  return value
}

function slog(msg: string, attrs = ''): void {
  process.stderr.write(
    `time=${new Date().toISOString()} level=INFO source=simulator msg=${JSON.stringify(msg)}${attrs ? ` ${attrs}` : ''}\n`,
  )
}

function gib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(1)} GiB`
}

async function main(): Promise<void> {
  const { host, port } = parseOllamaHost(process.env.OLLAMA_HOST)
  const models = (process.env.SIM_MODELS ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean)
  const origins = (process.env.OLLAMA_ORIGINS ?? '').split(',').filter(Boolean)
  const gpu = process.env.SIM_GPU === '1'
  const options: SimulatorOptions = {
    host,
    port,
    models,
    origins,
    gpu,
    logger: (line) => process.stderr.write(`${line}\n`),
  }
  if (process.env.OLLAMA_MODELS) options.modelStore = process.env.OLLAMA_MODELS
  const settings: Array<[keyof SimulatorOptions, string]> = [
    ['tokenDelayMs', 'SIM_TOKEN_DELAY_MS'],
    ['exitAfterTokens', 'SIM_EXIT_AFTER_TOKENS'],
    ['failAfterTokens', 'SIM_FAIL_AFTER_TOKENS'],
    ['firstByteDelayMs', 'SIM_FIRST_BYTE_DELAY_MS'],
    ['pullBytesPerSecond', 'SIM_PULL_BYTES_PER_SECOND'],
    ['contextLength', 'OLLAMA_CONTEXT_LENGTH'],
  ]
  for (const [key, env] of settings) {
    const value = intEnv(env)
    if (value !== undefined) (options as Record<string, unknown>)[key] = value
  }
  // Ollama prints every setting in its first line; these are the ones the plugin sets.
  const context = process.env.OLLAMA_CONTEXT_LENGTH ?? '0'
  const parallel = process.env.OLLAMA_NUM_PARALLEL ?? '1'
  slog(
    'server config',
    `env="map[OLLAMA_CONTEXT_LENGTH:${context} OLLAMA_HOST:http://${host}:${port} OLLAMA_MODELS:${options.modelStore ?? ''} OLLAMA_NUM_PARALLEL:${parallel} OLLAMA_ORIGINS:[${origins.join(' ')}] SIM_MODELS:${models.join(',')}]"`,
  )
  const sim = await startSimulator(options)
  const shown = host === '0.0.0.0' ? '[::]' : host
  slog(`Listening on ${shown}:${sim.port} (version ${SIMULATED_VERSION})`)
  slog(
    'inference compute',
    gpu
      ? `id=GPU-00000000 library=CUDA compute=8.9 name=CUDA0 description="Simulated GPU" libdirs=ollama,cuda_v12 driver=12.4 pci_id=0000:01:00.0 type=discrete total="24.0 GiB" available="23.5 GiB"`
      : `id=cpu library=cpu compute="" name=cpu description=cpu libdirs=ollama driver="" pci_id="" type="" total="${gib(totalmem())}" available="${gib(freemem())}"`,
  )
  slog('simulator ready', `models=${JSON.stringify(models.join(','))}`)

  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    slog('shutting down', `signal=${signal}`)
    void sim.close().then(() => process.exit(0))
    // Streams in flight are cut by close(); never hang a `docker stop`.
    setTimeout(() => process.exit(0), 2000).unref()
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

main().catch((error: unknown) => {
  process.stderr.write(`Error: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
})
