import { modelKey, normalizeModelName } from '../models/name.js'
import type { OllamaClient } from '../ollama/client.js'
import type { ChatMessage, ContextWarning } from '../protocol.js'

// The context guard (docs/decisions.md, "Ollama cuts a long prompt without a word"): Ollama runs a
// model with a context window of `num_ctx` tokens and silently drops the start of a prompt that
// does not fit. A chat whose prompt fills 90 % of the window or more gets a warning in its `done`
// metrics and in the overlay.

/** From this share of the window on, a prompt is worth a warning. */
const NEAR = 0.9
/**
 * The smallest window Ollama gives a model by default (older releases; vision models are forced
 * to at least this): a prompt below 90 % of it is near no default window, so no lookup is made.
 */
const SMALLEST_DEFAULT_NUM_CTX = 2048
/** What an image takes of the context budget (Ollama's server/prompt.go). */
const IMAGE_TOKENS = 768
/** What a message's role and template markers take besides its text. */
const MESSAGE_TOKENS = 4
/** Models whose `/api/show` facts are kept; an app chats with a handful. */
const REMEMBERED_MODELS = 64

/**
 * A prompt's size in tokens, cheaply, before the call: about four characters a token (English
 * text and code under the Llama, Qwen and Gemma tokenizers), plus each message's framing.
 */
export function estimatePromptTokens(messages: readonly ChatMessage[]): number {
  let tokens = 0
  for (const message of messages) {
    tokens += Math.ceil(message.content.length / 4) + MESSAGE_TOKENS
    tokens += (message.images?.length ?? 0) * IMAGE_TOKENS
  }
  return tokens
}

export interface ContextCheck {
  model: string
  /** The estimate made before the call. */
  estimate: number
  /** Ollama's `prompt_eval_count`, when it said. */
  evaluated?: number
  /** The request's own `options.num_ctx`, which wins over every default. */
  requested?: number
  signal?: AbortSignal
}

/** What `/api/show` says of a model's window. */
interface ModelFacts {
  /** The most it was trained for: `model_info["<arch>.context_length"]`. */
  trained?: number
  /** `PARAMETER num_ctx` in its Modelfile. */
  modelfile?: number
}

/** One per Ollama client (one per engine): what a model allows does not change while it runs. */
const factsByClient = new WeakMap<OllamaClient, Map<string, ModelFacts>>()

/**
 * After the call: the warning this chat deserves, or undefined when its prompt fits well. The
 * prompt's size is the larger of the estimate and Ollama's `prompt_eval_count`: Ollama counts
 * only what it kept of a prompt it cut, and only what it had to evaluate (a cached prefix of the
 * conversation is not counted). The window is the request's `num_ctx`, else what the model runs
 * with now (`/api/ps` after the call), else its Modelfile's, never above what it was trained for.
 * Nothing is asked of Ollama for a prompt too small to be near any window.
 */
export async function checkContext(
  client: OllamaClient,
  check: ContextCheck,
): Promise<ContextWarning | undefined> {
  const tokens = Math.max(check.estimate, check.evaluated ?? 0)
  // A larger num_ctx in the request may still be cut down to what the model takes.
  const floor = Math.min(check.requested ?? SMALLEST_DEFAULT_NUM_CTX, SMALLEST_DEFAULT_NUM_CTX)
  if (tokens < NEAR * floor) return undefined
  try {
    const facts = await modelFacts(client, check.model, check.signal)
    const running = check.requested ?? (await runningNumCtx(client, check.model, check.signal))
    const chosen = running ?? facts.modelfile ?? facts.trained
    if (!chosen) return undefined
    const numCtx = facts.trained ? Math.min(chosen, facts.trained) : chosen
    if (tokens < NEAR * numCtx) return undefined
    return describeWarning(check.model, tokens, numCtx, facts.trained)
  } catch {
    // A warning is a courtesy: Ollama not answering a lookup must not fail the chat.
    return undefined
  }
}

function describeWarning(
  model: string,
  promptTokens: number,
  numCtx: number,
  maxCtx: number | undefined,
): ContextWarning {
  const level = promptTokens >= numCtx ? 'over' : 'near'
  const share = Math.round((promptTokens / numCtx) * 100)
  const message =
    level === 'over'
      ? `The prompt (about ${promptTokens} tokens) does not fit ${model}'s context window (num_ctx ${numCtx}): Ollama cut its start to fit, without an error, so the model never saw it.`
      : `The prompt (about ${promptTokens} tokens) fills ${share}% of ${model}'s context window (num_ctx ${numCtx}): a little more and Ollama cuts its start, without an error.`
  const hint =
    maxCtx === undefined || numCtx < maxCtx
      ? `Raise num_ctx: numCtx in the ollama() options in vite.config.ts (engines the plugin starts), or options.num_ctx in the request${maxCtx ? `; ${model} takes up to ${maxCtx}` : ''}. Or send less history.`
      : `${numCtx} tokens is the most ${model} takes: send less history, or use a model with a longer context.`
  return {
    model,
    promptTokens,
    numCtx,
    ...(maxCtx !== undefined ? { maxCtx } : {}),
    level,
    message,
    hint,
  }
}

async function modelFacts(
  client: OllamaClient,
  model: string,
  signal: AbortSignal | undefined,
): Promise<ModelFacts> {
  let known = factsByClient.get(client)
  if (!known) {
    known = new Map()
    factsByClient.set(client, known)
  }
  const key = modelKey(normalizeModelName(model) ?? model)
  const cached = known.get(key)
  if (cached) return cached
  const show = await client.show(model, { signal })
  const facts: ModelFacts = {}
  for (const [name, value] of Object.entries(show.model_info ?? {})) {
    if (name.endsWith('.context_length') && typeof value === 'number') facts.trained = value
  }
  const parameter = /^num_ctx\s+(\d+)/m.exec(show.parameters ?? '')?.[1]
  if (parameter) facts.modelfile = Number(parameter)
  if (known.size >= REMEMBERED_MODELS) known.delete(known.keys().next().value ?? '')
  known.set(key, facts)
  return facts
}

/** The window the model runs with now: it has just answered, so it is loaded. */
async function runningNumCtx(
  client: OllamaClient,
  model: string,
  signal: AbortSignal | undefined,
): Promise<number | undefined> {
  const key = modelKey(normalizeModelName(model) ?? model)
  const { models } = await client.ps({ signal })
  const entry = models.find((m) => modelKey(normalizeModelName(m.name) ?? m.name) === key)
  return entry?.context_length || undefined
}
