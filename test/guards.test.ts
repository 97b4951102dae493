import { randomBytes } from 'node:crypto'
import http from 'node:http'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import WebSocket from 'ws'
import { foreignOriginReason, isAllowedHost, isLoopbackAddress } from '../src/server/guards.js'
import { isModelManagement, MANAGEMENT_ROUTES, networkRefusal } from '../src/server/network.js'
import { type Harness, rawRequest, startHarness } from './routes-harness.js'

const CHAT = JSON.stringify({ prompt: 'hi' })

function fakeRequest(
  headers: Record<string, string>,
  socket: { encrypted?: boolean; remoteAddress?: string } = {},
): http.IncomingMessage {
  return { headers, socket } as unknown as http.IncomingMessage
}

describe('guards (unit)', () => {
  it('takes 127.0.0.0/8 and ::1 for this machine, IPv4-mapped or not, and nothing else', () => {
    for (const ip of ['127.0.0.1', '127.9.8.7', '::1', '::ffff:127.0.0.1']) {
      expect(isLoopbackAddress(ip), ip).toBe(true)
    }
    for (const ip of ['10.0.0.2', '192.168.1.10', '::ffff:10.0.0.2', 'fe80::1', '::', undefined]) {
      expect(isLoopbackAddress(ip), String(ip)).toBe(false)
    }
  })

  it('answers only the origin the request was sent to: scheme, host and port', () => {
    const own = (origin?: string, host = 'localhost:5173', extra: Record<string, string> = {}) =>
      foreignOriginReason(fakeRequest({ host, ...(origin ? { origin } : {}), ...extra }), [])
    expect(own()).toBeNull()
    expect(own('http://localhost:5173')).toBeNull()
    expect(own('http://dev.example', 'dev.example:80')).toBeNull()
    // localhost, 127.0.0.1 and [::1] are one host, on the same port only.
    expect(own('http://127.0.0.1:5173')).toBeNull()
    expect(own('http://[::1]:5173', '127.0.0.1:5173')).toBeNull()
    expect(own('http://127.0.0.1:27900')).toMatch(/another site/)
    expect(own('http://localhost:3000', '127.0.0.1:5173')).toMatch(/another site/)
    expect(own('http://app.localhost:5173')).toMatch(/another site/)
    expect(own('https://localhost:5173')).toMatch(/another site/)
    expect(own('https://evil.example')).toMatch(/evil/)
    expect(own('http://localhost:3000', '192.168.1.10:5173')).toMatch(/another site/)
    expect(own('null')).toMatch(/null/)
    // No Origin: a browser still says where a no-cors request comes from.
    expect(own(undefined, 'localhost:5173', { 'sec-fetch-site': 'cross-site' })).toMatch(/cross/)
    expect(own(undefined, 'localhost:5173', { 'sec-fetch-site': 'same-site' })).toMatch(/same-site/)
    expect(own(undefined, 'localhost:5173', { 'sec-fetch-site': 'same-origin' })).toBeNull()
    expect(own(undefined, 'localhost:5173', { 'sec-fetch-site': 'none' })).toBeNull()
  })

  it('takes the scheme from the socket, and the origins the user allowed', () => {
    const tls = fakeRequest(
      { host: 'localhost:5173', origin: 'https://localhost:5173' },
      { encrypted: true },
    )
    expect(foreignOriginReason(tls, [])).toBeNull()
    const page = fakeRequest({ host: 'localhost:5173', origin: 'http://localhost:3000' })
    expect(foreignOriginReason(page, ['http://localhost:3000'])).toBeNull()
    expect(foreignOriginReason(page, ['http://localhost:3001'])).toMatch(/another site/)
  })

  it('allows hosts by Vite’s own rule, which refuses IPv4 shorthands', () => {
    expect(isAllowedHost('localhost:5173', [])).toBe(true)
    expect(isAllowedHost('10.0.0.2:5173', [])).toBe(true)
    expect(isAllowedHost('[::1]:5173', [])).toBe(true)
    expect(isAllowedHost(undefined, [])).toBe(true)
    for (const host of ['evil.example:5173', '2130706433', '127.1:5173', '0x7f000001', '[::1']) {
      expect(isAllowedHost(host, []), host).toBe(false)
    }
    expect(isAllowedHost('dev.example.com', ['dev.example.com'])).toBe(true)
    expect(isAllowedHost('a.example.com', ['.example.com'])).toBe(true)
    expect(isAllowedHost('example.com', ['.example.com'])).toBe(true)
    expect(isAllowedHost('anything', true)).toBe(true)
  })

  it('keeps model management from peers on other machines unless network is full', () => {
    for (const path of MANAGEMENT_ROUTES) {
      const route = path.endsWith('/') ? `${path}x` : path
      expect(isModelManagement(route), route).toBe(true)
    }
    for (const path of [
      '/chat',
      '/status',
      '/ws',
      '/api/chat',
      '/api/tags',
      '/v1/chat/completions',
      '/api/pulls',
    ]) {
      expect(isModelManagement(path), path).toBe(false)
    }
    const peer = fakeRequest({}, { remoteAddress: '192.168.1.20' })
    const local = fakeRequest({}, { remoteAddress: '::ffff:127.0.0.1' })
    expect(networkRefusal(peer, '/chat', 'chat')).toBeNull()
    expect(networkRefusal(peer, '/api/delete', 'chat')?.message).toMatch(/network: 'chat'/)
    expect(networkRefusal(peer, '/api/delete', 'chat')?.status).toBe(403)
    expect(networkRefusal(peer, '/chat', 'none')?.hint).toMatch(/network: 'chat'/)
    expect(networkRefusal(peer, '/api/delete', 'full')).toBeNull()
    expect(networkRefusal(local, '/api/delete', 'none')).toBeNull()
  })
})

