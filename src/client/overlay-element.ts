// <vite-plugin-ollama-overlay>: a shadow-DOM custom element that shows the plugin's state snapshot
// and live pull progress, modelled on Vite's own error overlay (docs/decisions.md, "The overlay
// follows Vite's error overlay").
import type { ModelState, Problem, PullProgressEvent, StateSnapshot } from '../protocol.js'
import {
  type Corner,
  cornerOrder,
  freeSpot,
  type LayoutWatch,
  pageControls,
  type Size,
  type Spot,
  watchLayout,
} from './overlay-dock.js'
import { normaliseModelName, summarisePulls } from './overlay-format.js'
import { PullRequestError, requestCancel, requestPull } from './overlay-pull.js'
import { requestEngineRestart } from './overlay-restart.js'
import { overlayCss } from './overlay-style.js'
import { TabTitle } from './overlay-title.js'
import {
  type CardParts,
  createCard,
  createModelRow,
  h,
  type ModelRow,
  type RestartState,
  renderFacts,
  updateModelRow,
} from './overlay-view.js'

export const OVERLAY_TAG = 'vite-plugin-ollama-overlay'
export const COLLAPSED_STORAGE_KEY = 'vite-plugin-ollama:overlay-collapsed'

export interface OverlayConfig {
  /** Route prefix of the plugin (Vite's base included), e.g. '/__ollama'. */
  base: string
  /** The corner it prefers; it moves or docks where that would cover the page's controls. */
  position: Corner
  /** Only the default: a choice the user made (stored in localStorage) wins. */
  collapsed: boolean
  /** Vite's `html.cspNonce`, for the <style> element under a strict CSP. */
  nonce?: string
}

/** What callers (possibly another evaluation of this module) may rely on. */
export interface OverlayElement extends HTMLElement {
  configure(config: OverlayConfig): void
  setState(snapshot: StateSnapshot): void
  applyProgress(event: PullProgressEvent): void
  setConnected(connected: boolean): void
  toggle(): void
}

// Lets this module load where there is no DOM (SSR, workers), as Vite's overlay does.
const BaseElement = (globalThis.HTMLElement ?? class {}) as typeof HTMLElement

export class OllamaOverlayElement extends BaseElement implements OverlayElement {
  #parts: CardParts
  #rows = new Map<string, ModelRow>()
  #snapshot: StateSnapshot | null = null
  #config: OverlayConfig | undefined
  #connected = true
  #retrying = new Set<string>()
  #restart: RestartState = { restarting: false }
  #cancelling = new Set<string>()
  /** Models whose pull this tab cancelled: the Pull request it also had open ends, not failed. */
  #cancelled = new Set<string>()
  #requestProblems = new Map<string, Problem>()
  #title: TabTitle | undefined
  /** The user opened the card from the badge: it stays open until they work on the page. */
  #pinnedOpen = false
  #layout: LayoutWatch | undefined

