// The Ollama image's download size, read from its registry before the daemon pulls it. No registry
// on the internet is reachable here: a local server plays Docker Hub's side (an anonymous Bearer
// token, a multi-platform index, a manifest per platform), and `fetch` sends it the requests meant
// for registry-1.docker.io; everything else is the real code over real sockets.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  describeImageDownload,
  imageDownloadSize,
  parseImageReference,
} from '../src/engines/docker/registry.js'

const AMD64 = [
  {
    mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    digest: `sha256:${'a'.repeat(64)}`,
    size: 29_754_290,
  },
  {
    mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    digest: `sha256:${'b'.repeat(64)}`,
    size: 1_512_000_123,
  },
  {
    mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    digest: `sha256:${'c'.repeat(64)}`,
    size: 2_093_450_008,
  },
]
const ARM64 = [
  {
    mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    digest: `sha256:${'d'.repeat(64)}`,
    size: 27_000_000,
  },
  {
    mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    digest: `sha256:${'e'.repeat(64)}`,
    size: 1_100_000_000,
  },
]
const AMD64_DIGEST = `sha256:${'1'.repeat(64)}`
const ARM64_DIGEST = `sha256:${'2'.repeat(64)}`

describe('the image size, from its registry', () => {
  let hub: http.Server
  let origin: string
  const seen: string[] = []

  beforeAll(async () => {
    hub = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://hub')
      seen.push(`${req.headers.authorization ? 'auth ' : ''}${url.pathname}`)
      const json = (status: number, body: unknown, type = 'application/json') => {
        res.writeHead(status, { 'Content-Type': type })
        res.end(JSON.stringify(body))
      }
      if (url.pathname === '/token') {
        // Docker Hub hands out a pull token for exactly the scope its challenge named.
        if (url.searchParams.get('scope') !== 'repository:ollama/ollama:pull') return json(400, {})
        return json(200, { token: 'anonymous-pull-token' })
      }
      if (req.headers.authorization !== 'Bearer anonymous-pull-token') {
        res.setHeader(
          'WWW-Authenticate',
          `Bearer realm="${origin}/token",service="registry.docker.io",scope="repository:ollama/ollama:pull"`,
        )
        return json(401, { errors: [{ code: 'UNAUTHORIZED' }] })
      }
      if (url.pathname === '/v2/ollama/ollama/manifests/latest') {
        return json(
          200,
          {
            schemaVersion: 2,
            mediaType: 'application/vnd.oci.image.index.v1+json',
            manifests: [
              { digest: AMD64_DIGEST, platform: { os: 'linux', architecture: 'amd64' } },
              { digest: ARM64_DIGEST, platform: { os: 'linux', architecture: 'arm64' } },
              {
                digest: `sha256:${'3'.repeat(64)}`,
                platform: { os: 'unknown', architecture: 'unknown' },
              },
            ],
          },
          'application/vnd.oci.image.index.v1+json',
        )
      }
      const platform = { [AMD64_DIGEST]: AMD64, [ARM64_DIGEST]: ARM64 }[
        url.pathname.split('/manifests/')[1] ?? ''
      ]
      if (platform) {
        return json(200, {
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { digest: `sha256:${'f'.repeat(64)}`, size: 6_000 },
          layers: platform,
        })
      }
      json(404, { errors: [{ code: 'MANIFEST_UNKNOWN' }] })
    })
    await new Promise<void>((resolve) => hub.listen(0, '127.0.0.1', resolve))
    origin = `http://127.0.0.1:${(hub.address() as AddressInfo).port}`
  })
  afterAll(() => {
    hub.closeAllConnections()
    hub.close()
  })

  /** fetch, with Docker Hub's registry host answered by the local stand-in. */
  const toHub: typeof fetch = (input, init) =>
    fetch(String(input).replace('https://registry-1.docker.io', origin), init)

  it('reads the layers of this platform from Docker Hub, through its anonymous token', async () => {
    const amd64 = await imageDownloadSize('ollama/ollama', { fetch: toHub, arch: 'amd64' })
    expect(amd64?.bytes).toBe(29_754_290 + 1_512_000_123 + 2_093_450_008)
    expect(amd64?.layers.map((l) => l.digest)).toEqual(AMD64.map((l) => l.digest))
    expect(seen).toEqual([
      '/v2/ollama/ollama/manifests/latest',
      '/token',
      'auth /v2/ollama/ollama/manifests/latest',
      `auth /v2/ollama/ollama/manifests/${AMD64_DIGEST}`,
    ])
    const arm64 = await imageDownloadSize('docker.io/ollama/ollama:latest', {
      fetch: toHub,
      arch: 'arm64',
    })
    expect(arm64?.bytes).toBe(1_127_000_000)
    // The config blob is not a layer: the daemon reports no progress for it.
    expect(describeImageDownload('ollama/ollama:latest', amd64)).toBe(
      'pulling ollama/ollama:latest: 3.6 GB to download, on the first start only',
    )
  })

  it('says nothing exact when the registry cannot be reached, the platform is missing or the tag unknown', async () => {
    // Nothing listens on port 1: refused at once, as an offline machine's registry is.
    expect(await imageDownloadSize('127.0.0.1:1/ollama/ollama:latest')).toBeUndefined()
    expect(
      await imageDownloadSize('ollama/ollama', { fetch: toHub, arch: 'riscv64' }),
    ).toBeUndefined()
    expect(await imageDownloadSize('ollama/ollama:nope', { fetch: toHub })).toBeUndefined()
    // A registry that never answers: given up after the timeout, well before the pull would end.
    const silent = http.createServer(() => {})
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const port = (silent.address() as AddressInfo).port
    const started = performance.now()
    expect(
      await imageDownloadSize(`127.0.0.1:${port}/ollama/ollama`, { timeoutMs: 200 }),
    ).toBeUndefined()
    expect(performance.now() - started).toBeLessThan(5_000)
    silent.closeAllConnections()
    silent.close()
  })

  it('says "about 3-5 GB" for the Ollama image when its size is unknown, and only for it', () => {
    expect(describeImageDownload('ollama/ollama:latest', undefined)).toBe(
      'pulling ollama/ollama:latest: about 3-5 GB to download, on the first start only (the registry did not say the exact size)',
    )
    expect(describeImageDownload('ollama/ollama:rocm', undefined)).toMatch(/about 3-5 GB/)
    expect(describeImageDownload('registry.example/team/ollama:1', undefined)).toBe(
      'pulling registry.example/team/ollama:1: its size is unknown (the registry did not say)',
    )
  })

  it('finds the registry, repository and tag in an image name as Docker does', () => {
    expect(parseImageReference('ollama/ollama')).toEqual({
      origin: 'https://registry-1.docker.io',
      repository: 'ollama/ollama',
      reference: 'latest',
    })
    expect(parseImageReference('ubuntu:24.04')).toMatchObject({
      repository: 'library/ubuntu',
      reference: '24.04',
    })
    expect(parseImageReference('127.0.0.1:5000/vpo/ollama:abc')).toEqual({
      origin: 'http://127.0.0.1:5000',
      repository: 'vpo/ollama',
      reference: 'abc',
    })
    expect(parseImageReference(`ghcr.io/o/ollama@sha256:${'9'.repeat(64)}`)).toEqual({
      origin: 'https://ghcr.io',
      repository: 'o/ollama',
      reference: `sha256:${'9'.repeat(64)}`,
    })
    expect(parseImageReference('localhost/ollama').origin).toBe('http://localhost')
    expect(parseImageReference('docker.io/library/ubuntu')).toMatchObject({
      origin: 'https://registry-1.docker.io',
      repository: 'library/ubuntu',
    })
  })
})
