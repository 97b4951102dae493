// POST /api/chat and POST /api/generate (docs/decisions.md, "Chat and generate"): NDJSON token
// chunks by default, one aggregated object with `stream:false`, the load/unload special cases, and
// the exact error bodies. The reply text is documented in tokens.ts (simulatedReply).

import type { IncomingMessage, ServerResponse } from 'node:http'
import { parseModelName } from '../models/name.js'
import { planAnswer, type Turn } from './answer.js'
import { goTime, nowNs } from './clock.js'
import { beginStream, type SimContext } from './context.js'
import {
  evalCount,
  runTokens,
  Timing,
  type TokenPlan,
  truncatePlan,
  waitFirstByte,
} from './generation.js'
import { expectType, goStringify, HttpError, type JsonObject, sendJson } from './http.js'
import { type LogprobRequest, logprobRequest, tokenLogprob } from './logprobs.js'
import type { InstalledModel } from './registry.js'
import { type Format, parseFormat } from './structured.js'
import { parseThink, type Think, thinkingLevel } from './thinking.js'
import { countTokens, tokenId } from './tokens.js'
import { checkNativeToolCalls, nativeToolCall, type ToolSpec, toolsOf } from './tools.js'
import {
  checkCapabilities,
  checkImages,
  checkTopLogprobs,
  keepAliveOf,
  optionsOf,
} from './validate.js'

type Kind = 'chat' | 'generate'

const MID_STREAM_ERROR = 'an error was encountered while running the model'

interface Prepared {
  kind: Kind
  raw: string
  model: InstalledModel
  body: JsonObject
  options: JsonObject
  keepAlive: bigint | undefined
  think: Think
  tools: ToolSpec[]
  format: Format
  logprobs: LogprobRequest | undefined
}

/** Finds the model a chat or generate request names, with Ollama's statuses and messages. */
function resolveModel(ctx: SimContext, kind: Kind, raw: string): InstalledModel {
  if (raw === '') {
    // Chat says "model is required"; generate falls through to the lookup (docs/decisions.md,
    // "Ollama's error texts are exact").
    if (kind === 'chat') throw new HttpError(400, 'model is required')
    throw new HttpError(404, "model '' not found")
  }
  if (!parseModelName(raw)) throw new HttpError(400, 'invalid model name')
  const model = ctx.registry.find(raw)
  if (!model) throw new HttpError(404, `model '${raw}' not found`)
  return model
}

function prepare(ctx: SimContext, kind: Kind, body: JsonObject): Prepared {
  const struct = kind === 'chat' ? 'ChatRequest' : 'GenerateRequest'
  expectType(body, 'model', 'string', struct, 'string')
  expectType(body, 'stream', 'bool', struct, 'bool')
  if (kind === 'chat') {
    expectType(body, 'messages', 'array', struct, '[]api.Message')
    for (const message of (body.messages as unknown[] | undefined) ?? []) {
      if (typeof message !== 'object' || message === null || Array.isArray(message)) {
        throw new HttpError(
          400,
          `json: cannot unmarshal ${Array.isArray(message) ? 'array' : typeof message} into Go struct field ChatRequest.messages of type api.Message`,
        )
      }
      expectType(message as JsonObject, 'content', 'string', 'ChatRequest.messages', 'string')
      expectType(message as JsonObject, 'role', 'string', 'ChatRequest.messages', 'string')
      checkImages((message as JsonObject).images)
      checkNativeToolCalls(message as JsonObject)
    }
  } else {
    expectType(body, 'prompt', 'string', struct, 'string')
    expectType(body, 'system', 'string', struct, 'string')
    checkImages(body.images)
  }
  const tools = kind === 'chat' ? toolsOf(body.tools, struct) : []
  const think = parseThink(body.think)
  const keepAlive = keepAliveOf(body)
  const requested = optionsOf(body)
  checkTopLogprobs(body)
  const raw = typeof body.model === 'string' ? body.model : ''
  const model = resolveModel(ctx, kind, raw)
  // A created model's parameters are defaults that the request's own options override.
  const options = { ...model.modelfile?.parameters, ...requested }
  if (kind === 'generate' && body.raw === true && (body.template || body.system || body.context)) {
    throw new HttpError(400, 'raw mode does not support template, system, or context')
  }
  const prepared: Prepared = {
    kind,
    raw,
    model,
    body,
    options,
    keepAlive,
    think,
    tools,
    format: undefined,
    logprobs: logprobRequest(body),
  }
  checkCapabilities(model, raw, kind, {
    tools: tools.length,
    think,
    suffix: typeof body.suffix === 'string' ? body.suffix : '',
  })
  return prepared
}

interface Message {
  role?: string
  content?: string
  tool_name?: string
  tool_call_id?: string
  tool_calls?: Array<{ id?: string; function?: { name?: string } }>
}

