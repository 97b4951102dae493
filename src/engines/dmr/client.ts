// The plugin's OllamaClient for Docker Model Runner: the same calls (the model manager, the chat
// routes and the WebSocket use nothing else), each answered through DMR's own API, which has every
// feature and every version has (docs/decisions.md, "Docker Model Runner chats through
// /engines/v1"): `/models` for the model store, `/engines/v1` for chat, and its partial Ollama
// API only where it has no other way (`/api/ps`).

import type { Readable } from 'node:stream'
import { z } from 'zod'
import {
  type CallOptions,
  chatStreamKind,
  OllamaClient,
  type PullOptions,
  pullStreamKind,
  type RequestSpec,
  type ShowOptions,
} from '../../ollama/client.js'
import { OllamaError } from '../../ollama/errors.js'
import type { ChatRequest, GenerateRequest } from '../../ollama/requests.js'
import {
  type ChatResponse,
  type GenerateResponse,
  type ListResponse,
  type PsResponse,
  type PullProgress,
  type ShowResponse,
  type VersionResponse,
  versionSchema,
} from '../../ollama/schemas.js'
import { OllamaStream } from '../../ollama/stream.js'
import { ProblemError } from '../../problem.js'
import type { Problem } from '../../protocol.js'
import { openAiChatBody } from './chat.js'
import { fromDmrName, toDmrName } from './names.js'
import { chatCompletionAsOllama, pullProgressAsOllama } from './wire.js'

const CHAT_PATH = '/engines/v1/chat/completions'

/**
 * Ollama routes Docker Model Runner does not have (they answer 404 there), each with what to use
 * instead: the proxy answers them 501 with this hint rather than pass a bare 404 on.
 */
const MISSING_ROUTES: Record<string, string> = {
  '/api/embed': 'POST /v1/embeddings (OpenAI-compatible) under the same base',
  '/api/embeddings': 'POST /v1/embeddings (OpenAI-compatible) under the same base',
  '/api/create': '`docker model package` to make a model from a GGUF file',
  '/api/copy': '`docker model tag SOURCE TARGET`',
  '/api/push': '`docker model push MODEL`',
  '/api/blobs': '`docker model package --gguf FILE` to import a model file',
}

/** `GET /models`: the model store (model-runner `pkg/inference/models/api.go`, `Model`). */
const storeModelSchema = z.looseObject({
  id: z.string(),
  tags: z.array(z.string()).nullish(),
  created: z.number().optional(),
  config: z
    .looseObject({
      format: z.string().optional(),
      quantization: z.string().optional(),
      parameters: z.string().optional(),
      architecture: z.string().optional(),
    })
    .nullish(),
})
const storeSchema = z.array(storeModelSchema)

/** DMR's `/api/ps` leaves out `size_vram` (omitempty) and knows no sizes. */
const dmrPsSchema = z.looseObject({
  models: z
    .array(
      z.looseObject({
        name: z.string(),
        digest: z.string().optional(),
        expires_at: z.string().optional(),
      }),
    )
    .nullish(),
})

const anyJson = z.unknown()

export class DmrClient extends OllamaClient {
  /** DMR's names (`ai/llama3.2:latest`) are the keys: every spelling of a model maps to one. */
  override modelKey(name: string): string {
    return toDmrName(name)
  }

  override unsupportedRoute(path: string): Problem | undefined {
    const route = Object.keys(MISSING_ROUTES).find((r) => path === r || path.startsWith(`${r}/`))
    if (!route) return undefined
    return {
      message: `Docker Model Runner has no ${route} (the engine is dmr)`,
      hint: `Use ${MISSING_ROUTES[route]}; or set engine: 'docker' or 'native' in vite.config.ts for Ollama's full API.`,
    }
  }

  /** DMR's own version (`GET /version`); its `/api/version` always says 0.1.0. */
  override version(o: CallOptions = {}): Promise<VersionResponse> {
    return this.json(versionSchema, {
      method: 'GET',
      path: '/version',
      signal: o.signal,
      idempotent: true,
    })
  }

