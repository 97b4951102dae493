import type { IncomingMessage, ServerResponse } from 'node:http'
import { debuglog } from 'node:util'
import { z } from 'zod'
import { normalizeModelName } from '../models/name.js'
import { modelNameSchema } from '../options.js'
import { ProblemError, toProblem } from '../problem.js'
import type { PullCancelResult, PullProgressEvent, PullSseEvents } from '../protocol.js'
import { parsePayload, readJsonBody, sendJson } from './body.js'
import { requireUpstream } from './chat.js'
import type { RouteContext } from './context.js'
import { openSse } from './sse.js'

const debug = debuglog('vite-plugin-ollama')

const pullPayloadSchema = z.object({ model: modelNameSchema })

/**
 * `POST /pull`: `{ model }` → SSE `progress` / `done` / `error`. Pulls of models outside
 * `models` are limited to `limits.pullsPerMinute`: each costs Ollama a registry lookup and the
 * overlay a state change, and a person pulls a handful by hand (docs/decisions.md, "Every store a
 * request can grow has a bound").
 */
export function createPullRoute(): (
  ctx: RouteContext,
  req: IncomingMessage,
  res: ServerResponse,
) => Promise<void> {
  /** When recent one-off pulls started, oldest first; never longer than the limit. */
  const started: number[] = []

  function admit(ctx: RouteContext, model: string): void {
    const { models, limits } = ctx.options()
    const name = normalizeModelName(model)
    if (models.some((m) => normalizeModelName(m) === name)) return
    const now = Date.now()
    while (started.length && (started[0] ?? 0) <= now - 60_000) started.shift()
    if (started.length >= limits.pullsPerMinute) {
      const retry = Math.max(1, Math.ceil(((started[0] ?? now) + 60_000 - now) / 1000))
      throw new ProblemError({
        status: 429,
        message: `Too many pulls of models outside models: at most ${limits.pullsPerMinute} a minute`,
        hint: `Retry in ${retry} s, add the model to models in the ollama() options, or raise limits.pullsPerMinute.`,
        headers: { 'Retry-After': String(retry) },
      })
    }
    started.push(now)
  }

  return async function ollamaPullMiddleware(ctx, req, res) {
    const body = parsePayload(pullPayloadSchema, await readJsonBody(req, ctx.options()))
    admit(ctx, body.model)
    return streamPullAsSse(ctx, req, res, body.model)
  }
}

/**
 * `DELETE /pull?model=NAME`: stops that model's pull, whoever started it (docs/decisions.md, "A
 * pull lasts while someone wants it"), and answers once the model's state and the phase are
 * settled, so a `GET /status` right after shows the model `missing` again.
 */
export function cancelPullRoute(ctx: RouteContext, query: string, res: ServerResponse): void {
  const raw = new URLSearchParams(query).get('model')
  if (raw === null) {
    throw new ProblemError({
      status: 400,
      message: 'No model to cancel: the query has no "model"',
      hint: `Name the model in the query: DELETE ${ctx.base}/pull?model=llama3.2`,
    })
  }
  const parsed = modelNameSchema.safeParse(raw)
  if (!parsed.success) {
    throw new ProblemError({
      status: 400,
      message: `Invalid query: model: ${parsed.error.issues[0]?.message ?? 'not a model name'}`,
    })
  }
  const model = parsed.data
  const cancelled = ctx.cancelPull(model)
  if (!cancelled) {
    throw new ProblemError({
      status: 404,
      message: `No pull of '${model}' is running`,
      hint: `It may have just finished or failed: see GET ${ctx.base}/status.`,
    })
  }
  sendJson(res, 200, cancelled satisfies PullCancelResult)
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
