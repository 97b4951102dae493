import type { EngineInfo } from '../protocol.js'
import { createEngineEventHub } from './events.js'
import type { Availability, Driver, Engine } from './types.js'

/**
 * An Ollama someone else runs (a native app, another container, a teammate's server). We only
 * talk to it: stop() never touches it.
 */
export function createExternalEngine(url: string, version: string, reason: string): Engine {
  const hub = createEngineEventHub()
  const info: EngineInfo = { kind: 'external', url, version, simulated: false, reason }
  return {
    info,
    owned: false,
    onEvent: hub.onEvent,
    async stop() {
      // Not ours to stop.
    },
  }
}

/** An Ollama found answering at `url`, to be used as it is (the resolver decides when). */
export function adoptExternal(url: string, version: string, reason: string): Availability {
  return { ok: true, reason, start: async () => createExternalEngine(url, version, reason) }
}

/** The Ollama at `url`. The resolver adopts it when it answers; this says why it does not. */
export const driver: Driver = {
  // An adopted Ollama is one the plugin found running.
  label: 'Adopted',
  servesAt: (options) => ({ url: options.url, where: `at ${options.url}` }),
  async probe(world) {
    const { url } = world.options
    const probe = await world.probe(url)
    if (probe.kind === 'dmr') {
      // Its partial Ollama API would pass for Ollama 0.1.0; the dmr engine is the way to use it.
      return {
        ok: false,
        reason: probe.reason,
        hint: `Set engine: 'dmr' and dmr.url: '${url}' in vite.config.ts to use it, or point url at an Ollama.`,
      }
    }
    return { ok: false, reason: probe.kind === 'ollama' ? 'adopted' : probe.reason }
  },
  describe: (info) =>
    `Ollama${info.version ? ` ${info.version}` : ''} already running at ${info.url}`,
  modelStore: (options) => `the Ollama at ${options.url} keeps its own models`,
}
