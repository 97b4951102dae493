import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { debuglog } from 'node:util'
import { errorMessage, ProblemError, withLogTail } from '../problem.js'

const debug = debuglog('vite-plugin-ollama')

/**
 * What answers at a URL: an Ollama (with its version), Docker Model Runner (whose partial Ollama
 * API also answers `/api/version`, always with "0.1.0"), nothing at all, or something else.
 */
export type ProbeResult =
  | { kind: 'ollama'; version: string }
  | { kind: 'dmr'; version?: string; reason: string }
  | { kind: 'absent'; reason: string }
  | { kind: 'other'; reason: string }

/** Docker Model Runner's answer to `GET /` (model-runner `pkg/server/server.go`). */
export const DMR_BANNER = 'Docker Model Runner is running'

/**
 * Asks `GET /api/version` and, at the same time, `GET /`. Connection refused means nothing
 * listens; Docker Model Runner is told apart by its banner at `/`, never by `/api/version`, which
 * it answers like an Ollama 0.1.0 (docs/decisions.md, "Docker Model Runner is not an Ollama");
 * any other answer that is not Ollama's `{"version": "…"}` means the port belongs to someone
 * else. A fresh connection per request (no keep-alive), so a container that restarts behind
 * docker-proxy never hands us a dead pooled socket.
 */
export async function probeOllama(baseUrl: string, timeoutMs = 1500): Promise<ProbeResult> {
  const [version, root] = await Promise.all([
    getSmall(baseUrl, '/api/version', timeoutMs),
    getSmall(baseUrl, '/', timeoutMs),
  ])
  if (root.status === 200 && root.body.trim() === DMR_BANNER) {
    return {
      kind: 'dmr',
      reason: `Docker Model Runner answers at ${baseUrl}, not Ollama`,
      ...(await dmrVersion(baseUrl, timeoutMs)),
    }
  }
  if (version.status === undefined) return version.failure
  const parsed = version.status === 200 ? parseVersion(version.body) : undefined
  if (parsed !== undefined) return { kind: 'ollama', version: parsed }
  return {
    kind: 'other',
    reason: `${baseUrl} answers HTTP ${version.status} to GET /api/version, which is not Ollama`,
  }
}

/** Docker Model Runner's own version, from `GET /version` (its `/api/version` is a constant). */
async function dmrVersion(baseUrl: string, timeoutMs: number): Promise<{ version?: string }> {
  const answer = await getSmall(baseUrl, '/version', timeoutMs)
  const version = answer.status === 200 ? parseVersion(answer.body) : undefined
  return version === undefined ? {} : { version }
}

type SmallAnswer =
  | { status: number; body: string; failure?: undefined }
  | { status?: undefined; body?: undefined; failure: Extract<ProbeResult, { reason: string }> }

/** One small GET on its own connection: the status and body, or why there is none. */
function getSmall(baseUrl: string, path: string, timeoutMs: number): Promise<SmallAnswer> {
  const url = new URL(path, `${baseUrl.replace(/\/+$/, '')}/`)
  const client = url.protocol === 'https:' ? https : http
  return new Promise((resolve) => {
    let settled = false
    let socket: import('node:net').Socket | undefined
    function settle(result: SmallAnswer): void {
      if (settled) return
      settled = true
      clearTimeout(timer)
      req.destroy()
      // After a parse error the request is done but its socket is not: close it ourselves, or
      // the peer (a test's server.close(), a non-HTTP service) waits on it forever.
      socket?.destroy()
      resolve(result)
    }
    function fail(kind: 'absent' | 'other', reason: string): void {
      settle({ failure: { kind, reason } })
    }
    const req = client.get(
      url,
      { agent: false, headers: { accept: 'application/json' } },
      (res) => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (chunk: Buffer) => {
          size += chunk.length
          if (size > 64 * 1024) {
            fail('other', `${baseUrl} answers with a large body, not Ollama`)
            return
          }
          chunks.push(chunk)
        })
        res.on('error', (err) => fail('other', `${baseUrl}: ${err.message}`))
        res.on('end', () =>
          settle({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        )
      },
    )
    req.on('socket', (s) => {
      socket = s
    })
    const timer = setTimeout(() => {
      fail('other', `${baseUrl} accepts connections but did not answer within ${timeoutMs} ms`)
    }, timeoutMs)
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOTFOUND' || err.code === 'EADDRNOTAVAIL') {
        fail('absent', `nothing answers at ${baseUrl} (${err.code})`)
      } else {
        fail('other', `${baseUrl}: ${err.code ?? err.message}`)
      }
    })
  })
}

function parseVersion(body: string): string | undefined {
  try {
    const json: unknown = JSON.parse(body)
    if (json && typeof json === 'object' && 'version' in json && typeof json.version === 'string') {
      return json.version
    }
  } catch {
    // not JSON: not Ollama
  }
  return undefined
}

export interface WaitForOllamaOptions {
  /** Overall limit; the error names it. */
  timeoutMs: number
  intervalMs?: number
  signal?: AbortSignal
  /** Called between probes: a string means the engine died (the string says how) and waiting stops. */
  died?: () => Promise<string | undefined>
  /** Who is waiting, for the timeout message ("the container vite-plugin-ollama"). */
  what: string
  /** Log lines for the error, read when waiting fails. */
  logTail?: () => Promise<string[]> | string[]
}

/**
 * Polls `GET /api/version` until Ollama answers, the engine dies, or the time is up. Readiness is
 * judged from the host side on purpose: Colima and Docker Desktop forward ports late, so a healthy
 * container is not yet a reachable one (docs/decisions.md, "A healthy container is not yet a
 * reachable one").
 */
export async function waitForOllama(baseUrl: string, opts: WaitForOllamaOptions): Promise<string> {
  const deadline = Date.now() + opts.timeoutMs
  const interval = opts.intervalMs ?? 200
  let last = ''
  for (;;) {
    opts.signal?.throwIfAborted()
    const probe = await probeOllama(baseUrl, Math.min(2000, Math.max(250, deadline - Date.now())))
    if (probe.kind === 'ollama') return probe.version
    last = probe.reason
    const death = await opts.died?.()
    if (death) {
      const logTail = (await opts.logTail?.()) ?? []
      throw new ProblemError({
        message: `${opts.what} ${death} before Ollama was ready`,
        hint: withLogTail(undefined, logTail),
        logTail,
      })
    }
    if (Date.now() >= deadline) {
      const logTail = (await opts.logTail?.()) ?? []
      throw new ProblemError({
        message: `${opts.what} did not answer at ${baseUrl} within ${Math.round(opts.timeoutMs / 1000)} s`,
        hint: withLogTail(`Last probe: ${last}.`, logTail),
        logTail,
      })
    }
    debug('waiting for %s: %s', baseUrl, last)
    await sleep(interval, undefined, { signal: opts.signal })
  }
}

/** Whether a TCP port can be bound on `host` right now (it is not held by anyone). */
export function isPortFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer()
    server.unref()
    server.once('error', (err: NodeJS.ErrnoException) => {
      debug('port %s:%d is not free: %s', host, port, errorMessage(err))
      resolve(false)
    })
    server.listen({ host, port, exclusive: true }, () => {
      server.close(() => resolve(true))
    })
  })
}
