import type { Limits } from '../../limits.js'
import type { ChatMessage } from '../../protocol.js'

// The chat WebSocket's sessions: one history per session id, bounded in number, in messages, in
// bytes and in time (docs/decisions.md, "What the chat WebSocket forgets"). Without these bounds
// a client naming a new session with each big message kept every one of them for the session's
// whole lifetime, and a few hundred frames ran the dev server out of heap.
//
// `sessions` is kept in least-recently-used order (a Map iterates in insertion order, and a use
// re-inserts), so the one to forget is always the first, and the idle sweep stops at the first
// session still in use.

/** One open connection, as the store sees it: the sessions it used, least recently used first. */
export interface SessionOwner {
  readonly sessions: Map<string, Session>
}

export interface Session {
  readonly id: string
  /** What the next `content` chat is sent after; trimmed to the bounds by `remember`. */
  history: ChatMessage[]
  /** UTF-8 bytes of `history`, as `messageBytes` counts them. */
  bytes: number
  touched: number
  /** Open connections that use it; none means it waits `closedSessionMs` for a reconnect. */
  readonly owners: Set<SessionOwner>
  closedTimer: NodeJS.Timeout | undefined
  /** Set once forgotten, so a chat that ends later does not bring it back. */
  forgotten: boolean
}

export interface SessionStore {
  /** The session `id`, created if new, as the most recently used one in all and of `owner`. */
  use(id: string, owner: SessionOwner): Session
  /** A chat on `session` ended: its history becomes `history`, trimmed to the bounds. */
  remember(session: Session, history: ChatMessage[]): void
  /** `owner`'s connection closed: its sessions that nobody else uses wait `closedSessionMs`. */
  release(owner: SessionOwner): void
  /** Forgets every session and stops the sweep. */
  close(): void
}

/** Bytes a message holds in memory, as the bounds count them: its content and images. */
export function messageBytes(message: ChatMessage): number {
  let bytes = Buffer.byteLength(message.content)
  for (const image of message.images ?? []) bytes += Buffer.byteLength(image)
  return bytes
}

/**
 * A session store bounded by `limits()`, read at each use: the options change across config
 * restarts while the store lives on.
 */
export function createSessionStore(limits: () => Limits): SessionStore {
  const sessions = new Map<string, Session>()
  let totalBytes = 0
  let sweeper: NodeJS.Timeout | undefined

  function forget(session: Session): void {
    if (session.forgotten) return
    session.forgotten = true
    sessions.delete(session.id)
    totalBytes -= session.bytes
    clearTimeout(session.closedTimer)
    for (const owner of session.owners) owner.sessions.delete(session.id)
    session.owners.clear()
  }

  function forgetLeastRecentlyUsed(): void {
    const oldest = sessions.values().next().value
    if (oldest) forget(oldest)
  }

  /** A connection stops using `session`; nobody else using it, it goes at once. */
  function disown(owner: SessionOwner, session: Session): void {
    owner.sessions.delete(session.id)
    session.owners.delete(owner)
    if (session.owners.size === 0) forget(session)
  }

  function sweepIdle(): void {
    const cutoff = Date.now() - limits().sessionIdleMs
    for (const session of sessions.values()) {
      if (session.touched >= cutoff) break
      forget(session)
    }
    armSweeper()
  }

  function armSweeper(): void {
    sweeper = setTimeout(sweepIdle, Math.min(limits().sessionIdleMs, 60_000))
    sweeper.unref()
  }
  armSweeper()

  return {
    use(id, owner) {
      const bounds = limits()
      let session = sessions.get(id)
      if (session) sessions.delete(id)
      else {
        session = {
          id,
          history: [],
          bytes: 0,
          touched: 0,
          owners: new Set(),
          closedTimer: undefined,
          forgotten: false,
        }
      }
      sessions.set(id, session)
      session.touched = Date.now()
      clearTimeout(session.closedTimer)
      session.closedTimer = undefined
      while (sessions.size > bounds.sessions) forgetLeastRecentlyUsed()

      owner.sessions.delete(id)
      owner.sessions.set(id, session)
      session.owners.add(owner)
      while (owner.sessions.size > bounds.sessionsPerConnection) {
        const oldest = owner.sessions.values().next().value
        if (oldest) disown(owner, oldest)
      }
      return session
    },

    remember(session, history) {
      if (session.forgotten) return
      const bounds = limits()
      const kept = trimHistory(history, bounds.historyMessages, bounds.historyBytes)
      totalBytes += kept.bytes - session.bytes
      session.history = kept.messages
      session.bytes = kept.bytes
      session.touched = Date.now()
      sessions.delete(session.id)
      sessions.set(session.id, session)
      // The session just written is the most recently used, so it goes last.
      while (totalBytes > bounds.totalHistoryBytes && sessions.size > 0) forgetLeastRecentlyUsed()
    },

    release(owner) {
      for (const session of owner.sessions.values()) {
        session.owners.delete(owner)
        if (session.owners.size > 0) continue
        // Kept a while for a reload or a dropped network to come back with `?session=`.
        session.closedTimer = setTimeout(() => forget(session), limits().closedSessionMs)
        session.closedTimer.unref()
      }
      owner.sessions.clear()
    },

    close() {
      clearTimeout(sweeper)
      for (const session of [...sessions.values()]) forget(session)
    },
  }
}

/**
 * The leading system messages, then the newest others within `maxMessages` and `maxBytes`. System
 * messages (a `messages` chat can set them) count towards `maxBytes` like any other: when they
 * alone pass it, nothing is kept, so no message makes a session hold more than the bound.
 */
export function trimHistory(
  messages: ChatMessage[],
  maxMessages: number,
  maxBytes: number,
): { messages: ChatMessage[]; bytes: number } {
  let system = 0
  let bytes = 0
  while (messages[system]?.role === 'system') bytes += messageBytes(messages[system++]!)
  if (bytes > maxBytes) return { messages: [], bytes: 0 }
  let start = messages.length
  while (start > system && messages.length - start < maxMessages) {
    const size = messageBytes(messages[start - 1]!)
    if (bytes + size > maxBytes) break
    bytes += size
    start--
  }
  if (start === system) return { messages, bytes }
  return { messages: [...messages.slice(0, system), ...messages.slice(start)], bytes }
}