interface Prompt {
  prompt: string
  promptTokens: number
  turns: Turn[]
}

function promptOf(p: Prepared): Prompt | null {
  if (p.kind === 'generate') {
    const prompt = typeof p.body.prompt === 'string' ? p.body.prompt : ''
    if (prompt === '') return null
    const system = typeof p.body.system === 'string' ? p.body.system : ''
    // The chat template adds a handful of header tokens around the prompt.
    const overhead = p.body.raw === true ? 0 : 10
    const promptTokens = countTokens(system) + countTokens(prompt) + overhead
    return { prompt, promptTokens, turns: [{ role: 'user', content: prompt }] }
  }
  const messages = ((p.body.messages as Message[] | undefined) ?? []).filter(Boolean)
  if (messages.length === 0) return null
  let prompt = ''
  let promptTokens = 1
  const turns: Turn[] = []
  const callNames = new Map<string, string>()
  for (const message of messages) {
    const content = typeof message.content === 'string' ? message.content : ''
    const role = message.role?.toLowerCase() ?? ''
    if (role === 'user') prompt = content
    promptTokens += countTokens(content) + 4
    for (const call of message.tool_calls ?? []) {
      if (call?.id && call.function?.name) callNames.set(call.id, call.function.name)
    }
    // A tool result names its tool by tool_name, else by the call it answers (types.go:197-207).
    const toolName =
      message.tool_name || (message.tool_call_id ? callNames.get(message.tool_call_id) : undefined)
    turns.push({ role, content, toolName })
  }
  return { prompt, promptTokens, turns }
}

function emptyReply(p: Prepared, doneReason: string): JsonObject {
  const base: JsonObject = { model: p.raw, created_at: goTime(nowNs()) }
  if (p.kind === 'chat') base.message = { role: 'assistant', content: '' }
  else base.response = ''
  return { ...base, done: true, done_reason: doneReason }
}

/**
 * An empty `messages`/`prompt` only loads the model (`done_reason: "load"`), or unloads it with
 * `keep_alive: 0` (`"unload"`, immediate). One JSON object, even when `stream` is true.
 */
async function loadOrUnload(
  ctx: SimContext,
  req: IncomingMessage,
  res: ServerResponse,
  p: Prepared,
) {
  if (p.keepAlive === 0n) {
    ctx.registry.unload(p.model)
    sendJson(res, 200, emptyReply(p, 'unload'))
    return
  }
  const stream = beginStream(ctx, req, res, req.url ?? '', p.raw)
  if (!ctx.registry.isLoaded(p.model) && !(await waitFirstByte(ctx, stream))) return
  ctx.registry.touch(p.model, p.keepAlive, numCtxOf(p))
  stream.complete()
  sendJson(res, 200, emptyReply(p, 'load'))
}

function numCtxOf(p: Prepared): number | undefined {
  return typeof p.options.num_ctx === 'number' ? p.options.num_ctx : undefined
}

function chunkFor(
  p: Prepared,
  token: string,
  kind: 'thinking' | 'content',
  logprob: JsonObject | undefined,
): JsonObject {
  const head: JsonObject = { model: p.raw, created_at: goTime(nowNs()) }
  let chunk: JsonObject
  if (p.kind === 'chat') {
    const message: JsonObject = { role: 'assistant', content: kind === 'content' ? token : '' }
    if (kind === 'thinking') message.thinking = token
    chunk = { ...head, message, done: false }
  } else {
    chunk = { ...head, response: kind === 'content' ? token : '' }
    if (kind === 'thinking') chunk.thinking = token
    chunk.done = false
  }
  if (logprob) chunk.logprobs = [logprob]
  return chunk
}

/** A tool call arrives in a chunk of its own with empty content (docs/simulator.md, "Tool calls"). */
function toolCallChunk(p: Prepared, call: TokenPlan['toolCalls'][number]): JsonObject {
  const message = { role: 'assistant', content: '', tool_calls: [nativeToolCall(call)] }
  return { model: p.raw, created_at: goTime(nowNs()), message, done: false }
}

interface Collected {
  content: string
  thinking: string
  logprobs: JsonObject[]
}

function finalFor(p: Prepared, plan: TokenPlan, collected: Collected | undefined): JsonObject {
  const head: JsonObject = { model: p.raw, created_at: goTime(nowNs()) }
  const content = collected?.content ?? ''
  const thinking = collected?.thinking ?? ''
  let out: JsonObject
  if (p.kind === 'chat') {
    const message: JsonObject = { role: 'assistant', content }
    if (thinking) message.thinking = thinking
    // stream:false gathers the calls of every chunk (routes.go:2387-2437).
    if (collected && plan.toolCalls.length) message.tool_calls = plan.toolCalls.map(nativeToolCall)
    out = { ...head, message, done: true, done_reason: plan.doneReason }
  } else {
    out = { ...head, response: content }
    if (thinking) out.thinking = thinking
    out = { ...out, done: true, done_reason: plan.doneReason }
  }
  if (collected?.logprobs.length) out.logprobs = collected.logprobs
  return out
}

