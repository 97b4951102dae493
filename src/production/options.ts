// The options the production handler reads, checked without a schema library: the handler runs
// on Workers, Deno and Bun with no dependency. The plugin's own option checking (options.ts)
// calls `productionOptionIssues` for the same fields, so `vite` and the server refuse the same
// mistakes with the same words, and one options file can be shared by both.

/** The provider kinds: the one list that options, types and the handler's registry derive from. */
export const providerTypes = ['ollama', 'openai'] as const
export type ProviderType = (typeof providerTypes)[number]

/** A model server the app's chats can be routed to. */
export interface ProviderOptions {
  /**
   * `'ollama'`: any Ollama host (a team GPU server, Ollama Cloud at `https://ollama.com` with a
   * Bearer key). `'openai'`: any OpenAI-compatible chat-completions API (OpenAI, Groq,
   * OpenRouter, vLLM, LM Studio, Docker Model Runner).
   */
  type: ProviderType
  /** `https://api.openai.com/v1`, `https://ollama.com`, `http://gpu-box:11434`… */
  baseURL: string
  /** The environment variable holding the key, read on the server at request time (never a key). */
  apiKeyEnv?: string
  /** The app's model names mapped to the provider's: `{ 'llama3.2': 'gpt-4o-mini' }`. */
  models?: Record<string, string>
  /** Extra request headers, e.g. OpenRouter's `HTTP-Referer`. */
  headers?: Record<string, string>
}

/** Which provider answers in each mode: `'ollama'` or a key of `providers`. */
export interface RoutingOptions {
  development?: string
  production?: string
  /** Defaults to `production`'s provider when its key is set, else the local engine. */
  preview?: string
}

/** The options one file can share between `ollama(options)` and `createOllamaHandler(options)`. */
export interface SharedOptions {
  url?: string
  base?: string
  productionBase?: string
  models?: string[]
  defaultModel?: string
  providers?: Record<string, ProviderOptions>
  routing?: RoutingOptions
  maxBodySize?: number
  allowedOrigins?: string[]
}

/**
 * The largest body a route reads whole: a chat with a few phone photos (about 4 MB each, a third
 * more as base64) fits, and a body past it is refused before it is held.
 */
export const DEFAULT_MAX_BODY_SIZE = 20 * 1024 * 1024

/** The provider at `url`: the plugin's engine in dev, a self-hosted Ollama beside the server in production. */
export const LOCAL_PROVIDER = 'ollama'

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/** Each problem with the shared production options, as `path: what to write instead`. */
export function productionOptionIssues(options: SharedOptions): string[] {
  const issues: string[] = []
  const providers = options.providers ?? {}
  if (typeof providers !== 'object' || providers === null || Array.isArray(providers)) {
    return [
      'providers: use an object of named providers, e.g. { openai: { type: "openai", baseURL: "https://api.openai.com/v1", apiKeyEnv: "OPENAI_API_KEY" } }',
    ]
  }
  for (const [name, provider] of Object.entries(providers)) {
    const at = `providers.${name}`
    if (name === LOCAL_PROVIDER) {
      issues.push(
        `${at}: the name "ollama" always means the Ollama at url; set url, or give this provider another name`,
      )
      continue
    }
    if (typeof provider !== 'object' || provider === null) {
      issues.push(`${at}: use { type, baseURL, apiKeyEnv?, models?, headers? }`)
      continue
    }
    const known = new Set(['type', 'baseURL', 'apiKeyEnv', 'models', 'headers'])
    for (const key of Object.keys(provider)) {
      if (key === 'apiKey')
        issues.push(
          `${at}.apiKey: never put a key in options (it would reach the bundle); name its environment variable in apiKeyEnv`,
        )
      else if (!known.has(key))
        issues.push(`${at}: unknown field "${key}"; use type, baseURL, apiKeyEnv, models, headers`)
    }
    if (!providerTypes.includes(provider.type))
      issues.push(`${at}.type: use ${providerTypes.map((t) => `"${t}"`).join(' or ')}`)
    const url = parseHttpUrl(provider.baseURL)
    if (!url) issues.push(`${at}.baseURL: use an http(s) URL such as "https://api.openai.com/v1"`)
    else if (url.username || url.password)
      issues.push(
        `${at}.baseURL: take the credentials out of the URL; name the key's environment variable in apiKeyEnv`,
      )
    if (
      provider.apiKeyEnv !== undefined &&
      (typeof provider.apiKeyEnv !== 'string' || !ENV_NAME.test(provider.apiKeyEnv))
    ) {
      issues.push(
        `${at}.apiKeyEnv: the name of an environment variable, such as "OPENAI_API_KEY" (not the key itself)`,
      )
    }
    if (provider.models !== undefined && !isStringRecord(provider.models))
      issues.push(
        `${at}.models: map the app's model names to the provider's, e.g. { "llama3.2": "gpt-4o-mini" }`,
      )
    if (provider.headers !== undefined && !isStringRecord(provider.headers))
      issues.push(`${at}.headers: use an object of header names to string values`)
  }
  const names = [LOCAL_PROVIDER, ...Object.keys(providers).filter((n) => n !== LOCAL_PROVIDER)]
  const routing = options.routing ?? {}
  for (const mode of ['development', 'production', 'preview'] as const) {
    const chosen = routing[mode]
    if (chosen !== undefined && !names.includes(chosen)) {
      issues.push(
        `routing.${mode}: "${chosen}" is not a provider; use ${names.map((n) => `"${n}"`).join(', ')} or add it to providers`,
      )
    }
  }
  if (options.productionBase !== undefined && !isBase(options.productionBase)) {
    issues.push(
      'productionBase: use a path such as "/api/ai" or an absolute URL such as "https://api.example.com/ai"',
    )
  }
  return issues
}

function parseHttpUrl(value: unknown): URL | null {
  if (typeof value !== 'string') return null
  try {
    const url = new URL(value)
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : null
  } catch {
    return null
  }
}

function isBase(value: unknown): boolean {
  if (typeof value !== 'string') return false
  if (value.startsWith('/')) return /^\/[a-zA-Z0-9_\-./]*[^/]$/.test(value)
  const url = parseHttpUrl(value)
  return url !== null && !url.username && !url.password && !url.search && !url.hash
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === 'string')
  )
}
