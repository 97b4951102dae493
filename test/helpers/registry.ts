// A local Docker registry (the Registry HTTP API v2, pull side only) serving one image: the
// daemon really pulls from it, so the plugin's image pull runs against the real engine without
// the internet. Loopback registries need no TLS: Docker treats 127.0.0.0/8 as insecure.
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import {
  createReadStream,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface LocalRegistry {
  /** `127.0.0.1:PORT`, the prefix of image names pulled from it. */
  host: string
  /** Requests seen, as "METHOD /path". */
  requests: string[]
  close(): Promise<void>
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256')
  await pipeline(createReadStream(file), hash)
  return `sha256:${hash.digest('hex')}`
}

/**
 * Serves `image` (already in the local daemon), plus a layer of `padBytes` random bytes, as
 * `<host>/<repository>:<tag>`, its blobs at `bytesPerSecond` so the pull reports progress.
 */
export async function startRegistry(
  image: string,
  bytesPerSecond: number,
  padBytes = 24e6,
): Promise<LocalRegistry> {
  const dir = mkdtempSync(path.join(tmpdir(), 'vpo-registry-'))
  await run('docker', ['save', image, '-o', path.join(dir, 'image.tar')])
  await run('tar', ['xf', path.join(dir, 'image.tar'), '-C', dir])
  const [saved] = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as {
    Config: string
    Layers: string[]
  }[]
  if (!saved) throw new Error(`docker save of ${image} has no manifest`)
  // The daemon already has the image's own layers and would skip them ("Already exists"): add
  // one layer of random bytes it cannot have, so there is a real download to report.
  mkdirSync(path.join(dir, 'pad'))
  writeFileSync(path.join(dir, 'pad', 'random.bin'), randomBytes(padBytes))
  await run('tar', ['cf', path.join(dir, 'pad.tar'), '-C', dir, 'pad'])
  const padDigest = await sha256File(path.join(dir, 'pad.tar'))
  const config = JSON.parse(readFileSync(path.join(dir, saved.Config), 'utf8'))
  config.rootfs.diff_ids.push(padDigest)
  config.history = [
    ...(config.history ?? []),
    { created: new Date().toISOString(), created_by: 'vpo test padding' },
  ]
  const configFile = path.join(dir, 'config.json')
  writeFileSync(configFile, JSON.stringify(config))
  const blobs = new Map<string, string>()
  const configDigest = await sha256File(configFile)
  blobs.set(configDigest, configFile)
  const layers = []
  for (const layer of [...saved.Layers, 'pad.tar']) {
    const file = path.join(dir, layer)
    const digest = await sha256File(file)
    blobs.set(digest, file)
    // An uncompressed layer: its digest is its diff id, and the daemon detects the format.
    layers.push({
      mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
      size: statSync(file).size,
      digest,
    })
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: {
      mediaType: 'application/vnd.docker.container.image.v1+json',
      size: statSync(configFile).size,
      digest: configDigest,
    },
    layers,
  })
  const manifestDigest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`

  const requests: string[] = []
  const server: Server = createServer((req, res) => {
    const url = req.url ?? '/'
    requests.push(`${req.method} ${url}`)
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0')
    if (url === '/v2/' || url === '/v2') {
      res.writeHead(200, { 'Content-Type': 'application/json' })
      return res.end('{}')
    }
    if (/^\/v2\/.+\/manifests\/[^/]+$/.test(url)) {
      res.writeHead(200, {
        'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json',
        'Content-Length': Buffer.byteLength(manifest),
        'Docker-Content-Digest': manifestDigest,
      })
      return res.end(req.method === 'HEAD' ? undefined : manifest)
    }
    const blob = /^\/v2\/.+\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url)?.[1]
    const file = blob ? blobs.get(blob) : undefined
    if (file) {
      res.writeHead(200, {
        'Content-Type': 'application/octet-stream',
        'Content-Length': statSync(file).size,
        'Docker-Content-Digest': blob!,
      })
      if (req.method === 'HEAD') return res.end()
      pipeline(createReadStream(file), throttle(bytesPerSecond), res).catch(() => res.destroy())
      return
    }
    res.writeHead(404, { 'Content-Type': 'application/json' })
    res.end('{"errors":[{"code":"BLOB_UNKNOWN","message":"not found"}]}')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    host: `127.0.0.1:${port}`,
    requests,
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Passes bytes on at about `bytesPerSecond`, in 64 KiB steps. */
function throttle(bytesPerSecond: number): Transform {
  const started = Date.now()
  let sent = 0
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      sent += chunk.length
      const due = started + (sent / bytesPerSecond) * 1000
      setTimeout(() => done(null, chunk), Math.max(0, due - Date.now()))
    },
  })
}
