import type { IncomingMessage, ServerResponse } from 'node:http'
import { debuglog } from 'node:util'
import { z } from 'zod'
import { modelNameSchema } from '../options.js'
import { toProblem } from '../problem.js'
import type { PullProgressEvent, PullSseEvents } from '../protocol.js'
import { parsePayload, readJsonBody } from './body.js'
import { requireUpstream } from './chat.js'
import type { RouteContext } from './context.js'
import { openSse } from './sse.js'

const debug = debuglog('vite-plugin-ollama')

const pullPayloadSchema = z.object({ model: modelNameSchema })

/** `POST /pull`: `{ model }` → SSE `progress` / `done` / `error`. */
export async function ollamaPullMiddleware(
  ctx: RouteContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const body = parsePayload(pullPayloadSchema, await readJsonBody(req, ctx.options()))
  return streamPullAsSse(ctx, req, res, body.model)
}

/** `POST /pull` as SSE: `progress` (PullProgressEvent) while it runs, then `done` or `error`. */
async function streamPullAsSse(
  ctx: RouteContext,
  req: IncomingMessage,
  res: ServerResponse,
  model: string,
): Promise<void> {
  requireUpstream(ctx)
  const sse = openSse<PullSseEvents>(req, res)
  try {
    let last: PullProgressEvent | undefined
    for await (const progress of ctx.pull(model, sse.signal)) {
      last = progress
      sse.send('progress', JSON.stringify(progress satisfies PullSseEvents['progress']))
      const wait = sse.backpressure()
      if (wait) await wait
    }
    sse.signal.throwIfAborted()
    const done: PullSseEvents['done'] = { model, status: 'success', progress: last ?? null }
    sse.send('done', JSON.stringify(done))
  } catch (err) {
    if (sse.signal.aborted) {
      debug('pull: client went away, pull of %s abandoned', model)
      return
    }
    sse.send('error', JSON.stringify(toProblem(err) satisfies PullSseEvents['error']))
  }
  sse.end()
}
