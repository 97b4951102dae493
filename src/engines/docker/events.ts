import type { IncomingMessage } from 'node:http'
import { debuglog } from 'node:util'
import type Docker from 'dockerode'
import { errorMessage } from '../../problem.js'

const debug = debuglog('vite-plugin-ollama')

/** One lifecycle event of our container, from `GET /events`. */
export interface ContainerEvent {
  /** start, die, kill, stop, oom, destroy, restart */
  action: string
  id: string
  /** Unix seconds. */
  time: number
  /** On `die`. */
  exitCode?: number
  /** On `kill`. */
  signal?: string
}

export interface ContainerEventWatcher {
  /** Resolves once the first events connection is open: nothing after it can be missed. */
  ready: Promise<void>
  close(): void
}

const ACTIONS = ['start', 'die', 'kill', 'stop', 'oom', 'destroy', 'restart']

/**
 * Follows our container's events on a connection of its own: a shared client with an idle timeout
 * would abort this quiet stream (docs/decisions.md, "Docker event streams need their own
 * connection"). The stream ends when the daemon restarts; we reconnect with `since`, so events in
 * between are replayed.
 */
export function watchContainerEvents(
  client: Docker,
  containerName: string,
  onEvent: (event: ContainerEvent) => void,
  /** After a reconnect: the daemon keeps events in memory only, so a restart loses some. */
  onReconnect?: () => void,
  /**
   * A (re)connect attempt failed: the daemon (or the socket to it) is gone. Called on every failed
   * attempt until one succeeds; `onReconnect` then says it is back.
   */
  onUnreachable?: (reason: string) => void,
): ContainerEventWatcher {
  let closed = false
  let stream: IncomingMessage | undefined
  let retry: NodeJS.Timeout | undefined
  let since: number | undefined
  // After a reconnect `since` replays the last second: skip what was already delivered.
  let lastNano = 0n
  let failures = 0
  let connectedOnce = false
  let markReady: () => void = () => {}
  const ready = new Promise<void>((resolve) => {
    markReady = resolve
  })

  async function connect(): Promise<void> {
    if (closed) return
    try {
      const s = (await client.getEvents({
        since,
        filters: { type: ['container'], container: [containerName], event: ACTIONS },
      } as Docker.GetEventsOptions)) as unknown as IncomingMessage
      if (closed) {
        s.destroy()
        return
      }
      stream = s
      failures = 0
      markReady()
      if (connectedOnce) onReconnect?.()
      connectedOnce = true
      let buffered = ''
      s.setEncoding('utf8')
      s.on('data', (chunk: string) => {
        buffered += chunk
        let newline = buffered.indexOf('\n')
        while (newline >= 0) {
          const line = buffered.slice(0, newline).trim()
          buffered = buffered.slice(newline + 1)
          if (line) handleLine(line)
          newline = buffered.indexOf('\n')
        }
      })
      s.on('error', (err) => debug('docker events stream error: %s', errorMessage(err)))
      s.on('close', () => {
        if (stream === s) stream = undefined
        scheduleReconnect()
      })
    } catch (err) {
      debug('docker events connect failed: %s', errorMessage(err))
      // Never hold up the engine's start on the events stream: it keeps retrying.
      markReady()
      if (closed) return
      // Counted as a reconnect when it comes back, so missed events are judged from the state.
      connectedOnce = true
      onUnreachable?.(errorMessage(err))
      scheduleReconnect()
    }
  }

  function handleLine(line: string): void {
    let raw: {
      Action?: string
      status?: string
      id?: string
      time?: number
      timeNano?: number
      Actor?: { ID?: string; Attributes?: Record<string, string> }
    }
    try {
      raw = JSON.parse(line)
    } catch {
      debug('docker events: not JSON: %s', line)
      return
    }
    const attributes = raw.Actor?.Attributes ?? {}
    const event: ContainerEvent = {
      // `status`/`id` are the pre-1.22 names, removed in API 1.52; older daemons send both.
      action: raw.Action ?? raw.status ?? '',
      id: raw.Actor?.ID ?? raw.id ?? '',
      time: raw.time ?? Math.floor(Date.now() / 1000),
    }
    if (attributes.exitCode !== undefined) event.exitCode = Number(attributes.exitCode)
    if (attributes.signal !== undefined) event.signal = attributes.signal
    const nano = BigInt(Math.trunc(raw.timeNano ?? event.time * 1e9))
    if (nano <= lastNano) return
    lastNano = nano
    since = event.time
    debug('docker event %s %s', event.action, event.id.slice(0, 12))
    onEvent(event)
  }

  function scheduleReconnect(): void {
    if (closed || retry) return
    failures++
    const delay = Math.min(500 * 2 ** (failures - 1), 10_000)
    retry = setTimeout(() => {
      retry = undefined
      void connect()
    }, delay)
  }

  void connect()
  return {
    ready,
    close() {
      closed = true
      markReady()
      if (retry) clearTimeout(retry)
      retry = undefined
      stream?.destroy()
      stream = undefined
    },
  }
}
