// POST /api/create, the JSON form (docs/simulator.md, "Create, blobs and push"): a new model from
// an installed one (`from`, the cheap way to bake a system prompt or `num_ctx` into a name that
// /v1 clients can use) or from uploaded GGUF blobs (`files`). It streams the statuses Ollama's
// server/create.go writes, installs the model (listed by /api/tags, usable by every chat route)
// and carries its system prompt, template and parameters into later requests.

import { createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { displayName, parseModelName } from '../models/name.js'
import type { BlobStore } from './blobs.js'
import {
  type CatalogModel,
  defaultSpec,
  type Layer,
  type Modelfile,
  manifestDigest,
} from './catalog.js'
import { beginStream, type SimContext } from './context.js'
import { expectType, goStringify, HttpError, type JsonObject } from './http.js'
import { type ProgressStream, progressStream, shortDigest } from './progress.js'
import type { InstalledModel } from './registry.js'

const MEDIA = 'application/vnd.ollama.image.'
const CONFIG_TYPE = 'application/vnd.docker.container.image.v1+json'
/** Quantizing needs unquantized weights (create.go createModel). */
const QUANTIZABLE = ['F16', 'BF16', 'F32']
/** Where Ollama's blobs live in its image, for the error texts that name a path. */
const BLOBS_DIR = '/root/.ollama/models/blobs'

/** A create that failed inside its stream: `status` 400 where Ollama tags the error a bad request. */
class CreateError extends Error {
  constructor(
    message: string,
    readonly status = 500,
  ) {
    super(message)
  }
}

/** Handles POST /api/create once the body is parsed. */
export async function handleCreate(
  ctx: SimContext,
  blobs: BlobStore,
  req: IncomingMessage,
  res: ServerResponse,
  body: JsonObject,
): Promise<void> {
  for (const field of ['model', 'name', 'from', 'system', 'template', 'quantize']) {
    expectType(body, field, 'string', 'CreateRequest', 'string')
  }
  expectType(body, 'stream', 'bool', 'CreateRequest', 'bool')
  expectType(body, 'files', 'object', 'CreateRequest', 'map[string]string')
  expectType(body, 'parameters', 'object', 'CreateRequest', 'map[string]interface {}')
  expectType(body, 'messages', 'array', 'CreateRequest', '[]api.Message')
  checkFiles(body.files)
  checkFiles(body.draft_files)
  if (body.draft_quantize && !body.draft_files) {
    throw new HttpError(400, '--draft-quantize requires a DRAFT model')
  }
  const name = parseModelName(((body.model || body.name) as string | undefined) ?? '')
  if (!name) throw new HttpError(400, 'invalid model name')
  const target = displayName(name)

  const stream = beginStream(ctx, req, res, '/api/create', target)
  const out = progressStream(res, body.stream !== false)
  try {
    const base = await baseLayers(ctx, blobs, body, out)
    const model = buildCreated(blobs, target, base, body, out)
    out.send({ status: 'writing manifest' })
    const installed = ctx.registry.add(model)
    ctx.store?.save(installed)
    out.send({ status: 'success' })
    stream.complete()
    out.finish()
  } catch (error) {
    stream.complete()
    if (error instanceof CreateError) out.fail(error.message, error.status)
    else throw error
  }
}

/** `files` keys must be relative paths and every digest non-empty (checked before streaming). */
function checkFiles(files: unknown): void {
  if (!files || typeof files !== 'object') return
  for (const [path, digest] of Object.entries(files as JsonObject)) {
    if (!validPath(path)) throw new HttpError(400, 'file path must be relative')
    if (digest === '' || digest === null) throw new HttpError(400, 'invalid digest format')
  }
}

/** Go's fs.ValidPath: unrooted, slash-separated, no empty, `.` or `..` element. */
function validPath(path: string): boolean {
  if (path === '.') return true
  return path.split('/').every((part) => part !== '' && part !== '.' && part !== '..')
}

interface Base {
  /** The layers the new model starts from, config excluded. */
  layers: Layer[]
  /** What the base model carries (its spec, and its own created settings). */
  source: Partial<Pick<CatalogModel, 'spec' | 'modelfile'>>
}

async function baseLayers(
  ctx: SimContext,
  blobs: BlobStore,
  body: JsonObject,
  out: ProgressStream,
): Promise<Base> {
  if (typeof body.from === 'string' && body.from !== '') {
    if (!parseModelName(body.from)) throw new CreateError('invalid model name', 400)
    const from = ctx.registry.find(body.from) ?? pullForCreate(ctx, body.from, out)
    return { layers: from.layers.filter((l) => l.mediaType !== CONFIG_TYPE), source: from }
  }
  if (body.files && typeof body.files === 'object') {
    return { layers: ggufLayers(blobs, body.files as Record<string, string>, out), source: {} }
  }
  throw new CreateError("neither 'from' or 'files' was specified", 400)
}

/**
 * A `from` model that is not installed is pulled first (create.go parseFromModel), its pull
 * statuses in the same stream. The simulator's registry hands it over at once.
 */
function pullForCreate(ctx: SimContext, from: string, out: ProgressStream): InstalledModel {
  const name = parseModelName(from)
  out.send({ status: 'pulling manifest' })
  const manifest = name ? ctx.registry.manifest(displayName(name)) : undefined
  if (!name || !manifest) throw new CreateError('pull model manifest: file does not exist')
  for (const layer of manifest.layers) {
    const line = { digest: layer.digest, total: layer.size, completed: layer.size }
    out.send({ status: `pulling ${shortDigest(layer.digest)}`, ...line })
  }
  out.send({ status: 'verifying sha256 digest' })
  out.send({ status: 'writing manifest' })
  const installed = ctx.registry.install(displayName(name))
  ctx.store?.save(installed)
  return installed
}

/**
 * `files`: GGUF blobs uploaded with POST /api/blobs. A name ending in `.gguf` is GGUF; any other
 * is sniffed by its magic. A simulated GGUF has no metadata to read, so the model is a small Llama.
 */
function ggufLayers(blobs: BlobStore, files: Record<string, string>, out: ProgressStream): Layer[] {
  const paths = Object.keys(files).sort()
  if (paths.some((path) => path.endsWith('.safetensors'))) {
    throw new CreateError(
      'the simulator converts no safetensors: upload a GGUF file and name it in files',
    )
  }
  const gguf = paths.some(
    (path) => path.endsWith('.gguf') || blobs.get(files[path] ?? '')?.gguf === true,
  )
  if (!gguf) throw new CreateError('unknown type', 400)
  if (paths.length === 0) throw new CreateError('no files provided to convert', 400)
  const layers: Layer[] = []
  for (const path of paths) {
    const digest = files[path] ?? ''
    out.send({ status: 'parsing GGUF' })
    const blob = blobs.get(digest)
    if (!blob && !blobs.has(digest)) {
      throw new CreateError(
        `open ${BLOBS_DIR}/${digest.replace(':', '-')}: no such file or directory`,
      )
    }
    if (blob && !blob.gguf) throw new CreateError('supplied file was not in GGUF format', 400)
    layers.push({ mediaType: `${MEDIA}model`, digest, size: blob?.size ?? 0 })
  }
  return layers
}

/**
 * The new model's layers: the base's, with each setting the request gives replacing the base's
 * layer of that kind (`setTemplate`, `setSystem`, `setParameters` merging the base's parameters,
 * `setMessages`), their statuses, then the config layer.
 */
function buildCreated(
  blobs: BlobStore,
  target: string,
  base: Base,
  body: JsonObject,
  out: ProgressStream,
): CatalogModel {
  const spec = base.source.spec ?? defaultSpec()
  const quantize = typeof body.quantize === 'string' ? body.quantize.toUpperCase() : ''
  if (quantize !== '' && quantize !== spec.quantization) {
    if (!QUANTIZABLE.includes(spec.quantization)) {
      throw new CreateError('quantization is only supported for F16, BF16 and F32 models')
    }
  }
  const inherited: Modelfile = base.source.modelfile ?? {}
  const modelfile: Modelfile = { ...inherited }
  let layers = [...base.layers]
  const added: Layer[] = []
  const put = (kind: string, content: string) => {
    layers = layers.filter((l) => l.mediaType !== `${MEDIA}${kind}`)
    added.push(textLayer(kind, content))
  }
  if (typeof body.template === 'string' && body.template !== '') {
    modelfile.template = body.template
    put('template', body.template)
  }
  if (typeof body.system === 'string' && body.system !== '') {
    modelfile.system = body.system
    put('system', body.system)
  }
  for (const license of licenses(body.license)) {
    modelfile.license = [...(modelfile.license ?? []), license]
    added.push(textLayer('license', license))
  }
  const parameters = { ...inherited.parameters, ...(body.parameters as JsonObject | undefined) }
  if (Object.keys(parameters).length > 0) {
    modelfile.parameters = parameters
    put('params', `${goStringify(sortKeys(parameters))}\n`)
  }
  if (Array.isArray(body.messages) && body.messages.length > 0) {
    modelfile.messages = body.messages
    put('messages', `${goStringify(body.messages)}\n`)
  }
  // Each layer's status comes once the list is final (createModel), so a replaced base layer has none.
  for (const layer of layers) out.send({ status: `using existing layer ${layer.digest}` })
  for (const layer of added) {
    const seen = blobs.has(layer.digest)
    out.send({ status: `${seen ? 'using existing' : 'creating new'} layer ${layer.digest}` })
  }
  layers.push(...added)
  const config = textLayer('config', goStringify({ model_format: 'gguf', layers }))
  const all = [...layers, { ...config, mediaType: CONFIG_TYPE }]
  const model: CatalogModel = {
    name: target,
    spec: quantize && quantize !== spec.quantization ? { ...spec, quantization: quantize } : spec,
    layers: all,
    size: all.reduce((sum, l) => sum + l.size, 0),
    digest: manifestDigest(all),
  }
  if (Object.keys(modelfile).length > 0) model.modelfile = modelfile
  return model
}

function licenses(value: unknown): string[] {
  if (typeof value === 'string') return value === '' ? [] : [value]
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string')
  return []
}

/** A layer holding `content`, digested as Ollama's manifest.NewLayer does. */
function textLayer(kind: string, content: string): Layer {
  const bytes = Buffer.from(content)
  const hex = createHash('sha256').update(bytes).digest('hex')
  return { mediaType: `${MEDIA}${kind}`, digest: `sha256:${hex}`, size: bytes.length }
}

/** Go's encoding/json writes map keys sorted. */
function sortKeys(map: JsonObject): JsonObject {
  return Object.fromEntries(Object.entries(map).sort(([a], [b]) => (a < b ? -1 : 1)))
}
