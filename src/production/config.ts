import { isValidModelName } from '../models/name.js'
import { parseOrigin } from '../origin.js'
import type { RuntimeEnv } from './env.js'
import {
  DEFAULT_MAX_BODY_SIZE,
  LOCAL_PROVIDER,
  type ProviderOptions,
  productionOptionIssues,
  type SharedOptions,
} from './options.js'
import { type ProviderKind, providerKinds } from './providers/index.js'

/** What the app's own auth says about a request: allow (`true`/nothing), refuse (`false`: 401), or answer itself. */
export type AuthorizeResult = boolean | Response | undefined

/**
 * `createOllamaHandler(options)`: the shared options, plus what only the server decides. The
 * plugin's whole options object may be passed: the fields only the dev server uses are ignored.
 */
export interface HandlerOptions extends SharedOptions {
  /**
   * The app's own auth, asked before every route: return `false` for a 401, a `Response` to answer
   * with it, or `true`/nothing to go on.
   */
  authorize?: (request: Request, env: RuntimeEnv) => AuthorizeResult | Promise<AuthorizeResult>
  /**
   * The most tokens one answer may take; a request asking for more (`options.num_predict`) gets
   * this many.
   * @default 4096
   */
  maxTokens?: number
  /**
   * Also forward raw `/api/*` and `/v1/*` to the provider, with its key: any caller could then
   * spend the key on any model, so put it behind `authorize`.
   * @default false
   */
  passthrough?: boolean
  /**
   * Which provider answers: `'ollama'` or a key of `providers`.
   * @default routing.production
   */
  provider?: string
  /**
   * Server-side log lines (a missing key, a provider that refused the server's key).
   * @default console.error
   */
  log?: (line: string) => void
}

/** The handler's settings after checking. */
export interface HandlerConfig {
  /** Path prefix of the routes: `productionBase`'s path, else `base`. */
  base: string
  providerName: string
  provider: ProviderOptions
  kind: ProviderKind
  /** App model name (lower-case, tag filled in) → the provider's model name. */
  served: Map<string, string>
  /** The app's names, as `/status` lists them. */
  modelNames: string[]
  defaultModel: string | undefined
  maxBodySize: number
  maxTokens: number
  allowedOrigins: string[]
  passthrough: boolean
  authorize: HandlerOptions['authorize']
  log: (line: string) => void
}

/** Checks the options and fills in the defaults; throws one error naming every bad option. */
export function resolveHandlerConfig(options: HandlerOptions): HandlerConfig {
  const issues = productionOptionIssues(options)
  const models = options.models ?? []
  if (!Array.isArray(models)) issues.push('models: use an array of model names')
  for (const name of [...(Array.isArray(models) ? models : []), options.defaultModel]) {
    if (name !== undefined && (typeof name !== 'string' || !isValidModelName(name)))
      issues.push(`models: "${name}" is not a model name; use one such as "llama3.2"`)
  }
  const maxTokens = options.maxTokens ?? 4096
  if (!Number.isInteger(maxTokens) || maxTokens < 1)
    issues.push('maxTokens: use a whole number above 0, such as 4096')
  const maxBodySize = options.maxBodySize ?? DEFAULT_MAX_BODY_SIZE
  if (!Number.isInteger(maxBodySize) || maxBodySize < 1)
    issues.push('maxBodySize: use a number of bytes above 0')
  const allowedOrigins: string[] = []
  for (const origin of options.allowedOrigins ?? []) {
    const parsed = parseOrigin(origin.replace(/\/$/, ''))
    if (parsed) allowedOrigins.push(parsed.origin)
    else
      issues.push(
        `allowedOrigins: "${origin}" is not an origin; use one such as "https://app.example.com"`,
      )
  }
  const providerName = options.provider ?? options.routing?.production ?? LOCAL_PROVIDER
  const provider =
    providerName === LOCAL_PROVIDER
      ? { type: 'ollama' as const, baseURL: options.url ?? 'http://127.0.0.1:11434' }
      : options.providers?.[providerName]
  if (!provider) issues.push(`provider: "${providerName}" is not in providers`)
  if (issues.length || !provider) {
    throw new Error(
      `[vite-plugin-ollama] invalid options for createOllamaHandler:\n${issues.map((i) => `  ${i}`).join('\n')}`,
    )
  }

  const served = new Map<string, string>()
  for (const name of models) served.set(modelKey(name), provider.models?.[name] ?? name)
  for (const [name, target] of Object.entries(provider.models ?? {}))
    served.set(modelKey(name), target)
  const modelNames = [...new Set([...models, ...Object.keys(provider.models ?? {})])]
  return {
    base: routeBase(options),
    providerName,
    provider: { ...provider, baseURL: provider.baseURL.replace(/\/+$/, '') },
    kind: providerKinds[provider.type],
    served,
    modelNames,
    defaultModel: options.defaultModel ?? modelNames[0],
    maxBodySize,
    maxTokens,
    allowedOrigins,
    passthrough: options.passthrough === true,
    authorize: options.authorize,
    log: options.log ?? ((line) => console.error(line)),
  }
}

/** `llama3.2` and `llama3.2:latest` are one model, whatever the case (Ollama's own rule). */
export function modelKey(name: string): string {
  const lower = name.trim().toLowerCase()
  return lower.lastIndexOf(':') > lower.lastIndexOf('/') ? lower : `${lower}:latest`
}

/** Where the built app sends requests, as a path: the handler serves that. */
function routeBase(options: SharedOptions): string {
  const base = options.productionBase ?? options.base ?? '/__ollama'
  const path = base.startsWith('/') ? base : new URL(base).pathname
  return path.replace(/\/+$/, '')
}
