// The simulated registry: models that `/api/pull` can fetch, with realistic download sizes
// (docs/decisions.md, "Model download sizes") so progress bars, ETAs and disk maths look real.
// Sizes only drive the progress arithmetic; no bytes are ever stored.

import { createHash } from 'node:crypto'

export type Capability = 'completion' | 'tools' | 'insert' | 'vision' | 'embedding' | 'thinking'

export interface ModelSpec {
  family: string
  parameterSize: string
  quantization: string
  capabilities: Capability[]
  contextLength: number
  embeddingLength: number
}

export interface Layer {
  mediaType: string
  digest: string
  size: number
}

/** A model as the registry serves it: its manifest digest, layers (config last) and details. */
export interface CatalogModel {
  /** Display name, always with a tag: `llama3.2:latest`. */
  name: string
  spec: ModelSpec
  layers: Layer[]
  /** Sum of every layer, config included: the `size` of `/api/tags`. */
  size: number
  /** SHA-256 of the manifest, bare hex: the `digest` of `/api/tags`. */
  digest: string
  /** What `/api/create` baked in over the base model (absent for catalog models). */
  modelfile?: Modelfile
}

/** The settings a created model carries in its own layers (`/api/create`'s fields). */
export interface Modelfile {
  system?: string
  template?: string
  /** Default options for every request, e.g. `{ num_ctx: 8192 }`; a request's own win. */
  parameters?: Record<string, unknown>
  messages?: unknown[]
  license?: string[]
}

/** Extra pullable models, by name (see `SimulatorOptions.catalog`). */
export type CatalogExtension = Record<string, { size: number } & Partial<ModelSpec>>

const CHAT: Capability[] = ['completion', 'tools']
const THINK: Capability[] = ['completion', 'tools', 'thinking']
const VISION: Capability[] = ['completion', 'vision']
const EMBED: Capability[] = ['embedding']

// [names (first is canonical, the others are tags of the same manifest), size, family,
//  parameter size, quantization, capabilities, context length, embedding length]
type Row = [string[], number, string, string, string, Capability[], number, number]

