// Every store the chat WebSocket grows stops at its bound from the `limits` option, as the README's
// table of bounds says, seen from a client: a forgotten session answers without history (Ollama,
// here the simulator, counts the prompt it was sent: `promptTokens`), a refused frame gets an error
// frame naming the bound, and the simulator never runs more chats than allowed.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { Limits } from '../src/limits.js'
import { ChatClient, type Frame } from './helpers/ws-client.js'
import { type Harness, startHarness } from './routes-harness.js'

const QUESTION = 'same question'

describe('WS /ws bounds (limits)', () => {
  let h: Harness
  const clients: ChatClient[] = []
  /** Streams the simulator runs now, and the most it ran at once since the last reset. */
  const upstream = { now: 0, most: 0 }
  /** Prompt tokens of QUESTION asked in a session with no history. */
  let alone = 0

  beforeAll(async () => {
    h = await startHarness()
    h.sim.events.on('stream-start', () => {
      upstream.now++
      upstream.most = Math.max(upstream.most, upstream.now)
    })
    const ended = () => upstream.now--
    h.sim.events.on('stream-end', ended)
    h.sim.events.on('stream-cancel', ended)
    const c = await open()
    alone = await ask(c, 'alone', 'fresh-session-for-the-baseline')
  })
  afterAll(() => h.close())
  afterEach(async () => {
    // Closed, not terminated, so the server has let go of their rooms before the next test.
    await Promise.all(clients.splice(0).map((client) => client.close()))
    h.sim.configure({ tokenDelayMs: 0 })
    limit({})
    upstream.most = upstream.now
  })

  /** The limits, read by the hub at use, like options after a config restart. */
  function limit(limits: Partial<Limits>): void {
    // maxBodySize is the bucket's burst: 1 MiB keeps the rates below measurable.
    h.setOptions({ models: ['llama3.2'], maxBodySize: 1024 * 1024, limits })
  }

  async function open(query = ''): Promise<ChatClient> {
    const client = await ChatClient.open(`${h.url.replace('http', 'ws')}/ws${query}`)
    clients.push(client)
    return client
  }

  /** Asks QUESTION (or `content`) in `session`; resolves with the prompt tokens Ollama counted. */
  async function ask(c: ChatClient, id: string, session?: string, content = QUESTION) {
    c.send({ type: 'chat', id, content, ...(session ? { session } : {}) })
    const end = await c.end(id)
    expect(end).toMatchObject({ type: 'done' })
    return end.metrics!.promptTokens!
  }

  function chatRequests(): number {
    return h.sim.stats.requests['POST /api/chat'] ?? 0
  }

  describe('sessions', () => {
    it("forgets a connection's least recently used session past sessionsPerConnection", async () => {
      limit({ sessionsPerConnection: 2 })
      const c = await open()
      await ask(c, 'a1', 'per-a')
      await ask(c, 'b1', 'per-b')
      // per-a again: remembered, and now the most recently used of the two.
      expect(await ask(c, 'a2', 'per-a')).toBeGreaterThan(alone)
      await ask(c, 'c1', 'per-c')
      // per-c was a third session: per-b, the least recently used, was forgotten.
      expect(await ask(c, 'b2', 'per-b')).toBe(alone)
      // Another connection counts its own: it may keep two more.
      const d = await open()
      await ask(d, 'd1', 'per-d')
      expect(await ask(c, 'c2', 'per-c')).toBeGreaterThan(alone)
    })

    it('forgets the least recently used session past sessions in all', async () => {
      limit({ sessions: 3 })
      const c = await open('?session=all-ready')
      await ask(c, 's1', 'all-1')
      await ask(c, 's2', 'all-2')
      // The connection's own session counts too: all-ready, all-1, all-2 are the three.
      await ask(c, 's3', 'all-3')
      await ask(c, 's4', 'all-4')
      expect(await ask(c, 's3b', 'all-3')).toBeGreaterThan(alone)
      expect(await ask(c, 's1b', 'all-1')).toBe(alone)
    })

    it('keeps the newest history within historyBytes', async () => {
      limit({ historyBytes: 2000 })
      const c = await open('?session=bytes')
      // 600 UTF-8 bytes in 300 characters: the bound counts bytes.
      const content = 'é'.repeat(300)
      const prompts: number[] = []
      for (const id of ['t1', 't2', 't3', 't4', 't5'])
        prompts.push(await ask(c, id, undefined, content))
      // Two questions and their answers (about 1,700 bytes) fit in 2,000, three do not: the
      // prompt stops growing by the fourth turn (historyMessages, 40, would let it grow for
      // twenty turns).
      expect(prompts[1]).toBeGreaterThan(prompts[0]!)
      expect(prompts[2]).toBeGreaterThan(prompts[1]!)
      expect(prompts[4]).toBe(prompts[3])
    })

    it('refuses a content larger than historyBytes, naming the bound and the fix', async () => {
      limit({ historyBytes: 2000 })
      const c = await open()
      const requests = chatRequests()
      c.send({ type: 'chat', id: 'big', content: 'é'.repeat(1001) })
      const refused = await c.end('big')
      expect(refused).toMatchObject({ type: 'error', id: 'big', code: 'limit' })
      expect(refused.message).toMatch(/2002 bytes/)
      expect(refused.message).toMatch(/limits\.historyBytes/)
      expect(refused.message).toMatch(/"messages"/)
      expect(chatRequests()).toBe(requests)
      // The same text as `messages` runs.
      c.send({ type: 'chat', id: 'whole', messages: [{ role: 'user', content: 'é'.repeat(1001) }] })
      expect(await c.end('whole')).toMatchObject({ type: 'done' })
    })

    it('forgets sessions, least recently used first, past totalHistoryBytes', async () => {
      limit({ historyBytes: 2000, totalHistoryBytes: 2500 })
      const c = await open()
      const content = 'x'.repeat(600)
      const first = await ask(c, 'o1', 'old', content)
      await ask(c, 'o2', 'old', content)
      await ask(c, 'n1', 'new', content)
      // old and new hold about 1,600 bytes each: new's turn pushed old out.
      await ask(c, 'n2', 'new', content)
      expect(await ask(c, 'n3', 'new', content)).toBeGreaterThan(first)
      expect(await ask(c, 'o3', 'old', content)).toBe(first)
    })

    it('forgets a session closedSessionMs after its clients all left', async () => {
      limit({ closedSessionMs: 200 })
      const a = await open('?session=left')
      await ask(a, 'q1')
      await a.close()
      await new Promise((resolve) => setTimeout(resolve, 500))
      const back = await open('?session=left')
      expect(await ask(back, 'q2')).toBe(alone)
    })

    it('keeps it for a client that reconnects with ?session= in time', async () => {
      limit({ closedSessionMs: 200 })
      const a = await open('?session=back')
      await ask(a, 'q1')
      await a.close()
      const back = await open('?session=back')
      // Well past closedSessionMs: the reconnect took the session back from the clock.
      await new Promise((resolve) => setTimeout(resolve, 500))
      expect(await ask(back, 'q2')).toBeGreaterThan(alone)
    })

    it('keeps a session while another connection still uses it', async () => {
      limit({ closedSessionMs: 200 })
      const a = await open('?session=shared')
      const b = await open('?session=shared')
      await ask(a, 'q1')
      await a.close()
      await new Promise((resolve) => setTimeout(resolve, 500))
      expect(await ask(b, 'q2')).toBeGreaterThan(alone)
    })
  })

  describe('chats', () => {
    it('refuses a chat past chatsPerConnection with busy, and the simulator never runs more', async () => {
      limit({ chatsPerConnection: 2 })
      h.sim.configure({ tokenDelayMs: 10 })
      const c = await open()
      const requests = chatRequests()
      for (const id of [1, 2, 3, 4, 5]) c.send({ type: 'chat', id, content: 'count to 100' })
      const busy = await Promise.all([3, 4, 5].map((id) => c.end(id)))
      for (const frame of busy) {
        expect(frame).toMatchObject({ type: 'error', code: 'busy' })
        expect(frame.message).toMatch(/limits\.chatsPerConnection/)
      }
      expect((await c.end(1)).type).toBe('done')
      expect((await c.end(2)).type).toBe('done')
      expect(chatRequests() - requests).toBe(2)
      expect(upstream.most).toBeLessThanOrEqual(2)
      // One ended: the next one runs.
      expect(await ask(c, 'after')).toBeGreaterThan(0)
    })

    it('counts chats per connection, so another connection is not busy', async () => {
      limit({ chatsPerConnection: 1 })
      h.sim.configure({ tokenDelayMs: 10 })
      const a = await open()
      const b = await open()
      a.send({ type: 'chat', id: 'a', content: 'count to 50' })
      b.send({ type: 'chat', id: 'b', content: 'count to 50' })
      a.send({ type: 'chat', id: 'a2', content: 'count to 50' })
      expect(await a.end('a2')).toMatchObject({ type: 'error', code: 'busy' })
      expect((await a.end('a')).type).toBe('done')
      expect((await b.end('b')).type).toBe('done')
      expect(upstream.most).toBeLessThanOrEqual(2)
    })
  })

  describe('rooms', () => {
    function refusal(c: ChatClient, room: string): Promise<Frame> {
      return c.next((f) => f.type === 'error' && f.room === room)
    }

    it('refuses joining more than roomsPerConnection rooms', async () => {
      limit({ roomsPerConnection: 2 })
      const c = await open('?room=one')
      c.send({ type: 'join', room: 'two' })
      expect(await c.next((f) => f.type === 'joined')).toMatchObject({ room: 'two' })
      c.send({ type: 'join', room: 'three' })
      const refused = await refusal(c, 'three')
      expect(refused.code).toBe('limit')
      expect(refused.message).toMatch(/limits\.roomsPerConnection/)
      // Leaving one makes room.
      c.send({ type: 'leave', room: 'one' })
      c.send({ type: 'join', room: 'three' })
      expect(await c.next((f) => f.type === 'joined' && f.room === 'three')).toBeTruthy()
    })

    it('refuses a member past roomMembers, on join, on ?room= and on a chat naming the room', async () => {
      limit({ roomMembers: 2 })
      await open('?room=full')
      await open('?room=full')
      const late = await open()
      late.send({ type: 'join', room: 'full' })
      expect((await refusal(late, 'full')).message).toMatch(/limits\.roomMembers/)

      const viaUrl = new ChatClient(`${h.url.replace('http', 'ws')}/ws?room=full`)
      clients.push(viaUrl)
      const refused = await refusal(viaUrl, 'full')
      // `ready` first, in no room; then why.
      expect(viaUrl.frames[0]).toMatchObject({ type: 'ready', rooms: [] })
      expect(refused).toMatchObject({
        code: 'limit',
        message: expect.stringMatching(/roomMembers/),
      })

      const requests = chatRequests()
      late.send({ type: 'chat', id: 'in', room: 'full', content: 'let me in' })
      expect(await late.end('in')).toMatchObject({ type: 'error', room: 'full', code: 'limit' })
      expect(chatRequests()).toBe(requests)
    })

    it('refuses opening more than rooms rooms in all', async () => {
      limit({ rooms: 2 })
      await open('?room=first')
      await open('?room=second')
      const c = await open()
      c.send({ type: 'join', room: 'first' })
      expect(await c.next((f) => f.type === 'joined')).toMatchObject({ members: 2 })
      c.send({ type: 'join', room: 'third' })
      expect((await refusal(c, 'third')).message).toMatch(/limits\.rooms\b/)
    })
  })

  describe('frames', () => {
    it('answers a frame nested deeper than 64 with an error, and keeps the connection', async () => {
      const c = await open()
      c.send(`${'['.repeat(100_000)}${']'.repeat(100_000)}`)
      expect((await c.next((f) => f.type === 'error')).message).toMatch(/nested more than 64/)
      c.send({ type: 'chat', id: 'ok', content: 'still here', options: { a: [[[[1]]]] } })
      expect((await c.end('ok')).type).toBe('done')
    })

    it('refuses session, room and chat ids longer than 128 characters', async () => {
      const c = await open()
      const long = 'i'.repeat(129)
      c.send({ type: 'chat', id: 'long-session', session: long, content: 'hi' })
      expect((await c.end('long-session')).message).toMatch(/session: at most 128 characters/)
      c.send({ type: 'join', room: long })
      expect(
        (await c.next((f) => f.type === 'error' && /room/.test(f.message ?? ''))).message,
      ).toMatch(/at most 128/)
      c.send({ type: 'chat', id: long, content: 'hi' })
      const refused = await c.next(
        (f) => f.type === 'error' && /^Invalid message: id/.test(f.message ?? ''),
      )
      // Not echoed back.
      expect(refused.id).toBeUndefined()
      c.send({ type: 'chat', id: 'i'.repeat(128), content: 'hi' })
      expect((await c.end('i'.repeat(128))).type).toBe('done')
    })
  })

  describe('intake', () => {
    it('reads a client past inboundBytesPerSecond more slowly, losing nothing', async () => {
      const rate = 500_000
      limit({ inboundBytesPerSecond: rate })
      const c = await open()
      // Frames the server answers at once with an error, 200 KB each: 2.4 MB in all.
      const frames = 12
      const padding = 'x'.repeat(200_000)
      const started = performance.now()
      for (let n = 0; n < frames; n++) c.send({ type: 'nope', n, padding })
      await waitForFrames(c, frames)
      const took = performance.now() - started
      // One burst of maxBodySize (1 MiB) passes at once; the rest arrives at the rate.
      const bytes = frames * 200_000 - 1024 * 1024
      expect(took).toBeGreaterThan((bytes / rate) * 1000 * 0.8)
      expect(c.frames.filter((f) => f.type === 'error')).toHaveLength(frames)
    })

    it('reads everyone more slowly past totalInboundBytesPerSecond', async () => {
      const rate = 500_000
      limit({ totalInboundBytesPerSecond: rate })
      const senders = await Promise.all([open(), open()])
      const padding = 'x'.repeat(200_000)
      const started = performance.now()
      for (const c of senders) for (let n = 0; n < 6; n++) c.send({ type: 'nope', n, padding })
      await Promise.all(senders.map((c) => waitForFrames(c, 6)))
      const bytes = 12 * 200_000 - 1024 * 1024
      expect(performance.now() - started).toBeGreaterThan((bytes / rate) * 1000 * 0.8)
    })
  })
})

/** Resolves once `client` got `count` error frames. */
async function waitForFrames(client: ChatClient, count: number): Promise<void> {
  while (client.frames.filter((f) => f.type === 'error').length < count) {
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
