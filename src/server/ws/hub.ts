import { randomUUID } from 'node:crypto'
import { fixedLimits } from '../../limits.js'
import { errorMessage, toProblem } from '../../problem.js'
import type { ChatId, ChatMessage, ServerFrame } from '../../protocol.js'
import { resolveModel, runChat } from '../chat.js'
import type { RouteContext } from '../context.js'
import { type ChatFrame, type ClientFrameData, type EncodedFrame, encodeFrame } from './frames.js'
import { createRoomRegistry } from './rooms.js'
import { createSessionStore, messageBytes, type Session } from './sessions.js'

// What the chat WebSocket remembers and runs, apart from any socket: sessions (sessions.ts),
// rooms (rooms.ts) and each client's chats, every one of them bounded by the `limits` option
// (docs/decisions.md, "What the chat WebSocket forgets"). The socket side (socket.ts) hands it
// checked frames and reaches the client through a `HubPeer`.

/** How the hub reaches one client. */
export interface HubPeer {
  send(frame: EncodedFrame): void
}

/** One connected client, as the hub knows it. */
export interface HubConnection {
  /** Acts on a checked frame: runs or cancels a chat, joins or leaves a room. */
  receive(frame: ClientFrameData): void
  /** The client went away: it leaves its rooms, its chats are aborted, its sessions wait. */
  close(): void
}

export interface ChatHub {
  /**
   * A client connected; `session` and `room` are what its URL asked for, if anything. Sends it
   * the `ready` frame, then an error frame if the room refused it.
   */
  connect(peer: HubPeer, requested: { session: string | null; room: string | null }): HubConnection
  /** Forgets every session and stops the sweep. */
  close(): void
}

interface Member {
  peer: HubPeer
  /** The session `content` chats go to unless one names another. */
  session: string
  rooms: Set<string>
  /** The sessions this connection used, least recently used first (the store's bookkeeping). */
  sessions: Map<string, Session>
  chats: Map<ChatId, AbortController>
}

/** Who sees a chat's frames: its sender, or every member of its room at the time of each frame. */
type Audience = { member: Member } | { room: string }

class CancelledError extends Error {
  override name = 'AbortError'
  constructor() {
    super('cancelled')
  }
}