const ROWS: Row[] = [
  [['llama3.2:latest', 'llama3.2:3b'], 2019393189, 'llama', '3.2B', 'Q4_K_M', CHAT, 131072, 3072],
  [['llama3.2:1b'], 1321098329, 'llama', '1.2B', 'Q8_0', CHAT, 131072, 2048],
  [['llama3.1:latest', 'llama3.1:8b'], 4920753328, 'llama', '8.0B', 'Q4_K_M', CHAT, 131072, 4096],
  [
    ['llama3.3:latest', 'llama3.3:70b'],
    42520413916,
    'llama',
    '70.6B',
    'Q4_K_M',
    CHAT,
    131072,
    8192,
  ],
  [
    ['llama3.2-vision:latest', 'llama3.2-vision:11b'],
    7901829417,
    'mllama',
    '10.7B',
    'Q4_K_M',
    VISION,
    131072,
    4096,
  ],
  [['qwen2.5:0.5b'], 397821319, 'qwen2', '494.03M', 'Q4_K_M', CHAT, 32768, 896],
  [['qwen2.5:1.5b'], 986061892, 'qwen2', '1.5B', 'Q4_K_M', CHAT, 32768, 1536],
  [['qwen2.5:3b'], 1929912432, 'qwen2', '3.1B', 'Q4_K_M', CHAT, 32768, 2048],
  [['qwen2.5:latest', 'qwen2.5:7b'], 4683087332, 'qwen2', '7.6B', 'Q4_K_M', CHAT, 32768, 3584],
  [['qwen2.5:14b'], 8988124069, 'qwen2', '14.8B', 'Q4_K_M', CHAT, 32768, 5120],
  [['qwen2.5:32b'], 19851349856, 'qwen2', '32.8B', 'Q4_K_M', CHAT, 32768, 5120],
  [
    ['qwen2.5-coder:latest', 'qwen2.5-coder:7b'],
    4683087519,
    'qwen2',
    '7.6B',
    'Q4_K_M',
    CHAT,
    32768,
    3584,
  ],
  [['qwen2.5-coder:1.5b'], 986062089, 'qwen2', '1.5B', 'Q4_K_M', CHAT, 32768, 1536],
  [['qwen3:0.6b'], 522653767, 'qwen3', '751.63M', 'Q4_K_M', THINK, 40960, 1024],
  [['qwen3:1.7b'], 1359293444, 'qwen3', '2.0B', 'Q4_K_M', THINK, 40960, 2048],
  [['qwen3:4b'], 2497293931, 'qwen3', '4.0B', 'Q4_K_M', THINK, 40960, 2560],
  [['qwen3:latest', 'qwen3:8b'], 5225388164, 'qwen3', '8.2B', 'Q4_K_M', THINK, 40960, 4096],
  [
    ['deepseek-r1:latest', 'deepseek-r1:7b'],
    4683075271,
    'qwen2',
    '7.6B',
    'Q4_K_M',
    ['completion', 'thinking'],
    131072,
    3584,
  ],
  [
    ['deepseek-r1:1.5b'],
    1117322599,
    'qwen2',
    '1.8B',
    'Q4_K_M',
    ['completion', 'thinking'],
    131072,
    1536,
  ],
  [['gemma3:1b'], 815319791, 'gemma3', '999.89M', 'Q4_K_M', ['completion'], 32768, 1152],
  [['gemma3:latest', 'gemma3:4b'], 3338801804, 'gemma3', '4.3B', 'Q4_K_M', VISION, 131072, 2560],
  [['gemma3:12b'], 8149190253, 'gemma3', '12.2B', 'Q4_K_M', VISION, 131072, 3840],
  [['gemma3:27b'], 17396936941, 'gemma3', '27.4B', 'Q4_K_M', VISION, 131072, 5376],
  [
    ['gemma4:latest'],
    9608350245,
    'gemma4',
    '8.0B',
    'Q4_K_M',
    ['completion', 'tools', 'vision', 'thinking'],
    131072,
    2560,
  ],
  [['gpt-oss:latest', 'gpt-oss:20b'], 13780173724, 'gptoss', '20.9B', 'MXFP4', THINK, 131072, 2880],
  [['mistral:latest', 'mistral:7b'], 4113301824, 'llama', '7.2B', 'Q4_0', CHAT, 32768, 4096],
  [['phi4:latest', 'phi4:14b'], 9053116391, 'phi3', '14.7B', 'Q4_K_M', ['completion'], 16384, 5120],
  [
    ['phi4-mini:latest', 'phi4-mini:3.8b'],
    2491876774,
    'phi3',
    '3.8B',
    'Q4_K_M',
    CHAT,
    131072,
    3072,
  ],
  [
    ['codellama:latest', 'codellama:7b'],
    3825910662,
    'llama',
    '7B',
    'Q4_0',
    ['completion', 'insert'],
    16384,
    4096,
  ],
  [['llava:latest', 'llava:7b'], 4733363377, 'llama', '7B', 'Q4_0', VISION, 32768, 4096],
  [['moondream:latest', 'moondream:1.8b'], 828548004, 'phi2', '1B', 'Q4_0', VISION, 2048, 2048],
  [
    ['tinyllama:latest', 'tinyllama:1.1b'],
    637700138,
    'llama',
    '1B',
    'Q4_0',
    ['completion'],
    2048,
    2048,
  ],
  [['smollm2:135m'], 270898672, 'llama', '134.52M', 'F16', CHAT, 8192, 576],
  [['smollm2:360m'], 725566512, 'llama', '361.82M', 'F16', CHAT, 8192, 960],
  [['smollm2:latest', 'smollm2:1.7b'], 1820414631, 'llama', '1.7B', 'Q8_0', CHAT, 8192, 2048],
  [
    ['granite3.3:latest', 'granite3.3:8b'],
    4942891086,
    'granite',
    '8.2B',
    'Q4_K_M',
    CHAT,
    131072,
    4096,
  ],
  [
    ['nomic-embed-text:latest', 'nomic-embed-text:v1.5'],
    274302450,
    'nomic-bert',
    '137M',
    'F16',
    EMBED,
    2048,
    768,
  ],
  [['all-minilm:latest', 'all-minilm:22m'], 45960996, 'bert', '23M', 'F16', EMBED, 512, 384],
  [
    ['mxbai-embed-large:latest', 'mxbai-embed-large:335m'],
    669615493,
    'bert',
    '334M',
    'F16',
    EMBED,
    512,
    1024,
  ],
]

