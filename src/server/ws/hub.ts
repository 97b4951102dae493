import { randomUUID } from 'node:crypto'
import { errorMessage, toProblem } from '../../problem.js'
import type { ChatId, ServerFrame } from '../../protocol.js'
import { type ChatMessage, resolveModel, runChat } from '../chat.js'
import type { RouteContext } from '../context.js'
import { type ChatFrame, type ClientFrameData, type EncodedFrame, encodeFrame } from './frames.js'

// What the chat WebSocket remembers and runs, apart from any socket: sessions (a bounded history
// each, forgotten after a while unused), rooms and their members, and each client's chats. The
// socket side (socket.ts) hands it checked frames and reaches the client through a `HubPeer`.

/** How the hub reaches one client. */
export interface HubPeer {
  send(frame: EncodedFrame): void
}

export interface ChatHubOptions {
  /** Messages a session keeps (system messages at the start are kept on top of these). */
  historyLimit: number
  /** A session nobody used for this long is forgotten. */
  sessionTtlMs: number
}

/** One connected client, as the hub knows it. */
export interface HubConnection {
  /** The session `content` messages go to unless a message names another. */
  readonly session: string
  readonly rooms: ReadonlySet<string>
  /** Acts on a checked frame: runs or cancels a chat, joins or leaves a room. */
  receive(frame: ClientFrameData): void
  /** The client went away: it leaves its rooms and its chats are aborted. */
  close(): void
}

export interface ChatHub {
  /** A client connected; `session` and `room` are what its URL asked for, if anything. */
  connect(peer: HubPeer, requested: { session: string | null; room: string | null }): HubConnection
  /** Forgets every session and stops the sweep. */
  close(): void
}

interface Member {
  peer: HubPeer
  session: string
  rooms: Set<string>
  chats: Map<ChatId, AbortController>
}

interface Session {
  history: ChatMessage[]
  touched: number
}

/** Who sees a chat's frames: its sender, or every member of its room at the time of each frame. */
type Audience = { member: Member } | { room: string }

class CancelledError extends Error {
  override name = 'AbortError'
  constructor() {
    super('cancelled')
  }
}

export function createChatHub(ctx: RouteContext, settings: ChatHubOptions): ChatHub {
  const sessions = new Map<string, Session>()
  const rooms = new Map<string, Set<Member>>()

  function receive(member: Member, frame: ClientFrameData): void {
    switch (frame.type) {
      case 'chat':
        void startChat(member, frame)
        return
      case 'cancel':
        member.chats.get(frame.id)?.abort(new CancelledError())
        return
      case 'join':
        joinRoom(member, frame.room)
        send(member, {
          type: 'joined',
          room: frame.room,
          members: rooms.get(frame.room)?.size ?? 0,
        })
        return
      case 'leave':
        leaveRoom(member, frame.room)
        send(member, { type: 'left', room: frame.room })
        return
    }
  }

  async function startChat(member: Member, frame: ChatFrame): Promise<void> {
    const { id } = frame
    const sessionId = frame.session ?? member.session
    const audience: Audience = frame.room ? { room: frame.room } : { member }
    const tags = { id, session: sessionId, ...(frame.room ? { room: frame.room } : {}) }
    if (member.chats.has(id)) {
      send(member, {
        type: 'error',
        id,
        message: `Invalid message: id: chat ${id} is still streaming`,
      })
      return
    }
    if (frame.room) joinRoom(member, frame.room)
    const session = touchSession(sessionId)
    const messages: ChatMessage[] = frame.messages ?? [
      ...session.history,
      { role: 'user', content: frame.content ?? '' },
    ]
    let model: string
    try {
      model = resolveModel(ctx, frame.model)
    } catch (err) {
      send(member, { type: 'error', id, message: errorMessage(err) })
      return
    }
    const abort = new AbortController()
    member.chats.set(id, abort)
    const user = messages[messages.length - 1]
    broadcast(audience, { type: 'start', ...tags, model, content: user?.content ?? '' })
    const tokens = new TokenBatcher((content) =>
      broadcast(audience, { type: 'token', ...tags, content }),
    )
    try {
      const result = await runChat(
        ctx,
        { model, messages, options: frame.options },
        abort.signal,
        (text) => tokens.push(text),
      )
      tokens.flush()
      session.history = trimHistory(
        [...messages, { role: 'assistant', content: result.content }],
        settings.historyLimit,
      )
      session.touched = Date.now()
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

  function touchSession(id: string): Session {
    let session = sessions.get(id)
    if (!session) {
      session = { history: [], touched: 0 }
      sessions.set(id, session)
    }
    session.touched = Date.now()
    return session
  }

  function joinRoom(member: Member, room: string): void {
    let members = rooms.get(room)
    if (!members) {
      members = new Set()
      rooms.set(room, members)
    }
    members.add(member)
    member.rooms.add(room)
  }

  function leaveRoom(member: Member, room: string): void {
    member.rooms.delete(room)
    const members = rooms.get(room)
    if (!members) return
    members.delete(member)
    if (members.size === 0) rooms.delete(room)
  }

  function broadcast(audience: Audience, frame: ServerFrame): void {
    // Serialised once, sent to every member.
    const data = encodeFrame(frame)
    if ('member' in audience) audience.member.peer.send(data)
    else for (const member of rooms.get(audience.room) ?? []) member.peer.send(data)
  }

  function send(member: Member, frame: ServerFrame): void {
    member.peer.send(encodeFrame(frame))
  }

  const sweeper = setInterval(
    () => {
      const cutoff = Date.now() - settings.sessionTtlMs
      for (const [id, session] of sessions) if (session.touched < cutoff) sessions.delete(id)
    },
    Math.min(settings.sessionTtlMs, 60_000),
  )
  sweeper.unref()

  return {
    connect(peer, requested) {
      const member: Member = {
        peer,
        session:
          requested.session && requested.session.length <= 128 ? requested.session : randomUUID(),
        rooms: new Set(),
        chats: new Map(),
      }
      touchSession(member.session)
      if (requested.room && requested.room.length <= 128) joinRoom(member, requested.room)
      return {
        session: member.session,
        rooms: member.rooms,
        receive: (frame) => receive(member, frame),
        close() {
          for (const room of [...member.rooms]) leaveRoom(member, room)
          for (const chat of member.chats.values())
            chat.abort(new DOMException('The client went away', 'AbortError'))
        },
      }
    },
    close() {
      clearInterval(sweeper)
      sessions.clear()
    },
  }
}

/**
 * Joins the tokens of one tick into one frame: a model can stream tens of thousands of tokens a
 * second, and a frame (JSON, mask check, syscall) per token per member would cost more.
 */
class TokenBatcher {
  private pending = ''
  private scheduled = false

  constructor(private readonly emit: (content: string) => void) {}

  push(text: string): void {
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
    this.emit(content)
  }
}

/** The last `limit` messages, with the leading system messages kept. */
function trimHistory(messages: ChatMessage[], limit: number): ChatMessage[] {
  let system = 0
  while (messages[system]?.role === 'system') system++
  const rest = messages.slice(system)
  if (rest.length <= limit) return messages
  return [...messages.slice(0, system), ...rest.slice(rest.length - limit)]
}
