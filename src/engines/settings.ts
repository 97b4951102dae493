import type { ResolvedOptions } from '../options.js'

// The Ollama server settings the plugin's own options set, for the engines it starts (the Docker
// container's environment, `ollama serve`'s, the simulator's): one list, read by the engines and
// by `doctor`. An adopted Ollama keeps its own settings; nothing here reaches it.

/** Each option and the Ollama environment variable it sets. */
export const ENGINE_SETTINGS = [
  {
    option: 'parallel',
    env: 'OLLAMA_NUM_PARALLEL',
    what: 'chats one model answers at once',
  },
  {
    option: 'numCtx',
    env: 'OLLAMA_CONTEXT_LENGTH',
    what: 'the context window (num_ctx) of a model loaded without one',
  },
] as const satisfies ReadonlyArray<{ option: keyof ResolvedOptions; env: string; what: string }>

export type EngineSettingOptions = Pick<ResolvedOptions, (typeof ENGINE_SETTINGS)[number]['option']>

export interface EngineSetting {
  env: string
  value: string
  /** Why, for `doctor`: the option that set it. */
  reason: string
}

/** The settings these options make, in the order of the list. */
export function engineSettings(options: EngineSettingOptions): EngineSetting[] {
  const settings: EngineSetting[] = []
  for (const { option, env, what } of ENGINE_SETTINGS) {
    const value = options[option]
    if (value !== undefined) {
      settings.push({
        env,
        value: String(value),
        reason: `${option}: ${value} in vite.config.ts, ${what}`,
      })
    }
  }
  return settings
}

/** The same, as environment variables. */
export function engineEnv(options: EngineSettingOptions): Record<string, string> {
  return Object.fromEntries(engineSettings(options).map((s) => [s.env, s.value]))
}