export function createChatHub(ctx: RouteContext): ChatHub {
  // Read at use: the options change across config restarts.
  const limits = () => ctx.options().limits
  const sessions = createSessionStore(limits)
  const rooms = createRoomRegistry<Member>(limits)

  function receive(member: Member, frame: ClientFrameData): void {
    switch (frame.type) {
      case 'chat':
        void startChat(member, frame)
        return
      case 'cancel':
        member.chats.get(frame.id)?.abort(new CancelledError())
        return
      case 'join': {
        const refused = rooms.join(member, frame.room)
        if (refused) {
          send(member, { type: 'error', room: frame.room, code: 'limit', message: refused })
          return
        }
        send(member, { type: 'joined', room: frame.room, members: rooms.members(frame.room).size })
        return
      }
      case 'leave':
        rooms.leave(member, frame.room)
        send(member, { type: 'left', room: frame.room })
        return
    }
  }

  /**
   * Lets a chat frame run, joining the room it names, and says with which model; or answers why
   * not, with the error frame to send instead. Every check comes before any session or room
   * exists for it, and none reaches Ollama.
   */
  function admit(member: Member, frame: ChatFrame): { model: string } | { refused: ServerFrame } {
    const { id } = frame
    if (member.chats.has(id)) {
      return {
        refused: {
          type: 'error',
          id,
          message: `Invalid message: id: chat ${id} is still streaming`,
        },
      }
    }
    const bounds = limits()
    if (member.chats.size >= bounds.chatsPerConnection) {
      return {
        refused: {
          type: 'error',
          id,
          code: 'busy',
          message: `Busy: this connection already runs ${member.chats.size} chats, the most limits.chatsPerConnection allows. Send it again when one ends (done or error), or raise limits.chatsPerConnection in vite.config.ts.`,
        },
      }
    }
    if (frame.content !== undefined) {
      const bytes = messageBytes({ role: 'user', content: frame.content })
      // The session could never keep it, so the next turn would silently lack this one.
      if (bytes > bounds.historyBytes) {
        return {
          refused: {
            type: 'error',
            id,
            code: 'limit',
            message: `Message refused: its content is ${bytes} bytes, more than a session keeps (limits.historyBytes, ${bounds.historyBytes} bytes). Raise limits.historyBytes in vite.config.ts, or send "messages" instead of "content": your app then holds the conversation.`,
          },
        }
      }
    }
    let model: string
    try {
      model = resolveModel(ctx, frame.model)
    } catch (err) {
      return { refused: { type: 'error', id, message: errorMessage(err) } }
    }
    if (frame.room) {
      const refused = rooms.join(member, frame.room)
      if (refused)
        return { refused: { type: 'error', id, room: frame.room, code: 'limit', message: refused } }
    }
    return { model }
  }

  async function startChat(member: Member, frame: ChatFrame): Promise<void> {
    const admitted = admit(member, frame)
    if ('refused' in admitted) {
      send(member, admitted.refused)
      return
    }
    const { model } = admitted
    const { id } = frame
    const sessionId = frame.session ?? member.session
    const audience: Audience = frame.room ? { room: frame.room } : { member }
    const tags = { id, session: sessionId, ...(frame.room ? { room: frame.room } : {}) }
    const session = sessions.use(sessionId, member)
    const messages: ChatMessage[] = frame.messages ?? [
      ...session.history,
      { role: 'user', content: frame.content ?? '' },
    ]
    const abort = new AbortController()
    member.chats.set(id, abort)
    const user = messages[messages.length - 1]
    broadcast(audience, { type: 'start', ...tags, model, content: user?.content ?? '' })
    const tokens = new TokenBatcher((type, content) =>
      broadcast(audience, { type, ...tags, content }),
    )
    try {
      const result = await runChat(
        ctx,
        {
          model,
          messages,
          options: frame.options,
          tools: frame.tools,
          think: frame.think,
          format: frame.format,
        },
        abort.signal,
        {
          part(part) {
            if (part.type === 'text') tokens.push('token', part.text)
            else if (part.type === 'reasoning') tokens.push('reasoning', part.text)
            else if (part.type === 'tool-call') {
              tokens.flush()
              broadcast(audience, { type: 'tool-call', ...tags, call: part.call })
            }
          },
          waiting: (waiting) => broadcast(audience, { type: 'waiting', ...tags, ...waiting }),
        },
      )
      tokens.flush()
      const reply: ChatMessage = { role: 'assistant', content: result.content }
      if (result.toolCalls)
        reply.tool_calls = result.toolCalls.map(({ id, name, arguments: args }) => ({
          ...(id ? { id } : {}),
          function: { name, arguments: args },
        }))
      sessions.remember(session, [...messages, reply])
      broadcast(audience, { type: 'done', ...tags, metrics: result.metrics })
    } catch (err) {
      tokens.flush()
      if (abort.signal.reason instanceof CancelledError) {
        broadcast(audience, { type: 'error', ...tags, code: 'cancelled', message: 'Cancelled' })
      } else if (!abort.signal.aborted) {
        broadcast(audience, { type: 'error', ...tags, ...toProblem(err) })
      } else if (frame.room) {
        // The sender left mid-stream: the room's watchers still need an end to this chat.
        broadcast(audience, {
          type: 'error',
          ...tags,
          code: 'disconnected',
          message: 'The sender went away',
        })
      }
    } finally {
      member.chats.delete(id)
    }
  }

  function broadcast(audience: Audience, frame: ServerFrame): void {
    // Serialised once, sent to every member.
    const data = encodeFrame(frame)
    if ('member' in audience) audience.member.peer.send(data)
    else for (const member of rooms.members(audience.room)) member.peer.send(data)
  }

  function send(member: Member, frame: ServerFrame): void {
    member.peer.send(encodeFrame(frame))
  }

  return {
    connect(peer, requested) {
      const member: Member = {
        peer,
        session: isId(requested.session) ? requested.session : randomUUID(),
        rooms: new Set(),
        sessions: new Map(),
        chats: new Map(),
      }
      // The connection's own session counts towards the bounds like any other.
      sessions.use(member.session, member)
      const room = isId(requested.room) ? requested.room : null
      const refused = room === null ? null : rooms.join(member, room)
      send(member, { type: 'ready', session: member.session, rooms: [...member.rooms] })
      // After `ready`, which lists the rooms the client is in: this says why one is missing.
      if (room !== null && refused)
        send(member, { type: 'error', room, code: 'limit', message: refused })
      return {
        receive: (frame) => receive(member, frame),
        close() {
          for (const room of [...member.rooms]) rooms.leave(member, room)
          for (const chat of member.chats.values())
            chat.abort(new DOMException('The client went away', 'AbortError'))
          sessions.release(member)
        },
      }
    },
    close() {
      sessions.close()
    },
  }
}

/** A session or room id from a URL, within the length frames are held to. */
function isId(value: string | null): value is string {
  return value !== null && value.length > 0 && value.length <= fixedLimits.idLength
}

/**
 * Joins the tokens of one tick into one frame: a model can stream tens of thousands of tokens a
 * second, and a frame (JSON, mask check, syscall) per token per member would cost more.
 * Reasoning and answer tokens are joined apart, in the order they came.
 */
class TokenBatcher {
  private pending = ''
  private kind: 'token' | 'reasoning' = 'token'
  private scheduled = false

  constructor(private readonly emit: (kind: 'token' | 'reasoning', content: string) => void) {}

  push(kind: 'token' | 'reasoning', text: string): void {
    if (kind !== this.kind) {
      this.flush()
      this.kind = kind
    }
    this.pending += text
    if (this.scheduled) return
    this.scheduled = true
    process.nextTick(() => this.flush())
  }

  flush(): void {
    this.scheduled = false
    if (this.pending === '') return
    const content = this.pending
    this.pending = ''
    this.emit(this.kind, content)
  }
}
