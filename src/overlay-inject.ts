import type { Plugin } from 'vite'
import { OVERLAY_ID, type PluginState } from './virtual.js'

// The overlay rides on Vite's own HMR client (docs/decisions.md, "The overlay rides on Vite's
// client"): every page that runs `/@vite/client` gets it, whoever wrote the page's HTML. SSR
// frameworks (SvelteKit, Astro, React Router, Nuxt, TanStack Start) serve their own HTML, so
// `transformIndexHtml` never runs there, but they all load Vite's client for HMR.

/**
 * Vite's client module as the dev server resolves `/@vite/client`:
 * `<vite package>/dist/client/client.mjs` in Vite 7 and 8, whatever the package's folder is
 * called (`vite`, an alias such as `vite7`, pnpm's `.pnpm/vite@…/node_modules/vite`).
 */
const VITE_CLIENT_ID = /\/dist\/client\/client\.mjs(?:\?.*)?$/

/**
 * The line appended to Vite's client. A dynamic import, run after the client's own top-level
 * code: the overlay module imports the client back (for its `import.meta.hot`), and a static
 * import would run the overlay first, while the client's HMR state is not yet initialised. The
 * bare id is resolved by Vite's import analysis to the one URL of the virtual module, so the page
 * loads one overlay module however many pages' clients import it.
 */
export const OVERLAY_IMPORT = `\n;import(${JSON.stringify(OVERLAY_ID)});\n`

/** Whether `id` and `code` are Vite's browser client (the `createHotContext` it exports says so). */
export function isViteClient(id: string, code: string): boolean {
  return VITE_CLIENT_ID.test(id) && code.includes('createHotContext')
}

/**
 * The `transform` hook that appends the overlay's import to Vite's client, in the browser
 * environment only, while the plugin serves this dev server (`active`) with the overlay on.
 */
export function overlayInjection(state: PluginState): NonNullable<Plugin['transform']> {
  return {
    filter: { id: VITE_CLIENT_ID },
    handler(code, id, options) {
      if (options?.ssr || !state.active || !state.options.overlay) return
      if (!isViteClient(id, code)) return
      // Appended, so no line of the client moves: its source map stays right as it is.
      return { code: code + OVERLAY_IMPORT, map: null }
    },
  }
}
