import type { EngineInfo } from '../protocol.js'
import { createEngineEventHub } from './events.js'
import type { Engine } from './types.js'

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
