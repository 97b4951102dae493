// The app's own handlers, for server code in the same process (docs/decisions.md, "virtual:ollama
// in server code"): a loader that calls `chat()` from the server build's `virtual:ollama` has no
// page URL to resolve a relative `productionBase` against, and needs none: it calls the handler
// the app's server created, with no network hop. Kept on `globalThis` because the server bundle
// and the app's server hold copies of this package of their own. Web-standard only.

/** Answers a request the server's own code makes: the app's handler, minus `authorize`. */
export type InProcessServe = (request: Request) => Promise<Response>

const KEY = Symbol.for('vite-plugin-ollama/handlers')

/** The handlers by base path: one per base (the newest), so the map never grows with requests. */
function registry(): Map<string, InProcessServe> {
  const g = globalThis as typeof globalThis & { [KEY]?: Map<string, InProcessServe> }
  g[KEY] ??= new Map()
  return g[KEY]
}

export function registerInProcess(base: string, serve: InProcessServe): void {
  registry().set(base, serve)
}

/** The handler whose base holds `pathname`, if this process created one. */
export function inProcessHandler(pathname: string): InProcessServe | undefined {
  for (const [base, serve] of registry()) {
    if (pathname === base || pathname.startsWith(`${base}/`)) return serve
  }
  return undefined
}

/** The bases this process serves, for the error that says none matches. */
export function inProcessBases(): string[] {
  return [...registry().keys()]
}
