// Clients and upstreams for the bounds tests: a request whose body stops halfway, on a raw
// socket, and a TCP relay in front of an upstream that counts the connections held at once.
import net from 'node:net'

/** What a raw socket got back for a request whose body stops after `sent` bytes of `declared`. */
interface StalledAnswer {
  status: number
  body: string
  /** From the last byte written to the answer's status line. */
  answeredAfterMs: number
  /** The server closed the connection (we never end our side). */
  closedByServer: boolean
}

/**
 * Sends the headers and the first part of a body, then nothing: the slow-body client of the
 * red-team report, on a real socket. Resolves when the server closes the connection (or after
 * `giveUpMs`, which the test then sees as `closedByServer: false`).
 */
export function stalledRequest(
  origin: string,
  path: string,
  sent: string,
  declared = sent.length + 100,
  giveUpMs = 5_000,
): Promise<StalledAnswer> {
  const { hostname, port } = new URL(origin)
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: hostname, port: Number(port) })
    let data = ''
    let writtenAt = 0
    let answeredAt = 0
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      if (!answeredAt) answeredAt = performance.now()
      data += chunk
    })
    const giveUp = setTimeout(() => finish(false), giveUpMs)
    function finish(closedByServer: boolean): void {
      clearTimeout(giveUp)
      socket.destroy()
      const [head = '', ...rest] = data.split('\r\n\r\n')
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0),
        body: rest.join('\r\n\r\n'),
        answeredAfterMs: answeredAt ? answeredAt - writtenAt : Number.POSITIVE_INFINITY,
        closedByServer,
      })
    }
    socket.once('close', () => finish(true))
    socket.once('error', reject)
    socket.once('connect', () => {
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${declared}\r\n\r\n${sent}`,
        () => {
          writtenAt = performance.now()
        },
      )
    })
  })
}

/** A TCP relay to `target` that counts connections: how many are open now and at most. */
export interface ConnectionCounter {
  url: string
  open(): number
  peak(): number
  /** Starts counting the peak from the connections open now. */
  resetPeak(): void
  close(): Promise<void>
}

export async function countingRelay(target: string): Promise<ConnectionCounter> {
  const { hostname, port } = new URL(target)
  const live = new Set<net.Socket>()
  let open = 0
  let peak = 0
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: hostname, port: Number(port) })
    live.add(client).add(upstream)
    peak = Math.max(peak, ++open)
    let closed = false
    const drop = () => {
      if (closed) return
      closed = true
      open--
      client.destroy()
      upstream.destroy()
      live.delete(client)
      live.delete(upstream)
    }
    client.on('error', drop).on('close', drop)
    upstream.on('error', drop).on('close', drop)
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address() as net.AddressInfo
  return {
    url: `http://127.0.0.1:${address.port}`,
    open: () => open,
    peak: () => peak,
    resetPeak: () => {
      peak = open
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of live) socket.destroy()
        server.close(() => resolve())
      }),
  }
}
