import { z } from 'zod'

// Ollama's model name grammar, `[host/][namespace/]model[:tag][@digest]`, as `types/model/name.go`
// checks it (docs/decisions.md, "Model names are checked as Ollama checks them"). Checking it
// here, before a pull or a chat creates any state, is what bounds the names the plugin keeps.

const PART = {
  host: /^[a-zA-Z0-9_][a-zA-Z0-9_.:-]{0,349}$/,
  namespace: /^[a-zA-Z0-9_][a-zA-Z0-9_-]{0,79}$/,
  model: /^[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,79}$/,
  tag: /^[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,79}$/,
}
const DIGEST = /^sha256[-:][0-9a-fA-F]{64}$/

/** Whether Ollama would take `name` as a model name (any empty part makes it invalid). */
export function isValidModelName(name: string): boolean {
  let rest = name
  const at = rest.indexOf('@')
  if (at !== -1) {
    if (!DIGEST.test(rest.slice(at + 1))) return false
    rest = rest.slice(0, at)
  }
  // A ':' is a tag separator only after the last '/': `myregistry:5000/ns/model` has no tag.
  const slash = rest.lastIndexOf('/')
  const colon = rest.lastIndexOf(':')
  if (colon > slash) {
    if (!PART.tag.test(rest.slice(colon + 1))) return false
    rest = rest.slice(0, colon)
  }
  const parts = rest.split('/')
  if (parts.length > 3) return false
  const [model, namespace, host] = parts.reverse()
  return (
    model !== undefined &&
    PART.model.test(model) &&
    (namespace === undefined || PART.namespace.test(namespace)) &&
    (host === undefined || PART.host.test(host))
  )
}

/** A model name as options and requests give it: trimmed, then held to Ollama's grammar. */
export const modelNameSchema = z
  .string()
  .trim()
  .min(1, 'a model name cannot be empty')
  .refine(isValidModelName, {
    error: 'use a name from ollama.com/library, such as "llama3.2" or "qwen2.5:7b"',
  })
