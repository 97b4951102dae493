import { debuglog } from 'node:util'
import type Docker from 'dockerode'
import { formatBytes } from '../../format.js'
import { errorMessage, ProblemError } from '../../problem.js'
import { dockerMessage, isNotFound } from './errors.js'
import { describeImageDownload, type ImageDownload, imageDownloadSize } from './registry.js'

const debug = debuglog('vite-plugin-ollama')

export interface EnsureImageOptions {
  policy: 'missing' | 'always' | 'never'
  signal?: AbortSignal
  /**
   * Lines about the pull: its size before it starts ("pulling ollama/ollama:latest: 2.1 GB to
   * download…"), then one now and then ("pulling ollama/ollama:latest: 41% of 1.9 GB").
   */
  onProgress?: (message: string) => void
  /** Downloaded and total bytes over all layers, on every progress event; `done` at the end. */
  onBytes?: (completed: number, total: number, done?: boolean) => void
  /** A warning that does not stop the start (a failed re-pull of an image we already have). */
  onWarning?: (message: string) => void
}

interface PullEvent {
  id?: string
  status?: string
  progressDetail?: { current?: number; total?: number }
  error?: string
  errorDetail?: { message?: string }
}

/** Whether the daemon has the image. */
export async function hasImage(
  docker: Docker,
  image: string,
  signal?: AbortSignal,
): Promise<boolean> {
  try {
    signal?.throwIfAborted()
    await docker.getImage(image).inspect()
    return true
  } catch (err) {
    if (isNotFound(err)) return false
    throw err
  }
}

/** Makes sure `image` is on the daemon, pulling it as `docker.pullImage` allows. */
export async function ensureImage(
  docker: Docker,
  image: string,
  opts: EnsureImageOptions,
): Promise<void> {
  const present = await hasImage(docker, image, opts.signal)
  if (present && opts.policy !== 'always') return
  if (!present && opts.policy === 'never') {
    throw new ProblemError({
      message: `The image ${image} is not on this Docker engine, and docker.pullImage is 'never'.`,
      hint: `Run \`docker pull ${image}\`, or set docker.pullImage to 'missing' in vite.config.ts.`,
    })
  }
  try {
    // A first pull is gigabytes: say how many before it starts. A re-pull of an image we have
    // (pullImage: 'always') mostly finds its layers there already.
    let size: ImageDownload | undefined
    if (!present) {
      size = await imageDownloadSize(image, { signal: opts.signal })
      opts.onProgress?.(describeImageDownload(image, size))
    }
    await pullImage(docker, image, opts, size)
  } catch (err) {
    if (present) {
      opts.onWarning?.(`could not re-pull ${image} (${errorMessage(err)}); using the local copy`)
      return
    }
    throw new ProblemError({ ...pullProblem(image, dockerMessage(err)), cause: err })
  }
}

/**
 * Pulls with progress. dockerode's pull resolves when the stream starts and followProgress
 * reports success even when a line carries `{"error": …}` (apocas/dockerode#639), so every
 * event is checked here. With the registry's layer list (`size`), the total is known from the
 * first event rather than growing layer by layer; the daemon names each layer by the first 12
 * hex digits of its digest, and one it has already ("Already exists") is not counted.
 */
async function pullImage(
  docker: Docker,
  image: string,
  opts: EnsureImageOptions,
  size: ImageDownload | undefined,
): Promise<void> {
  const layers = new Map<string, { current: number; total: number }>()
  for (const layer of size?.layers ?? []) {
    layers.set(layer.digest.replace(/^sha256:/, '').slice(0, 12), { current: 0, total: layer.size })
  }
  if (size) opts.onBytes?.(0, size.bytes)
  const stream = (await docker.pull(image, { abortSignal: opts.signal })) as NodeJS.ReadableStream
  let lastReport = 0
  await new Promise<void>((resolve, reject) => {
    let failure: string | undefined
    docker.modem.followProgress(
      stream,
      (err: Error | null) => {
        if (err) reject(err)
        else if (failure) reject(new Error(failure))
        else resolve()
      },
      (event: PullEvent) => {
        if (event.error || event.errorDetail) {
          failure ??= event.errorDetail?.message ?? event.error
          return
        }
        const detail = event.progressDetail
        // Only the download counts: "Extracting" restarts each layer's `current` from zero.
        if (event.id && detail?.total && event.status === 'Downloading') {
          layers.set(event.id, { current: detail.current ?? 0, total: detail.total })
        } else if (event.id && event.status === 'Download complete') {
          const layer = layers.get(event.id)
          if (layer) layer.current = layer.total
        } else if (event.id && event.status === 'Already exists') {
          layers.delete(event.id)
        }
        if (!layers.size) return
        let current = 0
        let total = 0
        for (const layer of layers.values()) {
          current += layer.current
          total += layer.total
        }
        opts.onBytes?.(current, total)
        const now = Date.now()
        if (opts.onProgress && now - lastReport > 2000) {
          lastReport = now
          opts.onProgress(
            `pulling ${image}: ${Math.floor((current / total) * 100)}% of ${formatBytes(total)}`,
          )
        }
      },
    )
  })
  let total = 0
  for (const layer of layers.values()) total += layer.total
  opts.onBytes?.(total, total, true)
  debug('pulled %s', image)
}

/** A pull failure in words: rate limit, offline, or a wrong image name. */
export function pullProblem(image: string, message: string): { message: string; hint: string } {
  if (/toomanyrequests|rate limit/i.test(message)) {
    return {
      message: `Docker Hub refused to pull ${image}: pull rate limit reached.`,
      hint: 'Run `docker login` (authenticated pulls have a higher limit) or wait, then restart Vite.',
    }
  }
  if (
    /manifest unknown|not found|does not exist|repository .* not found|pull access denied/i.test(
      message,
    )
  ) {
    return {
      message: `The image ${image} does not exist in its registry (${message}).`,
      hint: 'Check docker.image in vite.config.ts (e.g. "ollama/ollama:latest").',
    }
  }
  if (
    /dial tcp|no such host|lookup |i\/o timeout|network is unreachable|TLS handshake/i.test(message)
  ) {
    return {
      message: `Could not reach the registry to pull ${image}: ${message}`,
      hint: `Check your network (or proxy settings of the Docker daemon), or pull it yourself with \`docker pull ${image}\`.`,
    }
  }
  return {
    message: `Pulling ${image} failed: ${message}`,
    hint: `Try \`docker pull ${image}\` to see the full error; check docker.image in vite.config.ts.`,
  }
}
