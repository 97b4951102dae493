import { z } from 'zod'
import { type EngineName, engineNames } from './engines/index.js'
import { type DockerGpuChoice, dockerGpuChoices } from './gpu/container.js'
import { limits as defaultLimits, type Limits, limitNames } from './limits.js'
import { isValidModelName } from './models/name.js'
import {
  DEFAULT_MAX_BODY_SIZE,
  type ProviderOptions,
  productionOptionIssues,
  type RoutingOptions,
} from './production/options.js'

export type { ProviderOptions, RoutingOptions }

/** Container settings for the `docker` engine. */
export interface DockerOptions {
  /**
   * Image to run. `:rocm` is chosen for AMD GPUs unless you set this.
   * @default 'ollama/ollama:latest'
   */
  image?: string
  /**
   * Name of the container the plugin creates or adopts.
   * @default 'vite-plugin-ollama'
   */
  containerName?: string
  /**
   * Named volume mounted at `/root/.ollama`, so models survive container recreation. Not mounted
   * while `hostModels` mounts the host's model store instead.
   * @default 'ollama'
   */
  volume?: string
  /**
   * The host's Ollama model store, mounted into the container so no model downloads twice:
   * `'auto'` uses `$OLLAMA_MODELS` or `~/.ollama/models` when it exists, a path uses that folder,
   * `false` keeps models in `volume`. The container then runs as the store's owner, so the files
   * it writes there stay yours.
   * @default 'auto'
   */
  hostModels?: 'auto' | false | string
  /**
   * Host port for Ollama, published on 127.0.0.1 only (Ollama has no authentication).
   * @default 11434
   */
  hostPort?: number
  /**
   * GPU passthrough: `'auto'` follows detection; `'intel'` and `'vulkan'` pass `/dev/dri` to
   * Ollama's Vulkan runner.
   * @default 'auto'
   */
  gpu?: DockerGpuChoice
  /**
   * Extra environment for the container, e.g. `{ OLLAMA_CONTEXT_LENGTH: '8192' }`.
   * @default {}
   */
  env?: Record<string, string>
  /**
   * When to pull the image: only when it is missing, on every start, or never.
   * @default 'missing'
   */
  pullImage?: 'missing' | 'always' | 'never'
  /**
   * Stop (never remove) the container the plugin started when Vite exits.
   * @default true
   */
  stopOnExit?: boolean
}

/** Settings for the `dmr` engine: Docker Model Runner, which ships with Docker. */
export interface DmrOptions {
  /**
   * Where Docker Model Runner listens on this machine (Docker Desktop: Settings → AI → "Enable
   * host-side TCP support"; Docker Engine: `docker model install-runner`).
   * @default 'http://127.0.0.1:12434'
   */
  url?: string
}

/** Where the overlay sits and whether it starts collapsed. */
export interface OverlayOptions {
  /** @default 'bottom-right' */
  position?: 'bottom-right' | 'bottom-left' | 'top-right' | 'top-left'
  /** @default false */
  collapsed?: boolean
}

/** What peers that are not on loopback may do: nothing, chat, or everything. */
export type NetworkPolicy = 'none' | 'chat' | 'full'

/** What `engine` may say: `'auto'`, or one kind of the engine registry. */
export type EngineKind = 'auto' | EngineName

/** The values of `engine`, derived from the engine registry. */
export const engineKinds = ['auto', ...engineNames] as const satisfies readonly EngineKind[]

