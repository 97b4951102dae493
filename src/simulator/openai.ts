// Ollama's OpenAI-compatible API (docs/decisions.md, "The OpenAI-compatible API"):
// /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models. SSE frames `data: {json}\n\n`
// ending with `data: [DONE]\n\n`, the post-v0.32.6 finish chunk (`delta: {}`), and OpenAI-shaped
// errors.

import type { IncomingMessage, ServerResponse } from 'node:http'
import { displayName, parseModelName } from '../models/name.js'
import { planAnswer } from './answer.js'
import type { SimContext } from './context.js'
import { beginStream } from './context.js'
import { embedInputs, findEmbedModel } from './embed.js'
import { evalCount, runTokens, Timing, truncatePlan, waitFirstByte } from './generation.js'
import {
  goStringify,
  HttpError,
  type JsonObject,
  parseJsonBody,
  readBody,
  sendJson,
  sendText,
} from './http.js'
import { tokenLogprob } from './logprobs.js'
import { type OpenAiChat, readOpenAiChat, stopOf } from './openai-chat.js'
import type { InstalledModel } from './registry.js'
import { thinkingLevel } from './thinking.js'
import { countTokens } from './tokens.js'
import { openAiToolCall } from './tools.js'
import { checkCapabilities, checkTopLogprobs } from './validate.js'

const POST_PATHS = new Set(['/v1/chat/completions', '/v1/completions', '/v1/embeddings'])

export function isOpenAiPath(path: string): boolean {
  return POST_PATHS.has(path) || path === '/v1/models' || path.startsWith('/v1/models/')
}

/** `{"error":{"message","type","param":null,"code":null}}`, the type chosen by status. */
export function sendOpenAiError(res: ServerResponse, status: number, message: string): void {
  const type =
    status === 400 ? 'invalid_request_error' : status === 404 ? 'not_found_error' : 'api_error'
  sendJson(res, status, { error: { message, type, param: null, code: null } })
}

export async function handleOpenAi(
  ctx: SimContext,
  req: IncomingMessage,
  res: ServerResponse,
  method: string,
  path: string,
): Promise<void> {
  if (path === '/v1/models' || path.startsWith('/v1/models/')) {
    const id = path.slice('/v1/models/'.length)
    if (path.startsWith('/v1/models/') && (id === '' || id.includes('/'))) {
      return sendText(res, 404, '404 page not found')
    }
    if (method !== 'GET') return sendText(res, 405, '405 method not allowed')
    if (path === '/v1/models') return listModels(ctx, res)
    return retrieveModel(ctx, res, decodeURIComponent(id))
  }
  if (method !== 'POST') return sendText(res, 405, '405 method not allowed')
  const body = parseJsonBody(await readBody(req), 'ChatCompletionRequest')
  if (path === '/v1/embeddings') return embeddings(ctx, res, body)
  return completion(ctx, req, res, path === '/v1/chat/completions' ? 'chat' : 'text', body)
}

function ownedBy(model: InstalledModel): string {
  return parseModelName(model.name)?.namespace ?? 'library'
}

function modelObject(model: InstalledModel): JsonObject {
  return {
    id: model.name,
    object: 'model',
    created: Number(model.modifiedNs / 1_000_000_000n),
    owned_by: ownedBy(model),
  }
}

/** GET /v1/models: `data` is null (not []) with no models, as Ollama's nil slice marshals. */
function listModels(ctx: SimContext, res: ServerResponse): void {
  const models = ctx.registry.list()
  sendJson(res, 200, { object: 'list', data: models.length ? models.map(modelObject) : null })
}

function retrieveModel(ctx: SimContext, res: ServerResponse, id: string): void {
  const name = parseModelName(id)
  const model = ctx.registry.find(id)
  if (!name || !model) {
    sendOpenAiError(res, 404, `model '${name ? displayName(name) : id}' not found`)
    return
  }
  sendJson(res, 200, modelObject(model))
}

const EMPTY_CHAT: OpenAiChat = {
  turns: [],
  prompt: '',
  promptTokens: 0,
  tools: [],
  format: undefined,
  think: undefined,
  stop: [],
  logprobs: undefined,
}

/** `/v1/completions`: a string prompt only. */
function textPrompt(body: JsonObject): Pick<OpenAiChat, 'turns' | 'prompt' | 'promptTokens'> {
  if (typeof body.prompt !== 'string') throw new HttpError(400, 'invalid prompt type')
  const prompt = body.prompt
  return {
    prompt,
    promptTokens: countTokens(prompt) + 10,
    turns: [{ role: 'user', content: prompt }],
  }
}

