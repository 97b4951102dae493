// One keep-alive connection pool per Ollama origin, shared by every OllamaClient that talks to it.
// The plugin creates clients in several places (engine probes, the model manager, the routes), and
// each pool would otherwise hold its own idle sockets to the same server.
import { Pool } from 'undici'

/** Keep idle sockets a while: the overlay and the model manager poll /api/ps every few seconds. */
const KEEP_ALIVE_MS = 10_000

interface SharedPool {
  pool: Pool
  users: number
}

const pools = new Map<string, SharedPool>()

/** A client's hold on a shared pool; `release()` destroys the pool when the last holder lets go. */
export interface PoolLease {
  readonly pool: Pool
  release(): Promise<void>
}

/**
 * The pool for `origin`. Pools are keyed by origin, connect timeout and connection cap, since
 * undici fixes both per pool; clients built with the same settings therefore all share one. With a
 * cap (`connections`), requests past it wait in the pool's queue for a free connection.
 */
export function acquirePool(
  origin: string,
  connectTimeoutMs: number,
  connections?: number,
): PoolLease {
  const key = poolKey(origin, connectTimeoutMs, connections)
  let shared = pools.get(key)
  if (shared === undefined || shared.pool.destroyed || shared.pool.closed) {
    shared = {
      pool: new Pool(origin, {
        connect: { timeout: connectTimeoutMs },
        keepAliveTimeout: KEEP_ALIVE_MS,
        connections: connections ?? null,
      }),
      users: 0,
    }
    pools.set(key, shared)
  }
  shared.users++
  const held = shared
  let released = false
  return {
    pool: held.pool,
    async release() {
      if (released) return
      released = true
      held.users--
      if (held.users > 0) return
      if (pools.get(key) === held) pools.delete(key)
      await held.pool.destroy()
    },
  }
}

function poolKey(origin: string, connectTimeoutMs: number, connections?: number): string {
  return `${origin} ${connectTimeoutMs} ${connections ?? 'unbounded'}`
}

/** How many clients share the pool for `origin` (for tests and debugging). */
export function poolUsers(origin: string, connectTimeoutMs: number, connections?: number): number {
  return pools.get(poolKey(origin, connectTimeoutMs, connections))?.users ?? 0
}
