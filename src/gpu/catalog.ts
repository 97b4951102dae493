// Download sizes of popular Ollama models. Sizes from the Ollama README model table
// (docs/decisions.md, "Model download sizes"; decimal GB like `ollama list`), exact bytes where the
// API docs give them, and the ollama.com library tag pages for the tags the README table did not
// list. `rank` orders recommendations: a judgement of answer quality for a web app's chat, higher
// is better; it is only compared between models that fit.

export type ModelKind = 'chat' | 'code' | 'reasoning' | 'vision' | 'embedding'

export interface CatalogModel {
  /** Pull name with its tag, e.g. `qwen2.5:7b`. */
  name: string
  /** Other names for the same download: `llama3.2` (= `llama3.2:latest`) for `llama3.2:3b`. */
  aliases: string[]
  parameters: string
  sizeBytes: number
  kind: ModelKind
  rank: number
  /** A few words on what it is good for. */
  about: string
}

const GB = 1e9
const MB = 1e6

function m(
  name: string,
  aliases: string[],
  parameters: string,
  sizeBytes: number,
  kind: ModelKind,
  rank: number,
  about: string,
): CatalogModel {
  return { name, aliases, parameters, sizeBytes: Math.round(sizeBytes), kind, rank, about }
}

export const MODEL_CATALOG: readonly CatalogModel[] = [
  // Meta Llama
  m('llama3.2:1b', [], '1B', 1.3 * GB, 'chat', 44, "Meta's smallest chat model, quick anywhere"),
  m(
    'llama3.2:3b',
    ['llama3.2'],
    '3.2B',
    2_019_393_189,
    'chat',
    57,
    "Meta's small general chat model",
  ),
  m('llama3.1:8b', ['llama3.1'], '8B', 4.7 * GB, 'chat', 68, "Meta's 8B general chat model"),
  m('llama3.1:70b', [], '70B', 43 * GB, 'chat', 87, "Meta's large general chat model"),
  m('llama3.3:70b', ['llama3.3'], '70B', 43 * GB, 'chat', 89, "Meta's best 70B chat model"),
  m(
    'llama3.2-vision:11b',
    ['llama3.2-vision'],
    '11B',
    7.9 * GB,
    'vision',
    60,
    'reads images as well as text',
  ),
  m('llama3.2-vision:90b', [], '90B', 55 * GB, 'vision', 75, 'large image and text model'),
  // Alibaba Qwen 2.5
  m('qwen2.5:0.5b', [], '0.5B', 398 * MB, 'chat', 28, 'tiny, for smoke tests and autocomplete'),
  m('qwen2.5:1.5b', [], '1.5B', 986 * MB, 'chat', 43, 'small and fast multilingual chat'),
  m('qwen2.5:3b', [], '3B', 1.9 * GB, 'chat', 55, 'small multilingual chat'),
  m(
    'qwen2.5:7b',
    ['qwen2.5'],
    '7.6B',
    4.7 * GB,
    'chat',
    69,
    'strong 7B multilingual chat, good at JSON',
  ),
  m('qwen2.5:14b', [], '14.8B', 9 * GB, 'chat', 78, 'strong mid-size multilingual chat'),
  m('qwen2.5:32b', [], '32.8B', 20 * GB, 'chat', 84, 'large multilingual chat'),
  m('qwen2.5:72b', [], '72.7B', 47 * GB, 'chat', 90, 'very large multilingual chat'),
  m('qwen2.5-coder:0.5b', [], '0.5B', 398 * MB, 'code', 25, 'tiny code completion'),
  m('qwen2.5-coder:1.5b', [], '1.5B', 986 * MB, 'code', 40, 'small code completion'),
  m('qwen2.5-coder:3b', [], '3B', 1.9 * GB, 'code', 50, 'small coding model'),
  m('qwen2.5-coder:7b', ['qwen2.5-coder'], '7.6B', 4.7 * GB, 'code', 66, 'coding model, 7B'),
  m('qwen2.5-coder:14b', [], '14.8B', 9 * GB, 'code', 76, 'coding model, 14B'),
  m(
    'qwen2.5-coder:32b',
    [],
    '32.8B',
    20 * GB,
    'code',
    83,
    'the strongest open coding model of its size',
  ),
  // Alibaba Qwen 3
  m('qwen3:0.6b', [], '0.6B', 523 * MB, 'chat', 30, 'tiny chat with thinking mode'),
  m('qwen3:1.7b', [], '1.7B', 1.4 * GB, 'chat', 45, 'small chat with thinking mode'),
  m('qwen3:4b', [], '4B', 2.6 * GB, 'chat', 64, 'small chat with thinking mode'),
  m('qwen3:8b', ['qwen3'], '8.2B', 5.2 * GB, 'chat', 72, 'general chat with thinking mode'),
  m('qwen3:14b', [], '14.8B', 9.3 * GB, 'chat', 80, 'mid-size chat with thinking mode'),
  m('qwen3:30b', [], '30.5B', 19 * GB, 'chat', 86, 'mixture of experts: large and fast'),
  m('qwen3:32b', [], '32.8B', 20 * GB, 'chat', 88, 'large chat with thinking mode'),
  m('qwq:32b', ['qwq'], '32B', 20 * GB, 'reasoning', 85, 'reasoning model, slow to answer'),
  // Google Gemma 3
  m('gemma3:270m', [], '270M', 292 * MB, 'chat', 20, 'tiny, for tests'),
  m('gemma3:1b', [], '1B', 815 * MB, 'chat', 42, "Google's smallest chat model"),
  m(
    'gemma3:4b',
    ['gemma3'],
    '4.3B',
    3.3 * GB,
    'chat',
    62,
    "Google's small chat model, reads images",
  ),
  m('gemma3:12b', [], '12.2B', 8.1 * GB, 'chat', 76, "Google's mid-size chat model, reads images"),
  m('gemma3:27b', [], '27.4B', 17 * GB, 'chat', 83, "Google's large chat model, reads images"),
  // Microsoft Phi 4
  m(
    'phi4-mini:3.8b',
    ['phi4-mini'],
    '3.8B',
    2.5 * GB,
    'chat',
    58,
    "Microsoft's small model, good at reasoning for its size",
  ),
  m('phi4:14b', ['phi4'], '14.7B', 9.1 * GB, 'chat', 79, "Microsoft's 14B model, strong reasoning"),
  // Mistral and others
  m('mistral:7b', ['mistral'], '7.2B', 4.1 * GB, 'chat', 60, "Mistral's 7B chat model"),
  m(
    'granite3.3:8b',
    ['granite3.3'],
    '8B',
    4.9 * GB,
    'chat',
    63,
    "IBM's 8B model for tools and RAG",
  ),
  m('codellama:7b', ['codellama'], '7B', 3.8 * GB, 'code', 45, "Meta's older coding model"),
  m('llava:7b', ['llava'], '7B', 4.7 * GB, 'vision', 50, 'reads images'),
  m('moondream:1.8b', ['moondream'], '1.4B', 829 * MB, 'vision', 30, 'tiny image model'),
  // DeepSeek-R1 distills (reasoning: they think before answering)
  m('deepseek-r1:1.5b', [], '1.5B', 1.1 * GB, 'reasoning', 38, 'tiny reasoning distill'),
  m(
    'deepseek-r1:7b',
    ['deepseek-r1'],
    '7.6B',
    4_683_075_271,
    'reasoning',
    64,
    'reasoning distill on Qwen 7B',
  ),
  m('deepseek-r1:8b', [], '8B', 4.9 * GB, 'reasoning', 65, 'reasoning distill on Llama 8B'),
  m('deepseek-r1:14b', [], '14.8B', 9 * GB, 'reasoning', 77, 'reasoning distill on Qwen 14B'),
  m('deepseek-r1:32b', [], '32.8B', 20 * GB, 'reasoning', 85, 'reasoning distill on Qwen 32B'),
  m('deepseek-r1:70b', [], '70.6B', 43 * GB, 'reasoning', 88, 'reasoning distill on Llama 70B'),
  // Embeddings (for search and RAG; they cannot chat)
  m(
    'nomic-embed-text:v1.5',
    ['nomic-embed-text'],
    '137M',
    274 * MB,
    'embedding',
    12,
    'text embeddings for search and RAG',
  ),
  m(
    'mxbai-embed-large:335m',
    ['mxbai-embed-large'],
    '335M',
    670 * MB,
    'embedding',
    14,
    'larger text embeddings',
  ),
  m('all-minilm:22m', ['all-minilm'], '23M', 46 * MB, 'embedding', 8, 'tiny text embeddings'),
]

/** `Llama3.2`, `library/llama3.2` and `registry.ollama.ai/library/llama3.2:latest` are one model. */
export function normalizeModelName(model: string): string {
  let name = model.trim().toLowerCase()
  name = name.replace(/^(https?:\/\/)?registry\.ollama\.ai\//, '').replace(/^library\//, '')
  const lastSegment = name.slice(name.lastIndexOf('/') + 1)
  return lastSegment.includes(':') ? name : `${name}:latest`
}

const BY_NAME = new Map<string, CatalogModel>()
for (const model of MODEL_CATALOG) {
  for (const name of [model.name, ...model.aliases]) BY_NAME.set(normalizeModelName(name), model)
}

/** The catalog entry for a pull name, whatever its spelling; undefined for models it does not know. */
export function findModel(model: string): CatalogModel | undefined {
  return BY_NAME.get(normalizeModelName(model))
}
