import { z } from 'zod'
import {
  type Check,
  checkFormat,
  checkMessages,
  checkThink,
  checkTools,
} from '../../chat/payload.js'
import { fixedLimits } from '../../limits.js'
import { modelNameSchema } from '../../options.js'
import type { ChatMessage, ChatTool, ClientFrame, ServerFrame } from '../../protocol.js'
import { jsonDepthExceeds } from '../json.js'

// The chat WebSocket's frames: what a client may send, checked here with zod, and what the server
// sends, typed by `ServerFrame` from protocol.ts (the shapes the browser's `connect()` reads).

const name = z
  .string()
  .min(1, 'cannot be empty')
  .max(fixedLimits.idLength, `at most ${fixedLimits.idLength} characters`)
const chatId = z.union([name, z.number()])

/** A field checked by the one chat payload checker (chat/payload.ts) the HTTP route uses. */
function checked<T>(check: Check) {
  return z
    .unknown()
    .superRefine((value, ctx) => {
      const found = check(value, [])
      if (found) ctx.addIssue({ code: 'custom', message: found.message, path: found.path })
    })
    .transform((value) => value as T)
}

const chatFrame = z
  .object({
    type: z.literal('chat'),
    id: chatId,
    session: name.optional(),
    room: name.optional(),
    model: modelNameSchema.optional(),
    content: z.string().optional(),
    messages: checked<ChatMessage[]>(checkMessages).optional(),
    options: z.record(z.string(), z.unknown()).optional(),
    tools: checked<ChatTool[]>(checkTools).optional(),
    think: checked<boolean | 'low' | 'medium' | 'high' | 'max'>(checkThink).optional(),
    format: checked<'json' | Record<string, unknown>>(checkFormat).optional(),
  })
  .refine((frame) => (frame.content === undefined) !== (frame.messages === undefined), {
    message: 'send either "content" (a string, added to the session history) or "messages"',
    path: ['content'],
  })

export const clientFrameSchema = z.discriminatedUnion(
  'type',
  [
    chatFrame,
    z.object({ type: z.literal('cancel'), id: chatId }),
    z.object({ type: z.literal('join'), room: name }),
    z.object({ type: z.literal('leave'), room: name }),
  ],
  { error: 'expected "type" to be "chat", "cancel", "join" or "leave"' },
)

/** A client frame that passed the schema. */
export type ClientFrameData = z.output<typeof clientFrameSchema>
export type ChatFrame = z.output<typeof chatFrame>

// Checked when compiling, so the schema and protocol.ts cannot drift apart: every frame the
// browser's types allow passes the schema's shape, and the schema takes no frame type they lack.
// (The output keeps `content` and `messages` both optional: the refine above is not a type.)
// `Plain` turns protocol.ts's interfaces into object types, which TypeScript lets match the
// loose message schema's index signature.
type Plain<T> = T extends object ? { [K in keyof T]: Plain<T[K]> } : T
type Expect<T extends true> = T
/** Exported only so the linter does not take the checks for dead code. */
export type ClientFrameChecks = [
  Expect<Plain<ClientFrame> extends z.input<typeof clientFrameSchema> ? true : false>,
  Expect<ClientFrameData['type'] extends ClientFrame['type'] ? true : false>,
]

/**
 * A text message as a checked client frame, or the error frame that tells the client what was
 * wrong (binary messages come as `null`). Depth is checked before `JSON.parse`: a frame nested
 * 100,000 deep parses, and then the schema's recursive walk overflows the stack.
 */
export function decodeClientFrame(
  text: string | null,
): { frame: ClientFrameData } | { error: ServerFrame } {
  if (text !== null && jsonDepthExceeds(text)) {
    return {
      error: {
        type: 'error',
        message: `Invalid message: JSON nested more than ${fixedLimits.jsonDepth} levels deep`,
      },
    }
  }
  let value: unknown
  try {
    value = text === null ? undefined : JSON.parse(text)
  } catch {
    value = undefined
  }
  if (value === undefined) {
    return {
      error: {
        type: 'error',
        message: 'Invalid message: send JSON text such as {"type":"chat",…}',
      },
    }
  }
  const parsed = clientFrameSchema.safeParse(value)
  if (parsed.success) return { frame: parsed.data }
  const issue = parsed.error.issues[0]
  const field = issue?.path.length ? issue.path.join('.') : 'type'
  const id = (value as { id?: unknown } | null)?.id
  return {
    error: {
      type: 'error',
      // An id the schema refused for its length is not echoed back.
      ...((typeof id === 'string' && id.length <= fixedLimits.idLength) || typeof id === 'number'
        ? { id }
        : {}),
      message: `Invalid message: ${field}: ${issue?.message ?? 'invalid'}`,
    },
  }
}

/** A server frame as the bytes of one text message; only `encodeFrame` makes one. */
export type EncodedFrame = Buffer & { readonly __encoded: 'ServerFrame' }

/** Serialises a frame once: a room broadcast sends the same bytes to every member. */
export function encodeFrame(frame: ServerFrame): EncodedFrame {
  return Buffer.from(JSON.stringify(frame)) as EncodedFrame
}
