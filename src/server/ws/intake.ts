// How fast a client may send: a token bucket of bytes (docs/decisions.md, "Every store a request
// can grow has a bound"). Every large frame costs the one event loop the whole dev server shares
// (unmasking, decoding, parsing: about 10 ms per MB), so a client sending them as fast as it can
// would starve the app's own requests. Past its rate a connection is simply not read for a while:
// TCP pushes back on the sender and nothing is lost or refused.

/** A bucket that holds up to `burst` bytes and refills at `rate` bytes a second. */
export interface Bucket {
  /** Takes `bytes`; answers how many ms the sender should wait before sending more (0: none). */
  take(bytes: number): number
}

export function createBucket(rate: () => number, burst: () => number): Bucket {
  let tokens = burst()
  let at = performance.now()
  return {
    take(bytes) {
      const now = performance.now()
      const perSecond = rate()
      tokens = Math.min(burst(), tokens + ((now - at) / 1000) * perSecond)
      at = now
      tokens -= bytes
      return tokens >= 0 ? 0 : Math.ceil((-tokens / perSecond) * 1000)
    },
  }
}
