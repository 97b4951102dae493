import { debuglog } from 'node:util'
import { formatBytes } from '../../format.js'
import { errorMessage } from '../../problem.js'

// How big an image's download is, read from its registry before the daemon pulls it, so the first
// start can say "2.1 GB to download" up front (docs/decisions.md, "The image's size, said up
// front"). Best effort: any failure (offline, a private registry, a slow answer) is `undefined`.

const debug = debuglog('vite-plugin-ollama')

const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ')

/** The Docker Hub, as a registry API host. */
const HUB = 'registry-1.docker.io'

export interface ImageDownload {
  /** The compressed layers, each with its size: what the daemon downloads. */
  layers: Array<{ digest: string; size: number }>
  bytes: number
}

export interface RegistryOptions {
  /** The platform's architecture in Docker's words; the image's variant for it is measured. */
  arch?: string
  /** Gives up after this long: the pull itself must not wait for a registry that hangs. */
  timeoutMs?: number
  signal?: AbortSignal
  fetch?: typeof fetch
}

interface Reference {
  /** `https://registry-1.docker.io`, or `http://` for a registry on this machine. */
  origin: string
  repository: string
  reference: string
}

/** `ollama/ollama:rocm`, `127.0.0.1:5000/team/ollama@sha256:…` → where its manifest lives. */
export function parseImageReference(image: string): Reference {
  let rest = image
  let reference = 'latest'
  const at = rest.indexOf('@')
  if (at !== -1) {
    reference = rest.slice(at + 1)
    rest = rest.slice(0, at)
  } else {
    const colon = rest.lastIndexOf(':')
    if (colon > rest.lastIndexOf('/')) {
      reference = rest.slice(colon + 1)
      rest = rest.slice(0, colon)
    }
  }
  const slash = rest.indexOf('/')
  const first = slash === -1 ? '' : rest.slice(0, slash)
  // Docker's rule: the first part names a registry when it has a dot or a port, or is localhost.
  const isHost = first !== '' && (/[.:]/.test(first) || first === 'localhost')
  const hub = !isHost || first === 'docker.io' || first === 'index.docker.io'
  const host = hub ? HUB : first
  let repository = isHost ? rest.slice(slash + 1) : rest
  if (hub && !repository.includes('/')) repository = `library/${repository}`
  // Docker talks plain HTTP to a registry on this machine, TLS to any other.
  const local = /^(localhost|127\.[\d.]+|\[::1\])(:\d+)?$/.test(host)
  return { origin: `${local ? 'http' : 'https'}://${host}`, repository, reference }
}

/** Node's architecture in Docker's words. */
export function dockerArch(arch: string = process.arch): string {
  return arch === 'x64' ? 'amd64' : arch === 'ia32' ? '386' : arch
}

/** The image's layers and download size for this platform, or undefined when it cannot be read. */
export async function imageDownloadSize(
  image: string,
  opts: RegistryOptions = {},
): Promise<ImageDownload | undefined> {
  const timeout = AbortSignal.timeout(opts.timeoutMs ?? 3000)
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout
  const ref = parseImageReference(image)
  const session = new RegistrySession(ref, opts.fetch ?? fetch, signal)
  try {
    let manifest = await session.manifest(ref.reference)
    if (Array.isArray(manifest.manifests)) {
      const arch = opts.arch ?? dockerArch()
      const entry = manifest.manifests.find(
        (m) => m.platform?.os === 'linux' && m.platform.architecture === arch,
      )
      if (!entry?.digest) return undefined
      manifest = await session.manifest(entry.digest)
    }
    const layers = (manifest.layers ?? []).filter(
      (l): l is { digest: string; size: number } =>
        typeof l.digest === 'string' && typeof l.size === 'number',
    )
    if (layers.length === 0) return undefined
    return { layers, bytes: layers.reduce((sum, l) => sum + l.size, 0) }
  } catch (err) {
    debug('size of %s not read from its registry: %s', image, errorMessage(err))
    return undefined
  }
}

/** The line said before the image's pull starts. */
export function describeImageDownload(image: string, size: ImageDownload | undefined): string {
  if (size)
    return `pulling ${image}: ${formatBytes(size.bytes)} to download, on the first start only`
  // The registry did not say; for Ollama's own image, say what it usually is.
  if (/^(docker\.io\/)?ollama\/ollama(:|@|$)/.test(image)) {
    return `pulling ${image}: about 3-5 GB to download, on the first start only (the registry did not say the exact size)`
  }
  return `pulling ${image}: its size is unknown (the registry did not say)`
}

interface Manifest {
  manifests?: Array<{ digest?: string; platform?: { os?: string; architecture?: string } }>
  layers?: Array<{ digest?: unknown; size?: unknown }>
}

/** Manifest requests to one repository, with the anonymous pull token the registry asks for. */
class RegistrySession {
  private token: string | undefined

  constructor(
    private readonly ref: Reference,
    private readonly fetch: typeof globalThis.fetch,
    private readonly signal: AbortSignal,
  ) {}

  async manifest(reference: string): Promise<Manifest> {
    const url = `${this.ref.origin}/v2/${this.ref.repository}/manifests/${reference}`
    let response = await this.get(url)
    if (response.status === 401 && this.token === undefined) {
      await response.body?.cancel()
      this.token = await this.authenticate(response.headers.get('www-authenticate'))
      response = await this.get(url)
    }
    if (!response.ok) {
      await response.body?.cancel()
      throw new Error(`manifest ${reference}: HTTP ${response.status}`)
    }
    return (await response.json()) as Manifest
  }

  private get(url: string): Promise<Response> {
    const headers: Record<string, string> = { Accept: MANIFEST_TYPES }
    if (this.token) headers.Authorization = `Bearer ${this.token}`
    return this.fetch(url, { headers, signal: this.signal })
  }

  /** Docker Hub's `Bearer realm=…,service=…,scope=…`: an anonymous token for a public image. */
  private async authenticate(challenge: string | null): Promise<string> {
    const params = Object.fromEntries(
      [...(challenge ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
    )
    if (!/^bearer /i.test(challenge ?? '') || !params.realm) {
      throw new Error('the registry wants credentials')
    }
    const url = new URL(params.realm)
    if (params.service) url.searchParams.set('service', params.service)
    url.searchParams.set('scope', params.scope ?? `repository:${this.ref.repository}:pull`)
    const response = await this.fetch(url, { signal: this.signal })
    if (!response.ok) throw new Error(`token: HTTP ${response.status}`)
    const body = (await response.json()) as { token?: string; access_token?: string }
    const token = body.token ?? body.access_token
    if (!token) throw new Error('the token answer has no token')
    return token
  }
}
