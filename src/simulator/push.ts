// POST /api/push (docs/simulator.md, "Create, blobs and push"). The simulator is its own registry:
// /api/pull fetches from its catalog, so a push uploads into that catalog, after which the model
// can be pulled by name. Ollama's statuses, in server/images.go PushModel's order: "retrieving
// manifest", per layer "pushing <12 hex>" with {digest,total,completed} on a 60 ms ticker (a layer
// the registry holds already gets one complete line), "pushing manifest", "success". The library
// namespace belongs to Ollama, so a push there is refused as registry.ollama.ai refuses it.

import type { IncomingMessage, ServerResponse } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { DEFAULT_HOST, DEFAULT_NAMESPACE, parseModelName } from '../models/name.js'
import type { Layer } from './catalog.js'
import { beginStream, type SimContext } from './context.js'
import { expectType, HttpError, type JsonObject } from './http.js'
import { type ProgressStream, progressStream, shortDigest } from './progress.js'

/** Ollama's upload ticker (server/upload.go blobUpload.Wait). */
const TICK_MS = 60
const MANIFESTS_DIR = '/root/.ollama/models/manifests'

/** Handles POST /api/push once the body is parsed. */
export async function handlePush(
  ctx: SimContext,
  req: IncomingMessage,
  res: ServerResponse,
  body: JsonObject,
): Promise<void> {
  expectType(body, 'model', 'string', 'PushRequest', 'string')
  expectType(body, 'name', 'string', 'PushRequest', 'string')
  expectType(body, 'stream', 'bool', 'PushRequest', 'bool')
  expectType(body, 'insecure', 'bool', 'PushRequest', 'bool')
  const raw = ((body.model || body.name) as string | undefined) ?? ''
  if (raw === '') throw new HttpError(400, 'model is required')
  const name = parseModelName(raw)
  const stream = beginStream(ctx, req, res, '/api/push', raw)
  const out = progressStream(res, body.stream !== false)
  const fail = (message: string) => {
    stream.complete()
    out.fail(message)
  }
  out.send({ status: 'retrieving manifest' })
  if (name?.scheme === 'http' && body.insecure !== true) return fail('insecure protocol http')
  const model = name ? ctx.registry.find(raw) : undefined
  if (!name || !model) {
    out.send({ status: "couldn't retrieve manifest" })
    const path = name ? `${name.host}/${name.namespace}/${name.model}/${name.tag}` : raw
    return fail(`open ${MANIFESTS_DIR}/${path}: no such file or directory`)
  }
  if (name.host === DEFAULT_HOST && name.namespace === DEFAULT_NAMESPACE) {
    // registry.ollama.ai answers 401 twice (makeRequestWithRetry): only Ollama publishes there.
    return fail('unauthorized: access denied')
  }
  for (const layer of model.layers) {
    const held = ctx.registry.publishedBlob(layer.digest)
    const ok = await pushLayer(ctx, layer, held, stream.signal, out)
    if (!ok) return
  }
  out.send({ status: 'pushing manifest' })
  ctx.registry.publish(model)
  out.send({ status: 'success' })
  stream.complete()
  out.finish()
}

/** Streams one layer's upload at `pullBytesPerSecond`; false when the client went away. */
async function pushLayer(
  ctx: SimContext,
  layer: Layer,
  held: boolean,
  signal: AbortSignal,
  out: ProgressStream,
): Promise<boolean> {
  const line = (completed: number) => ({
    status: `pushing ${shortDigest(layer.digest)}`,
    digest: layer.digest,
    total: layer.size,
    ...(completed > 0 ? { completed } : {}),
  })
  if (held) {
    out.send(line(layer.size))
    return true
  }
  const started = performance.now()
  let completed = 0
  while (completed < layer.size) {
    try {
      await sleep(TICK_MS, undefined, { signal })
    } catch {
      return false
    }
    const rate = ctx.config.pullBytesPerSecond
    const elapsed = (performance.now() - started) / 1000
    completed = rate === Number.POSITIVE_INFINITY ? layer.size : Math.floor(rate * elapsed)
    completed = Math.min(layer.size, completed)
    out.send(line(completed))
  }
  return !signal.aborted
}
