import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { simulatedReply } from '../src/simulator/index.js'
import { ChatClient as Client, type Frame } from './helpers/ws-client.js'
import { type Harness, nextCancel, startHarness } from './routes-harness.js'

describe('WS /ws', () => {
  let h: Harness
  const clients: Client[] = []
  beforeAll(async () => {
    h = await startHarness({
      sim: { models: ['llama3.2', 'qwen3'] },
      chatSocket: { maxBufferedBytes: 2 * 1024 * 1024 },
    })
  })
  afterAll(() => h.close())
  afterEach(() => {
    for (const client of clients.splice(0)) client.ws.terminate()
    h.sim.configure({ tokenDelayMs: 0, failAfterTokens: undefined })
  })

  async function open(query = ''): Promise<Client> {
    const client = new Client(`${h.url.replace('http', 'ws')}/ws${query}`)
    clients.push(client)
    await client.opened
    await client.next((f) => f.type === 'ready')
    return client
  }

  it('greets with the session id and streams a chat: start, tokens, done', async () => {
    const c = await open()
    const ready = c.frames[0]!
    expect(ready).toMatchObject({ type: 'ready', session: expect.any(String), rooms: [] })
    c.send({ type: 'chat', id: 1, content: 'hello socket' })
    const done = await c.end(1)
    expect(done.type).toBe('done')
    expect(c.frames.find((f) => f.type === 'start')).toMatchObject({
      id: 1,
      model: 'llama3.2',
      content: 'hello socket',
    })
    expect(c.text(1)).toBe(simulatedReply('llama3.2', 'hello socket'))
    expect(done.metrics).toMatchObject({ model: 'llama3.2', tokens: expect.any(Number) })
    expect(done.session).toBe(ready.session)
  })

  it('takes tools, think and format, and sends reasoning and tool-call frames', async () => {
    const c = await open('?session=tools-test')
    const dice = {
      type: 'function',
      function: {
        name: 'roll_dice',
        parameters: { type: 'object', properties: { sides: { type: 'integer' } } },
      },
    }
    c.send({ type: 'chat', id: 't1', model: 'qwen3', content: 'Roll the dice', tools: [dice] })
    const done = await c.end('t1')
    expect(done.type).toBe('done')
    const types = c.frames.filter((f) => f.id === 't1').map((f) => f.type)
    expect(types[0]).toBe('start')
    expect(types).toContain('reasoning')
    expect(types.indexOf('reasoning')).toBeLessThan(types.indexOf('tool-call'))
    expect(c.frames.find((f) => f.type === 'tool-call')).toMatchObject({
      id: 't1',
      call: {
        id: expect.stringMatching(/^call_/),
        name: 'roll_dice',
        arguments: expect.any(Object),
      },
    })
    expect((done.metrics as { firstReasoningMs?: number }).firstReasoningMs).toBeGreaterThanOrEqual(
      0,
    )

    // think: false skips the reasoning; format: 'json' answers JSON.
    c.send({
      type: 'chat',
      id: 't2',
      model: 'qwen3',
      content: 'Give me JSON',
      think: false,
      format: 'json',
    })
    await c.end('t2')
    expect(c.frames.filter((f) => f.id === 't2').map((f) => f.type)).not.toContain('reasoning')
    expect(() => JSON.parse(c.text('t2'))).not.toThrow()

    c.send({ type: 'chat', id: 't3', content: 'hi', think: 'hard' })
    const refused = await c.next((f) => f.type === 'error' && f.id === 't3')
    expect(refused.message).toMatch(/^Invalid message: think: use true, false/)
  })

  it('keeps the session history across messages (and across connections)', async () => {
    const a = await open('?session=history-test')
    a.send({ type: 'chat', id: 'q1', content: 'my name is Ada' })
    const first = await a.end('q1')
    a.send({ type: 'chat', id: 'q2', content: 'what is my name?' })
    const second = await a.end('q2')
    // A fresh session asks the same question without the history.
    const fresh = await open()
    fresh.send({ type: 'chat', id: 'q2', content: 'what is my name?' })
    const alone = await fresh.end('q2')
    expect(a.text('q2')).toBe(simulatedReply('llama3.2', 'what is my name?'))
    // Ollama counts every message it was sent: the first turn and its reply made the prompt longer.
    expect(second.metrics!.promptTokens!).toBeGreaterThan(
      alone.metrics!.promptTokens! + first.metrics!.tokens,
    )
    // A reconnect with the same session id continues the same history.
    a.ws.close()
    const again = await open('?session=history-test')
    again.send({ type: 'chat', id: 'q3', content: 'what is my name?' })
    const third = await again.end('q3')
    expect(third.metrics!.promptTokens!).toBeGreaterThan(second.metrics!.promptTokens!)
  })

  it('sends a whole conversation with messages', async () => {
    const c = await open()
    c.send({
      type: 'chat',
      id: 'm',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'conversation mode' },
      ],
    })
    expect((await c.end('m')).type).toBe('done')
    expect(c.text('m')).toBe(simulatedReply('llama3.2', 'conversation mode'))
  })

  it('broadcasts a room’s stream to every member', async () => {
    const alice = await open('?room=lobby')
    const bob = await open()
    bob.send({ type: 'join', room: 'lobby' })
    expect(await bob.next((f) => f.type === 'joined')).toMatchObject({ room: 'lobby', members: 2 })
    alice.send({ type: 'chat', id: 'r1', room: 'lobby', content: 'hello room' })
    const [aliceDone, bobDone] = await Promise.all([alice.end('r1'), bob.end('r1')])
    expect(aliceDone.type).toBe('done')
    expect(bobDone).toMatchObject({
      type: 'done',
      room: 'lobby',
      session: alice.frames[0]!.session,
    })
    const expected = simulatedReply('llama3.2', 'hello room')
    expect(alice.text('r1')).toBe(expected)
    expect(bob.text('r1')).toBe(expected)
    expect(bob.frames.find((f) => f.type === 'start')).toMatchObject({
      room: 'lobby',
      content: 'hello room',
    })
  })

  it('tells the room when the sender leaves mid-stream', async () => {
    h.sim.configure({ tokenDelayMs: 20 })
    const sender = await open('?room=leavers')
    const watcher = await open('?room=leavers')
    sender.send({ type: 'chat', id: 'bye', room: 'leavers', content: 'count to 1000' })
    await watcher.next((f) => f.type === 'token' && f.id === 'bye')
    sender.ws.terminate()
    expect(await watcher.end('bye')).toMatchObject({
      type: 'error',
      code: 'disconnected',
      room: 'leavers',
    })
  })

  it('cancels a chat by id, and the simulator sees it within 100 ms', async () => {
    h.sim.configure({ tokenDelayMs: 20 })
    const c = await open()
    const cancelled = nextCancel(h.sim)
    c.send({ type: 'chat', id: 'long', content: 'count to 1000' })
    await c.next((f) => f.type === 'token' && f.id === 'long')
    const sentAt = performance.now()
    c.send({ type: 'cancel', id: 'long' })
    expect((await c.end('long')) as Frame).toMatchObject({ type: 'error', code: 'cancelled' })
    expect((await cancelled) - sentAt).toBeLessThan(100)
  })

  it('aborts the upstream when the client disconnects mid-stream', async () => {
    h.sim.configure({ tokenDelayMs: 20 })
    const c = await open()
    const cancelled = nextCancel(h.sim)
    c.send({ type: 'chat', id: 'gone', content: 'count to 1000' })
    await c.next((f) => f.type === 'token')
    const closedAt = performance.now()
    c.ws.terminate()
    expect((await cancelled) - closedAt).toBeLessThan(100)
  })

  it('reports an upstream failure mid-stream as an error frame', async () => {
    h.sim.configure({ failAfterTokens: 3, tokenDelayMs: 2 })
    const c = await open()
    c.send({ type: 'chat', id: 'f', content: 'will fail' })
    const end = await c.end('f')
    expect(end).toMatchObject({ type: 'error', message: expect.any(String) })
  })

  it('answers invalid frames with an error naming the field, and keeps the connection', async () => {
    const c = await open()
    c.ws.send('not json')
    expect((await c.next((f) => f.type === 'error')).message).toMatch(/JSON/)
    c.send({ type: 'chat', content: 'no id' })
    expect(
      (await c.next((f) => f.type === 'error' && /\bid\b/.test(f.message ?? ''))).message,
    ).toMatch(/id/)
    c.send({ type: 'dance' })
    expect(
      (await c.next((f) => f.type === 'error' && /type/.test(f.message ?? ''))).message,
    ).toMatch(/type/)
    c.send({ type: 'chat', id: 'both', content: 'x', messages: [{ role: 'user', content: 'y' }] })
    expect(await c.next((f) => f.type === 'error' && f.id === 'both')).toMatchObject({
      message: expect.stringContaining('content'),
    })
    c.send({ type: 'chat', id: 'ok', content: 'still here' })
    expect((await c.end('ok')).type).toBe('done')
  })

  it('drops a client that stops reading instead of buffering without end', async () => {
    const speaker = await open('?room=flood')
    const slow = await open('?room=flood')
    // Stop reading: the kernel buffers fill, then the server's backlog for this client grows.
    const socket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket
    socket.pause()
    const big = 'x'.repeat(512 * 1024)
    let members = 2
    let sent = 0
    // One chat at a time (so the speaker's own backlog stays small) until the room says the slow
    // member is gone.
    while (members === 2 && sent < 60) {
      const id = `flood-${sent++}`
      // `messages`, since a `content` this big is more than a session keeps (limits.historyBytes).
      speaker.send({
        type: 'chat',
        id,
        room: 'flood',
        messages: [{ role: 'user', content: `${big} ${id}` }],
      })
      expect((await speaker.end(id)).type).toBe('done')
      const joined = speaker.upcoming((f) => f.type === 'joined')
      speaker.send({ type: 'join', room: 'flood' })
      members = (await joined).members as number
    }
    expect(members).toBe(1)
    // Dropped well before everything was sent: the backlog stayed bounded.
    expect(sent).toBeLessThan(60)
    socket.resume()
    const closed = await slow.closed
    expect(closed.code).toBe(1013)
    expect(closed.reason).toMatch(/too slow/)
  })

  it('bounds a session’s history and forgets idle sessions', async () => {
    const bounded = await startHarness({
      plugin: { limits: { historyMessages: 2, sessionIdleMs: 100 } },
    })
    try {
      const c = new Client(`${bounded.url.replace('http', 'ws')}/ws?session=bounded`)
      await c.opened
      const prompts: number[] = []
      for (const id of ['t1', 't2', 't3', 't4']) {
        c.send({ type: 'chat', id, content: 'same question' })
        prompts.push((await c.end(id)).metrics!.promptTokens!)
      }
      // History of 2 = the previous question and answer: from the second turn on, the prompt
      // stops growing.
      expect(prompts[1]).toBeGreaterThan(prompts[0]!)
      expect(prompts[2]).toBe(prompts[1])
      expect(prompts[3]).toBe(prompts[1])
      c.ws.close()
      await c.closed
      await new Promise((resolve) => setTimeout(resolve, 300))
      const back = new Client(`${bounded.url.replace('http', 'ws')}/ws?session=bounded`)
      await back.opened
      back.send({ type: 'chat', id: 't5', content: 'same question' })
      expect((await back.end('t5')).metrics!.promptTokens).toBe(prompts[0])
      back.ws.close()
    } finally {
      await bounded.close()
    }
  })

  it('terminates a client that stops answering pings', async () => {
    const pinging = await startHarness({ chatSocket: { pingIntervalMs: 100 } })
    try {
      const c = new Client(`${pinging.url.replace('http', 'ws')}/ws`)
      await c.opened
      ;(c.ws as unknown as { _socket: { pause(): void } })._socket.pause()
      await new Promise((resolve) => setTimeout(resolve, 350))
      ;(c.ws as unknown as { _socket: { resume(): void } })._socket.resume()
      const closed = await c.closed
      expect(closed.code).toBe(1006)
    } finally {
      await pinging.close()
    }
  })
})
