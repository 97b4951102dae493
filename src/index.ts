import type { Logger, Plugin } from 'vite'
import { version as viteVersion } from 'vite'
import { bindHost, middlewareModeDecline } from './host.js'
import {
  claimOrchestrator,
  installSignalHandlers,
  releaseOrchestrator,
  supportsCloseServerHook,
  wrapCloseForOldVite,
} from './lifecycle.js'
import { type OllamaPluginOptions, resolveOptions } from './options.js'
import { overlayInjection } from './overlay-inject.js'
import { previewPlugin } from './preview.js'
import type { RouteContext } from './server/context.js'
import { loopbackRoutes } from './server/loopback.js'
import { stateWatch } from './server/model-wait.js'
import { exposureLine } from './server/network.js'
import { connectOverlayEvents } from './server/overlay-events.js'
import { ollamaRoutes } from './server/routes.js'
import { processState } from './singleton.js'
import { announce, shareTerminal } from './terminal.js'
import { devRouteBase, isVitestMode, type PluginState, virtualModulePlugin } from './virtual.js'

export type * from './engines/types.js'
export type { GpuInfo, GpuReport } from './gpu/detect.js'
export { detectGpus } from './gpu/detect.js'
export { recommendModels } from './gpu/recommend.js'
export type * from './ollama/index.js'
export { OllamaClient, OllamaError } from './ollama/index.js'
export type {
  DockerOptions,
  OllamaPluginOptions,
  OverlayOptions,
  ProviderOptions,
  ResolvedOptions,
  RoutingOptions,
} from './options.js'
export { OllamaOptionsError, resolveOptions } from './options.js'
export type * from './protocol.js'
export type { Simulator, SimulatorOptions, SimulatorStats } from './simulator/index.js'
export { startSimulator } from './simulator/index.js'

/**
 * `ollama(options)`: a local LLM for the Vite dev server. Detects the GPU, makes sure Ollama runs
 * (adopts one, or starts the Docker container or `ollama serve`), pulls the app's models with
 * progress in the terminal and the browser, and serves chat from the dev server's own origin.
 * `virtual:ollama` resolves in every mode: `vite build` targets `productionBase`, `vite preview`
 * serves the production handler, Vitest gets a simulator for the run.
 *
 * Nothing happens at factory time or in `vite build`; the engine runs only in `vite`.
 */
export function ollama(userOptions: OllamaPluginOptions = {}): Plugin[] {
  const state = { active: false } as PluginState
  const resolve: Plugin = {
    name: 'vite-plugin-ollama:options',
    enforce: 'pre',
    configResolved(config) {
      state.config = config
      // Invalid options stop start-up (and builds) here, with a message naming the option and the fix.
      state.options = resolveOptions(userOptions)
    },
  }
  return [resolve, virtualModulePlugin(state), devPlugin(userOptions, state), previewPlugin(state)]
}

export default ollama

