// <vite-plugin-ollama-overlay>: a shadow-DOM custom element that shows the plugin's state snapshot
// and live pull progress, modelled on Vite's own error overlay (docs/decisions.md, "The overlay
// follows Vite's error overlay").
import type { ModelState, Problem, PullProgressEvent, StateSnapshot } from '../protocol.js'
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
  position: 'bottom-right' | 'bottom-left' | 'top-right' | 'top-left'
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

  /** The first mount's config holds: a second mountOverlay call must not restyle the overlay. */
  configure(config: OverlayConfig): void {
    if (this.#config) return
    this.#config = config
    this.setAttribute('position', config.position)
    adoptStyles(this.shadowRoot!, config.nonce)
    this.#setCollapsed(readStoredCollapsed() ?? config.collapsed)
    this.#render()
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

  toggle(): void {
    const collapsed = !this.hasAttribute('collapsed')
    this.#setCollapsed(collapsed)
    storeCollapsed(collapsed)
  }

  #setCollapsed(collapsed: boolean): void {
    this.toggleAttribute('collapsed', collapsed)
    const toggle = this.#parts.toggle
    toggle.setAttribute('aria-expanded', String(!collapsed))
    toggle.setAttribute('aria-label', collapsed ? 'Expand Ollama status' : 'Collapse Ollama status')
    toggle.title = collapsed ? 'Show details' : 'Collapse to a badge'
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
