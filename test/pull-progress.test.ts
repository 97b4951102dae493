import { describe, expect, it } from 'vitest'
import { PullProgressFolder } from '../src/models/progress.js'

const big = 'sha256:dde5aa3fc5ffc17176b5e8bdc82f587b24b2678c6c66101bf7da77af9f7ccdff'
const small = 'sha256:966de95ca8a62200913e3f8bfbf84c8494536f1b94b49166851e76644e966396'

describe('pull progress folding', () => {
  it('sums layers, treats a layer as done when the next starts, and ends at 100%', () => {
    let now = 0
    const folder = new PullProgressFolder('llama3.2', () => now)
    expect(folder.add({ status: 'pulling manifest' }).percent).toBe(0)
    folder.add({ status: 'pulling dde5aa3fc5ff', digest: big, total: 1000 })
    now = 1000
    const half = folder.add({
      status: 'pulling dde5aa3fc5ff',
      digest: big,
      total: 1000,
      completed: 500,
    })
    expect(half).toMatchObject({
      completed: 500,
      total: 1000,
      percent: 50,
      bytesPerSecond: 500,
      etaSeconds: 1,
    })
    // Ollama may stop a layer short of its total: the next layer's first line completes it.
    now = 1500
    const next = folder.add({
      status: 'pulling 966de95ca8a6',
      digest: small,
      total: 100,
      completed: 100,
    })
    expect(next.completed).toBe(1100)
    expect(next.total).toBe(1100)
    folder.add({ status: 'verifying sha256 digest' })
    folder.add({ status: 'writing manifest' })
    const done = folder.add({ status: 'success' })
    expect(done).toMatchObject({ status: 'success', percent: 100, completed: 1100, etaSeconds: 0 })
  })

  it('never goes backwards when a resumed pull restarts a layer lower', () => {
    let now = 0
    const folder = new PullProgressFolder('m', () => now)
    folder.add({ status: 'pulling x', digest: big, total: 1000, completed: 600 })
    now = 500
    const after = folder.add({ status: 'pulling x', digest: big, total: 1000, completed: 400 })
    expect(after.completed).toBe(600)
  })

  it('never moves the bar backwards when a new layer grows the total', () => {
    const folder = new PullProgressFolder('m', () => 0)
    const first = folder.add({ status: 'pulling a', digest: big, total: 100, completed: 80 })
    const grown = folder.add({ status: 'pulling b', digest: small, total: 900, completed: 0 })
    expect(first.percent).toBe(80)
    expect(grown.percent).toBe(80)
    expect(grown.total).toBe(1000)
  })

  it('keeps percent under 100 until Ollama says success', () => {
    const folder = new PullProgressFolder('m', () => 0)
    const full = folder.add({ status: 'pulling x', digest: big, total: 10, completed: 10 })
    expect(full.percent).toBeLessThan(100)
  })
})
