import { createHash } from 'node:crypto'
import { Ollama } from 'ollama'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Simulator, startSimulator } from '../src/simulator/index.js'
import { servePlugin, waitForStatus } from './helpers/faults.js'

// /api/create, /api/blobs/:digest and /api/push against the simulator (docs/simulator.md, "Create,
// blobs and push"), with the official ollama client: directly, and through the dev server's
// transparent proxy with the plugin running the simulator.

let sim: Simulator
let served: Awaited<ReturnType<typeof servePlugin>>

beforeAll(async () => {
  sim = await startSimulator({ models: ['llama3.2'] })
  served = await servePlugin({
    engine: 'simulator',
    models: ['llama3.2'],
    overlay: false,
    simulator: { installed: ['llama3.2'] },
  })
  await waitForStatus(served.url, (s) => s.phase === 'ready', 30_000, 'ready')
}, 60_000)
afterAll(async () => {
  await served?.close()
  await sim?.close()
})

/**
 * Ollama's own client sends every body, blobs too, as `Content-Type: application/json`
 * (api/client.go), which the dev server's proxy requires of a POST.
 */
const JSON_TYPE = { 'Content-Type': 'application/json' }

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`
}

/** Collects a streamed create/push, returning its statuses (and throwing its error line). */
async function statuses(
  stream: AsyncIterable<{ status: string; completed?: number }>,
): Promise<string[]> {
  const out: string[] = []
  for await (const part of stream) out.push(part.status)
  return out
}

const targets = [
  ['the simulator', () => sim.url],
  ['the dev server proxy', () => `${served.url}/__ollama`],
] as const

describe.each(targets)('create, blobs and push through %s', (name, host) => {
  const ollama = () => new Ollama({ host: host() })
  // Each target has its own simulator, but names stay distinct to read failures easily.
  const tag = name === 'the simulator' ? 'direct' : 'proxied'

  it('creates a model from an installed one, which is listed, shown and chats', async () => {
    const model = `brief-${tag}`
    const lines = await statuses(
      await ollama().create({
        model,
        from: 'llama3.2',
        system: 'Answer in one word.',
        parameters: { num_predict: 3 },
        stream: true,
      }),
    )
    expect(
      lines.filter((s) => s.startsWith('using existing layer sha256:')).length,
    ).toBeGreaterThan(0)
    expect(lines.filter((s) => s.startsWith('creating new layer sha256:'))).toHaveLength(2)
    expect(lines.slice(-2)).toEqual(['writing manifest', 'success'])

    const { models } = await ollama().list()
    expect(models.map((m) => m.name)).toContain(`${model}:latest`)
    const shown = await ollama().show({ model })
    expect(shown.system).toBe('Answer in one word.')
    expect(shown.parameters).toContain('num_predict')

    const reply = await ollama().chat({ model, messages: [{ role: 'user', content: 'Hi' }] })
    expect(reply.eval_count).toBe(3)
    expect(reply.done_reason).toBe('length')
    const longer = await ollama().chat({
      model,
      messages: [{ role: 'user', content: 'Hi' }],
      options: { num_predict: 5 },
    })
    expect(longer.eval_count).toBe(5)
  })

  it('answers stream:false with the last status', async () => {
    expect(await ollama().create({ model: `quiet-${tag}`, from: 'llama3.2' })).toEqual({
      status: 'success',
    })
  })

  it('uploads a GGUF blob with its digest checked, then creates a model from it', async () => {
    const gguf = Buffer.concat([Buffer.from('GGUF'), Buffer.from(`weights of ${tag}`)])
    const digest = sha256(gguf)
    const blob = `${host()}/api/blobs/${digest}`
    expect((await fetch(blob, { method: 'HEAD' })).status).toBe(404)

    const wrong = await fetch(`${host()}/api/blobs/sha256:${'0'.repeat(64)}`, {
      method: 'POST',
      headers: JSON_TYPE,
      body: gguf,
    })
    expect(wrong.status).toBe(400)
    expect(await wrong.json()).toEqual({
      error: `digest mismatch, expected "sha256:${'0'.repeat(64)}", got "${digest}"`,
    })
    const badDigest = await fetch(`${host()}/api/blobs/md5:abc`, {
      method: 'POST',
      headers: JSON_TYPE,
      body: gguf,
    })
    expect(badDigest.status).toBe(400)
    expect(await badDigest.json()).toEqual({ error: 'invalid digest format' })

    expect((await fetch(blob, { method: 'POST', headers: JSON_TYPE, body: gguf })).status).toBe(201)
    expect((await fetch(blob, { method: 'HEAD' })).status).toBe(200)
    expect((await fetch(blob, { method: 'POST', headers: JSON_TYPE, body: gguf })).status).toBe(200)

    const model = `gguf-${tag}`
    // ollama-js passes `files` through, though its CreateRequest type does not list it.
    const request = { model, files: { 'model.gguf': digest }, stream: true as const }
    const lines = await statuses(await ollama().create(request))
    expect(lines[0]).toBe('parsing GGUF')
    expect(lines).toContain(`using existing layer ${digest}`)
    expect(lines.at(-1)).toBe('success')
    const reply = await ollama().chat({ model, messages: [{ role: 'user', content: 'Hi' }] })
    expect(reply.message.content.length).toBeGreaterThan(0)
  })

  it('refuses what Ollama refuses, with its statuses and messages', async () => {
    const text = Buffer.from(`not a gguf ${tag}`)
    const digest = sha256(text)
    await fetch(`${host()}/api/blobs/${digest}`, { method: 'POST', headers: JSON_TYPE, body: text })
    const cases: Array<[Record<string, unknown>, number, string]> = [
      [{ model: 'x', files: { 'a.gguf': digest } }, 400, 'supplied file was not in GGUF format'],
      [{ model: 'x', files: { '/abs.gguf': digest } }, 400, 'file path must be relative'],
      [{ model: 'x' }, 400, "neither 'from' or 'files' was specified"],
      [{ model: 'bad name!', from: 'llama3.2' }, 400, 'invalid model name'],
    ]
    for (const [body, status, error] of cases) {
      const res = await fetch(`${host()}/api/create`, {
        method: 'POST',
        headers: JSON_TYPE,
        body: JSON.stringify({ ...body, stream: false }),
      })
      expect(res.status, error).toBe(status)
      expect(await res.json()).toEqual({ error })
    }
    const run = async () =>
      statuses(await ollama().create({ model: 'y', from: 'no-such-model', stream: true }))
    await expect(run()).rejects.toThrow('pull model manifest: file does not exist')
  })

  it('pushes into its own registry with per-layer progress; the model can then be pulled', async () => {
    const model = `someone/shared-${tag}`
    await ollama().create({ model, from: 'llama3.2', system: `pushed ${tag}` })
    const parts: Array<{ status: string; digest?: string; total?: number; completed?: number }> = []
    for await (const part of await ollama().push({ model, stream: true })) parts.push(part)
    expect(parts[0]?.status).toBe('retrieving manifest')
    const layers = parts.filter((p) => p.status.startsWith('pushing ') && p.digest)
    expect(layers.length).toBeGreaterThan(0)
    for (const part of layers) {
      expect(part.status).toBe(`pushing ${part.digest?.slice(7, 19)}`)
      expect(part.total).toBeGreaterThan(0)
    }
    const last = new Map(layers.map((p) => [p.digest, p]))
    for (const part of last.values()) expect(part.completed).toBe(part.total)
    expect(parts.slice(-2).map((p) => p.status)).toEqual(['pushing manifest', 'success'])

    await ollama().delete({ model })
    expect(await ollama().pull({ model })).toEqual({ status: 'success' })
    expect((await ollama().show({ model })).system).toBe(`pushed ${tag}`)
  })

  it('fails a push as Ollama does: a missing model, and Ollama’s own namespace', async () => {
    const missing: string[] = []
    const run = async () => {
      for await (const part of await ollama().push({ model: 'someone/nothing', stream: true })) {
        missing.push(part.status)
      }
    }
    await expect(run()).rejects.toThrow(
      'open /root/.ollama/models/manifests/registry.ollama.ai/someone/nothing/latest: no such file or directory',
    )
    expect(missing).toEqual(['retrieving manifest', "couldn't retrieve manifest"])
    await expect(ollama().push({ model: 'llama3.2' })).rejects.toThrow(
      'unauthorized: access denied',
    )
    const res = await fetch(`${host()}/api/push`, {
      method: 'POST',
      headers: JSON_TYPE,
      body: '{}',
    })
    expect(res.status).toBe(400)
    expect(await res.json()).toEqual({ error: 'model is required' })
  })
})
