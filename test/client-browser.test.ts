// The browser module behind `virtual:ollama`, run in Node (fetch and ReadableStream are global
// in Node 20; WebSocket only from Node 22, so the `ws` client stands in for it here).
import { readFile } from 'node:fs/promises'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import * as browser from '../src/client/index.js'
import { createOllamaClient, OllamaRouteError } from '../src/client/index.js'
import { simulatedReply } from '../src/simulator/index.js'
import { type Harness, nextCancel, startHarness } from './routes-harness.js'

// client.d.ts must describe exactly what src/client/index.ts exports.
type Declared = typeof import('virtual:ollama')
type Implemented = typeof import('../src/client/index.js')
const typesInStep: [Declared, Implemented] extends [Implemented, Declared] ? true : false = true

const hadWebSocket = 'WebSocket' in globalThis

describe('virtual:ollama (src/client/index.ts)', () => {
  let h: Harness
  let client: browser.OllamaBrowserClient
  const sockets: browser.ChatSocket[] = []

  beforeAll(async () => {
    if (!hadWebSocket) (globalThis as { WebSocket?: unknown }).WebSocket = WebSocket
    h = await startHarness({ sim: { models: ['llama3.2', 'qwen3'] } })
    client = createOllamaClient({ base: h.url })
  })
  afterAll(async () => {
    if (!hadWebSocket) delete (globalThis as { WebSocket?: unknown }).WebSocket
    await h.close()
  })
  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.close()
    h.sim.configure({ tokenDelayMs: 0, errorAfterTokens: undefined })
    h.setUpstream(h.sim.url)
  })

  function connect(opts?: browser.ConnectOptions): browser.ChatSocket {
    const socket = client.connect({ minDelayMs: 20, maxDelayMs: 100, ...opts })
    sockets.push(socket)
    return socket
  }

  it('declares in client.d.ts every function and value the module exports', async () => {
    expect(typesInStep).toBe(true)
    const declared = await readFile(new URL('../client.d.ts', import.meta.url), 'utf8')
    const names = [...declared.matchAll(/export (?:function|class|let|const) (\w+)/g)]
      .map((m) => m[1])
      .sort()
    expect(Object.keys(browser).sort()).toEqual(names)
  })

  it('chat() answers with the whole reply and metrics', async () => {
    const reply = await client.chat('hello browser')
    expect(reply.content).toBe(simulatedReply('llama3.2', 'hello browser'))
    expect(reply.metrics).toMatchObject({ model: 'llama3.2', tokens: expect.any(Number) })
    const convo = await client.chat([
      { role: 'system', content: 'terse' },
      { role: 'user', content: 'from an array' },
    ])
    expect(convo.content).toBe(simulatedReply('llama3.2', 'from an array'))
  })

  it('chat() throws an OllamaRouteError with the status and hint', async () => {
    h.setUpstream(null)
    h.setSnapshot({ phase: 'unavailable', error: { message: 'No engine', hint: 'Start Docker' } })
    const err = await client.chat('x').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OllamaRouteError)
    expect(err).toMatchObject({ status: 503, message: 'No engine', hint: 'Start Docker' })
    h.setSnapshot({ phase: 'ready', error: undefined })
    h.setUpstream(h.sim.url)
    const missing = await client.chat('x', { model: 'not-here' }).catch((e: unknown) => e)
    expect(missing).toMatchObject({ status: 404, message: expect.stringContaining('not found') })
  })

  it('chatStream() yields the tokens as they come and reports metrics', async () => {
    h.sim.configure({ tokenDelayMs: 5 })
    let metrics: browser.ChatMetrics | undefined
    const pieces: string[] = []
    for await (const piece of client.chatStream('stream to the browser', {
      onDone: (m) => (metrics = m),
    })) {
      pieces.push(piece)
    }
    expect(pieces.length).toBeGreaterThan(3)
    expect(pieces.join('')).toBe(simulatedReply('llama3.2', 'stream to the browser'))
    expect(metrics).toMatchObject({ model: 'llama3.2', doneReason: 'stop' })
  })

  it('chatStream() throws on an error event', async () => {
    h.sim.configure({ errorAfterTokens: 2 })
    const read = async () => {
      for await (const _ of client.chatStream('fails')) {
        // keep reading
      }
    }
    await expect(read()).rejects.toMatchObject({
      name: 'OllamaRouteError',
      message: expect.stringContaining('error was encountered'),
    })
  })

  it('chatStream(): leaving the loop early stops the model within 100 ms', async () => {
    h.sim.configure({ tokenDelayMs: 20 })
    const cancelled = nextCancel(h.sim)
    let leftAt = 0
    for await (const _ of client.chatStream('count to 1000')) {
      leftAt = performance.now()
      break
    }
    expect((await cancelled) - leftAt).toBeLessThan(100)
  })

  it('chatStream(): aborting the signal stops the model', async () => {
    h.sim.configure({ tokenDelayMs: 20 })
    const cancelled = nextCancel(h.sim)
    const controller = new AbortController()
    const read = async () => {
      for await (const _ of client.chatStream('count to 1000', { signal: controller.signal }))
        controller.abort()
    }
    await expect(read()).rejects.toMatchObject({ name: 'AbortError' })
    await cancelled
  })

  it('status() returns the snapshot and pull() the progress', async () => {
    expect(await client.status()).toMatchObject({ phase: 'ready' })
    const statuses: string[] = []
    for await (const progress of client.pull('qwen2.5:0.5b')) statuses.push(progress.status)
    expect(statuses.at(-1)).toBe('success')
  })

  it('chatParts() yields reasoning, text and tool calls; chat() returns them too', async () => {
    const tools = [
      {
        type: 'function' as const,
        function: {
          name: 'roll_dice',
          parameters: { type: 'object', properties: { sides: { type: 'integer' } } },
        },
      },
    ]
    const kinds: string[] = []
    let reasoning = ''
    let metrics: browser.ChatMetrics | undefined
    for await (const part of client.chatParts('Roll the dice', {
      model: 'qwen3',
      tools,
      onDone: (m) => {
        metrics = m
      },
    })) {
      if (kinds.at(-1) !== part.type) kinds.push(part.type)
      if (part.type === 'reasoning') reasoning += part.text
      if (part.type === 'tool-call')
        expect(part).toMatchObject({ name: 'roll_dice', id: expect.any(String) })
    }
    expect(kinds).toEqual(['reasoning', 'tool-call'])
    expect(metrics?.firstReasoningMs).toBeGreaterThanOrEqual(0)
    const whole = await client.chat('Roll the dice', { model: 'qwen3', tools })
    expect(whole.reasoning).toBe(reasoning)
    expect(whole.toolCalls).toEqual([expect.objectContaining({ name: 'roll_dice' })])
    let text = ''
    for await (const piece of client.chatStream('Roll the dice', { model: 'qwen3', tools }))
      text += piece
    expect(text).toBe('')
  })

  it('chatUrl is /chat under the configured base', () => {
    expect(client.chatUrl).toBe(`${h.url}/chat`)
    browser.configure({ base: '/app/__ollama/' })
    expect(browser.chatUrl).toBe('/app/__ollama/chat')
  })

  it('the bound exports use configure()', async () => {
    browser.configure({ base: h.url, defaultModel: 'llama3.2' })
    expect((await browser.chat('bound')).content).toBe(simulatedReply('llama3.2', 'bound'))
    let text = ''
    for await (const piece of browser.chatStream('bound stream')) text += piece
    expect(text).toBe(simulatedReply('llama3.2', 'bound stream'))
    expect((await browser.status()).phase).toBe('ready')
  })

  it('says what to do when the base is relative and there is no page', async () => {
    const relative = createOllamaClient({ base: '/__ollama' })
    await expect(relative.chat('x')).rejects.toThrow(/absolute URL/)
  })

  it('connect(): chat replies iterate, and result resolves with metrics', async () => {
    const socket = connect()
    const reply = socket.chat('over the socket')
    let text = ''
    for await (const piece of reply) text += piece
    expect(text).toBe(simulatedReply('llama3.2', 'over the socket'))
    const result = await reply.result
    expect(result.content).toBe(text)
    expect(result.metrics.model).toBe('llama3.2')
    expect(socket.session).toEqual(expect.any(String))
  })

  it('connect(): the session keeps history', async () => {
    const socket = connect({ session: 'client-history' })
    const first = await socket.chat('remember me').result
    const second = await socket.chat('do you remember?').result
    const fresh = connect()
    const alone = await fresh.chat('do you remember?').result
    expect(second.content).toBe(alone.content)
    expect(second.metrics.promptTokens!).toBeGreaterThan(
      alone.metrics.promptTokens! + first.metrics.tokens,
    )
  })

  it('connect(): room members get each other’s streams as events', async () => {
    const alice = connect({ room: 'studio' })
    const bob = connect({ room: 'studio' })
    await new Promise<void>((resolve) => bob.on('ready', () => resolve()))
    let watched = ''
    const bobDone = new Promise<browser.SocketEvents['done']>((resolve) => bob.on('done', resolve))
    bob.on('token', (frame) => {
      watched += frame.content
    })
    // Alice's chat (in her socket's room, named by connect()): Bob, who only listens, sees it.
    const result = await alice.chat('room broadcast').result
    const done = await bobDone
    expect(done.room).toBe('studio')
    expect(done.session).toBe(alice.session)
    expect(watched).toBe(result.content)
  })

  it('connect(): cancel stops the stream and rejects the result', async () => {
    h.sim.configure({ tokenDelayMs: 20 })
    const socket = connect()
    const cancelled = nextCancel(h.sim)
    const reply = socket.chat('count to 1000')
    const pieces: string[] = []
    const read = (async () => {
      for await (const piece of reply) {
        pieces.push(piece)
        reply.cancel()
      }
    })()
    await expect(read).rejects.toThrow(/Cancelled/)
    await expect(reply.result).rejects.toBeInstanceOf(OllamaRouteError)
    await cancelled
    expect(pieces.length).toBeGreaterThan(0)
  })

  it('connect(): reconnects after the server drops it, keeping the session', async () => {
    const socket = connect({ session: 'comes-back' })
    await socket.chat('before the drop').result
    const reopened = new Promise<void>((resolve) => {
      let opens = 0
      socket.on('open', () => {
        if (++opens === 1) resolve()
      })
    })
    const closed = new Promise<browser.SocketEvents['close']>((resolve) =>
      socket.on('close', resolve),
    )
    await h.restartChatSocket()
    expect((await closed).willReconnect).toBe(true)
    await reopened
    expect(socket.state).toBe('open')
    const after = await socket.chat('after the drop').result
    expect(after.content).toBe(simulatedReply('llama3.2', 'after the drop'))
    expect(socket.session).toBe('comes-back')
  })
})