describe('guards on the routes', () => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness()
  })
  afterAll(() => h.close())

  function post(path: string, headers: Record<string, string>, body = CHAT) {
    return rawRequest(`${h.url}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...headers },
      body,
    })
  }

  it('refuses a cross-origin POST with 403 and a reason', async () => {
    const res = await post('/chat', { Origin: 'https://evil.example' })
    expect(res.status).toBe(403)
    expect(JSON.parse(res.body).error).toMatch(/Cross-origin.*evil\.example/)
    expect(JSON.parse(res.body).hint).toMatch(/allowedOrigins/)
  })

  it('refuses Sec-Fetch-Site: cross-site', async () => {
    const res = await post('/pull', { 'Sec-Fetch-Site': 'cross-site' }, '{"model":"llama3.2"}')
    expect(res.status).toBe(403)
  })

  it('accepts the page’s own origin under any loopback name, and no other local port', async () => {
    expect(
      (await post('/chat', { Origin: h.origin, 'Sec-Fetch-Site': 'same-origin' })).status,
    ).toBe(200)
    expect((await post('/chat', { Origin: `http://localhost:${h.port}` })).status).toBe(200)
    const otherPort = await post('/chat', {
      Origin: 'http://localhost:3000',
      'Sec-Fetch-Site': 'same-site',
    })
    expect(otherPort.status).toBe(403)
  })

  it('accepts an origin listed in allowedOrigins', async () => {
    h.setOptions({ models: ['llama3.2'], allowedOrigins: ['http://localhost:3000'] })
    try {
      expect((await post('/chat', { Origin: 'http://localhost:3000' })).status).toBe(200)
      expect((await post('/chat', { Origin: 'http://localhost:3001' })).status).toBe(403)
    } finally {
      h.setOptions({ models: ['llama3.2'] })
    }
  })

  it('refuses a text/plain POST (the CSRF Vite’s CORS lets through) with 415', async () => {
    const before = h.sim.stats.requests['POST /api/chat'] ?? 0
    const res = await rawRequest(`${h.url}/chat`, {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain' },
      body: CHAT,
    })
    expect(res.status).toBe(415)
    expect(JSON.parse(res.body).hint).toMatch(/application\/json/)
    expect(h.sim.stats.requests['POST /api/chat'] ?? 0).toBe(before)
  })

  it('takes a chat with a few phone photos by default', async () => {
    // Three 4 MB JPEGs, as a phone takes them: JPEG's magic bytes, then noise.
    const photo = () =>
      Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(4_000_000)]).toString(
        'base64',
      )
    const body = JSON.stringify({
      model: 'llama3.2',
      messages: [
        { role: 'user', content: 'what is in these?', images: [photo(), photo(), photo()] },
      ],
    })
    const res = await post('/chat', { Accept: 'application/json' }, body)
    expect(res.status).toBe(200)
    expect(JSON.parse(res.body).content).toBeTruthy()
  })

  it('refuses a body over maxBodySize with 413', async () => {
    h.setOptions({ models: ['llama3.2'], maxBodySize: 1024 * 1024 })
    onTestFinished(() => h.setOptions({ models: ['llama3.2'] }))
    const big = JSON.stringify({ prompt: 'x'.repeat(1024 * 1024) })
    const res = await post('/chat', {}, big)
    expect(res.status).toBe(413)
    expect(JSON.parse(res.body)).toMatchObject({ hint: expect.stringMatching(/maxBodySize/) })
    // Counted as it streams in, chunked bodies too.
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        `${h.url}/chat`,
        {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' },
        },
        (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        },
      )
      req.on('error', reject)
      for (let i = 0; i < 40; i++) req.write('x'.repeat(64 * 1024))
      req.end()
    })
    expect(chunked).toBe(413)
  })

  it('answers invalid JSON with 400', async () => {
    const res = await post('/chat', {}, '{"prompt": ')
    expect(res.status).toBe(400)
    expect(JSON.parse(res.body).error).toMatch(/Invalid JSON/)
  })

  it('answers an invalid payload with 400 naming the field', async () => {
    const res = await post(
      '/chat',
      {},
      JSON.stringify({ messages: [{ role: 'robot', content: 'x' }] }),
    )
    expect(res.status).toBe(400)
    expect(JSON.parse(res.body).error).toContain('messages.0.role')
    const missing = await post('/chat', {}, JSON.stringify({ model: 'llama3.2' }))
    expect(missing.status).toBe(400)
    expect(JSON.parse(missing.body).error).toContain('messages')
  })

  it('guards the proxied routes too: cross-site and non-JSON writes never reach Ollama', async () => {
    const before = h.sim.stats.requests['POST /api/pull'] ?? 0
    const crossSite = await rawRequest(`${h.url}/api/pull`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Origin: 'https://evil.example' },
      body: '{"model":"qwen2.5:0.5b"}',
    })
    expect(crossSite.status).toBe(403)
    const textPlain = await rawRequest(`${h.url}/api/pull`, {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain' },
      body: '{"model":"qwen2.5:0.5b"}',
    })
    expect(textPlain.status).toBe(415)
    const del = await rawRequest(`${h.url}/api/delete`, {
      method: 'DELETE',
      headers: { 'Content-Type': 'application/json', 'Sec-Fetch-Site': 'cross-site' },
      body: '{"model":"llama3.2"}',
    })
    expect(del.status).toBe(403)
    expect(h.sim.stats.requests['POST /api/pull'] ?? 0).toBe(before)
    expect(h.sim.stats.requests['DELETE /api/delete'] ?? 0).toBe(0)
  })

  it('refuses cross-origin reads too, even those Vite’s CORS would let a local page read', async () => {
    for (const origin of ['https://evil.example', 'http://127.0.0.1:27900']) {
      for (const path of ['/api/tags', '/status']) {
        const res = await rawRequest(`${h.url}${path}`, { headers: { Origin: origin } })
        expect(res.status, `${origin} ${path}`).toBe(403)
        expect(res.body).not.toContain('llama3.2')
      }
    }
  })

  it('leaves Vite’s host check in front of the routes', async () => {
    const res = await rawRequest(`${h.url}/status`, { headers: { Host: 'evil.example' } })
    expect(res.status).toBe(403)
  })
})

