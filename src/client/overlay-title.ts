// The tab's title while the tab is hidden and a model downloads: "↓ 42% llama3.2 · My app", so a
// pull of several minutes can be followed from the tab strip while you work elsewhere. The page's
// own title comes back the moment the tab is shown again or nothing pulls any more.
import { formatPercent, type PullSummary } from './overlay-format.js'

/** The title a hidden tab shows for `pulls`, before the page's own title. */
export function pullTitle(pulls: PullSummary, own: string): string {
  const figure = pulls.percent === null ? '' : ` ${formatPercent(pulls.percent)}`
  return `↓${figure} ${pulls.what}${own ? ` · ${own}` : ''}`
}

/**
 * Owns `document.title` only while it shows progress: what it wrote is remembered, so a title the
 * app set meanwhile (a router changing pages) is the one kept and restored, never overwritten
 * with a stale one.
 */
export class TabTitle {
  #own: string | undefined
  #written: string | undefined
  #pulls: PullSummary | undefined

  constructor(private readonly doc: Document) {
    doc.addEventListener('visibilitychange', () => this.#apply())
  }

  /** The pulls now (undefined: none); shown in the title while the tab is hidden. */
  show(pulls: PullSummary | undefined): void {
    this.#pulls = pulls
    this.#apply()
  }

  #apply(): void {
    if (!this.doc.hidden || !this.#pulls) {
      this.#restore()
      return
    }
    // Ours is still there: keep the page's title we saved. Otherwise the app set a new one.
    if (this.#written === undefined || this.doc.title !== this.#written) {
      this.#own = this.doc.title
    }
    this.#written = pullTitle(this.#pulls, this.#own ?? '')
    this.doc.title = this.#written
  }

  #restore(): void {
    if (this.#written !== undefined && this.doc.title === this.#written) {
      this.doc.title = this.#own ?? ''
    }
    this.#written = undefined
    this.#own = undefined
  }
}
