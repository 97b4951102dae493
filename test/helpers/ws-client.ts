// A chat WebSocket client for tests: records every frame the server sends and waits for one.
import WebSocket from 'ws'

export interface Frame {
  type: string
  id?: string | number
  session?: string
  room?: string
  rooms?: string[]
  content?: string
  message?: string
  code?: string
  members?: number
  metrics?: { tokens: number; promptTokens?: number; model: string }
  [key: string]: unknown
}

export class ChatClient {
  readonly frames: Frame[] = []
  private waiters: { match(frame: Frame): boolean; resolve(frame: Frame): void }[] = []
  readonly ws: WebSocket
  readonly opened: Promise<void>
  readonly closed: Promise<{ code: number; reason: string }>

  constructor(url: string) {
    this.ws = new WebSocket(url)
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve())
      this.ws.once('error', reject)
    })
    // After the open, a reset shows as `closed`; unheard, an 'error' would crash the test run.
    this.ws.on('error', () => {})
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => resolve({ code, reason: String(reason) }))
    })
    this.ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as Frame
      this.frames.push(frame)
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(frame)) return true
        w.resolve(frame)
        return false
      })
    })
  }

  /** Opens `url` and resolves once the server's `ready` frame arrived. */
  static async open(url: string): Promise<ChatClient> {
    const client = new ChatClient(url)
    await client.opened
    await client.next((f) => f.type === 'ready')
    return client
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
  }

  /** The first matching frame, received already or still to come. */
  next(match: (frame: Frame) => boolean): Promise<Frame> {
    const seen = this.frames.find(match)
    if (seen) return Promise.resolve(seen)
    return new Promise((resolve) => this.waiters.push({ match, resolve }))
  }

  /** Waits for a matching frame that has not arrived yet. */
  upcoming(match: (frame: Frame) => boolean): Promise<Frame> {
    return new Promise((resolve) => this.waiters.push({ match, resolve }))
  }

  /** The text chat `id` streamed so far (in `session`, when given). */
  text(id: string | number, session?: string): string {
    return this.frames
      .filter(
        (f) =>
          f.type === 'token' && f.id === id && (session === undefined || f.session === session),
      )
      .map((f) => f.content)
      .join('')
  }

  /** Waits for the end of chat `id` (done or error). */
  end(id: string | number): Promise<Frame> {
    return this.next((f) => f.id === id && (f.type === 'done' || f.type === 'error'))
  }

  /** Closes and resolves once the server's close arrived. */
  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate()
    else this.ws.close()
    await this.closed
  }
}
