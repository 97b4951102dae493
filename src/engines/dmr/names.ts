// Model names between the app's spelling (Ollama's: `llama3.2`, `qwen2.5:7b`) and Docker Model
// Runner's (`ai/llama3.2:latest`), both ways (docs/decisions.md, "Docker Model Runner names").
//
// DMR's own rule (`normalizeModelName`, model-runner `pkg/distribution/distribution/client.go`):
// a name with neither a registry nor an org gets the org `ai/`, a missing tag is `latest`, only
// the name part is lower-cased (tags are kept as DMR writes them: `1B-Q8_0`), and `hf.co/` is
// spelled `huggingface.co/`. Pure functions, no imports: the names are all there is.

const DEFAULT_ORG = 'ai'
const DEFAULT_TAG = 'latest'
const HF_SHORT = 'hf.co/'
const HF_LONG = 'huggingface.co/'
/** Ollama's spellings of its default library, which on DMR is Docker Hub's `ai/` org. */
const OLLAMA_LIBRARY = ['registry.ollama.ai/library/', 'library/']

/**
 * The name DMR stores a model under: `llama3.2` → `ai/llama3.2:latest`, `llama3.2:1B-Q8_0` →
 * `ai/llama3.2:1B-Q8_0`, `myorg/model` → `myorg/model:latest`, `hf.co/org/m:Q4_K_M` →
 * `huggingface.co/org/m:Q4_K_M`. A name DMR already spells this way comes back unchanged, so the
 * result is also the key that tells two spellings of one model apart.
 */
export function toDmrName(name: string): string {
  let rest = name.trim()
  if (rest === '') return rest
  for (const prefix of OLLAMA_LIBRARY) {
    if (rest.startsWith(prefix)) rest = `${DEFAULT_ORG}/${rest.slice(prefix.length)}`
  }
  if (rest.startsWith(HF_SHORT)) rest = HF_LONG + rest.slice(HF_SHORT.length)
  const { base, tag } = splitTag(rest)
  const firstSlash = base.indexOf('/')
  const hasRegistry = firstSlash > 0 && base.slice(0, firstSlash).includes('.')
  const qualified = hasRegistry || base.includes('/') ? base : `${DEFAULT_ORG}/${base}`
  return `${qualified.toLowerCase()}:${tag}`
}

/**
 * The app's spelling of a name DMR reports: `ai/llama3.2:latest` → `llama3.2:latest`,
 * `huggingface.co/org/m:Q4_K_M` → `hf.co/org/m:Q4_K_M`; other orgs and registries unchanged.
 * `toDmrName(fromDmrName(n))` is `n` for every name DMR writes.
 */
export function fromDmrName(name: string): string {
  if (name.startsWith(HF_LONG)) return HF_SHORT + name.slice(HF_LONG.length)
  const prefix = `${DEFAULT_ORG}/`
  const rest = name.slice(prefix.length)
  // Only `ai/model[:tag]`: `ai/x/y` would read back as the org `x`, another model.
  if (name.startsWith(prefix) && !rest.includes('/')) return rest
  return name
}

/** `model:tag` → base and tag; `:` separates a tag only after the last `/` (a registry port). */
function splitTag(name: string): { base: string; tag: string } {
  const colon = name.lastIndexOf(':')
  if (colon <= name.lastIndexOf('/')) return { base: name, tag: DEFAULT_TAG }
  return { base: name.slice(0, colon), tag: name.slice(colon + 1) || DEFAULT_TAG }
}
