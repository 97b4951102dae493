// Thinking as Ollama does it (docs/simulator.md, "Thinking"): `think` values and their 400s, on by
// default for thinking models, gpt-oss's levels, and the `/v1` effort mappings.

import { HttpError, type JsonObject } from './http.js'
import type { InstalledModel } from './registry.js'
import { simulatedThinking } from './tokens.js'

export const THINK_LEVELS = ['low', 'medium', 'high', 'max'] as const
export type ThinkLevel = (typeof THINK_LEVELS)[number]
export type Think = boolean | ThinkLevel | undefined

const ACCEPTED = '("high", "medium", "low", "max", true, or false)'

/** `think` accepts true, false, "low", "medium", "high" or "max" (api.ThinkValue). */
export function parseThink(value: unknown): Think {
  if (value === undefined || value === null) return undefined
  if (typeof value === 'boolean') return value
  if (typeof value === 'string') {
    if ((THINK_LEVELS as readonly string[]).includes(value)) return value as ThinkLevel
    throw new HttpError(
      400,
      `invalid think value: ${JSON.stringify(value)} (must be "high", "medium", "low", "max", true, or false)`,
    )
  }
  throw new HttpError(400, `think must be a boolean or string ${ACCEPTED}`)
}

/** gpt-oss speaks Harmony: it always reasons, at a level (routes.go:2662-2672). */
function isHarmony(model: InstalledModel): boolean {
  return model.spec.family === 'gptoss'
}

/**
 * The level a generation reasons at, or false. Thinking models think unless told `false`
 * (routes.go:2616-2620); `true` is "medium"; gpt-oss ignores booleans and turns "max" into "high".
 * The 400 for a non-thinking model is checked before (chat.ts, openai.ts).
 */
export function thinkingLevel(model: InstalledModel, think: Think): ThinkLevel | false {
  if (!model.spec.capabilities.includes('thinking')) return false
  if (isHarmony(model)) {
    if (typeof think !== 'string') return 'medium'
    return think === 'max' ? 'high' : think
  }
  if (think === false) return false
  return typeof think === 'string' ? think : 'medium'
}

/**
 * The reasoning text. On gpt-oss it grows with the level (low: the base text; medium: one more
 * sentence; high: two more); other models ignore the level, as their templates do.
 */
export function thinkingText(
  model: InstalledModel,
  name: string,
  prompt: string,
  level: ThinkLevel,
): string {
  const base = simulatedThinking(name, prompt)
  if (!isHarmony(model) || level === 'low') return base
  const effort = ` Reasoning effort is ${level}.`
  return level === 'medium' ? base + effort : `${base}${effort} Checking the request once more.`
}

const EFFORTS: Record<string, boolean | ThinkLevel> = {
  none: false,
  minimal: 'low',
  low: 'low',
  medium: 'medium',
  high: 'high',
  max: 'max',
  xhigh: 'max',
  ultra: 'max',
}

/**
 * `/v1` `reasoning.effort`, else `reasoning_effort`, as `think` (openai/openai.go:531-547).
 * Unset leaves `think` unset, so thinking models think by default.
 */
export function thinkFromEffort(body: JsonObject): Think {
  const reasoning = body.reasoning as JsonObject | undefined
  const effort = reasoning?.effort ?? body.reasoning_effort
  if (effort === undefined || effort === null || effort === '') return undefined
  const think = typeof effort === 'string' ? EFFORTS[effort] : undefined
  if (think === undefined) {
    throw new HttpError(
      400,
      `invalid reasoning value: ${JSON.stringify(String(effort))} (must be "minimal", "low", "medium", "high", "xhigh", "ultra", "max", or "none")`,
    )
  }
  return think
}
