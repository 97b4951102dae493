// A real Vite dev server whose small plugin plays the part of vite-plugin-ollama's server side for
// the overlay: it answers `ollama:hello` with a snapshot, pushes `ollama:progress`, serves
// POST /__ollama/pull as Server-Sent Events and records what it received. Plus Debian's Chromium.
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Browser, chromium, type Page } from 'playwright-core'
import { createServer, type Plugin, type ViteDevServer } from 'vite'
import type { PullProgressEvent, StateSnapshot } from '../src/protocol.js'

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const overlaySource = join(repoRoot, 'src/client/overlay.ts')
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const hasChromium = existsSync(chromiumPath)
/** Without Chromium the browser suites skip, except under CI, where launching it fails loudly. */
export const skipBrowser = !hasChromium && !process.env.CI

export function browserSuiteName(name: string): string {
  return skipBrowser
    ? `${name} (skipped: no Chromium at ${chromiumPath}; apt install chromium or set CHROMIUM_PATH)`
    : name
}

export const OVERLAY_BASE = '/__ollama'
export const CSP_NONCE = 'overlay-test-nonce'

export interface PullRequestRecord {
  body: unknown
  contentType: string | undefined
}

/** What the test plugin answers with and what it saw; tests read and change it. */
export interface ServerSide {
  /** What `ollama:hello` is answered with. */
  snapshot: StateSnapshot
  hellos: number
  pulls: PullRequestRecord[]
  /** How the next POST /pull stream ends. */
  pullOutcome: 'done' | 'error'
}

export interface Harness extends ServerSide {
  server: ViteDevServer
  url: string
  sendState(snapshot: StateSnapshot): void
  sendProgress(event: PullProgressEvent): void
  close(): Promise<void>
}

const PAGE_HTML = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <link rel="icon" href="data:," />
    <title>overlay test app</title>
    <link rel="stylesheet" href="/page.css" />
  </head>
  <body>
    <main><h1>My app</h1><p>Chat with a local model while you develop.</p></main>
    <script type="module" src="/main.js"></script>
  </body>
</html>
`

// A file, not inline styles: the CSP case allows only 'self' and the overlay's nonce.
const PAGE_CSS = `body { margin: 0; font-family: system-ui, sans-serif; background: #f4f4f6; color: #222; }
main { padding: 32px; }
`

// The page's config comes from the query string, so one server serves every case.
function mainModule(): string {
  const overlayUrl = `/@fs${overlaySource}`
  return `import { mountOverlay } from ${JSON.stringify(overlayUrl)}
const params = new URLSearchParams(location.search)
const config = {
  base: ${JSON.stringify(OVERLAY_BASE)},
  position: params.get('position') ?? 'bottom-right',
  collapsed: params.get('collapsed') === 'true',
  nonce: params.get('nonce') ?? undefined,
}
mountOverlay(config)
if (params.has('twice')) {
  mountOverlay(config)
  // A second evaluation of the module, as when both the injected tag and the app import it.
  const again = await import(${JSON.stringify(`${overlayUrl}?again`)})
  again.mountOverlay(config)
}
`
}

export const readySnapshot: StateSnapshot = {
  phase: 'ready',
  engine: {
    kind: 'docker',
    label: 'Docker',
    url: 'http://127.0.0.1:11434',
    version: '0.12.3',
    simulated: false,
  },
  gpu: {
    gpus: [{ name: 'NVIDIA GeForce RTX 4090', vendor: 'nvidia', vramBytes: 24 * 1024 ** 3 }],
    accelerator: 'cuda',
  },
  models: [{ name: 'llama3.2:latest', status: 'loaded', processor: '100% GPU' }],
}

function overlayTestPlugin(harness: ServerSide): Plugin {
  return {
    name: 'overlay-test-server',
    configureServer(server) {
      server.ws.on('ollama:hello', (_data, client) => {
        harness.hellos++
        client.send('ollama:state', harness.snapshot)
      })
      server.middlewares.use(function cspHeader(req, res, next) {
        const url = new URL(req.url ?? '/', 'http://localhost')
        if (url.searchParams.has('csp')) {
          // Files from our origin only: no inline <style> unless it carries the nonce.
          res.setHeader(
            'Content-Security-Policy',
            `script-src 'self'; style-src 'self' 'nonce-${CSP_NONCE}'`,
          )
        }
        next()
      })
      server.middlewares.use(function pullRoute(req, res, next) {
        if (req.url !== `${OVERLAY_BASE}/pull` || req.method !== 'POST') return next()
        let body = ''
        req.setEncoding('utf8')
        req.on('data', (chunk: string) => {
          body += chunk
        })
        req.on('end', () => {
          harness.pulls.push({ body: JSON.parse(body), contentType: req.headers['content-type'] })
          res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' })
          if (harness.pullOutcome === 'error') {
            res.end(
              'event: error\ndata: {"message":"pull model manifest: file does not exist","hint":"Check the name on ollama.com/library"}\n\n',
            )
            return
          }
          res.write('event: progress\ndata: {"status":"pulling manifest"}\n\n')
          res.end('event: done\ndata: {}\n\n')
        })
      })
    },
  }
}

/** `port`: a fixed port, for a test that stops the server and starts another in its place. */
export async function startHarness(opts: { port?: number } = {}): Promise<Harness> {
  const root = await mkdtemp(join(tmpdir(), 'overlay-test-'))
  await writeFile(join(root, 'index.html'), PAGE_HTML)
  await writeFile(join(root, 'page.css'), PAGE_CSS)
  await writeFile(join(root, 'main.js'), mainModule())
  const side: ServerSide = { snapshot: readySnapshot, hellos: 0, pulls: [], pullOutcome: 'done' }
  const server = await createServer({
    configFile: false,
    root,
    logLevel: 'silent',
    cacheDir: join(root, '.vite'),
    optimizeDeps: { noDiscovery: true, include: [] },
    server: {
      port: opts.port ?? 0,
      strictPort: opts.port !== undefined,
      host: '127.0.0.1',
      fs: { allow: [root, join(repoRoot, 'src')] },
    },
    plugins: [overlayTestPlugin(side)],
  })
  await server.listen()
  const { port } = server.httpServer!.address() as AddressInfo
  return Object.assign(side, {
    server,
    url: `http://127.0.0.1:${port}/`,
    sendState: (snapshot: StateSnapshot) => server.ws.send('ollama:state', snapshot),
    sendProgress: (event: PullProgressEvent) => server.ws.send('ollama:progress', event),
    close: async () => {
      await server.close()
      await rm(root, { recursive: true, force: true })
    },
  })
}

export function launchChromium(): Promise<Browser> {
  if (!hasChromium) {
    throw new Error(
      `Chromium is required under CI but is missing at ${chromiumPath}: set CHROMIUM_PATH`,
    )
  }
  return chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  })
}

/** Console errors and uncaught exceptions of a page, for the "no errors" assertion. */
export function collectPageErrors(page: Page, errors: string[]): void {
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`)
  })
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`))
}