/** Options of `ollama(options)` in `vite.config.ts`. */
export interface OllamaPluginOptions {
  /**
   * Off = the plugin does nothing.
   * @default true
   */
  enabled?: boolean
  /**
   * Where Ollama is, or will be.
   * @default 'http://127.0.0.1:11434'
   */
  url?: string
  /**
   * How Ollama is run: `'auto'` adopts a running Ollama, else on macOS prefers native Ollama, then
   * Docker Model Runner (both use Metal), then Docker; elsewhere Docker, then a native `ollama`
   * binary, then Docker Model Runner; then `fallback`.
   * @default 'auto'
   */
  engine?: EngineKind
  /**
   * `'simulator'`: when `auto` finds no way to run Ollama, use the built-in simulator and say so.
   * @default 'none'
   */
  fallback?: 'none' | 'simulator'
  /**
   * Models the app needs; missing ones are pulled when `autoPull` allows.
   * @default []
   */
  models?: string[]
  /**
   * Model used by the routes when a request names none.
   * @default first of `models`
   */
  defaultModel?: string
  /**
   * Start an engine when none is reachable at `url`.
   * @default true
   */
  autoStart?: boolean
  /**
   * `true`, `false`, or the subset of `models` to pull.
   * @default true
   */
  autoPull?: boolean | string[]
  /**
   * Ollama `keep_alive` for warm-up and chat (`'30m'`, `'1h'`, `-1` for forever).
   * @default '30m'
   */
  keepAlive?: string | number
  /**
   * Load `defaultModel` into memory once it is pulled, so the first chat is fast.
   * @default true
   */
  warmup?: boolean
  /**
   * How many chats one model answers at once on engines the plugin starts (docker, native):
   * Ollama's `OLLAMA_NUM_PARALLEL`. Each one reserves a context's worth of memory. An Ollama the
   * plugin adopts keeps its own setting.
   * @default engine default
   */
  parallel?: number
  /**
   * The context window (`num_ctx`, in tokens) of models on engines the plugin starts (docker,
   * native, simulator): Ollama's `OLLAMA_CONTEXT_LENGTH`. A longer prompt is cut by Ollama without
   * an error; the plugin warns when a chat nears it. A request's `options.num_ctx` still wins.
   * @default engine default
   */
  numCtx?: number
  /**
   * Route prefix, under Vite's own `base`.
   * @default '/__ollama'
   */
  base?: string
  /**
   * Where the built app's `virtual:ollama` sends requests: a path (mount `createOllamaHandler`
   * there) or an absolute URL.
   * @default base
   */
  productionBase?: string
  /**
   * Named model servers chats can be routed to, e.g. `{ openai: { type: 'openai', baseURL:
   * 'https://api.openai.com/v1', apiKeyEnv: 'OPENAI_API_KEY', models: { 'llama3.2':
   * 'gpt-4o-mini' } } }`. The name `'ollama'` always means the Ollama at `url`.
   * @default {}
   */
  providers?: Record<string, ProviderOptions>
  /**
   * Which provider answers in each mode. `preview` defaults to `production`'s provider when its
   * key is set, else the local Ollama.
   * @default { development: 'ollama', production: 'ollama' }
   */
  routing?: RoutingOptions
  /**
   * The in-browser status overlay: `false` removes it.
   * @default true
   */
  overlay?: boolean | OverlayOptions
  /**
   * Largest body `POST /chat` and the other own routes read, and the largest WebSocket message, in
   * bytes: a chat with a few phone photos fits. The proxied `/api/*` and `/v1/*` stream longer bodies on.
   * @default 20971520
   */
  maxBodySize?: number
  /**
   * What peers that are not on this machine may do when the dev server is exposed
   * (`server.host`): nothing (`'none'`), chat but never manage models (`'chat'`), or everything
   * (`'full'`).
   * @default 'chat'
   */
  network?: NetworkPolicy
  /**
   * Page origins besides the dev server's own allowed to call the routes, each exactly
   * `scheme://host:port`, e.g. `['http://localhost:3000']`.
   * @default []
   */
  allowedOrigins?: string[]
  /**
   * Bounds on what requests can make the dev server keep or run; see the README's table of
   * bounds, e.g. `{ historyBytes: 1048576 }`.
   * @default see the README
   */
  limits?: Partial<Limits>
  /**
   * Whether to run when Vite is in middleware mode (no HTTP server of its own: Nuxt, Astro,
   * Storybook, an Express app with `createServer({ server: { middlewareMode: true } })`).
   * `'auto'` runs there unless the server has no WebSocket (`server.ws: false`: a tool's own
   * module-loading server, such as a content sync during a build); `true` runs in every
   * middleware-mode server, `false` in none. Vitest never starts the engine (see `simulator.vitest`).
   * @default 'auto'
   */
  middlewareMode?: 'auto' | boolean
  /**
   * Container settings for the `docker` engine.
   * @default see DockerOptions
   */
  docker?: DockerOptions
  /**
   * Docker Model Runner settings for the `dmr` engine.
   * @default see DmrOptions
   */
  dmr?: DmrOptions
  /**
   * Settings for the built-in simulator (`engine: 'simulator'` or `fallback: 'simulator'`).
   * @default see SimulatorSettings
   */
  simulator?: SimulatorSettings
}

/** How the simulator behaves, for realistic demos and for tests of your own UI. */
export interface SimulatorSettings {
  /**
   * Delay between streamed tokens, in milliseconds.
   * @default 15
   */
  tokenDelayMs?: number
  /**
   * Simulated download speed of model pulls, in bytes per second.
   * @default 200000000
   */
  pullBytesPerSecond?: number
  /**
   * Models installed when the simulator starts; the others are pulled (simulated).
   * @default []
   */
  installed?: string[]
  /**
   * Under Vitest, `virtual:ollama` talks to a simulator the plugin starts for the run, so
   * components that chat are tested with no mock; `false` leaves the import to your own mocks.
   * @default true
   */
  vitest?: boolean
}