/** The dev server's half: the engine, the routes, the WebSocket, the overlay and the terminal. */
function devPlugin(userOptions: OllamaPluginOptions, state: PluginState): Plugin {
  /** Servers of this instance holding the orchestrator (an inline config's restart reuses it). */
  let claims = 0
  /** Whether the host owns the server (middleware mode), so a close may be the host's restart. */
  let hostOwned = false
  /** Each server's detach, by its client environment, whose `closeBundle` says it closed. */
  const closers = new WeakMap<object, () => void>()
  return {
    name: 'vite-plugin-ollama',
    enforce: 'pre',
    // `vite-plugin-ollama doctor --config vite.config.ts` reads the options from here.
    api: { options: userOptions },

    apply(_config, env) {
      // Vitest creates a dev server of its own (mode 'test', or 'benchmark' for `vitest bench`):
      // starting Docker there would slow or break test runs. Preview has no HMR channel.
      return env.command === 'serve' && !env.isPreview && !isVitestMode(env.mode)
    },

    // The overlay on every page that runs Vite's client, plain or SSR-served (overlay-inject.ts).
    transform: overlayInjection(state),

    configureServer(server) {
      const { options, config } = state
      if (!options.enabled) return
      const decline = middlewareModeDecline(server, options)
      if (decline) {
        sayDeclineOnce(config.logger, decline)
        return
      }
      state.active = true
      hostOwned = !server.httpServer
      claims++
      const orchestrator = claimOrchestrator(options)
      const ctx: RouteContext = {
        base: devRouteBase(state),
        options: () => orchestrator.currentOptions,
        upstream: () => orchestrator.upstream(),
        snapshot: () => orchestrator.snapshot(),
        watch: stateWatch(orchestrator),
        pull: (model, signal) => orchestrator.pull(model, signal),
        restartEngine: () => orchestrator.restartEngine(),
        cancelPull: (model) => orchestrator.cancelPull(model),
        noteContext: (model, warning) => orchestrator.noteContext(model, warning),
        noteWaiting: (model) => orchestrator.noteWaiting(model),
        allowedHosts: () => config.server.allowedHosts,
        logger: config.logger,
      }
      const host = bindHost(server, ctx)
      const routes = ollamaRoutes(ctx)
      server.middlewares.use(host.middleware)
      server.middlewares.use(routes)
      const loopback = loopbackRoutes(routes)
      state.serverCodeOrigin = () => loopback.origin()
      const disconnectOverlay = connectOverlayEvents(server, orchestrator)
      const leaveTerminal = shareTerminal(orchestrator, {
        logger: config.logger,
        stream: process.stdout,
        // During a restart the new server has no URL yet: the last known one is the same. In
        // middleware mode it is the host's, known from the first request; until then the path.
        chatUrl: () => `${host.pageOrigin() ?? processState().lastUrl ?? ''}${ctx.base}/chat`,
      })
      // This instance's ties to the orchestrator die with its server; the orchestrator does not.
      let detached = false
      const detach = () => {
        if (detached) return
        detached = true
        disconnectOverlay()
        leaveTerminal()
        void host.close()
        void loopback.close()
      }
      // The server's close: its HTTP server's, or, in middleware mode, its client environment's.
      server.httpServer?.once('close', detach)
      closers.set(server.environments.client, detach)
      installSignalHandlers()
      // The Vite running this server (Vite >= 7 tells the hook), which need not be the one this
      // package resolves `vite` to in a monorepo.
      const running = (this as { meta?: { viteVersion?: string } } | undefined)?.meta?.viteVersion
      if (!supportsCloseServerHook(running ?? viteVersion)) wrapCloseForOldVite(server, detach)

      // Never delay `listening`: the app is served at once, Ollama comes up beside it.
      const start = () => {
        const exposure = exposureLine(server.httpServer?.address() ?? null, options.network)
        if (exposure) announce(config.logger, exposure)
        void orchestrator.start()
      }
      if (server.httpServer && !server.httpServer.listening)
        server.httpServer.once('listening', start)
      else setImmediate(start)
    },

    // A middleware-mode server has no HTTP server whose `close` says it went: its environments
    // close with it.
    closeBundle() {
      const environment = (this as { environment?: object }).environment
      const detach = environment && closers.get(environment)
      if (detach) detach()
    },

    // Vite >= 8.3 says why a server closes: a restart hands the orchestrator to the new instance.
    async closeServer({ reason }: { reason: 'restart' | 'close' }) {
      if (claims === 0) return
      claims--
      await releaseOrchestrator(reason === 'close', hostOwned)
    },
  } as Plugin
}

/** Said once per process: Nuxt runs two Vite servers, and a restart makes new ones. */
function sayDeclineOnce(logger: Logger, message: string): void {
  const state = processState()
  if (state.declineSaid) return
  state.declineSaid = true
  announce(logger, message)
}
