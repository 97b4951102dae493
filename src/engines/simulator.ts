import { probeOllama } from '../ollama/probe.js'
import type { EngineInfo } from '../protocol.js'
import type { SimulatorOptions } from '../simulator/index.js'
import { createEngineEventHub } from './events.js'
import type { Driver, Engine } from './types.js'

/**
 * The project's Ollama simulator as an engine: in-process, on a free loopback port, no GPU and
 * no real model. `info.simulated` is true so the overlay and the terminal say so.
 */
export async function startSimulatorEngine(
  opts: { reason: string; simulator?: SimulatorOptions } = { reason: 'engine is "simulator"' },
): Promise<Engine> {
  // Loaded here, not with the driver: the resolver loads every driver to ask for claims, and the
  // simulator server is 17 modules that only this start needs.
  const { startSimulator } = await import('../simulator/index.js')
  const sim = await startSimulator({ host: '127.0.0.1', port: 0, ...opts.simulator })
  const hub = createEngineEventHub()
  const info: EngineInfo = {
    kind: 'simulator',
    url: sim.url.replace(/\/+$/, ''),
    version: await simulatorVersion(sim.url),
    simulated: true,
    reason: opts.reason,
    pid: process.pid,
  }
  let stopped = false
  async function stop(): Promise<void> {
    if (stopped) return
    stopped = true
    await sim.close()
  }
  return { info, owned: true, onEvent: hub.onEvent, stop, discard: stop }
}

/** The simulator answers /api/version like Ollama; ask rather than hard-code its version. */
async function simulatorVersion(url: string): Promise<string | undefined> {
  const probe = await probeOllama(url)
  return probe.kind === 'ollama' ? probe.version : undefined
}

/** The built-in simulator: always available, chosen by name or as `auto`'s fallback. */
export const driver: Driver = {
  label: 'Simulator',
  async probe({ options }) {
    const reason =
      options.engine === 'simulator'
        ? 'engine is "simulator": the built-in Ollama simulator (no real model)'
        : "fallback: 'simulator': no way to run Ollama was found, so the built-in simulator answers"
    const { tokenDelayMs, pullBytesPerSecond, installed } = options.simulator
    return {
      ok: true,
      reason,
      start: () =>
        startSimulatorEngine({
          reason,
          simulator: {
            tokenDelayMs,
            pullBytesPerSecond,
            models: installed,
            contextLength: options.numCtx,
          },
        }),
    }
  },
  describe: (info) =>
    `simulator${info.version ? ` ${info.version}` : ''} at ${info.url}: simulated answers, no real model`,
  modelStore: () => 'none: the simulator keeps its models in memory, nothing is downloaded',
}
