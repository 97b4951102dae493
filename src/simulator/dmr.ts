// Docker Model Runner, as the simulator plays it (`startSimulator({ flavor: 'dmr' })`): the
// stand-in for DMR in this project's tests (docs/decisions.md, "Docker Model Runner is not an
// Ollama"). Its routes, after model-runner `pkg/routing/router.go` and `pkg/server/server.go`:
// `GET /` says "Docker Model Runner is running", `GET /version`, the model store under `/models`,
// the OpenAI-compatible API under `/engines[/{backend}]/v1` (and `/v1`, its alias), and the partial
// Ollama API (`/api/version` always "0.1.0"; no embed, create, copy, push or blobs: 404). Models
// are filed under DMR's names (`ai/llama3.2:latest`); the catalog is the simulator's own, under
// the `ai/` org. Node built-ins only, like the rest of the simulator.

import type { IncomingMessage, ServerResponse } from 'node:http'
import { handleGeneration } from './chat.js'
import { goTime } from './clock.js'
import type { SimContext } from './context.js'
import { handleDmrApiPull, handleModelsCreate } from './dmr-pull.js'
import { HttpError, type JsonObject, readBody, sendJson, sendText } from './http.js'
import type { RouteTable } from './index.js'
import { handleDelete, handleShow } from './models.js'
import type { BlobDownloads } from './pull.js'
import type { InstalledModel } from './registry.js'

/** DMR's version as `GET /version` reports it. */
export const SIMULATED_DMR_VERSION = '1.0.11'

/** What DMR's Ollama-compatible `/api/version` always says (`pkg/ollama/http_handler.go`). */
const OLLAMA_COMPAT_VERSION = '0.1.0'

/**
 * DMR's `normalizeModelName` (`pkg/distribution/distribution/client.go`): `ai/` for a name with
 * neither registry nor org, `:latest` for a missing tag, `hf.co/` → `huggingface.co/`, the name
 * part lower-cased. `null` when the result is no model reference at all.
 */
export function dmrModelName(raw: string): string | null {
  let model = raw.trim()
  if (model === '') return null
  if (model.startsWith('hf.co/')) model = `huggingface.co/${model.slice(6)}`
  const lastSlash = model.lastIndexOf('/')
  const lastColon = model.lastIndexOf(':')
  let name = model
  let tag = 'latest'
  if (lastColon > lastSlash) {
    name = model.slice(0, lastColon)
    tag = model.slice(lastColon + 1) || 'latest'
  }
  const firstSlash = name.indexOf('/')
  const hasRegistry = firstSlash > 0 && name.slice(0, firstSlash).includes('.')
  if (!hasRegistry && !name.includes('/')) name = `ai/${name}`
  name = name.toLowerCase()
  return OCI_NAME.test(name) && OCI_TAG.test(tag) ? `${name}:${tag}` : null
}

/** An OCI repository (a registry host, with a port, may lead) and tag, as references allow. */
const OCI_NAME = /^[a-z0-9][a-z0-9._-]*(:\d+)?(\/[a-z0-9][a-z0-9._-]*)+$/
const OCI_TAG = /^\w[\w.-]{0,127}$/

/** `/engines/v1/x` and `/engines/llama.cpp/v1/x` are DMR's OpenAI routes; `/v1/x` is their alias. */
export function dmrInferencePath(path: string): string {
  const match = /^\/engines(?:\/[a-z0-9._-]+)?(\/v1\/.*)$/.exec(path)
  return match?.[1] ?? path
}

/** The store's entry for one model (`pkg/inference/models/api.go`, `Model`). */
function storeEntry(model: InstalledModel): JsonObject {
  return {
    id: `sha256:${model.digest}`,
    tags: [model.name],
    created: Number(model.modifiedNs / 1_000_000_000n),
    config: {
      format: 'gguf',
      quantization: model.spec.quantization,
      parameters: model.spec.parameterSize,
      architecture: model.spec.family,
      size: `${(model.size / 1e9).toFixed(2)} GB`,
    },
  }
}

function details(model: InstalledModel): JsonObject {
  return {
    format: 'gguf',
    family: model.spec.family,
    families: [model.spec.family],
    parameter_size: model.spec.parameterSize,
    quantization_level: model.spec.quantization,
  }
}

