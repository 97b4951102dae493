export {
  type CallOptions,
  normalizeBaseUrl,
  OllamaClient,
  type OllamaClientOptions,
  type PullOptions,
  type ShowOptions,
} from './client.js'
export { isOllamaError, OllamaError } from './errors.js'
export { NdjsonParseError, NdjsonSplitter, parseNdjson, parseNdjsonLine } from './ndjson.js'
export type {
  ChatRequest,
  EmbedRequest,
  GenerateRequest,
  KeepAlive,
  Message,
  ModelOptions,
  ResponseFormat,
  ThinkLevel,
  Tool,
} from './requests.js'
export type {
  ChatResponse,
  EmbedResponse,
  GenerateResponse,
  ListResponse,
  ModelDetails,
  ModelEntry,
  PsResponse,
  PullProgress,
  RunningModel,
  ShowResponse,
  ToolCall,
  VersionResponse,
} from './schemas.js'
export { OllamaStream } from './stream.js'
