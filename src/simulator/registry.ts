// The simulator's model store: what is "on disk" (/api/tags), what is "in memory" (/api/ps), the
// pullable catalog, and the blobs downloaded so far (so an interrupted pull resumes).

import { modelKey, normalizeModelName } from '../models/name.js'
import {
  buildModel,
  builtinCatalog,
  type CatalogExtension,
  type CatalogModel,
  defaultSpec,
} from './catalog.js'
import { nowNs } from './clock.js'

export interface InstalledModel extends CatalogModel {
  modifiedNs: bigint
}

export interface LoadedModel {
  model: InstalledModel
  expiresNs: bigint
  keepAliveNs: bigint
  contextLength: number
  /** Runtime footprint: weights plus KV cache and graph, larger than the download. */
  memoryBytes: number
}

/** Default `keep_alive` (OLLAMA_KEEP_ALIVE unset): five minutes. */
export const DEFAULT_KEEP_ALIVE_NS = 300_000_000_000n
/**
 * Default `num_ctx` on a machine with little VRAM, which the simulator pretends to be (Ollama's
 * `OLLAMA_CONTEXT_LENGTH` unset: 4096 below 23 GiB of VRAM).
 */
export const DEFAULT_NUM_CTX = 4096

export class ModelRegistry {
  private readonly catalog: Map<string, CatalogModel>
  private readonly installed = new Map<string, InstalledModel>()
  private readonly loaded = new Map<string, LoadedModel>()
  /** Bytes held per blob digest; equal to the layer size once complete. */
  readonly blobs = new Map<string, number>()

  /** The `num_ctx` a request that sets none gets (OLLAMA_CONTEXT_LENGTH; 0 = Ollama's default). */
  private readonly defaultNumCtx: number

  /**
   * `normalize` spells a requested name the way the store files it: Ollama's rule by default,
   * Docker Model Runner's for that flavor (every catalog model then also under its `ai/` name).
   */
  constructor(
    extension: CatalogExtension = {},
    readonly normalize: (raw: string) => string | null = normalizeModelName,
    defaultNumCtx = 0,
  ) {
    this.defaultNumCtx = defaultNumCtx > 0 ? defaultNumCtx : DEFAULT_NUM_CTX
    this.catalog = builtinCatalog()
    if (normalize !== normalizeModelName) {
      for (const model of [...this.catalog.values()]) {
        const name = normalize(model.name)
        if (name) this.catalog.set(modelKey(name), { ...model, name })
      }
    }
    for (const [raw, entry] of Object.entries(extension)) {
      const name = normalize(raw)
      if (!name) throw new Error(`Simulator catalog entry "${raw}" is not a valid model name.`)
      const { size, ...spec } = entry
      this.catalog.set(modelKey(name), buildModel(name, size, defaultSpec(spec)))
    }
  }

  /** The registry's manifest for a pull, or undefined ("file does not exist"). */
  manifest(display: string): CatalogModel | undefined {
    return this.catalog.get(modelKey(display))
  }

  /** Installs a model as if pulled; unknown names get a small generic Llama. */
  install(display: string): InstalledModel {
    const known = this.manifest(display) ?? buildModel(display, 1_321_098_329, defaultSpec())
    // Installing also makes it pullable again, as with a model a user created and pushed.
    this.catalog.set(modelKey(display), { ...known, name: display })
    const model: InstalledModel = { ...known, name: display, modifiedNs: nowNs() }
    this.installed.set(modelKey(display), model)
    for (const layer of model.layers) this.blobs.set(layer.digest, layer.size)
    return model
  }

  /** Installs a model built here (`/api/create`); the registry's catalog does not learn it. */
  add(model: CatalogModel): InstalledModel {
    const installed: InstalledModel = { ...model, modifiedNs: nowNs() }
    this.installed.set(modelKey(model.name), installed)
    for (const layer of model.layers) this.blobs.set(layer.digest, layer.size)
    return installed
  }

  /** Makes an installed model pullable under its name, as a push to the registry does. */
  publish(model: InstalledModel): void {
    const { modifiedNs: _, ...manifest } = model
    this.catalog.set(modelKey(model.name), manifest)
  }

  /** Whether the registry holds this blob under any model (a push then skips its upload). */
  publishedBlob(digest: string): boolean {
    for (const model of this.catalog.values()) {
      if (model.layers.some((l) => l.digest === digest)) return true
    }
    return false
  }

  /** Looks a model up as a request names it (any spelling, case-insensitive). */
  find(raw: string): InstalledModel | undefined {
    const display = this.normalize(raw)
    return display ? this.installed.get(modelKey(display)) : undefined
  }

  /** Installed models, most recently modified first. */
  list(): InstalledModel[] {
    return [...this.installed.values()].sort((a, b) =>
      a.modifiedNs === b.modifiedNs ? 0 : a.modifiedNs > b.modifiedNs ? -1 : 1,
    )
  }

  remove(model: InstalledModel): void {
    this.installed.delete(modelKey(model.name))
    this.loaded.delete(modelKey(model.name))
  }

  copy(source: InstalledModel, destination: string): InstalledModel {
    const copy: InstalledModel = { ...source, name: destination, modifiedNs: nowNs() }
    this.installed.set(modelKey(destination), copy)
    return copy
  }

  /**
   * Marks a model as loaded for `keepAliveNs` (undefined = keep the runner's current keep-alive,
   * FOREVER_NS = about 292 years, as Go's MaxInt64). Returns whether it was loaded already.
   */
  touch(model: InstalledModel, keepAliveNs: bigint | undefined, numCtx?: number): boolean {
    const key = modelKey(model.name)
    const now = nowNs()
    const existing = this.loaded.get(key)
    const wasLoaded = existing !== undefined && existing.expiresNs > now
    // keep_alive sticks to the loaded runner until a request sets another one.
    const keepAlive = keepAliveNs ?? existing?.keepAliveNs ?? DEFAULT_KEEP_ALIVE_NS
    // Each request runs with its own num_ctx or the default (Ollama reloads a runner whose
    // window differs), never with more context than the model was trained for.
    const contextLength = Math.min(
      numCtx && numCtx > 0 ? numCtx : this.defaultNumCtx,
      model.spec.contextLength,
    )
    const kvBytes = contextLength * model.spec.embeddingLength * 2 * 2 * 4
    this.loaded.set(key, {
      model,
      expiresNs: now + keepAlive,
      keepAliveNs: keepAlive,
      contextLength,
      memoryBytes: model.size + kvBytes + 256 * 1024 * 1024,
    })
    return wasLoaded
  }

  /**
   * The context window a loaded model runs with (`/api/ps` `context_length`): what Ollama cuts a
   * longer prompt down to.
   */
  numCtx(model: InstalledModel): number {
    const entry = this.loaded.get(modelKey(model.name))
    return entry?.contextLength ?? Math.min(this.defaultNumCtx, model.spec.contextLength)
  }

  isLoaded(model: InstalledModel): boolean {
    const entry = this.loaded.get(modelKey(model.name))
    return entry !== undefined && entry.expiresNs > nowNs()
  }

  unload(model: InstalledModel): void {
    this.loaded.delete(modelKey(model.name))
  }

  /** Loaded models that have not expired, latest expiry first (as `/api/ps` sorts). */
  running(): LoadedModel[] {
    const now = nowNs()
    for (const [key, entry] of this.loaded) if (entry.expiresNs <= now) this.loaded.delete(key)
    return [...this.loaded.values()].sort((a, b) =>
      a.expiresNs === b.expiresNs ? 0 : a.expiresNs > b.expiresNs ? -1 : 1,
    )
  }
}
