// Where the overlay sits (src/client/overlay-dock.ts): the geometry alone, in Node. The browser
// behaviour beside a real page is e2e/overlay-dock.test.ts.
import { describe, expect, it } from 'vitest'
import { type Box, boxAt, cornerOrder, EDGE_MARGIN, freeSpot } from '../src/client/overlay-dock.js'
import { waitingBadge, waitingLine } from '../src/client/overlay-format.js'
import type { StateSnapshot } from '../src/protocol.js'

const viewport = { width: 390, height: 844 }
const badge = { width: 200, height: 30 }

function box(left: number, top: number, width: number, height: number): Box {
  return { left, top, right: left + width, bottom: top + height }
}

describe('overlay placement', () => {
  it('tries the configured corner, the other corner on its side, then the other side', () => {
    expect(cornerOrder('bottom-right')).toEqual([
      'bottom-right',
      'top-right',
      'bottom-left',
      'top-left',
    ])
    expect(cornerOrder('top-left')).toEqual([
      'top-left',
      'bottom-left',
      'top-right',
      'bottom-right',
    ])
  })

  it('keeps the configured corner when nothing is under it', () => {
    const spot = freeSpot(
      badge,
      viewport,
      [box(16, 16, 100, 30)],
      cornerOrder('bottom-right'),
      true,
    )
    expect(spot).toEqual({ corner: 'bottom-right', offset: 0 })
    expect(boxAt(spot!, badge, viewport)).toEqual({
      left: viewport.width - EDGE_MARGIN - badge.width,
      top: viewport.height - EDGE_MARGIN - badge.height,
      right: viewport.width - EDGE_MARGIN,
      bottom: viewport.height - EDGE_MARGIN,
    })
  })

  it('takes the next free corner when controls sit in the first ones', () => {
    const composer = box(0, 780, 390, 64) // full width along the bottom
    const spot = freeSpot(badge, viewport, [composer], cornerOrder('bottom-right'), true)
    expect(spot).toEqual({ corner: 'top-right', offset: 0 })
  })

  it('slides the badge along the edge just past the controls when no corner is free', () => {
    const header = box(0, 0, 390, 60)
    const composer = box(0, 700, 390, 144)
    const spot = freeSpot(badge, viewport, [header, composer], cornerOrder('bottom-right'), true)
    expect(spot?.corner).toBe('bottom-right')
    const placed = boxAt(spot!, badge, viewport)
    expect(placed.bottom).toBeLessThanOrEqual(composer.top)
    expect(composer.top - placed.bottom).toBeLessThan(10) // right above it, not half-way up
  })

  it('finds no spot for the card without sliding, and none at all on a page full of controls', () => {
    const card = { width: 320, height: 200 }
    const composer = box(0, 700, 390, 144)
    const header = box(0, 0, 390, 60)
    expect(
      freeSpot(card, viewport, [composer, header], ['bottom-right', 'top-right'], false),
    ).toBeUndefined()
    const rows = Array.from({ length: 30 }, (_, i) => box(0, i * 30, 390, 28))
    expect(freeSpot(badge, viewport, rows, cornerOrder('bottom-right'), true)).toBeUndefined()
  })
})

describe('waiting chats, in words', () => {
  const pulling: StateSnapshot = {
    phase: 'pulling',
    engine: null,
    gpu: null,
    models: [
      {
        name: 'llama3.2:latest',
        status: 'pulling',
        progress: {
          model: 'llama3.2',
          status: 'pulling dde5aa3fc5ff',
          completed: 440,
          total: 1000,
          percent: 44,
          bytesPerSecond: 40,
          etaSeconds: 12,
        },
      },
    ],
    waitingChats: [{ model: 'llama3.2', chats: 1 }],
  }

  it('says which model a chat waits for, how far its pull is and about how long is left', () => {
    expect(waitingLine({ model: 'llama3.2', chats: 1 }, pulling)).toBe(
      'A chat is waiting for llama3.2 — 44%, about 12s',
    )
    expect(waitingLine({ model: 'llama3.2', chats: 3 }, pulling)).toBe(
      '3 chats are waiting for llama3.2 — 44%, about 12s',
    )
    expect(waitingLine({ model: 'qwen3', chats: 1 }, { ...pulling, phase: 'starting' })).toBe(
      'A chat is waiting for qwen3 — Ollama is starting',
    )
    expect(waitingBadge(pulling)).toBe('a chat waits')
    expect(waitingBadge({ ...pulling, waitingChats: undefined })).toBe('')
  })
})
