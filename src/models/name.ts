// Ollama model names (docs/decisions.md, "Model names"): `[host/][namespace/]model[:tag][@digest]`,
// defaults registry.ollama.ai / library / latest, displayed shortest-first and matched
// case-insensitively. The simulator parses names with it, and the plugin checks every name it is
// given against it before a pull or a chat creates any state, which is what bounds the names it
// keeps. Node built-ins only: the simulator's container image runs it without node_modules.

export const DEFAULT_HOST = 'registry.ollama.ai'
export const DEFAULT_NAMESPACE = 'library'
export const DEFAULT_TAG = 'latest'

export interface ModelName {
  host: string
  namespace: string
  model: string
  tag: string
  /** `http://` or `https://` when the name was written with a scheme. */
  scheme?: 'http' | 'https'
}

const MODEL_OR_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}$/
const NAMESPACE = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,79}$/
const HOST = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,349}$/

/** Parses a model name as Ollama's `types/model/name.go` does; `null` when it is invalid. */
export function parseModelName(raw: string): ModelName | null {
  let rest = raw
  let scheme: ModelName['scheme']
  const schemeMatch = /^(https?):\/\//.exec(rest)
  if (schemeMatch) {
    scheme = schemeMatch[1] as 'http' | 'https'
    rest = rest.slice(schemeMatch[0].length)
  }
  const at = rest.lastIndexOf('@')
  if (at >= 0) rest = rest.slice(0, at)
  let tag = DEFAULT_TAG
  // A ':' separates the tag only after the last '/', so `myregistry:5000/ns/model` keeps its port.
  const colon = rest.lastIndexOf(':')
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1)
    rest = rest.slice(0, colon)
  }
  const parts = rest.split('/')
  if (parts.length > 3) return null
  const model = parts.pop() ?? ''
  const namespace = parts.pop() ?? DEFAULT_NAMESPACE
  const host = parts.pop() ?? DEFAULT_HOST
  if (!MODEL_OR_TAG.test(model) || !MODEL_OR_TAG.test(tag)) return null
  if (!NAMESPACE.test(namespace) || !HOST.test(host)) return null
  const name: ModelName = { host, namespace, model, tag }
  if (scheme) name.scheme = scheme
  return name
}

/** Whether Ollama would take `raw` as a model name (an empty or overlong part makes it invalid). */
export function isValidModelName(raw: string): boolean {
  return parseModelName(raw) !== null
}

/** `DisplayShortest`: `model:tag`, `namespace/model:tag` or `host/namespace/model:tag`. */
export function displayName(name: ModelName): string {
  const defaultHost = name.host.toLowerCase() === DEFAULT_HOST
  if (defaultHost && name.namespace.toLowerCase() === DEFAULT_NAMESPACE) {
    return `${name.model}:${name.tag}`
  }
  if (defaultHost) return `${name.namespace}/${name.model}:${name.tag}`
  return `${name.host}/${name.namespace}/${name.model}:${name.tag}`
}

/** The fully qualified name used in capability errors: `registry.ollama.ai/library/m:tag`. */
export function fullName(name: ModelName): string {
  return `${name.host}/${name.namespace}/${name.model}:${name.tag}`
}

/** `llama3.2` → `llama3.2:latest`; `null` for an invalid name. */
export function normalizeModelName(raw: string): string | null {
  const name = parseModelName(raw)
  return name ? displayName(name) : null
}

/** The key models are stored under: names match case-insensitively, as in Ollama. */
export function modelKey(display: string): string {
  return display.toLowerCase()
}