  constructor() {
    super()
    const root = this.attachShadow({ mode: 'open' })
    if (typeof document !== 'undefined') this.#title = new TabTitle(document)
    this.#parts = createCard()
    root.append(this.#parts.card)
    // The whole header is the click target; the toggle button inside it is the keyboard one
    // (its click bubbles here, so one handler serves both).
    this.#parts.header.addEventListener('click', () => this.toggle())
    this.#parts.restart.addEventListener('click', () => void this.#restartEngine())
  }

  connectedCallback(): void {
    if (!this.#config || this.#layout) return
    this.#layout = watchLayout(this, () => this.#place())
    // A pointer or the focus going to the page means the user works there: the card they
    // opened over it docks again.
    document.addEventListener('pointerdown', this.#onPageInput, true)
    document.addEventListener('focusin', this.#onPageInput, true)
    this.#place()
  }

  disconnectedCallback(): void {
    this.#layout?.stop()
    this.#layout = undefined
    document.removeEventListener('pointerdown', this.#onPageInput, true)
    document.removeEventListener('focusin', this.#onPageInput, true)
  }

  #onPageInput = (event: Event): void => {
    if (!this.#pinnedOpen || event.composedPath().includes(this)) return
    this.#pinnedOpen = false
    this.#place()
  }

  /** The first mount's config holds: a second mountOverlay call must not restyle the overlay. */
  configure(config: OverlayConfig): void {
    if (this.#config) return
    this.#config = config
    adoptStyles(this.shadowRoot!, config.nonce)
    this.#setCollapsed(readStoredCollapsed() ?? config.collapsed)
    this.#render()
    if (this.isConnected) this.connectedCallback()
  }

  /**
   * With no choice stored and `collapsed: false`, the card shows while there is something to
   * watch or do (start-up, pulls, errors, a prompt past the context window, a missing model to
   * pull: a pull just cancelled leaves its Pull button under the pointer) and folds to the badge once all is ready, so it never sits
   * on the app's own controls for long (checker #164). A click stores a choice that wins.
   */
  #autoCollapse(): void {
    if (!this.#config || this.#config.collapsed || readStoredCollapsed() !== undefined) return
    const s = this.#snapshot
    const quiet =
      s?.phase === 'ready' &&
      !s.warning &&
      !s.contextWarning &&
      s.models.every(
        (m) => !m.error && !m.warning && m.status !== 'pulling' && m.status !== 'missing',
      )
    this.#setCollapsed(Boolean(quiet))
  }

  setState(snapshot: StateSnapshot): void {
    this.#snapshot = structuredClone(snapshot)
    for (const model of this.#snapshot.models) {
      if (model.status !== 'error') this.#requestProblems.delete(normaliseModelName(model.name))
    }
    this.#autoCollapse()
    this.#render()
  }

  applyProgress(event: PullProgressEvent): void {
    this.#snapshot ??= { phase: 'pulling', engine: null, gpu: null, models: [] }
    const key = normaliseModelName(event.model)
    let model = this.#snapshot.models.find((m) => normaliseModelName(m.name) === key)
    // Once the engine is up, the state says which models pull: a figure the server's throttle
    // sent after a pull ended (done, failed, cancelled) must not bring its bar back. Before, the
    // Ollama image's download has a row of its own.
    if (engineUp(this.#snapshot) && model?.status !== 'pulling') return
    if (!model) {
      model = { name: event.model, status: 'pulling' }
      this.#snapshot.models.push(model)
    }
    model.status = 'pulling'
    model.progress = event
    model.error = undefined
    this.#requestProblems.delete(key)
    this.#render()
  }

  /** Vite's client reloads the page once the server is back; until then, say we are waiting. */
  setConnected(connected: boolean): void {
    this.#connected = connected
    this.toggleAttribute('disconnected', !connected)
    this.#render()
  }

  /** The card shown folds to the badge; the badge (folded or docked) opens the card. */
  toggle(): void {
    const open = !this.hasAttribute('collapsed') && !this.hasAttribute('docked')
    this.#pinnedOpen = !open
    this.#setCollapsed(open)
    storeCollapsed(open)
    this.#place()
  }

  #setCollapsed(collapsed: boolean): void {
    this.toggleAttribute('collapsed', collapsed)
    if (collapsed) this.#pinnedOpen = false
  }

  /**
   * Puts the card, or the badge, where it covers none of the page's controls (overlay-dock.ts):
   * the card in its corner or the other one on its side; else the badge, `docked`, in the first free corner or
   * edge stretch; with no free spot at all, the badge lets clicks through (`yielding`). A card
   * the user opened from the badge goes to its own corner until they work on the page.
   */
  #place(): void {
    const config = this.#config
    if (!config || !this.isConnected) return
    const wantCard = !this.hasAttribute('collapsed')
    if (wantCard && this.#pinnedOpen) {
      this.#show({ corner: config.position, offset: 0 }, false)
      return
    }
    const root = document.documentElement
    const viewport = { width: root.clientWidth, height: root.clientHeight }
    const controls = pageControls(document, this, viewport)
    const corners = cornerOrder(config.position)
    // The card keeps to its side of the page (a card across the page's title reads as broken);
    // the badge is small enough to go wherever there is room.
    const cardSpot = wantCard
      ? freeSpot(this.#measure(false), viewport, controls, corners.slice(0, 2), false)
      : undefined
    if (cardSpot) {
      this.#show(cardSpot, false)
      return
    }
    const badgeSpot = freeSpot(this.#measure(true), viewport, controls, corners, true)
    this.#show(badgeSpot ?? { corner: config.position, offset: 0 }, wantCard, !badgeSpot)
  }

  /** The card's size as the card (`docked` false) or as the badge, measured in place. */
  #measure(asBadge: boolean): Size {
    const docked = this.hasAttribute('docked')
    this.toggleAttribute('docked', asBadge)
    const { width, height } = this.#parts.card.getBoundingClientRect()
    this.toggleAttribute('docked', docked)
    return { width, height }
  }

  #show(spot: Spot, docked: boolean, yielding = false): void {
    setAttr(this, 'position', spot.corner)
    const offset = `${spot.offset}px`
    if (this.style.getPropertyValue('--ollama-dock-offset') !== offset) {
      this.style.setProperty('--ollama-dock-offset', offset)
    }
    this.toggleAttribute('docked', docked)
    this.toggleAttribute('yielding', yielding)
    const open = !docked && !this.hasAttribute('collapsed')
    const toggle = this.#parts.toggle
    setAttr(toggle, 'aria-expanded', String(open))
    setAttr(toggle, 'aria-label', open ? 'Collapse Ollama status' : 'Expand Ollama status')
    toggle.title = open ? 'Collapse to a badge' : 'Show details'
  }

  #render(): void {
    const snapshot = this.#snapshot
    this.setAttribute('phase', snapshot?.phase ?? 'detecting')
    renderFacts(this.#parts, snapshot, this.#restart)
    this.#renderModels(snapshot?.models ?? [])
    const note = this.#connected ? '' : 'Dev server disconnected: waiting for it to come back…'
    this.#parts.note.textContent = note
    this.#parts.note.hidden = !note
    this.#title?.show(summarisePulls(snapshot?.models ?? []))
    // The card's size may have changed with its content.
    this.#place()
  }

  #renderModels(models: ModelState[]): void {
    const list = this.#parts.models
    const seen = new Set<string>()
    models.forEach((model, index) => {
      const key = normaliseModelName(model.name)
      seen.add(key)
      let row = this.#rows.get(key)
      if (!row) {
        row = createModelRow(model.name)
        const name = model.name
        row.retry.addEventListener('click', () => void this.#retry(name))
        row.cancel.addEventListener('click', () => void this.#cancel(name))
        this.#rows.set(key, row)
      }
      updateModelRow(row, model, {
        canPull: engineUp(this.#snapshot),
        retrying: this.#retrying.has(key),
        cancelling: this.#cancelling.has(key),
        requestProblem: this.#requestProblems.get(key),
      })
      // Move a row only when out of place: re-inserting a node restarts its bar's transition.
      if (list.children[index] !== row.el) list.insertBefore(row.el, list.children[index] ?? null)
    })
    for (const [key, row] of this.#rows) {
      if (!seen.has(key)) {
        row.el.remove()
        this.#rows.delete(key)
      }
    }
    list.hidden = models.length === 0
  }

  /** Pull (a missing model) or Retry (a failed one): POST /pull, read to its end. */
  async #retry(model: string): Promise<void> {
    const key = normaliseModelName(model)
    if (this.#retrying.has(key) || !this.#config) return
    const verb = this.#snapshot?.models.find((m) => m.name === model)?.status === 'missing'
    this.#retrying.add(key)
    this.#cancelled.delete(key)
    this.#requestProblems.delete(key)
    this.#render()
    try {
      await requestPull(this.#config.base, model)
    } catch (error) {
      // Our own Cancel ended it: the row already says so (missing, with Pull).
      if (!this.#cancelled.has(key)) {
        this.#requestProblems.set(key, requestProblem(verb ? 'Pull' : 'Retry', error))
      }
    } finally {
      this.#retrying.delete(key)
      this.#render()
    }
  }

  /** The GPU warning's Restart: the server answers once the engine is back, or says why not. */
  async #restartEngine(): Promise<void> {
    if (this.#restart.restarting || !this.#config) return
    this.#restart = { restarting: true }
    this.#render()
    try {
      await requestEngineRestart(this.#config.base)
      this.#restart = { restarting: false }
    } catch (error) {
      this.#restart = {
        restarting: false,
        failure: {
          message: `Restart failed: ${error instanceof Error ? error.message : String(error)}`,
          hint: error instanceof PullRequestError ? error.hint : undefined,
          action: 'restart-engine',
        },
      }
    }
    this.#render()
  }

  /** Cancel: DELETE /pull; the row follows the state the server sends when the pull stopped. */
  async #cancel(model: string): Promise<void> {
    const key = normaliseModelName(model)
    if (this.#cancelling.has(key) || !this.#config) return
    this.#cancelling.add(key)
    this.#cancelled.add(key)
    this.#requestProblems.delete(key)
    this.#render()
    try {
      await requestCancel(this.#config.base, model)
    } catch (error) {
      this.#cancelled.delete(key)
      this.#requestProblems.set(key, requestProblem('Cancel', error))
    } finally {
      this.#cancelling.delete(key)
      this.#render()
    }
  }
}

/** The engine is up, so models can be pulled and pulls cancelled, and the state lists the pulls. */
function engineUp(snapshot: StateSnapshot | null): boolean {
  return snapshot?.phase === 'ready' || snapshot?.phase === 'pulling'
}

function requestProblem(what: string, error: unknown): Problem {
  return {
    message: `${what} failed: ${error instanceof Error ? error.message : String(error)}`,
    hint:
      error instanceof PullRequestError && error.hint
        ? error.hint
        : 'Check the terminal running Vite for details.',
  }
}

export function defineOverlayElement(): void {
  // The module can be evaluated twice (HMR, or the injected tag plus a manual import): defining the
  // same tag twice throws, so the first definition stays (vitejs/vite#4475).
  if (!customElements.get(OVERLAY_TAG)) customElements.define(OVERLAY_TAG, OllamaOverlayElement)
}

/**
 * Under a strict CSP a <style> needs the page's nonce; without one, a constructed stylesheet
 * (adoptedStyleSheets) is used, which style-src does not govern in current browsers.
 */
function adoptStyles(root: ShadowRoot, configNonce: string | undefined): void {
  const nonce = configNonce ?? readMetaNonce()
  if (!nonce && canConstructStylesheets()) {
    const sheet = new CSSStyleSheet()
    sheet.replaceSync(overlayCss)
    root.adoptedStyleSheets = [sheet]
    return
  }
  root.prepend(h('style', { nonce }, overlayCss))
}

function canConstructStylesheets(): boolean {
  try {
    return 'adoptedStyleSheets' in ShadowRoot.prototype && 'replaceSync' in new CSSStyleSheet()
  } catch {
    return false
  }
}

/** Vite writes `<meta property="csp-nonce" nonce>` when `html.cspNonce` is set. */
function readMetaNonce(): string | undefined {
  const meta = document.querySelector<HTMLMetaElement>('meta[property="csp-nonce"]')
  return meta?.nonce || meta?.getAttribute('nonce') || undefined
}

// localStorage throws in sandboxed iframes and with storage disabled: the overlay then simply
// forgets, which is better than not showing at all.
function readStoredCollapsed(): boolean | undefined {
  try {
    const stored = localStorage.getItem(COLLAPSED_STORAGE_KEY)
    return stored === null ? undefined : stored === 'true'
  } catch {
    return undefined
  }
}

function storeCollapsed(collapsed: boolean): void {
  try {
    localStorage.setItem(COLLAPSED_STORAGE_KEY, String(collapsed))
  } catch {
    // see readStoredCollapsed
  }
}

/** Writes only on change: the same value written again still wakes MutationObservers. */
function setAttr(el: Element, name: string, value: string): void {
  if (el.getAttribute(name) !== value) el.setAttribute(name, value)
}
