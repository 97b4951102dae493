import { debuglog } from 'node:util'
import type { Plugin, ViteDevServer } from 'vite'
import { version as viteVersion } from 'vite'
import { type OllamaPluginOptions, type ResolvedOptions, resolveOptions } from './options.js'
import { Orchestrator } from './orchestrator.js'
import { overlayInjection } from './overlay-inject.js'
import { previewPlugin } from './preview.js'
import type { RouteContext } from './server/context.js'
import { stateWatch } from './server/model-wait.js'
import { exposureLine } from './server/network.js'
import { connectOverlayEvents } from './server/overlay-events.js'
import { ollamaRoutes } from './server/routes.js'
import { attachChatSocket } from './server/ws/socket.js'
import { processState } from './singleton.js'
import { announce, reportToTerminal } from './terminal.js'
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

const debug = debuglog('vite-plugin-ollama')

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
      const routeBase = devRouteBase(state)
      if (!options.enabled) return
      if (!server.httpServer && !options.middlewareMode) {
        // Middleware mode (SSR hosts, Storybook, test runners) starts servers users did not ask
        // Ollama for; `middlewareMode: true` opts in.
        debug('middleware mode without middlewareMode: true: doing nothing')
        return
      }
      state.active = true
      const orchestrator = claimOrchestrator(options)
      const watch = stateWatch(orchestrator)
      const ctx: RouteContext = {
        base: routeBase,
        options: () => orchestrator.currentOptions,
        upstream: () => orchestrator.upstream(),
        snapshot: () => orchestrator.snapshot(),
        watch,
        pull: (model, signal) => orchestrator.pull(model, signal),
        restartEngine: () => orchestrator.restartEngine(),
        cancelPull: (model) => orchestrator.cancelPull(model),
        noteContext: (model, warning) => orchestrator.noteContext(model, warning),
        noteWaiting: (model) => orchestrator.noteWaiting(model),
        allowedHosts: () => config.server.allowedHosts,
        logger: config.logger,
      }
      server.middlewares.use(ollamaRoutes(ctx))
      const socket = server.httpServer
        ? attachChatSocket(server.httpServer as never, ctx)
        : undefined
      const disconnectOverlay = connectOverlayEvents(server, orchestrator)
      const stopTerminal = reportToTerminal(orchestrator, {
        logger: config.logger,
        stream: process.stdout,
        // During a restart the new server has no URLs yet: the last known one is the same.
        chatUrl: () => {
          const local = server.resolvedUrls?.local[0]
          if (local) processState().lastUrl = local.replace(/\/$/, '')
          return `${processState().lastUrl ?? ''}${options.base}/chat`
        },
      })
      // This instance's ties to the orchestrator die with its server; the orchestrator does not.
      const detach = () => {
        disconnectOverlay()
        stopTerminal()
        void socket?.close()
      }
      server.httpServer?.once('close', detach)
      installSignalHandlers()
      // The Vite running this server (Vite >= 7 tells the hook), which need not be the one this
      // package resolves `vite` to in a monorepo.
      const running = (this as { meta?: { viteVersion?: string } } | undefined)?.meta?.viteVersion
      if (!supportsCloseServerHook(running ?? viteVersion)) wrapCloseForOldVite(server)

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

    // Vite >= 8.3 says why a server closes: a restart hands the orchestrator to the new instance.
    async closeServer({ reason }: { reason: 'restart' | 'close' }) {
      await releaseOrchestrator(reason === 'close')
    },
  } as Plugin
}

/** One orchestrator per process: the new instance after a config restart adopts it. */
function claimOrchestrator(options: ResolvedOptions): Orchestrator {
  const state = processState()
  state.owners++
  if (state.orchestrator) {
    void state.orchestrator.update(options)
    return state.orchestrator
  }
  state.orchestrator = new Orchestrator(options)
  return state.orchestrator
}

/** A server let go of the orchestrator; the last one to close for good disposes it. */
async function releaseOrchestrator(closing: boolean): Promise<void> {
  const state = processState()
  state.owners = Math.max(0, state.owners - 1)
  if (closing && state.owners === 0) await disposeOrchestrator()
}

async function disposeOrchestrator(): Promise<void> {
  const state = processState()
  const orchestrator = state.orchestrator
  state.orchestrator = undefined
  if (orchestrator) {
    const disposal = orchestrator.dispose()
    state.disposals.add(disposal)
    void disposal.finally(() => state.disposals.delete(disposal))
  }
  // On SIGTERM, Vite's handler runs first and `closeServer` has already taken the orchestrator:
  // wait for that disposal too, or the signal handler exits with `ollama serve` still running.
  await Promise.allSettled([...state.disposals])
}

function supportsCloseServerHook(version: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number)
  return major > 8 || (major === 8 && minor >= 3)
}

/**
 * Vite 7.0 to 8.2 has no restart-versus-close signal (docs/decisions.md, "Restart versus close"):
 * count restarts in flight and dispose on a close that is not part of one (the Cloudflare plugin's
 * pattern).
 */
function wrapCloseForOldVite(server: ViteDevServer): void {
  const state = processState()
  const restart = server.restart.bind(server)
  const close = server.close.bind(server)
  server.restart = async (forceOptimize?: boolean) => {
    state.restarting++
    try {
      await restart(forceOptimize)
    } finally {
      state.restarting--
    }
  }
  server.close = async () => {
    await close()
    await releaseOrchestrator(state.restarting === 0)
  }
}

/**
 * Ctrl+C runs no Vite hook at all, and SIGTERM exits right after Vite's own close
 * (docs/decisions.md, "Ctrl+C runs no Vite hook"): stop what we started ourselves, then exit. The
 * `exit` handler is the synchronous last resort when something else ends the process.
 */
function installSignalHandlers(): void {
  const state = processState()
  if (state.signalsInstalled) return
  state.signalsInstalled = true
  const onSignal = (signal: NodeJS.Signals) => {
    const code = signal === 'SIGINT' ? 130 : 143
    const timer = setTimeout(() => process.exit(code), 10_000)
    timer.unref()
    disposeOrchestrator().finally(() => process.exit(code))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  process.once('exit', () => processState().orchestrator?.disposeSync())
}
