import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import colors from 'picocolors'
import type { Plugin, ResolvedConfig } from 'vite'
import type { ResolvedOptions } from './options.js'
import { startVitestServer, type VitestServer } from './vitest-server.js'

// `virtual:ollama` in every mode (docs/decisions.md, "virtual:ollama in every mode"): a small
// plugin that always applies, apart from the one that runs the engine in `vite` (index.ts).
// `vite` gets the dev routes' base; `vite build` bakes `productionBase`, where the app's server
// mounts `createOllamaHandler`; Vitest gets the absolute URL of a simulator started for the run.

export const CLIENT_ID = 'virtual:ollama'
export const OVERLAY_ID = 'virtual:ollama/overlay'

/** What the plugins of one `ollama()` call share: set in `configResolved`. */
export interface PluginState {
  options: ResolvedOptions
  config: ResolvedConfig
  /** Whether the dev plugin serves routes in this server (it may bow out in middleware mode). */
  active: boolean
  /** Where server code reaches the routes in `vite` (src/server/loopback.ts); set while active. */
  serverCodeOrigin?: () => Promise<string>
}

/** Vite's `base` joined with ours, as the dev server mounts the routes. */
export function devRouteBase(state: PluginState): string {
  const viteBase = state.config.base.startsWith('/') ? state.config.base.replace(/\/+$/, '') : ''
  return `${viteBase}${state.options.base}`
}

/** Where the built app sends requests: `productionBase`, else the dev path. */
export function productionRouteBase(state: PluginState): string {
  return state.options.productionBase?.replace(/\/+$/, '') ?? devRouteBase(state)
}

/** Whether this Vite runs for Vitest (`vitest` is mode `test`, `vitest bench` mode `benchmark`). */
export function isVitestMode(mode: string): boolean {
  return mode === 'test' || mode === 'benchmark'
}

export function virtualModulePlugin(state: PluginState): Plugin {
  let vitest: Promise<VitestServer> | undefined
  /** The build's one line about where the built app sends its chats, per side (client, server). */
  const announced = new Set<string>()
  const closeVitest = async () => {
    const running = vitest
    vitest = undefined
    if (running) await (await running.catch(() => undefined))?.close()
  }

  return {
    name: 'vite-plugin-ollama:virtual',
    enforce: 'pre',

    configResolved(config) {
      allowClientFiles(config)
    },

    resolveId: {
      filter: { id: /^virtual:ollama(\/overlay)?$/ },
      handler(id) {
        if (id === CLIENT_ID || id === OVERLAY_ID) return `\0${id}`
      },
    },

    load: {
      filter: { id: /^\0virtual:ollama(\/overlay)?$/ },
      async handler(id, loadOptions) {
        const { config, options } = state
        const server = isServerCode(this, loadOptions)
        if (id === `\0${OVERLAY_ID}`) {
          const dev = config.command === 'serve' && !isVitestMode(config.mode)
          return dev ? overlayModule(state) : 'export {}'
        }
        if (id !== `\0${CLIENT_ID}`) return
        if (config.command === 'build') {
          const base = productionRouteBase(state)
          // Server code has no page to resolve a path against: it calls the app's handler in-process.
          const via = server && !isAbsolute(base) ? 'handlerFetch' : undefined
          if (!announced.has(String(server))) {
            announced.add(String(server))
            config.logger.info(
              `${colors.magenta('[ollama]')} ${
                server
                  ? `virtual:ollama in server code → ${via ? `${base}, in-process: the handler createOllamaHandler makes in the same server` : base}`
                  : `virtual:ollama → ${base}: serve it with createOllamaHandler`
              } (routing.production: "${options.routing.production}")`,
            )
          }
          return clientModule(base, options, { production: true, via })
        }
        if (isVitestMode(config.mode) && options.simulator.vitest && options.enabled) {
          vitest ??= startVitestServer(options)
          return clientModule((await vitest).base, options, { production: false })
        }
        // Server code reaches the routes on the plugin's loopback port, known from here on.
        const origin = server && state.active ? await state.serverCodeOrigin?.() : undefined
        return clientModule(devRouteBase(state), options, {
          production: false,
          via: origin ? `devServerFetch(${JSON.stringify(origin)})` : undefined,
        })
      },
    },

    // Vitest closes its Vite server at the end of the run: the simulator goes with it.
    buildEnd: closeVitest,
    closeBundle: closeVitest,
  }
}