function findModel(ctx: SimContext, raw: string): InstalledModel {
  if (raw === '') throw new HttpError(400, 'model is required')
  if (!parseModelName(raw)) throw new HttpError(400, 'invalid model name')
  const model = ctx.registry.find(raw)
  if (!model) throw new HttpError(404, `model '${raw}' not found`)
  return model
}

/** POST /v1/chat/completions and POST /v1/completions. */
async function completion(
  ctx: SimContext,
  req: IncomingMessage,
  res: ServerResponse,
  kind: 'chat' | 'text',
  body: JsonObject,
): Promise<void> {
  const raw = typeof body.model === 'string' ? body.model : ''
  const chat: OpenAiChat =
    kind === 'chat'
      ? readOpenAiChat(body)
      : { ...EMPTY_CHAT, ...textPrompt(body), stop: stopOf(body.stop), think: false }
  checkTopLogprobs(body)
  const model = findModel(ctx, raw)
  checkCapabilities(model, raw, kind === 'chat' ? 'chat' : 'generate', {
    tools: chat.tools.length,
    think: chat.think,
  })
  const plan = planAnswer({
    model,
    name: raw,
    turns: chat.turns,
    prompt: chat.prompt,
    tools: chat.tools,
    format: chat.format,
    thinking: kind === 'chat' ? thinkingLevel(model, chat.think) : false,
    limit: body.max_tokens ?? body.max_completion_tokens,
    stop: chat.stop,
  })
  let promptTokens = chat.promptTokens
  const streaming = body.stream === true
  const includeUsage = (body.stream_options as JsonObject | undefined)?.include_usage === true
  const stream = beginStream(ctx, req, res, req.url ?? '', raw)
  ctx.registry.touch(model, undefined)
  const timing = new Timing()
  if (!(await waitFirstByte(ctx, stream))) return
  timing.markLoaded()

  const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${Math.floor(Math.random() * 999)}`
  const created = Math.floor(Date.now() / 1000)
  const sse = new SseWriter(res, id, created, raw, kind)
  let content = ''
  let reasoning = ''
  const logprobs: JsonObject[] = []
  const errorAfter = ctx.config.errorAfterTokens
  const total = plan.thinking.length + plan.content.length
  const failing = errorAfter !== undefined && errorAfter < total
  const run = failing ? truncatePlan(plan, errorAfter) : plan
  const outcome = await runTokens(ctx, stream, res, run, (token, tokenKind) => {
    if (tokenKind === 'content') content += token
    else reasoning += token
    const logprob = chat.logprobs ? tokenLogprob(token, chat.logprobs.top) : undefined
    if (!streaming) {
      if (logprob) logprobs.push(logprob)
      return true
    }
    return sse.delta(token, tokenKind, logprob)
  })
  if (outcome !== 'done') return
  if (failing) {
    stream.complete()
    // Ollama's OpenAI writer turns a mid-stream {"error"} into an empty delta and stops: no finish
    // chunk, no [DONE] (docs/decisions.md, "The OpenAI-compatible API"). Before any byte it is a
    // proper error.
    if (streaming && res.headersSent) sse.broken()
    else sendOpenAiError(res, 500, MID_STREAM_ERROR)
    return
  }
  timing.markEnd()
  const completionTokens = evalCount(plan)
  // As the native chat: a prompt past num_ctx is cut, and counts as what was kept.
  promptTokens = Math.min(promptTokens, ctx.registry.numCtx(model))
  const usage = {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  }
  stream.complete()
  // `stop` becomes `tool_calls` when the model called tools (openai/openai.go:369-396).
  const finishReason =
    plan.toolCalls.length && plan.doneReason === 'stop' ? 'tool_calls' : plan.doneReason
  if (streaming) {
    for (const call of plan.toolCalls) sse.toolCall(openAiToolCall(call))
    return sse.finish(finishReason, includeUsage ? usage : undefined)
  }
  const base = {
    id,
    object: kind === 'chat' ? 'chat.completion' : 'text_completion',
    created,
    model: raw,
    system_fingerprint: 'fp_ollama',
  }
  if (kind === 'chat') {
    const message: JsonObject = { role: 'assistant', content }
    if (reasoning) message.reasoning = reasoning
    if (plan.toolCalls.length) message.tool_calls = plan.toolCalls.map(openAiToolCall)
    const choice: JsonObject = { index: 0, message, finish_reason: finishReason }
    if (chat.logprobs) choice.logprobs = { content: logprobs }
    sendJson(res, 200, { ...base, choices: [choice], usage })
  } else {
    sendJson(res, 200, {
      ...base,
      choices: [{ text: content, index: 0, finish_reason: plan.doneReason }],
      usage,
    })
  }
}

/** Writes OpenAI SSE chunks: `role` only in the first delta, then a `delta: {}` finish chunk. */
class SseWriter {
  private first = true

  constructor(
    private readonly res: ServerResponse,
    private readonly id: string,
    private readonly created: number,
    private readonly model: string,
    private readonly kind: 'chat' | 'text',
  ) {}

  private frame(data: unknown): boolean {
    if (!this.res.headersSent) this.res.writeHead(200, { 'Content-Type': 'text/event-stream' })
    return this.res.write(`data: ${goStringify(data)}\n\n`)
  }

  private chunk(choices: JsonObject[], extra: JsonObject = {}): JsonObject {
    if (this.kind === 'text') {
      return {
        id: this.id,
        object: 'text_completion',
        created: Math.floor(Date.now() / 1000),
        choices,
        model: this.model,
        system_fingerprint: 'fp_ollama',
        ...extra,
      }
    }
    return {
      id: this.id,
      object: 'chat.completion.chunk',
      created: this.created,
      model: this.model,
      system_fingerprint: 'fp_ollama',
      choices,
      ...extra,
    }
  }

  private role(): JsonObject {
    const delta: JsonObject = this.first ? { role: 'assistant' } : {}
    this.first = false
    return delta
  }

  delta(token: string, kind: 'thinking' | 'content', logprob?: JsonObject): boolean {
    if (this.kind === 'text') {
      if (kind === 'thinking') return true
      return this.frame(this.chunk([{ text: token, index: 0, finish_reason: null }]))
    }
    const delta = this.role()
    delta[kind === 'content' ? 'content' : 'reasoning'] = token
    const choice: JsonObject = { index: 0, delta, finish_reason: null }
    if (logprob) choice.logprobs = { content: [logprob] }
    return this.frame(this.chunk([choice]))
  }

  /** Each call arrives complete in one delta, its arguments not split (openai.go:369-396). */
  toolCall(call: JsonObject): void {
    const delta = { ...this.role(), tool_calls: [call] }
    this.frame(this.chunk([{ index: 0, delta, finish_reason: null }]))
  }

  /** The stream as a mid-stream error leaves it: an empty content delta, then the end. */
  broken(): void {
    const delta = this.kind === 'chat' ? { delta: { content: '' } } : { text: '' }
    this.frame(this.chunk([{ index: 0, ...delta, finish_reason: null }]))
    this.res.end()
  }

  finish(reason: string, usage?: JsonObject): void {
    if (this.kind === 'text')
      this.frame(this.chunk([{ text: '', index: 0, finish_reason: reason }]))
    else this.frame(this.chunk([{ index: 0, delta: {}, finish_reason: reason }]))
    if (usage) this.frame(this.chunk([], { usage }))
    this.res.end('data: [DONE]\n\n')
  }
}

/** POST /v1/embeddings: float arrays, or base64 of little-endian float32 (the SDK's default). */
function embeddings(ctx: SimContext, res: ServerResponse, body: JsonObject): void {
  const format = body.encoding_format ?? 'float'
  if (format !== 'float' && format !== 'base64') {
    throw new HttpError(
      400,
      `Invalid value for 'encoding_format' = ${String(format)}. Supported values: ['float', 'base64'].`,
    )
  }
  const input = body.input
  const inputs = typeof input === 'string' ? [input] : Array.isArray(input) ? input : null
  if (!inputs || inputs.length === 0) throw new HttpError(400, 'invalid input')
  if (!inputs.every((item) => typeof item === 'string')) throw new HttpError(400, 'invalid input')
  const raw = typeof body.model === 'string' ? body.model : ''
  if (raw === '') throw new HttpError(404, "model '' not found")
  const model = findEmbedModel(ctx, raw)
  ctx.registry.touch(model, undefined)
  const dims = typeof body.dimensions === 'number' ? body.dimensions : undefined
  const result = embedInputs(model, raw, inputs as string[], dims, true)
  const data = result.embeddings.map((vector, index) => ({
    object: 'embedding',
    embedding: format === 'base64' ? float32Base64(vector) : vector,
    index,
  }))
  sendJson(res, 200, {
    object: 'list',
    data,
    model: raw,
    usage: { prompt_tokens: result.promptTokens, total_tokens: result.promptTokens },
  })
}

const MID_STREAM_ERROR = 'an error was encountered while running the model'

function float32Base64(vector: number[]): string {
  const bytes = Buffer.alloc(vector.length * 4)
  for (let i = 0; i < vector.length; i++) bytes.writeFloatLE(vector[i] ?? 0, i * 4)
  return bytes.toString('base64')
}
