// Response shapes of Ollama's native API, checked with zod (docs/decisions.md, "Ollama's JSON is
// loose in both directions"). Every object is loose: Ollama adds fields in most releases
// (capabilities, remote_host, logprobs…) and old releases omit some, so only what the plugin relies
// on is required and unknown keys pass through untouched.
import { z } from 'zod'

export const versionSchema = z.looseObject({ version: z.string() })

export const modelDetailsSchema = z.looseObject({
  parent_model: z.string().optional(),
  format: z.string().optional(),
  family: z.string().optional(),
  families: z.array(z.string()).nullish(),
  parameter_size: z.string().optional(),
  quantization_level: z.string().optional(),
  context_length: z.number().optional(),
  embedding_length: z.number().optional(),
})

export const modelEntrySchema = z.looseObject({
  name: z.string(),
  // Releases before 0.1.3x sent only `name`.
  model: z.string().optional(),
  modified_at: z.string(),
  size: z.number(),
  digest: z.string(),
  details: modelDetailsSchema.optional(),
  capabilities: z.array(z.string()).optional(),
})

export const listResponseSchema = z.looseObject({ models: z.array(modelEntrySchema) })

export const runningModelSchema = z.looseObject({
  name: z.string(),
  model: z.string().optional(),
  size: z.number(),
  digest: z.string(),
  details: modelDetailsSchema.optional(),
  expires_at: z.string().optional(),
  size_vram: z.number(),
  context_length: z.number().optional(),
})

export const psResponseSchema = z.looseObject({ models: z.array(runningModelSchema) })

export const showResponseSchema = z.looseObject({
  license: z.string().optional(),
  modelfile: z.string().optional(),
  parameters: z.string().optional(),
  template: z.string().optional(),
  system: z.string().optional(),
  details: modelDetailsSchema.optional(),
  // Always an object in current releases; older ones could send null.
  model_info: z.record(z.string(), z.unknown()).nullish(),
  capabilities: z.array(z.string()).optional(),
  modified_at: z.string().optional(),
})

export const pullProgressSchema = z.looseObject({
  status: z.string(),
  digest: z.string().optional(),
  total: z.number().optional(),
  completed: z.number().optional(),
})

export const toolCallSchema = z.looseObject({
  id: z.string().optional(),
  function: z.looseObject({
    index: z.number().optional(),
    name: z.string(),
    arguments: z.record(z.string(), z.unknown()),
  }),
})

export const messageSchema = z.looseObject({
  role: z.string(),
  content: z.string(),
  thinking: z.string().optional(),
  images: z.array(z.string()).nullish(),
  tool_calls: z.array(toolCallSchema).optional(),
  tool_name: z.string().optional(),
})

/** Metrics carried by the final chunk; zero values are omitted by Ollama. */
const metricsShape = {
  done_reason: z.string().optional(),
  total_duration: z.number().optional(),
  load_duration: z.number().optional(),
  prompt_eval_count: z.number().optional(),
  prompt_eval_duration: z.number().optional(),
  eval_count: z.number().optional(),
  eval_duration: z.number().optional(),
}

export const chatResponseSchema = z.looseObject({
  model: z.string(),
  created_at: z.string(),
  message: messageSchema,
  done: z.boolean(),
  ...metricsShape,
})

export const generateResponseSchema = z.looseObject({
  model: z.string(),
  created_at: z.string(),
  response: z.string(),
  thinking: z.string().optional(),
  done: z.boolean(),
  context: z.array(z.number()).optional(),
  ...metricsShape,
})

export const embedResponseSchema = z.looseObject({
  model: z.string(),
  embeddings: z.array(z.array(z.number())),
  total_duration: z.number().optional(),
  load_duration: z.number().optional(),
  prompt_eval_count: z.number().optional(),
})

export type ModelDetails = z.infer<typeof modelDetailsSchema>
export type ModelEntry = z.infer<typeof modelEntrySchema>
export type ListResponse = z.infer<typeof listResponseSchema>
export type RunningModel = z.infer<typeof runningModelSchema>
export type PsResponse = z.infer<typeof psResponseSchema>
export type ShowResponse = z.infer<typeof showResponseSchema>
export type PullProgress = z.infer<typeof pullProgressSchema>
export type ToolCall = z.infer<typeof toolCallSchema>
export type ChatResponse = z.infer<typeof chatResponseSchema>
export type GenerateResponse = z.infer<typeof generateResponseSchema>
export type EmbedResponse = z.infer<typeof embedResponseSchema>
export type VersionResponse = z.infer<typeof versionSchema>

/**
 * Cheap structural checks for the chunks in the middle of a stream, where running zod on each of
 * 100,000 chunks would cost more than parsing them. The final chunk (`done: true`) gets the full
 * schema. Each returns true when the value has the fields a consumer reads.
 */
export function looksLikeChatChunk(value: Record<string, unknown>): boolean {
  const message = value.message
  return (
    typeof value.done === 'boolean' &&
    typeof message === 'object' &&
    message !== null &&
    typeof (message as { content?: unknown }).content === 'string'
  )
}

export function looksLikeGenerateChunk(value: Record<string, unknown>): boolean {
  return typeof value.done === 'boolean' && typeof value.response === 'string'
}