function clientDir(): string {
  return fileURLToPath(new URL('./client/', import.meta.url))
}

/** The browser modules are served from our package directory, which may sit outside the root. */
function allowClientFiles(config: ResolvedConfig): void {
  const dir = clientDir()
  const allow = config.server.fs.allow as string[]
  if (!allow.some((root) => dir.startsWith(root.endsWith('/') ? root : `${root}/`))) allow.push(dir)
}

function clientFile(name: string): string {
  const base = `${clientDir()}${name}`
  return existsSync(`${base}.ts`) ? `${base}.ts` : `${base}.js`
}

/**
 * Whether `virtual:ollama` is loaded for server code (SSR loaders, actions, server routes): Vite's
 * environment says so (`consumer: 'server'`, Vite >= 6), or the older `ssr` flag.
 */
function isServerCode(context: unknown, loadOptions: { ssr?: boolean } | undefined): boolean {
  const environment = (context as { environment?: { config?: { consumer?: string } } }).environment
  return environment?.config?.consumer === 'server' || loadOptions?.ssr === true
}

function isAbsolute(base: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(base)
}

/**
 * How server code's module sends its requests (src/client/server-fetch.ts): `handlerFetch`, or
 * `devServerFetch("http://127.0.0.1:PORT")`; none in the browser.
 */
type ServerFetch = 'handlerFetch' | `devServerFetch(${string})`

/**
 * The module: the client, configured with the base and default model, and nothing else (no key,
 * no upstream URL). Server code gets the same base, so `chatUrl` and what it renders match the
 * browser's, and a fetch that knows where the routes are (docs/decisions.md, "virtual:ollama in
 * server code").
 */
function clientModule(
  base: string,
  options: ResolvedOptions,
  side: { production: boolean; via?: ServerFetch | undefined },
): string {
  const file = JSON.stringify(clientFile('index'))
  const settings = JSON.stringify({
    base,
    defaultModel: options.defaultModel ?? null,
    ...(side.production ? { production: true } : {}),
  })
  if (!side.via) {
    return [
      `import { configure } from ${file}`,
      `configure(${settings})`,
      `export * from ${file}`,
    ].join('\n')
  }
  return [
    `import { configure } from ${file}`,
    `import { ${side.via.replace(/\(.*$/, '')} } from ${JSON.stringify(clientFile('server-fetch'))}`,
    `configure({ ...${settings}, fetch: ${side.via} })`,
    `export * from ${file}`,
  ].join('\n')
}

function overlayModule(state: PluginState): string {
  const { options, config } = state
  if (!options.overlay) return 'export {}'
  const settings = JSON.stringify({
    base: devRouteBase(state),
    position: options.overlay.position,
    collapsed: options.overlay.collapsed,
    nonce: config.html?.cspNonce,
  })
  // Loaded twice on one page (Vite's client imports it, and so may a tag a user or a framework
  // added, under another URL): the first load mounts the overlay, a second one does nothing.
  return [
    `import { mountOverlay } from ${JSON.stringify(clientFile('overlay'))}`,
    `const loaded = Symbol.for(${JSON.stringify(OVERLAY_ID)})`,
    `if (!globalThis[loaded]) {`,
    `  globalThis[loaded] = true`,
    // Absolute against the dev server that served this module: a backend's page (Rails,
    // Laravel…) loads Vite's client from Vite's own origin, where the routes are.
    `  const settings = ${settings}`,
    `  mountOverlay({ ...settings, base: new URL(settings.base, import.meta.url).href })`,
    `}`,
  ].join('\n')
}