/** A model name as options and requests give it: trimmed, then held to Ollama's grammar. */
export const modelNameSchema = z
  .string()
  .trim()
  .min(1, 'a model name cannot be empty')
  .refine(isValidModelName, {
    error: 'use a name from ollama.com/library, such as "llama3.2" or "qwen2.5:7b"',
  })

const modelName = modelNameSchema

/** An exact page origin: scheme, host and port, nothing more (a trailing "/" is forgiven). */
const originSchema = z
  .string()
  .transform((value) => value.replace(/\/$/, ''))
  .refine(
    (value) => {
      try {
        const url = new URL(value)
        return /^https?:$/.test(url.protocol) && url.origin === value.toLowerCase()
      } catch {
        return false
      }
    },
    { error: 'use an origin such as "http://localhost:3000" (scheme://host:port, no path)' },
  )
  .transform((value) => new URL(value).origin)

const limitsSchema = z
  .object(
    Object.fromEntries(
      limitNames.map((name) => [
        name,
        z.number().int('use a whole number').positive('use a number above 0').optional(),
      ]),
    ) as Record<keyof Limits, z.ZodOptional<z.ZodNumber>>,
  )
  .strict()

const keepAlive = z.union([
  z.number().int(),
  z.string().regex(/^-?\d+(\.\d+)?(ns|us|µs|ms|s|m|h)?$/, 'use a duration such as "30m" or "1h"'),
])

/** An absolute path on any OS (`/x`, `C:\x`, `\\server\x`), or one in the home folder (`~/x`). */
const HOST_PATH = /^(\/|[A-Za-z]:[\\/]|\\\\|~([\\/]|$))/

const dockerSchema = z
  .object({
    image: z.string().min(1).default('ollama/ollama:latest'),
    containerName: z
      .string()
      .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/, 'use letters, digits, "_", "." and "-"')
      .default('vite-plugin-ollama'),
    volume: z
      .string()
      .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/, 'use letters, digits, "_", "." and "-"')
      .default('ollama'),
    hostModels: z
      .union([
        z.literal('auto'),
        z.literal(false),
        z.string().refine((value) => HOST_PATH.test(value), {
          error:
            "use 'auto', false, or the absolute path of an Ollama model store (the folder holding blobs/ and manifests/)",
        }),
      ])
      .default('auto'),
    hostPort: z.number().int().min(1).max(65535).default(11434),
    gpu: z.enum(dockerGpuChoices).default('auto'),
    env: z.record(z.string(), z.string()).default({}),
    pullImage: z.enum(['missing', 'always', 'never']).default('missing'),
    stopOnExit: z.boolean().default(true),
  })
  .strict()

const dmrSchema = z
  .object({
    url: z
      .url({
        protocol: /^https?$/,
        error: 'use an http(s) URL such as "http://127.0.0.1:12434"',
      })
      .default('http://127.0.0.1:12434')
      .transform((url) => url.replace(/\/+$/, '')),
  })
  .strict()

const overlaySchema = z
  .object({
    position: z
      .enum(['bottom-right', 'bottom-left', 'top-right', 'top-left'])
      .default('bottom-right'),
    collapsed: z.boolean().default(false),
  })
  .strict()

const simulatorSchema = z
  .object({
    tokenDelayMs: z.number().min(0).default(15),
    pullBytesPerSecond: z.number().positive().default(200_000_000),
    installed: z.array(modelName).default([]),
    vitest: z.boolean().default(true),
  })
  .strict()

