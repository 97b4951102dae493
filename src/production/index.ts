// `vite-plugin-ollama/server`: the routes of `virtual:ollama` for production, as one Web-standard
// fetch handler, and its bridge to Node's `http`, Connect and Express. Nothing here imports a
// Node built-in or a dependency, so it runs on Node, Cloudflare Workers, Deno, Bun and serverless
// functions alike.

export type { AuthorizeResult, HandlerOptions } from './config.js'
export type { RuntimeEnv } from './env.js'
export type { OllamaHandler } from './handler.js'
export { createOllamaHandler } from './handler.js'
export type { NodeHandlerOptions, NodeMiddleware, NodeRequest, NodeResponse } from './node.js'
export { toNodeHandler } from './node.js'
export type { ProviderOptions, ProviderType, RoutingOptions, SharedOptions } from './options.js'
export { providerTypes } from './options.js'
