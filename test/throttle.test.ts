import { describe, expect, it } from 'vitest'
import { createThrottle } from '../src/throttle.js'

describe('progress throttle', () => {
  it('sends at most one event per interval per key and always the final one', async () => {
    const sent: Array<{ key: string; n: number }> = []
    const throttle = createThrottle<{ key: string; n: number }>(
      50,
      (v) => sent.push(v),
      (v) => v.n === 999,
    )
    for (let n = 0; n < 100; n++) throttle.push('a', { key: 'a', n })
    throttle.push('b', { key: 'b', n: 0 })
    expect(sent.map((v) => `${v.key}${v.n}`)).toEqual(['a0', 'b0'])
    await new Promise((r) => setTimeout(r, 80))
    // The trailing send carries the latest value, not a stale one.
    expect(sent.at(-1)).toEqual({ key: 'a', n: 99 })
    throttle.push('a', { key: 'a', n: 999 })
    expect(sent.at(-1)).toEqual({ key: 'a', n: 999 })
    throttle.dispose()
  })

  it('never sends an older value after a newer one when its timer fires late', async () => {
    const sent: number[] = []
    const throttle = createThrottle<number>(
      20,
      (n) => sent.push(n),
      () => false,
    )
    throttle.push('a', 1) // sent at once
    throttle.push('a', 2) // waits for the timer
    // A busy event loop: the interval passes before the timer can run, and a newer value comes.
    const until = performance.now() + 30
    while (performance.now() < until) {
      // block the loop
    }
    throttle.push('a', 3)
    await new Promise((r) => setTimeout(r, 60))
    expect(sent).toEqual([...sent].sort((x, y) => x - y))
    expect(sent.at(-1)).toBe(3)
    throttle.dispose()
  })

  it('forgets idle keys, so a flood of names that never finish keeps no slot each', async () => {
    const throttle = createThrottle<number>(
      10,
      () => {},
      () => false,
    )
    for (let n = 0; n < 1000; n++) throttle.push(`model-${n}`, n)
    expect(throttle.size()).toBeLessThanOrEqual(1000)
    await new Promise((r) => setTimeout(r, 30))
    for (let n = 1000; n < 2000; n++) throttle.push(`model-${n}`, n)
    await new Promise((r) => setTimeout(r, 30))
    throttle.push('last', 0)
    expect(throttle.size()).toBeLessThanOrEqual(64)
    throttle.dispose()
  })
})
