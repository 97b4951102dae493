import type { Plugin } from 'vite'
import { loadEnv } from 'vite'
import { probeOllama } from './ollama/probe.js'
import type { ResolvedOptions } from './options.js'
import { createOllamaHandler } from './production/handler.js'
import { toNodeHandler } from './production/node.js'
import { LOCAL_PROVIDER } from './production/options.js'
import { type Simulator, startSimulator } from './simulator/index.js'
import { announce } from './terminal.js'
import { type PluginState, productionRouteBase } from './virtual.js'

// `vite preview`: the built app with the production handler in front of it (docs/decisions.md,
// "One handler, many hosts"), so `npm run build && vite preview` tries the real production path.
// The handler is mounted in the hook's body, ahead of Vite's compression, which would otherwise
// hold event streams back.

/** The provider that answers in preview, and why, for the start-up line. */
export function previewProvider(
  options: ResolvedOptions,
  env: Record<string, string | undefined>,
): { name: string; reason: string } {
  if (options.routing.preview) return { name: options.routing.preview, reason: 'routing.preview' }
  const production = options.routing.production
  const keyName = options.providers[production]?.apiKeyEnv
  if (production === LOCAL_PROVIDER) return { name: production, reason: 'routing.production' }
  if (!keyName) return { name: production, reason: 'routing.production, which needs no key' }
  if (env[keyName]) return { name: production, reason: `${keyName} is set` }
  return {
    name: LOCAL_PROVIDER,
    reason: `${keyName} is not set, so the local Ollama answers; set it to preview "${production}"`,
  }
}

export function previewPlugin(state: PluginState): Plugin {
  return {
    name: 'vite-plugin-ollama:preview',
    apply: (_config, env) => env.command === 'serve' && env.isPreview === true,

    async configurePreviewServer(server) {
      const { options, config } = state
      if (!options.enabled) return
      const base = productionRouteBase(state)
      if (!base.startsWith('/')) {
        announce(
          config.logger,
          `preview: the app sends chats to ${base} (productionBase); nothing is mounted here`,
        )
        return
      }
      // Keys may live in .env files: read on this server only, never handed to the bundle.
      const env = { ...loadEnv(config.mode, config.envDir || config.root, ''), ...process.env }
      const provider = previewProvider(options, env)
      const local = provider.name === LOCAL_PROVIDER ? await localEngine(options) : undefined
      if (local?.simulator) server.httpServer?.once('close', () => void local.simulator?.close())
      const handler = createOllamaHandler({
        url: local?.url ?? options.url,
        base,
        models: options.models,
        ...(options.defaultModel ? { defaultModel: options.defaultModel } : {}),
        providers: options.providers,
        routing: options.routing,
        provider: provider.name,
        maxBodySize: options.maxBodySize,
        allowedOrigins: options.allowedOrigins,
        log: (line) => config.logger.error(line, { timestamp: true }),
      })
      const where = local ? local.label : `provider "${provider.name}"`
      announce(config.logger, `preview: ${base} → ${where} (${provider.reason})`)
      server.middlewares.use(toNodeHandler(handler, { env }))
    },
  }
}

/**
 * The Ollama at `url`, as in dev: when nothing answers there and `fallback` is `'simulator'`,
 * the simulator, with the app's models, so a preview chats on any machine and says so.
 */
async function localEngine(
  options: ResolvedOptions,
): Promise<{ url: string; label: string; simulator?: Simulator }> {
  if (options.fallback !== 'simulator' || (await probeOllama(options.url)).kind === 'ollama')
    return { url: options.url, label: `the Ollama at ${options.url}` }
  const simulator = await startSimulator({
    models: options.models,
    tokenDelayMs: options.simulator.tokenDelayMs,
  })
  return {
    url: simulator.url,
    label: `the simulator (nothing answers at ${options.url}; fallback: 'simulator')`,
    simulator,
  }
}
