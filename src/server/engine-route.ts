import type { IncomingMessage, ServerResponse } from 'node:http'
import { ProblemError } from '../problem.js'
import { sendJson } from './body.js'
import type { RouteContext } from './context.js'

/**
 * `POST /engine/restart`: makes the engine the plugin started afresh, the GPU watchdog's action
 * (docs/decisions.md, "The GPU watchdog"), and answers `{ engine }` once it is back. A management
 * route: peers on other machines get a 403 before this runs (network.ts), pages of other origins
 * too (guards.ts). Any body is ignored.
 */
export async function ollamaEngineRestartMiddleware(
  ctx: RouteContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  req.resume()
  if (!ctx.restartEngine) {
    throw new ProblemError({
      status: 501,
      message: 'This server cannot restart the engine',
      hint: 'Restart the dev server instead.',
    })
  }
  const engine = await ctx.restartEngine()
  sendJson(res, 200, { engine })
}
