// Browser entry of the status overlay: mounts <vite-plugin-ollama-overlay> once and feeds it from
// the dev server over Vite's HMR channel. Runs in the browser only: no Node imports here, and the
// type imports are erased.
import type { PullProgressEvent, StateSnapshot } from '../protocol.js'
import {
  defineOverlayElement,
  OVERLAY_TAG,
  type OverlayConfig,
  type OverlayElement,
} from './overlay-element.js'

export type { OverlayConfig, OverlayElement } from './overlay-element.js'
export { COLLAPSED_STORAGE_KEY, OVERLAY_TAG } from './overlay-element.js'

type HotContext = NonNullable<ImportMeta['hot']>

/** The element this evaluation of the module feeds; a second evaluation wires its own listeners. */
let wired: OverlayElement | undefined

/**
 * Shows the overlay (once per page, however often it is called) and connects it to the dev server.
 * Returns the element, or null where there is no DOM.
 */
export function mountOverlay(config: OverlayConfig): OverlayElement | null {
  if (typeof document === 'undefined' || typeof customElements === 'undefined') return null
  defineOverlayElement()
  // Reuse the page's overlay: the module may be evaluated twice (the injected tag plus a manual
  // import, or an HMR update), and two overlays is the bug vite-plugin-checker#563 reported. An
  // element an app removed from the page (a framework clearing <body>) is put back, not recreated.
  const element =
    document.querySelector<OverlayElement>(OVERLAY_TAG) ??
    wired ??
    (document.createElement(OVERLAY_TAG) as OverlayElement)
  element.configure(config)
  if (!element.isConnected) document.body.append(element)

  const hot = import.meta.hot
  if (hot && wired !== element) {
    connectToDevServer(element, hot)
    wired = element
  }
  return element
}

/**
 * Ask-then-listen: custom events sent before a listener exists are dropped (vitejs/vite#5273),
 * so the overlay says hello and the server answers this client with the full snapshot.
 */
function connectToDevServer(element: OverlayElement, hot: HotContext): void {
  const sayHello = () => {
    try {
      hot.send('ollama:hello', {})
    } catch {
      // SendBeforeConnectError: Vite's client never connected (HMR disabled); nothing to ask.
    }
  }
  const onState = (snapshot: StateSnapshot) => element.setState(snapshot)
  const onProgress = (event: PullProgressEvent) => element.applyProgress(event)
  // After the socket reopens (a restarted server), our earlier hello went to the old server.
  const onConnect = () => {
    element.setConnected(true)
    sayHello()
  }
  const onDisconnect = () => element.setConnected(false)

  hot.on('ollama:state', onState)
  hot.on('ollama:progress', onProgress)
  hot.on('vite:ws:connect', onConnect)
  hot.on('vite:ws:disconnect', onDisconnect)
  hot.dispose(() => {
    hot.off('ollama:state', onState)
    hot.off('ollama:progress', onProgress)
    hot.off('vite:ws:connect', onConnect)
    hot.off('vite:ws:disconnect', onDisconnect)
    wired = undefined
  })
  sayHello()
}
