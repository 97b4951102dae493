import { debuglog } from 'node:util'
import type Docker from 'dockerode'
import { errorMessage } from '../../problem.js'

const debug = debuglog('vite-plugin-ollama')

/**
 * Text of a `logs({ follow: false })` Buffer. Without a TTY the daemon multiplexes stdout and
 * stderr in 8-byte-header frames (type, 0, 0, 0, big-endian length); with a TTY it is raw text.
 * Anything that does not parse as frames is taken as raw, like docker-modem's demuxStream.
 */
export function demuxDockerLog(buf: Buffer): string {
  const parts: Buffer[] = []
  let offset = 0
  while (offset < buf.length) {
    if (buf.length - offset < 8) return rawOrParts(buf, parts, offset)
    const type = buf[offset]
    const pad = buf.readUIntBE(offset + 1, 3)
    if ((type !== 0 && type !== 1 && type !== 2) || pad !== 0) return rawOrParts(buf, parts, offset)
    const length = buf.readUInt32BE(offset + 4)
    parts.push(buf.subarray(offset + 8, offset + 8 + length))
    offset += 8 + length
  }
  return Buffer.concat(parts).toString('utf8')
}

function rawOrParts(buf: Buffer, parts: Buffer[], offset: number): string {
  // Frames first, then garbage: keep what parsed and the rest as is.
  return Buffer.concat([...parts, buf.subarray(offset)]).toString('utf8')
}

/** The last `lines` lines the container wrote (stdout and stderr, in order). Never throws. */
export async function readLogTail(container: Docker.Container, lines = 200): Promise<string[]> {
  try {
    const raw = (await container.logs({
      stdout: true,
      stderr: true,
      follow: false,
      tail: lines,
    })) as unknown
    const text = Buffer.isBuffer(raw) ? demuxDockerLog(raw) : String(raw ?? '')
    return text.split(/\r?\n/).filter((line) => line.length > 0)
  } catch (err) {
    debug('docker logs failed: %s', errorMessage(err))
    return []
  }
}

export interface InferenceCompute {
  /** As Ollama prints it: CUDA, ROCm, Vulkan, Metal, cpu (lowercase in older versions). */
  library: string
  gpu: boolean
}

/**
 * Ollama's own statement of what it computes on: `msg="inference compute" … library=CUDA …`, one
 * line per device (docs/decisions.md, "The inference compute log line"). Any non-cpu device means
 * the GPU is used; a "no compatible GPUs were discovered" line means it is not.
 */
export function parseInferenceCompute(lines: string[]): InferenceCompute | undefined {
  let found: InferenceCompute | undefined
  for (const line of lines) {
    if (/no compatible GPUs were discovered/i.test(line)) found ??= { library: 'cpu', gpu: false }
    if (!/inference compute/.test(line)) continue
    const library = /\blibrary=("?)([^\s"]+)\1/.exec(line)?.[2]
    if (!library) continue
    const gpu = library.toLowerCase() !== 'cpu'
    if (!found || gpu) found = { library, gpu }
  }
  return found
}
