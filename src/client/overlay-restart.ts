// The Restart button's request: POST `${base}/engine/restart`, the GPU watchdog's action. The
// server answers once the engine is back; the card itself follows the `ollama:state` events.
import { PullRequestError, problemFromBody } from './overlay-pull.js'

export function restartUrl(base: string): string {
  return `${base.replace(/\/+$/, '')}/engine/restart`
}

/** Resolves once the engine is back; rejects with the server's message and hint otherwise. */
export async function requestEngineRestart(base: string): Promise<void> {
  const response = await fetch(restartUrl(base), { method: 'POST' })
  if (!response.ok) {
    throw new PullRequestError(problemFromBody(await response.text(), response.status))
  }
}