  /** The model store, one entry per tag as Ollama lists them, in the app's spelling. */
  override async list(o: CallOptions = {}): Promise<ListResponse> {
    const store = await this.json(storeSchema, {
      method: 'GET',
      path: '/models',
      signal: o.signal,
      idempotent: true,
    })
    return {
      models: store.flatMap((model) =>
        (model.tags?.length ? model.tags : [model.id]).map((tag) => ({
          name: fromDmrName(tag),
          model: fromDmrName(tag),
          modified_at: new Date((model.created ?? 0) * 1000).toISOString(),
          // DMR reports the size as text ("2.02 GB"): none is better than a wrong one.
          size: 0,
          digest: model.id,
          details: details(model.config),
        })),
      ),
    }
  }

  /** Loaded models. DMR does not say where a model runs, so no VRAM figure is made up. */
  override async ps(o: CallOptions = {}): Promise<PsResponse> {
    const ps = await this.json(dmrPsSchema, {
      method: 'GET',
      path: '/api/ps',
      signal: o.signal,
      idempotent: true,
    })
    return {
      models: (ps.models ?? []).map((m) => ({
        ...m,
        name: fromDmrName(m.name),
        model: fromDmrName(m.name),
        digest: m.digest ?? '',
        size: 0,
        size_vram: 0,
      })),
    }
  }

  /** `GET /models/{name}`: whether DMR can read the model, and its details. */
  override async show(model: string, o: ShowOptions = {}): Promise<ShowResponse> {
    const found = await this.json(storeModelSchema, {
      method: 'GET',
      path: `/models/${encodeURI(toDmrName(model))}`,
      model,
      signal: o.signal,
      idempotent: true,
    }).catch((error: unknown) => {
      throw explain(error, model)
    })
    return { details: details(found.config) }
  }

  /**
   * `POST /models/create` with `Accept: application/json` (anything else gets HTML-escaped text),
   * its progress as Ollama's pull lines.
   */
  override async *pull(
    model: string,
    o: PullOptions = {},
  ): AsyncGenerator<PullProgress, void, undefined> {
    const ref = toDmrName(model)
    const { response, site } = await this.request({
      method: 'POST',
      path: '/models/create',
      body: { from: ref },
      model,
      signal: o.signal,
      idempotent: false,
      stream: true,
      accept: 'application/json',
    }).catch((error: unknown) => {
      throw explain(error, model)
    })
    const { lines } = pullProgressAsOllama(response.body, ref)
    yield* new OllamaStream(lines, site, response.statusCode, pullStreamKind, o.signal)
  }

  /** A chat through DMR's OpenAI-compatible route, read back as Ollama's chat chunks. */
  override chat(
    req: ChatRequest & { stream: true },
    o?: CallOptions,
  ): Promise<OllamaStream<ChatResponse>>
  override chat(req: ChatRequest & { stream?: false }, o?: CallOptions): Promise<ChatResponse>
  override chat(
    req: ChatRequest,
    o?: CallOptions,
  ): Promise<ChatResponse | OllamaStream<ChatResponse>>
  override async chat(
    req: ChatRequest,
    o: CallOptions = {},
  ): Promise<ChatResponse | OllamaStream<ChatResponse>> {
    const stream = await this.chatStream(req, o.signal)
    return req.stream === true ? stream : foldChat(stream)
  }

  /**
   * Warm-up and unload, as the model manager asks for them (an empty prompt, `keep_alive` 0 to
   * unload): DMR has no load-only call, so a one-token completion loads the model, and
   * `/engines/unload` frees it. Any other generate goes to DMR's own `/api/generate`.
   */
  override generate(
    req: GenerateRequest & { stream: true },
    o?: CallOptions,
  ): Promise<OllamaStream<GenerateResponse>>
  override generate(
    req: GenerateRequest & { stream?: false },
    o?: CallOptions,
  ): Promise<GenerateResponse>
  override generate(
    req: GenerateRequest,
    o?: CallOptions,
  ): Promise<GenerateResponse | OllamaStream<GenerateResponse>>
  override async generate(
    req: GenerateRequest,
    o: CallOptions = {},
  ): Promise<GenerateResponse | OllamaStream<GenerateResponse>> {
    if (req.prompt || req.stream === true)
      return super.generate({ ...req, model: toDmrName(req.model) }, o)
    const spec: RequestSpec = isUnload(req.keep_alive)
      ? {
          method: 'POST',
          path: '/engines/unload',
          body: { models: [toDmrName(req.model)] },
          model: req.model,
          signal: o.signal,
          idempotent: false,
        }
      : {
          method: 'POST',
          path: CHAT_PATH,
          body: {
            model: toDmrName(req.model),
            messages: [{ role: 'user', content: 'Hi' }],
            max_tokens: 1,
            stream: false,
          },
          model: req.model,
          signal: o.signal,
          idempotent: false,
        }
    await this.json(anyJson, spec).catch((error: unknown) => {
      throw explain(error, req.model)
    })
    return {
      model: req.model,
      created_at: new Date().toISOString(),
      response: '',
      done: true,
      done_reason: isUnload(req.keep_alive) ? 'unload' : 'load',
    }
  }

