// Every store and every piece of work that grows with requests, and the bound that stops it
// (docs/decisions.md, "Every store a request can grow has a bound"). One list: the `limits`
// option overrides these defaults, the routes, the WebSocket hub and the proxy read the resolved
// values, and the README's table of bounds is checked against it (test/readme.test.ts).

const KiB = 1024
const MiB = 1024 * KiB

export const limits = {
  /** Sessions one WebSocket connection may use; past it, its least recently used one is forgotten. */
  sessionsPerConnection: 8,
  /** Sessions in all; past it, the least recently used one is forgotten. */
  sessions: 1_000,
  /** Messages a session keeps (leading system messages on top of these). */
  historyMessages: 40,
  /** Bytes of history one session keeps; the oldest messages go first. */
  historyBytes: 256 * KiB,
  /** Bytes of history all sessions keep together; the least recently used sessions go first. */
  totalHistoryBytes: 8 * MiB,
  /** A session nobody uses for this long is forgotten. */
  sessionIdleMs: 30 * 60_000,
  /** A session whose clients all went away is forgotten this soon, unless one reconnects. */
  closedSessionMs: 60_000,
  /** Rooms one connection may be in. */
  roomsPerConnection: 8,
  /** Rooms in all. */
  rooms: 1_000,
  /** Members of one room. */
  roomMembers: 64,
  /** Bytes a second one WebSocket connection may send; past it, it is read more slowly. */
  inboundBytesPerSecond: 1 * MiB,
  /** Bytes a second all WebSocket connections together may send; past it, senders are read more slowly. */
  totalInboundBytesPerSecond: 4 * MiB,
  /** Chats one WebSocket connection may run at once. */
  chatsPerConnection: 4,
  /** Pulls of models outside `models` through `POST /pull` a minute; past it, 429. */
  pullsPerMinute: 20,
  /** Connections to Ollama the dev server holds open; more requests wait for one. */
  upstreamConnections: 32,
  /** A request body must arrive whole within this time. */
  bodyTimeoutMs: 30_000,
  /** A chat waits this long for its model to finish pulling (or the engine to start), then 504. */
  modelWaitMs: 60 * 60_000,
} as const

/** The bounds as the `limits` option takes them: any of them, as positive integers. */
export type Limits = { -readonly [K in keyof typeof limits]: number }

/** Names of the bounds, for the options schema and the README check. */
export const limitNames = Object.keys(limits) as Array<keyof Limits>

/**
 * Shapes no option changes: deeper JSON is a 400 before anything reads it, a longer session, room
 * or chat id is refused (model names have Ollama's own grammar, models/name.ts).
 */
export const fixedLimits = {
  /** Nesting depth of a JSON body or frame. */
  jsonDepth: 64,
  /** Characters in a session, room or chat id. */
  idLength: 128,
} as const