export const optionsSchema = z
  .object({
    enabled: z.boolean().default(true),
    url: z
      .url({ protocol: /^https?$/, error: 'use an http(s) URL such as "http://127.0.0.1:11434"' })
      .default('http://127.0.0.1:11434'),
    engine: z.enum(engineKinds).default('auto'),
    fallback: z.enum(['none', 'simulator']).default('none'),
    models: z.array(modelName).default([]),
    defaultModel: modelName.optional(),
    autoStart: z.boolean().default(true),
    autoPull: z.union([z.boolean(), z.array(modelName)]).default(true),
    keepAlive: keepAlive.default('30m'),
    warmup: z.boolean().default(true),
    parallel: z
      .number()
      .int('use a whole number such as 2')
      .min(1, 'use 1 or more (1 answers one chat at a time)')
      .max(64, 'use 64 at most: each parallel chat reserves a whole context of memory')
      .optional(),
    numCtx: z
      .number()
      .int('use a whole number of tokens such as 8192')
      .min(256, 'use 256 tokens or more, such as 8192')
      .optional(),
    base: z
      .string()
      .regex(
        /^\/[a-zA-Z0-9_\-./]*[^/]$/,
        'use a path such as "/__ollama" (leading "/", no trailing "/")',
      )
      .default('/__ollama'),
    productionBase: z.string().optional(),
    providers: z.record(z.string(), z.custom<ProviderOptions>()).default({}),
    routing: z
      .object({
        development: z.string().default('ollama'),
        production: z.string().default('ollama'),
        preview: z.string().optional(),
      })
      .strict()
      .default({ development: 'ollama', production: 'ollama' }),
    overlay: z.union([z.boolean(), overlaySchema]).default(true),
    maxBodySize: z.number().int().positive().default(DEFAULT_MAX_BODY_SIZE),
    network: z.enum(['none', 'chat', 'full']).default('chat'),
    allowedOrigins: z.array(originSchema).default([]),
    limits: limitsSchema.default({}),
    middlewareMode: z.union([z.literal('auto'), z.boolean()]).default('auto'),
    docker: dockerSchema.default(dockerSchema.parse({})),
    dmr: dmrSchema.default(dmrSchema.parse({})),
    simulator: simulatorSchema.default(simulatorSchema.parse({})),
  })
  .strict()
  // Checked by the same function createOllamaHandler calls, so dev and the server agree.
  .superRefine((options, ctx) => {
    if (options.routing.development !== 'ollama') {
      ctx.addIssue({
        code: 'custom',
        path: ['routing', 'development'],
        message:
          'the dev server answers with the local engine ("ollama"); to try another provider locally, run vite build && vite preview with routing.preview',
      })
    }
    for (const line of productionOptionIssues(options)) {
      const split = line.indexOf(': ')
      ctx.addIssue({
        code: 'custom',
        path: line.slice(0, split).split('.'),
        message: line.slice(split + 2),
      })
    }
  })

export type ResolvedDockerOptions = z.output<typeof dockerSchema>
export type ResolvedDmrOptions = z.output<typeof dmrSchema>
export type ResolvedSimulatorOptions = z.output<typeof simulatorSchema>
export type ResolvedOverlayOptions = z.output<typeof overlaySchema>

export interface ResolvedOptions
  extends Omit<
    z.output<typeof optionsSchema>,
    'overlay' | 'autoPull' | 'defaultModel' | 'models' | 'limits'
  > {
  models: string[]
  /** `undefined` only when `models` is empty and none was set. */
  defaultModel: string | undefined
  /** The models to pull when missing: `autoPull` resolved against `models`. */
  autoPull: string[]
  overlay: ResolvedOverlayOptions | false
  /** Every bound, the defaults filled in. */
  limits: Limits
}

/** An option that does not validate: the message names the option and how to fix it. */
export class OllamaOptionsError extends Error {
  override name = 'OllamaOptionsError'
}

/**
 * Validates and fills in the options. Throws an `OllamaOptionsError` whose message names each
 * bad option and says what to write instead.
 */
export function resolveOptions(options: OllamaPluginOptions = {}): ResolvedOptions {
  const parsed = optionsSchema.safeParse(options)
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const path = issue.path.length ? issue.path.join('.') : '(options)'
      const message =
        issue.code === 'unrecognized_keys'
          ? `unknown option ${issue.keys.map((k) => `"${k}"`).join(', ')}: see the options table in the vite-plugin-ollama README`
          : issue.message
      return `  ${path}: ${message}`
    })
    throw new OllamaOptionsError(
      `[vite-plugin-ollama] invalid options in vite.config.ts:\n${lines.join('\n')}`,
    )
  }
  const o = parsed.data
  const models = [...new Set(o.models)]
  const defaultModel = o.defaultModel ?? models[0]
  // A defaultModel outside `models` would never be pulled: treat it as one of the app's models.
  if (defaultModel && !models.includes(defaultModel)) models.push(defaultModel)
  let autoPull: string[]
  if (o.autoPull === true) autoPull = models
  else if (o.autoPull === false) autoPull = []
  else {
    const unknown = o.autoPull.filter((m) => !models.includes(m))
    if (unknown.length) {
      throw new OllamaOptionsError(
        `[vite-plugin-ollama] invalid options in vite.config.ts:\n  autoPull: ${unknown.join(', ')} ${unknown.length > 1 ? 'are' : 'is'} not in models; add ${unknown.length > 1 ? 'them' : 'it'} to models or remove ${unknown.length > 1 ? 'them' : 'it'} from autoPull`,
      )
    }
    autoPull = o.autoPull
  }
  const overlay =
    o.overlay === false ? false : o.overlay === true ? overlaySchema.parse({}) : o.overlay
  const limits = { ...defaultLimits } as Limits
  for (const name of limitNames) limits[name] = o.limits[name] ?? defaultLimits[name]
  return {
    ...o,
    models,
    defaultModel,
    autoPull,
    overlay,
    limits,
    url: o.url.replace(/\/+$/, ''),
  }
}
