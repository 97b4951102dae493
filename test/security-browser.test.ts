// The red-team's page on another local port, in real Chromium against a real dev server: every
// side effect refused over HTTP and WebSocket, nothing readable. The same script run by the dev
// server's own page succeeds, so the attack is real and the test can fail.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Simulator, startSimulator } from '../src/simulator/index.js'
import { servePlugin, waitForStatus } from './helpers/faults.js'
import { browserSuiteName, launchChromium, skipBrowser } from './overlay-harness.js'

interface Outcome {
  what: string
  /** `blocked` (the browser refused to read it), `status N`, `ws open`, `ws refused`. */
  result: string
  /** What the page could read of the answer, if anything. */
  read: string
}

/**
 * Runs in the page: everything the red-team's page tried, against `target` (an origin), each
 * reported as what the page got back.
 */
async function attack(target: string): Promise<Outcome[]> {
  const json = { 'Content-Type': 'application/json', Accept: 'application/json' }
  const requests: Array<[string, string, RequestInit]> = [
    ['read the state', '/__ollama/status', {}],
    ['list the models', '/__ollama/api/tags', {}],
    ['chat', '/__ollama/chat', { method: 'POST', headers: json, body: '{"prompt":"hi"}' }],
    [
      'chat through the proxy',
      '/__ollama/api/chat',
      {
        method: 'POST',
        headers: json,
        body: '{"model":"llama3.2","stream":false,"messages":[{"role":"user","content":"hi"}]}',
      },
    ],
    [
      'delete a model',
      '/__ollama/api/delete',
      { method: 'DELETE', headers: json, body: '{"model":"qwen2.5:0.5b"}' },
    ],
    ['cancel a pull', '/__ollama/pull?model=llama3.2', { method: 'DELETE' }],
    [
      'copy a model',
      '/__ollama/api/copy',
      { method: 'POST', headers: json, body: '{"source":"llama3.2","destination":"stolen"}' },
    ],
    [
      'pull as a form post',
      '/__ollama/pull',
      {
        method: 'POST',
        mode: 'no-cors',
        headers: { 'Content-Type': 'text/plain' },
        body: '{"model":"smollm2"}',
      },
    ],
    [
      'chat as a form post',
      '/__ollama/chat',
      {
        method: 'POST',
        mode: 'no-cors',
        headers: { 'Content-Type': 'text/plain' },
        body: '{"prompt":"hi"}',
      },
    ],
  ]
  const outcomes: Outcome[] = []
  for (const [what, path, init] of requests) {
    try {
      const res = await fetch(target + path, init)
      outcomes.push({ what, result: `status ${res.status}`, read: await res.text() })
    } catch {
      outcomes.push({ what, result: 'blocked', read: '' })
    }
  }
  const wsTarget = target.replace(/^http/, 'ws')
  const ws = await new Promise<Outcome>((resolve) => {
    const socket = new WebSocket(`${wsTarget}/__ollama/ws`)
    const timer = setTimeout(
      () => resolve({ what: 'websocket', result: 'timeout', read: '' }),
      5000,
    )
    let read = ''
    socket.onmessage = (event) => {
      read += String(event.data)
      if (read.includes('"done"')) {
        clearTimeout(timer)
        socket.close()
        resolve({ what: 'websocket', result: 'ws open', read })
      }
    }
    socket.onopen = () => socket.send(JSON.stringify({ type: 'chat', id: 1, content: 'hi' }))
    socket.onerror = () => {
      clearTimeout(timer)
      resolve({ what: 'websocket', result: 'ws refused', read })
    }
  })
  outcomes.push(ws)
  return outcomes
}

describe.skipIf(skipBrowser)(browserSuiteName('a page on another local port'), () => {
  let sim: Simulator
  let dev: Awaited<ReturnType<typeof servePlugin>>
  let other: http.Server
  let otherOrigin: string
  let browser: Browser
  let page: Page

  beforeAll(async () => {
    sim = await startSimulator({ models: ['llama3.2', 'qwen2.5:0.5b'] })
    dev = await servePlugin({
      engine: 'external',
      url: sim.url,
      models: ['llama3.2'],
      overlay: false,
      warmup: false,
    })
    await waitForStatus(dev.url, (s) => s.phase === 'ready')
    // Any local service the user browses: another dev server, a docs site.
    other = http.createServer((_req, res) => {
      res.setHeader('Content-Type', 'text/html')
      res.end('<!doctype html><title>another local site</title>')
    })
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve))
    otherOrigin = `http://127.0.0.1:${(other.address() as AddressInfo).port}`
    browser = await launchChromium()
    page = await browser.newPage()
  }, 60_000)

  async function modelNames(): Promise<string[]> {
    const res = await fetch(`${sim.url}/api/tags`)
    const tags = (await res.json()) as { models: Array<{ name: string }> }
    return tags.models.map((m) => m.name.replace(/:latest$/, '')).sort()
  }

  afterAll(async () => {
    await browser?.close()
    other?.close()
    await dev?.close()
    await sim?.close()
  })

  it('the dev server’s own page can do all of it (the attack is real)', async () => {
    await page.goto(dev.url)
    const outcomes = await page.evaluate(attack, new URL(dev.url).origin)
    const by = Object.fromEntries(outcomes.map((o) => [o.what, o]))
    expect(by['read the state']?.read).toContain('"phase":"ready"')
    expect(by.chat?.result).toBe('status 200')
    expect(by['delete a model']?.result).toBe('status 200')
    expect(by.websocket?.result).toBe('ws open')
    expect(await modelNames()).toEqual(['llama3.2', 'stolen'])
  })

  it('refuses every side effect and lets it read nothing, over HTTP and WebSocket', async () => {
    await page.goto(otherOrigin)
    const before = { ...sim.stats.requests }
    const models = await modelNames()
    const devPort = new URL(dev.url).port
    for (const target of [`http://localhost:${devPort}`, `http://127.0.0.1:${devPort}`]) {
      const outcomes = await page.evaluate(attack, target)
      for (const { what, result, read } of outcomes) {
        expect(['blocked', 'status 403', 'status 0', 'ws refused'], `${target}: ${what}`).toContain(
          result,
        )
        expect(read, `${target}: ${what}`).not.toMatch(/llama3\.2|"phase"|"content"|"message"/)
      }
    }
    for (const route of [
      'POST /api/chat',
      'DELETE /api/delete',
      'POST /api/copy',
      'POST /api/pull',
    ]) {
      expect(sim.stats.requests[route] ?? 0, route).toBe(before[route] ?? 0)
    }
    expect(await modelNames()).toEqual(models)
  }, 60_000)
})