/**
 * Handles POST /api/chat or POST /api/generate once the body is parsed. `ceiling`: `num_predict`
 * only caps the reply (the /v1/messages route, whose `max_tokens` every request must set).
 */
export async function handleGeneration(
  ctx: SimContext,
  req: IncomingMessage,
  res: ServerResponse,
  kind: Kind,
  body: JsonObject,
  { ceiling = false }: { ceiling?: boolean } = {},
): Promise<void> {
  const p = prepare(ctx, kind, body)
  const prompt = promptOf(p)
  if (!prompt) return loadOrUnload(ctx, req, res, p)
  // The runner rejects a bad format when it generates, so a load-only request never sees it
  // (docs/simulator.md, "Structured output").
  p.format = parseFormat(body.format)

  const plan = planAnswer({
    model: p.model,
    name: p.raw,
    turns: prompt.turns,
    prompt: prompt.prompt,
    tools: p.tools,
    format: p.format,
    thinking: thinkingLevel(p.model, p.think),
    limit: p.options.num_predict,
    ceiling,
    stop: (p.options.stop as string[] | undefined) ?? [],
  })
  const streaming = body.stream !== false
  const timing = new Timing()
  const stream = beginStream(ctx, req, res, req.url ?? '', p.raw)
  // keep_alive 0 keeps the model for this request only: it is unloaded when the reply ends.
  ctx.registry.touch(p.model, p.keepAlive === 0n ? undefined : p.keepAlive, numCtxOf(p))
  if (!(await waitFirstByte(ctx, stream))) return
  timing.markLoaded()

  const errorAfter = ctx.config.errorAfterTokens
  if (errorAfter !== undefined && errorAfter <= 0) {
    // An error before the first line is a plain HTTP error (streamResponse; docs/decisions.md, "A
    // stream that fails midway keeps its 200").
    stream.complete()
    res.writeHead(500, { 'Content-Type': 'application/json' })
    res.end(goStringify({ error: MID_STREAM_ERROR }))
    return
  }
  const limited: TokenPlan = errorAfter === undefined ? plan : truncatePlan(plan, errorAfter)
  const collected: Collected = { content: '', thinking: '', logprobs: [] }
  let first = true
  if (streaming) res.writeHead(200, { 'Content-Type': 'application/x-ndjson' })
  const outcome = await runTokens(ctx, stream, res, limited, (token, tokenKind) => {
    if (first) {
      timing.markFirstToken()
      first = false
    }
    if (tokenKind === 'content') collected.content += token
    else collected.thinking += token
    const logprob = p.logprobs ? tokenLogprob(token, p.logprobs.top) : undefined
    if (!streaming) {
      if (logprob) collected.logprobs.push(logprob)
      return true
    }
    return res.write(`${goStringify(chunkFor(p, token, tokenKind, logprob))}\n`)
  })
  if (p.keepAlive === 0n) ctx.registry.unload(p.model)
  if (outcome !== 'done') return
  timing.markEnd()
  stream.complete()
  if (errorAfter !== undefined && errorAfter < plan.thinking.length + plan.content.length) {
    if (streaming) res.end(`${goStringify({ error: MID_STREAM_ERROR })}\n`)
    else sendJson(res, 500, { error: MID_STREAM_ERROR })
    return
  }
  if (streaming) {
    for (const call of plan.toolCalls) res.write(`${goStringify(toolCallChunk(p, call))}\n`)
  }
  const final = finalFor(p, plan, streaming ? undefined : collected)
  if (kind === 'generate' && body.raw !== true) {
    final.context = contextOf(prompt.prompt, plan)
  }
  // A prompt longer than num_ctx is cut to fit, without an error: Ollama counts what it kept.
  const evaluated = Math.min(prompt.promptTokens, ctx.registry.numCtx(p.model))
  Object.assign(final, timing.metrics(evaluated, evalCount(plan)))
  if (streaming) res.end(`${goStringify(final)}\n`)
  else sendJson(res, 200, final)
}

/** The deprecated `context`: token ids of the prompt and the reply, as generate returns them. */
function contextOf(prompt: string, plan: TokenPlan): number[] {
  const ids = [128006, 882, 128007, 271]
  for (const token of prompt.match(/\S+|\s+/g) ?? []) ids.push(tokenId(token))
  ids.push(128009, 128006, 78191, 128007, 271)
  for (const token of plan.content) ids.push(tokenId(token))
  return ids
}
