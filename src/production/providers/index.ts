import type { ProviderType } from '../options.js'
import { ollamaKind } from './ollama.js'
import { openaiKind } from './openai.js'
import type { ProviderKind } from './types.js'

/** How each provider type is spoken to; its keys are `providerTypes` (options.ts checks both agree). */
export const providerKinds: Record<ProviderType, ProviderKind> = {
  ollama: ollamaKind,
  openai: openaiKind,
}

export type { ProviderKind, ProviderTurn } from './types.js'
export { UpstreamError } from './types.js'
