import http from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { crossSiteReason, isAllowedHost, isLoopbackHostname } from '../src/server/guards.js'
import { type Harness, rawRequest, startHarness } from './routes-harness.js'

const CHAT = JSON.stringify({ prompt: 'hi' })

function fakeRequest(headers: Record<string, string>): http.IncomingMessage {
  return { headers, socket: {} } as unknown as http.IncomingMessage
}

describe('guards (unit)', () => {
  it('treats localhost names and loopback addresses as local', () => {
    for (const name of ['localhost', 'app.localhost', '127.0.0.1', '127.1.2.3', '[::1]', '::1']) {
      expect(isLoopbackHostname(name), name).toBe(true)
    }
    for (const name of ['example.com', '192.168.1.10', 'localhost.evil.com', '[::2]']) {
      expect(isLoopbackHostname(name), name).toBe(false)
    }
  })

  it('judges Origin against the Host the request was sent to', () => {
    expect(crossSiteReason(fakeRequest({ host: 'localhost:5173' }))).toBeNull()
    expect(
      crossSiteReason(fakeRequest({ host: 'localhost:5173', origin: 'http://localhost:5173' })),
    ).toBeNull()
    expect(
      crossSiteReason(fakeRequest({ host: 'localhost:5173', origin: 'http://127.0.0.1:3000' })),
    ).toBeNull()
    expect(
      crossSiteReason(fakeRequest({ host: 'dev.example:80', origin: 'http://dev.example' })),
    ).toBeNull()
    expect(
      crossSiteReason(fakeRequest({ host: 'localhost:5173', origin: 'https://evil.example' })),
    ).toMatch(/evil/)
    expect(
      crossSiteReason(fakeRequest({ host: '192.168.1.10:5173', origin: 'http://localhost:3000' })),
    ).toMatch(/another site/)
    expect(crossSiteReason(fakeRequest({ host: 'localhost:5173', origin: 'null' }))).toMatch(/null/)
    expect(
      crossSiteReason(fakeRequest({ host: 'localhost:5173', 'sec-fetch-site': 'cross-site' })),
    ).toMatch(/Sec-Fetch-Site/)
    expect(
      crossSiteReason(fakeRequest({ host: 'localhost:5173', 'sec-fetch-site': 'same-origin' })),
    ).toBeNull()
  })

  it('allows hosts the way Vite’s allowedHosts does', () => {
    expect(isAllowedHost('localhost:5173')).toBe(true)
    expect(isAllowedHost('10.0.0.2:5173')).toBe(true)
    expect(isAllowedHost('[::1]:5173')).toBe(true)
    expect(isAllowedHost('evil.example:5173')).toBe(false)
    expect(isAllowedHost('dev.example.com', ['dev.example.com'])).toBe(true)
    expect(isAllowedHost('a.example.com', ['.example.com'])).toBe(true)
    expect(isAllowedHost('example.com', ['.example.com'])).toBe(true)
    expect(isAllowedHost('anything', true)).toBe(true)
    expect(isAllowedHost(undefined)).toBe(false)
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

  it('refuses a cross-site POST with 403 and a reason', async () => {
    const res = await post('/chat', { Origin: 'https://evil.example' })
    expect(res.status).toBe(403)
    expect(JSON.parse(res.body).error).toMatch(/Cross-site.*evil\.example/)
  })

  it('refuses Sec-Fetch-Site: cross-site', async () => {
    const res = await post('/pull', { 'Sec-Fetch-Site': 'cross-site' }, '{"model":"llama3.2"}')
    expect(res.status).toBe(403)
  })

  it('accepts the page’s own origin and other local dev servers', async () => {
    expect(
      (await post('/chat', { Origin: h.origin, 'Sec-Fetch-Site': 'same-origin' })).status,
    ).toBe(200)
    expect(
      (await post('/chat', { Origin: 'http://localhost:3000', 'Sec-Fetch-Site': 'same-site' }))
        .status,
    ).toBe(200)
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

  it('refuses a body over maxBodySize with 413', async () => {
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

  it('lets cross-site reads through to Vite’s CORS (which hides the answer)', async () => {
    const res = await rawRequest(`${h.url}/api/tags`, {
      headers: { Origin: 'https://evil.example' },
    })
    expect(res.status).toBe(200)
    expect(res.headers['access-control-allow-origin']).toBeUndefined()
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

  it('refuses a cross-site Origin with 403 and closes the socket', async () => {
    const res = await upgrade({ Origin: 'https://evil.example' })
    expect(res.status).toBe(403)
    expect(res.body).toMatch(/Cross-site/)
    expect(res.destroyed).toBe(true)
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