  private async chatStream(
    req: ChatRequest,
    signal: AbortSignal | undefined,
  ): Promise<OllamaStream<ChatResponse>> {
    const { response, site } = await this.request({
      method: 'POST',
      path: CHAT_PATH,
      body: openAiChatBody(req, toDmrName(req.model)),
      model: req.model,
      signal,
      idempotent: false,
      stream: true,
      accept: 'text/event-stream',
    }).catch((error: unknown) => {
      throw explain(error, req.model)
    })
    const chunks: Readable = chatCompletionAsOllama(response.body, req.model)
    return new OllamaStream(chunks, site, response.statusCode, chatStreamKind, signal)
  }
}

/** A whole streamed answer as one Ollama chat reply (`stream: false`). */
async function foldChat(stream: OllamaStream<ChatResponse>): Promise<ChatResponse> {
  let content = ''
  let thinking = ''
  const toolCalls: NonNullable<ChatResponse['message']['tool_calls']> = []
  let final: ChatResponse | undefined
  for await (const chunk of stream) {
    content += chunk.message.content
    thinking += chunk.message.thinking ?? ''
    toolCalls.push(...(chunk.message.tool_calls ?? []))
    if (chunk.done) final = chunk
  }
  const message: ChatResponse['message'] = { role: 'assistant', content }
  if (thinking) message.thinking = thinking
  if (toolCalls.length) message.tool_calls = toolCalls
  return { ...(final as ChatResponse), message }
}

function isUnload(keepAlive: GenerateRequest['keep_alive']): boolean {
  return keepAlive === 0 || keepAlive === '0' || keepAlive === '0s' || keepAlive === '0m'
}

function details(config: z.infer<typeof storeModelSchema>['config']): ShowResponse['details'] {
  if (!config) return {}
  const family = config.architecture
  return {
    format: config.format ?? 'gguf',
    ...(family ? { family, families: [family] } : {}),
    ...(config.parameters ? { parameter_size: config.parameters } : {}),
    ...(config.quantization ? { quantization_level: config.quantization } : {}),
  }
}

/**
 * DMR's answers for a model it does not have, or may not pull, reworded for DMR: Ollama's hints
 * (`ollama pull`) would send the user the wrong way. A ProblemError, not an OllamaError, so the
 * model manager keeps these words instead of reading Ollama's into them. Anything else passes
 * unchanged.
 */
function explain(error: unknown, model: string): unknown {
  if (!(error instanceof OllamaError)) return error
  const ref = toDmrName(model)
  if (error.status === 404) {
    return new ProblemError({
      status: 404,
      cause: error,
      message: `Docker Model Runner has no model '${model}' (${ref}): ${error.ollamaMessage}`,
      hint: `Check the name on Docker Hub (https://hub.docker.com/u/ai; tags as DMR writes them, e.g. ai/llama3.2:1B-Q8_0), then add it to \`models\` in vite.config.ts, or run \`docker model pull ${ref}\`.`,
    })
  }
  if (error.status === 401) {
    return new ProblemError({
      status: 401,
      cause: error,
      message: `Docker Model Runner may not pull '${ref}': ${error.ollamaMessage}`,
      hint: 'Sign in with `docker login`, then press Retry.',
    })
  }
  return error
}
