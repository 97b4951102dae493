// Where the overlay sits: never on the page's own controls (docs/decisions.md, "The overlay never
// covers the page's controls"). The card takes a corner with no control under it; when none is
// free it docks as the badge, in a corner or slid along a side edge to the first free stretch.
// Pure geometry plus one DOM read (the page's controls), so the rules are testable alone.

export type Corner = 'bottom-right' | 'bottom-left' | 'top-right' | 'top-left'

/** A corner, and how far from it along the side edge (0: in the corner itself). */
export interface Spot {
  corner: Corner
  offset: number
}

export interface Box {
  left: number
  top: number
  right: number
  bottom: number
}

export interface Size {
  width: number
  height: number
}

/** The overlay's distance from the viewport's edges (the CSS `:host` insets). */
export const EDGE_MARGIN = 16
/** Room kept between the overlay and a control, so neither looks glued to the other. */
const GAP = 6
/** Past this many controls the rest are not looked at: placement must stay cheap on huge pages. */
const MAX_CONTROLS = 2000

/**
 * What a user clicks or types into. A container that is focusable or a label around half the
 * page (`<main tabindex>`) is left out by size in `pageControls`, or nothing would ever be free.
 */
const CONTROL_SELECTOR = [
  'a[href]',
  'area[href]',
  'button',
  'input:not([type="hidden"])',
  'select',
  'textarea',
  'summary',
  'label',
  'iframe',
  'video[controls]',
  'audio[controls]',
  '[contenteditable]:not([contenteditable="false"])',
  '[tabindex]:not([tabindex="-1"])',
  ...['button', 'link', 'checkbox', 'radio', 'switch', 'tab', 'menuitem', 'slider', 'textbox']
    .concat(['combobox', 'option'])
    .map((role) => `[role="${role}"]`),
].join(', ')

/** The boxes of the page's visible controls in the viewport, `own` (the overlay) excluded. */
export function pageControls(doc: Document, own: Element, viewport: Size): Box[] {
  const boxes: Box[] = []
  const nodes = doc.querySelectorAll(CONTROL_SELECTOR)
  const area = viewport.width * viewport.height
  for (let i = 0; i < nodes.length && i < MAX_CONTROLS; i++) {
    const el = nodes[i] as Element
    if (own.contains(el)) continue
    const rect = el.getBoundingClientRect()
    if (rect.width <= 0 || rect.height <= 0) continue
    if (rect.width * rect.height > area / 2) continue
    if (rect.bottom <= 0 || rect.right <= 0) continue
    if (rect.top >= viewport.height || rect.left >= viewport.width) continue
    if (el.checkVisibility && !el.checkVisibility({ visibilityProperty: true })) continue
    boxes.push({ left: rect.left, top: rect.top, right: rect.right, bottom: rect.bottom })
  }
  return boxes
}

/**
 * The corners to try, the configured one first: then the other corner on the same side (the
 * eye looks for it there), then the other side.
 */
export function cornerOrder(preferred: Corner): Corner[] {
  const [vertical, horizontal] = preferred.split('-') as ['top' | 'bottom', 'left' | 'right']
  const flipV = vertical === 'top' ? 'bottom' : 'top'
  const flipH = horizontal === 'left' ? 'right' : 'left'
  return [
    preferred,
    `${flipV}-${horizontal}`,
    `${vertical}-${flipH}`,
    `${flipV}-${flipH}`,
  ] as Corner[]
}

/** The overlay's box at `spot`, in viewport coordinates. */
export function boxAt(spot: Spot, size: Size, viewport: Size): Box {
  const left = spot.corner.endsWith('right')
    ? viewport.width - EDGE_MARGIN - size.width
    : EDGE_MARGIN
  const top = spot.corner.startsWith('bottom')
    ? viewport.height - EDGE_MARGIN - spot.offset - size.height
    : EDGE_MARGIN + spot.offset
  return { left, top, right: left + size.width, bottom: top + size.height }
}

function overlaps(a: Box, b: Box): boolean {
  return (
    a.left < b.right + GAP &&
    b.left - GAP < a.right &&
    a.top < b.bottom + GAP &&
    b.top - GAP < a.bottom
  )
}

function fits(box: Box, viewport: Size): boolean {
  return (
    box.left >= 0 && box.top >= 0 && box.right <= viewport.width && box.bottom <= viewport.height
  )
}

function isFree(spot: Spot, size: Size, viewport: Size, controls: readonly Box[]): boolean {
  const box = boxAt(spot, size, viewport)
  return fits(box, viewport) && !controls.some((control) => overlaps(box, control))
}

/**
 * The first spot where a box of `size` covers no control: each corner in `corners` order, then,
 * with `slide`, each corner again moved along its side edge just past the controls in its way.
 * Undefined when there is none.
 */
export function freeSpot(
  size: Size,
  viewport: Size,
  controls: readonly Box[],
  corners: readonly Corner[],
  slide: boolean,
): Spot | undefined {
  for (const corner of corners) {
    const spot = { corner, offset: 0 }
    if (isFree(spot, size, viewport, controls)) return spot
  }
  if (!slide) return undefined
  for (const corner of corners) {
    for (const offset of slideOffsets(corner, size, viewport, controls)) {
      const spot = { corner, offset }
      if (isFree(spot, size, viewport, controls)) return spot
    }
  }
  return undefined
}

/** Offsets that put the box just past one control's edge, nearest the corner first. */
function slideOffsets(
  corner: Corner,
  size: Size,
  viewport: Size,
  controls: readonly Box[],
): number[] {
  const column = boxAt({ corner, offset: 0 }, size, viewport)
  const fromBottom = corner.startsWith('bottom')
  const offsets = controls
    .filter((c) => c.left < column.right + GAP && column.left - GAP < c.right)
    .map((c) =>
      fromBottom ? viewport.height - EDGE_MARGIN - (c.top - GAP) : c.bottom + GAP - EDGE_MARGIN,
    )
    .filter((offset) => offset > 0)
  return [...new Set(offsets.map(Math.ceil))].sort((a, b) => a - b)
}

/** Placement again when the page's layout may have moved its controls, until stopped. */
export interface LayoutWatch {
  stop(): void
}

/**
 * Calls `changed` (at most every `intervalMs`) when the page's layout may have moved its
 * controls: DOM changes outside `own`, resizes, scrolls.
 */
export function watchLayout(own: Element, changed: () => void, intervalMs = 120): LayoutWatch {
  let timer: ReturnType<typeof setTimeout> | undefined
  const schedule = () => {
    timer ??= setTimeout(() => {
      timer = undefined
      changed()
    }, intervalMs)
  }
  // The overlay's own attribute writes would otherwise wake this up again, forever.
  const mutations = new MutationObserver((records) => {
    if (records.some((r) => r.target !== own && !own.contains(r.target))) schedule()
  })
  mutations.observe(document.documentElement, {
    subtree: true,
    childList: true,
    characterData: true,
    attributes: true,
    attributeFilter: ['class', 'style', 'hidden', 'open', 'disabled'],
  })
  const resizes = new ResizeObserver(schedule)
  resizes.observe(document.documentElement)
  addEventListener('resize', schedule)
  addEventListener('scroll', schedule, { capture: true, passive: true })
  return {
    stop() {
      clearTimeout(timer)
      timer = undefined
      mutations.disconnect()
      resizes.disconnect()
      removeEventListener('resize', schedule)
      removeEventListener('scroll', schedule, { capture: true })
    },
  }
}
