import type { EngineInfo } from '../protocol.js'
import { DmrClient } from './dmr/client.js'
import { createEngineEventHub } from './events.js'
import type { Driver, Engine } from './types.js'

// Docker Model Runner (DMR) as an engine: it ships with Docker Desktop and Docker Engine, runs
// models on the host's GPU (Metal on macOS, where the Ollama container has none) and listens on
// `dmr.url` with an API of its own. The plugin never starts or stops it; it finds it by its
// `GET /` banner (never by `/api/version`, which DMR answers as an Ollama 0.1.0) and talks to it
// through DmrClient, which answers the plugin's Ollama calls with DMR's routes
// (docs/decisions.md, "Docker Model Runner is not an Ollama").

/** How to get DMR listening where the plugin looks, for the step's hint. */
const ENABLE_HINT =
  'Enable Docker Model Runner with host-side TCP: Docker Desktop → Settings → AI, or `docker desktop enable model-runner --tcp 12434`; on Docker Engine, install docker-model-plugin and run `docker model install-runner`. Or set dmr.url in vite.config.ts to where it listens.'

/** The running DMR at `url`, used as it is: stop() never touches it. */
export function createDmrEngine(url: string, version: string | undefined, reason: string): Engine {
  const hub = createEngineEventHub()
  const info: EngineInfo = { kind: 'dmr', url, simulated: false, reason }
  if (version) info.version = version
  return {
    info,
    owned: false,
    onEvent: hub.onEvent,
    async stop() {
      // Docker runs it, not the plugin.
    },
    createClient: (options) => new DmrClient(url, options),
  }
}

export const driver: Driver = {
  label: 'Model Runner',
  async probe(world) {
    const url = world.options.dmr.url
    const probe = await world.probe(url)
    if (probe.kind !== 'dmr') {
      const reason =
        probe.kind === 'ollama'
          ? `an Ollama answers at ${url} (dmr.url), not Docker Model Runner`
          : probe.kind === 'absent'
            ? `Docker Model Runner does not answer at ${url}`
            : `${probe.reason}, not Docker Model Runner`
      return { ok: false, reason, hint: ENABLE_HINT }
    }
    const found = `Docker Model Runner${probe.version ? ` ${probe.version}` : ''} answers at ${url}`
    // Named, it needs no reason in the terminal's engine line (the orchestrator leaves
    // "engine is" out); chosen by `auto`, the reason says what it found.
    const reason = world.options.engine === 'dmr' ? `engine is "dmr": ${found}` : found
    return { ok: true, reason, start: async () => createDmrEngine(url, probe.version, reason) }
  },
  describe: (info) =>
    `Docker Model Runner${info.version ? ` ${info.version}` : ''} at ${info.url} (chat through its OpenAI-compatible API)`,
}
