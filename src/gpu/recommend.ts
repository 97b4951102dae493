import { formatBytes } from '../format.js'
import type { Accelerator } from '../protocol.js'
import { type CatalogModel, findModel, MODEL_CATALOG, type ModelKind } from './catalog.js'

export type { CatalogModel, ModelKind } from './catalog.js'
export { findModel, MODEL_CATALOG, normalizeModelName } from './catalog.js'

/**
 * Runtime memory ≈ download × 1.2 (KV cache, graph) + 0.5 GB (Ollama's per-GPU reserve:
 * docs/decisions.md, "Ollama keeps memory back on each GPU").
 */
export function memoryNeeded(sizeBytes: number): number {
  return Math.ceil(sizeBytes * 1.2 + 0.5e9)
}

/** Download size in bytes of a model the catalog knows (`llama3.2` → 2019393189). */
export function modelSize(model: string): number | undefined {
  return findModel(model)?.sizeBytes
}

export interface ModelRecommendation {
  name: string
  parameters: string
  kind: ModelKind
  sizeBytes: number
  /** Memory it takes once loaded, by `memoryNeeded`. */
  needBytes: number
  /** One line: what it is and how it fits. */
  reason: string
}

export interface RecommendOptions {
  /** On `cpu` only models up to about 4B parameters are offered: bigger ones answer too slowly. */
  accelerator?: Accelerator
  /** Keep only these kinds. */
  kinds?: ModelKind[]
  limit?: number
}

// On a laptop CPU a 7-8B model gives a few tokens a second and a chat UI feels broken; up to
// about 4B parameters (3.5 GB downloads) it stays usable.
const CPU_MAX_DOWNLOAD = 3.5e9

function where(accelerator: Accelerator | undefined): string {
  return accelerator === 'cpu' ? 'of RAM for models' : 'on the GPU'
}

/**
 * Models that fit `budgetBytes` (see `GpuReport.budgetBytes`), best first, each with a reason.
 * Never returns one that does not fit; embedding models come after the chat models.
 */
export function recommendModels(
  budgetBytes: number,
  options: RecommendOptions = {},
): ModelRecommendation[] {
  const { accelerator, kinds, limit } = options
  const fitting = MODEL_CATALOG.filter((model) => {
    if (memoryNeeded(model.sizeBytes) > budgetBytes) return false
    if (kinds && !kinds.includes(model.kind)) return false
    if (accelerator === 'cpu' && model.sizeBytes > CPU_MAX_DOWNLOAD) return false
    return true
  })
  const score = (model: CatalogModel) => (model.kind === 'embedding' ? -1000 : 0) + model.rank
  fitting.sort((a, b) => score(b) - score(a) || a.sizeBytes - b.sizeBytes)
  const picked = limit === undefined ? fitting : fitting.slice(0, limit)
  return picked.map((model) => {
    const needBytes = memoryNeeded(model.sizeBytes)
    return {
      name: model.name,
      parameters: model.parameters,
      kind: model.kind,
      sizeBytes: model.sizeBytes,
      needBytes,
      reason: `${model.about}; needs about ${formatBytes(needBytes)} of the ${formatBytes(budgetBytes)} ${where(accelerator)}`,
    }
  })
}

export interface ModelFit {
  model: string
  /** `partial`: part of it runs on the CPU; `too-large`: more than the RAM set aside (CPU only). */
  status: 'fits' | 'partial' | 'too-large' | 'unknown'
  sizeBytes?: number
  needBytes?: number
  message: string
}

/** Whether a model the app asks for fits the budget, in words a developer can act on. */
export function checkModelFit(
  model: string,
  budgetBytes: number,
  options: { accelerator?: Accelerator } = {},
): ModelFit {
  const known = findModel(model)
  if (!known) {
    return {
      model,
      status: 'unknown',
      message: `${model}: size unknown to vite-plugin-ollama; see its page on ollama.com/library`,
    }
  }
  const needBytes = memoryNeeded(known.sizeBytes)
  // Both in the one unit of formatBytes: they meet in one sentence.
  const need = formatBytes(needBytes)
  const have = formatBytes(budgetBytes)
  const base = { model, sizeBytes: known.sizeBytes, needBytes }
  const cpu = options.accelerator === 'cpu'
  if (needBytes <= budgetBytes) {
    const place = cpu ? `${have} of RAM set aside, on the CPU` : `${have} on the GPU`
    const slow =
      cpu && known.sizeBytes > CPU_MAX_DOWNLOAD ? '; expect slow answers at this size' : ''
    return {
      ...base,
      status: 'fits',
      message: `${model} fits: needs about ${need} of ${place}${slow}`,
    }
  }
  if (cpu) {
    return {
      ...base,
      status: 'too-large',
      message: `${model} needs about ${need}; about ${have} of RAM is free for models: it may swap or fail to load, pick a smaller model`,
    }
  }
  return {
    ...base,
    status: 'partial',
    message: `${model} needs about ${need}; your GPU has ${have}: it will run partly on the CPU, much slower`,
  }
}