describe('guards on the WebSocket upgrade', () => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness()
  })
  afterAll(() => h.close())

  function upgrade(
    headers: Record<string, string>,
    path = '/ws',
  ): Promise<{ status: number; body: string; destroyed: boolean }> {
    return new Promise((resolve, reject) => {
      const req = http.request(`${h.url}${path}`, {
        headers: {
          Connection: 'Upgrade',
          Upgrade: 'websocket',
          'Sec-WebSocket-Version': '13',
          'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
          ...headers,
        },
      })
      req.on('response', (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (text: string) => {
          body += text
        })
        res.on('end', () => {
          // The server hangs up after a refusal instead of keeping the socket.
          res.socket.once('close', () =>
            resolve({ status: res.statusCode ?? 0, body, destroyed: true }),
          )
          if (res.socket.destroyed) resolve({ status: res.statusCode ?? 0, body, destroyed: true })
        })
      })
      req.on('upgrade', (res, socket) => {
        socket.destroy()
        resolve({ status: res.statusCode ?? 0, body: '', destroyed: false })
      })
      req.on('error', reject)
      req.end()
    })
  }

  it('refuses a cross-origin Origin with 403 and closes the socket', async () => {
    for (const origin of [
      'https://evil.example',
      'http://127.0.0.1:27900',
      `http://localhost:${h.port + 1}`,
    ]) {
      const res = await upgrade({ Origin: origin })
      expect(res.status, origin).toBe(403)
      expect(res.body).toMatch(/Cross-origin/)
      expect(res.destroyed).toBe(true)
    }
  })

  it('holds the upgrade’s Host to exactly the rule Vite holds HTTP requests to', async () => {
    const hosts = [
      `localhost:${h.port}`,
      `127.0.0.1:${h.port}`,
      `[::1]:${h.port}`,
      `127.1:${h.port}`,
      `2130706433:${h.port}`,
      `0x7f000001:${h.port}`,
      `evil.example:${h.port}`,
      `app.localhost:${h.port}`,
    ]
    for (const host of hosts) {
      const http = await rawRequest(`${h.origin}/`, { headers: { Host: host } })
      const ws = await upgrade({ Host: host })
      expect(ws.status === 101, host).toBe(http.status !== 403)
    }
  })

  it('refuses a host Vite would not allow (DNS rebinding)', async () => {
    const res = await upgrade({
      Host: `evil.example:${h.port}`,
      Origin: `http://evil.example:${h.port}`,
    })
    expect(res.status).toBe(403)
    expect(res.body).toMatch(/allowedHosts/)
  })

  it('accepts the page’s own origin', async () => {
    const res = await upgrade({ Origin: h.origin })
    expect(res.status).toBe(101)
  })

  it('leaves Vite’s HMR socket working', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${h.port}/`, 'vite-hmr')
    const first = await new Promise<string>((resolve, reject) => {
      ws.once('message', (data) => resolve(String(data)))
      ws.once('error', reject)
    })
    ws.close()
    expect(first).toContain('"type":"connected"')
  })
})