/** `GET /models/{name}`, the one dynamic route: the model, or 404. */
export function dmrModelRoute(path: string): RouteTable[string] | undefined {
  if (!path.startsWith('/models/')) return undefined
  const name = decodeURIComponent(path.slice('/models/'.length))
  return {
    GET: (ctx, _q, res) => {
      const model = ctx.registry.find(name)
      if (!model) throw new HttpError(404, 'model not found')
      sendJson(res, 200, storeEntry(model))
    },
  }
}

/** The routes DMR serves at fixed paths. */
export function dmrRoutes(downloads: BlobDownloads): RouteTable {
  return {
    '/': { GET: (_c, _q, res) => sendText(res, 200, 'Docker Model Runner is running') },
    '/version': { GET: (ctx, _q, res) => sendJson(res, 200, { version: ctx.version }) },
    '/models': {
      GET: (ctx, _q, res) => sendJson(res, 200, ctx.registry.list().map(storeEntry)),
    },
    '/models/create': {
      POST: (ctx, req, res) => handleModelsCreate(ctx, downloads, req, res),
    },
    '/engines/unload': { POST: (ctx, req, res) => unload(ctx, req, res) },
    '/api/version': {
      GET: (_c, _q, res) => sendJson(res, 200, { version: OLLAMA_COMPAT_VERSION }),
    },
    '/api/tags': { GET: (ctx, _q, res) => tags(ctx, res) },
    '/api/ps': { GET: (ctx, _q, res) => ps(ctx, res) },
    '/api/show': { POST: async (ctx, _q, res, body) => handleShow(ctx, res, await body()) },
    '/api/chat': {
      POST: async (ctx, req, res, body) => handleGeneration(ctx, req, res, 'chat', await body()),
    },
    '/api/generate': { POST: async (ctx, req, res, body) => generate(ctx, req, res, await body()) },
    '/api/pull': { POST: (ctx, req, res) => handleDmrApiPull(ctx, downloads, req, res) },
    '/api/delete': {
      DELETE: async (ctx, _q, res, body) => handleDelete(ctx, res, await body()),
    },
  }
}

/** `GET /api/tags`: one entry per tag, size 0 (DMR does not parse its size string). */
function tags(ctx: SimContext, res: ServerResponse): void {
  const models = ctx.registry.list().map((model) => ({
    name: model.name,
    model: model.name,
    modified_at: goTime(model.modifiedNs, 'local'),
    size: 0,
    digest: `sha256:${model.digest}`,
    details: details(model),
  }))
  sendJson(res, 200, { models })
}

/** `GET /api/ps`: loaded models without sizes; `size_vram` is left out (omitempty). */
function ps(ctx: SimContext, res: ServerResponse): void {
  const models = ctx.registry.running().map((loaded) => ({
    name: loaded.model.name,
    model: loaded.model.name,
    size: 0,
    digest: `sha256:${loaded.model.digest}`,
    expires_at: goTime(loaded.expiresNs, 'local'),
  }))
  sendJson(res, 200, { models })
}

/** `POST /api/generate`: an empty prompt only configures (`{}`), or unloads with keep_alive 0. */
async function generate(
  ctx: SimContext,
  req: IncomingMessage,
  res: ServerResponse,
  body: JsonObject,
): Promise<void> {
  if (typeof body.prompt === 'string' && body.prompt !== '') {
    return handleGeneration(ctx, req, res, 'generate', body)
  }
  const keepAlive = String(body.keep_alive ?? '')
  if (['0', '0s', '0m'].includes(keepAlive)) {
    const model = ctx.registry.find(String(body.model ?? body.name ?? ''))
    if (model) ctx.registry.unload(model)
  }
  sendJson(res, 200, {})
}

/** `POST /engines/unload` `{"models": [...]}`. */
async function unload(ctx: SimContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let body: JsonObject
  try {
    body = JSON.parse(await readBody(req)) as JsonObject
  } catch {
    throw new HttpError(400, 'invalid request')
  }
  let unloaded = 0
  for (const name of Array.isArray(body.models) ? body.models : []) {
    const model = typeof name === 'string' ? ctx.registry.find(name) : undefined
    if (model && ctx.registry.isLoaded(model)) {
      ctx.registry.unload(model)
      unloaded++
    }
  }
  sendJson(res, 200, { unloaded_runners: unloaded })
}