// The real llama3.2:latest manifest (docs/decisions.md, "Model download sizes"): its digests appear
// in users' logs and docs.
const LLAMA32_LAYERS: Layer[] = [
  layer('model', 'dde5aa3fc5ffc17176b5e8bdc82f587b24b2678c6c66101bf7da77af9f7ccdff', 2019377376),
  layer('template', '966de95ca8a62200913e3f8bfbf84c8494536f1b94b49166851e76644e966396', 1429),
  layer('license', 'fcc5a6bec9daf9b561a68827b67ab6088e1dba9d1fa2a50d7bbcc8384e0a265d', 7711),
  layer('license', 'a70ff7e570d97baaf4e62ac6e6ad9975e04caa6d900d3742d37698494479e0cd', 6016),
  layer('params', '56bb8bd477a519ffa694fc449c2413c6f0e1d3b1c88fa7e3c9d88d3ae49d4dcb', 96),
  {
    mediaType: 'application/vnd.docker.container.image.v1+json',
    digest: 'sha256:34bb5ab01051a11372a91f95f3fbbc51173eed8e7f13ec395b9ae9b8bd0e242b',
    size: 561,
  },
]
const LLAMA32_DIGEST = 'a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72'

/** The built-in catalog, keyed by lower-case display name (aliases included). */
export function builtinCatalog(): Map<string, CatalogModel> {
  const catalog = new Map<string, CatalogModel>()
  for (const [names, size, family, parameterSize, quantization, capabilities, ctx, emb] of ROWS) {
    const canonical = names[0] ?? ''
    const spec: ModelSpec = {
      family,
      parameterSize,
      quantization,
      capabilities,
      contextLength: ctx,
      embeddingLength: emb,
    }
    const model =
      canonical === 'llama3.2:latest'
        ? { name: canonical, spec, layers: LLAMA32_LAYERS, size, digest: LLAMA32_DIGEST }
        : buildModel(canonical, size, spec)
    for (const name of names) catalog.set(name.toLowerCase(), { ...model, name })
  }
  return catalog
}

/** A model with generated (but stable) layers whose sizes add up to `size`. */
export function buildModel(name: string, size: number, spec: ModelSpec): CatalogModel {
  const embedding = spec.capabilities.includes('embedding')
  const small: Array<[string, number]> = embedding
    ? [
        ['license', 11357],
        ['params', 16],
      ]
    : [
        ['template', 1429 + (hashInt(name) % 400)],
        ['license', 7711],
        ['params', 96],
      ]
  const configSize = 485 + (hashInt(`${name}/config`) % 100)
  const smallTotal = small.reduce((sum, [, bytes]) => sum + bytes, 0) + configSize
  const weights = Math.max(1, size - smallTotal)
  const layers: Layer[] = [
    layer('model', sha256(`${name}/model`), weights),
    ...small.map(([kind, bytes]) => layer(kind, sha256(`${name}/${kind}`), bytes)),
    {
      mediaType: 'application/vnd.docker.container.image.v1+json',
      digest: `sha256:${sha256(`${name}/config`)}`,
      size: configSize,
    },
  ]
  const total = layers.reduce((sum, l) => sum + l.size, 0)
  return { name, spec, layers, size: total, digest: manifestDigest(layers) }
}

/** Details for a model nobody described (installed by name only): a small Llama. */
export function defaultSpec(overrides: Partial<ModelSpec> = {}): ModelSpec {
  return {
    family: 'llama',
    parameterSize: '1.2B',
    quantization: 'Q4_K_M',
    capabilities: ['completion', 'tools'],
    contextLength: 131072,
    embeddingLength: 2048,
    ...overrides,
  }
}

export function manifestDigest(layers: Layer[]): string {
  const config = layers[layers.length - 1]
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config,
    layers: layers.slice(0, -1),
  }
  return sha256(JSON.stringify(manifest))
}

function layer(kind: string, hex: string, size: number): Layer {
  return { mediaType: `application/vnd.ollama.image.${kind}`, digest: `sha256:${hex}`, size }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

function hashInt(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32BE(0)
}
