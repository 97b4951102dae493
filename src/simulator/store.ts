// A model store on disk, laid out as Ollama's `OLLAMA_MODELS` (docs/decisions.md, "Model names";
// "The host's model store"): `manifests/<host>/<namespace>/<model>/<tag>` and `blobs/`. The
// simulator lists the models whose manifests it finds there, writes a manifest when a pull
// completes and removes it on delete, as Ollama does, so a store mounted from the host behaves the
// same in tests. Blobs are not written: a simulated model has no weights. Node built-ins only (the
// simulator's container image runs this).

import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { displayName, parseModelName } from '../models/name.js'
import type { CatalogModel } from './catalog.js'

const MANIFEST_TYPE = 'application/vnd.docker.distribution.manifest.v2+json'
const CONFIG_TYPE = 'application/vnd.docker.container.image.v1+json'

export interface ModelStore {
  /** The folder, as `OLLAMA_MODELS` names it. */
  readonly dir: string
  /** Display names of the models whose manifests are there. */
  models(): string[]
  /** Writes the model's manifest, as the end of a pull does ("writing manifest"). */
  save(model: CatalogModel): void
  /** Removes the model's manifest, as `DELETE /api/delete` does. */
  remove(name: string): void
}

/** Opens (and, like Ollama at start, creates) the store's `blobs/` and `manifests/` folders. */
export function openModelStore(dir: string): ModelStore {
  const manifests = path.join(dir, 'manifests')
  mkdirSync(path.join(dir, 'blobs'), { recursive: true })
  mkdirSync(manifests, { recursive: true })

  function fileOf(name: string): string | undefined {
    const parsed = parseModelName(name)
    if (!parsed) return undefined
    return path.join(manifests, parsed.host, parsed.namespace, parsed.model, parsed.tag)
  }

  return {
    dir,
    models() {
      const found: string[] = []
      for (const file of walk(manifests)) {
        const [host, namespace, model, tag] = path.relative(manifests, file).split(path.sep)
        if (!host || !namespace || !model || !tag) continue
        found.push(displayName({ host, namespace, model, tag }))
      }
      return found.sort()
    },
    save(model) {
      const file = fileOf(model.name)
      if (!file) return
      mkdirSync(path.dirname(file), { recursive: true })
      writeFileSync(file, JSON.stringify(manifestOf(model)))
    },
    remove(name) {
      const file = fileOf(name)
      if (file) rmSync(file, { force: true })
    },
  }
}

/** The config layer is the catalog's last; the rest are the model's own. */
function manifestOf(model: CatalogModel): object {
  const config = model.layers.find((l) => l.mediaType === CONFIG_TYPE)
  return {
    schemaVersion: 2,
    mediaType: MANIFEST_TYPE,
    config: config ?? { mediaType: CONFIG_TYPE, digest: `sha256:${model.digest}`, size: 0 },
    layers: model.layers.filter((l) => l !== config),
  }
}

/** Every file under `dir`, at any depth; a folder that cannot be read is skipped. */
function walk(dir: string): string[] {
  let entries: string[]
  try {
    entries = readdirSync(dir)
  } catch {
    return []
  }
  const files: string[] = []
  for (const entry of entries) {
    const full = path.join(dir, entry)
    try {
      if (statSync(full).isDirectory()) files.push(...walk(full))
      else files.push(full)
    } catch {
      // gone meanwhile
    }
  }
  return files
}
