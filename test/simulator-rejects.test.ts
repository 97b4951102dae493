import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Simulator, startSimulator } from '../src/simulator/index.js'

// The 400s Ollama gives for malformed tools, contents, images and options, status and message
// exact (docs/simulator.md, "Errors"): an app that passes against the simulator must not send
// what Ollama refuses.

let sim: Simulator
beforeAll(async () => {
  sim = await startSimulator({ models: ['llama3.2', 'gemma3:1b'] })
})
afterAll(() => sim.close())

async function post(path: string, body: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(sim.url + path, { method: 'POST', body: JSON.stringify(body) })
  return { status: res.status, body: await res.json() }
}
const native = (error: string) => ({ status: 400, body: { error } })
const openai = (message: string) => ({
  status: 400,
  body: { error: { message, type: 'invalid_request_error', param: null, code: null } },
})

const PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=='
const GIF = 'R0lGODlhAQABAAAAACw='
const user = [{ role: 'user', content: 'hi' }]
const tool = { type: 'function', function: { name: 'roll_dice', parameters: { type: 'object' } } }

describe('native /api/chat', () => {
  it.each([
    [
      'tools that are not an array',
      { tools: { type: 'function' } },
      'json: cannot unmarshal object into Go struct field ChatRequest.tools of type api.Tools',
    ],
    [
      'a tool that is not an object',
      { tools: ['roll_dice'] },
      'json: cannot unmarshal string into Go struct field ChatRequest.tools of type api.Tool',
    ],
    [
      'tool-call arguments as a JSON string',
      {
        messages: [
          ...user,
          {
            role: 'assistant',
            content: '',
            tool_calls: [{ function: { name: 'roll_dice', arguments: '{"sides":6}' } }],
          },
        ],
      },
      "Value looks like object, but can't find closing '}' symbol",
    ],
    [
      'tools on a model without them',
      { model: 'gemma3:1b', tools: [tool] },
      'registry.ollama.ai/library/gemma3:1b does not support tools',
    ],
    [
      'an image as a data URL',
      { messages: [{ role: 'user', content: 'see', images: [`data:image/png;base64,${PNG}`] }] },
      'illegal base64 data at input byte 4',
    ],
    [
      'options.stop as a string',
      { options: { stop: '\n' } },
      'option "stop" must be of type array',
    ],
    [
      'options.numa as a string',
      { options: { numa: 'yes' } },
      'option "numa" must be of type boolean',
    ],
  ])('rejects %s', async (_what, patch, error) => {
    expect(await post('/api/chat', { model: 'llama3.2', messages: user, ...patch })).toEqual(
      native(error),
    )
  })

  it('accepts null arguments, a GIF in images (the runner decides), and content null', async () => {
    const res = await post('/api/chat', {
      model: 'llama3.2',
      stream: false,
      messages: [
        { role: 'user', content: null, images: [GIF] },
        {
          role: 'assistant',
          content: '',
          tool_calls: [{ function: { name: 'x', arguments: null } }],
        },
        ...user,
      ],
    })
    expect(res.status).toBe(200)
  })
})

describe('/v1/chat/completions', () => {
  const image = (url: unknown) => [
    {
      role: 'user',
      content: [
        { type: 'text', text: 'see' },
        { type: 'image_url', image_url: url },
      ],
    },
  ]

  it.each([
    [
      'content null without tool calls',
      [{ role: 'user', content: null }],
      'invalid message content type: <nil>',
    ],
    [
      'content as a number',
      [{ role: 'user', content: 5 }],
      'invalid message content type: float64',
    ],
    [
      'a part of unknown type',
      [{ role: 'user', content: [{ type: 'video', video: 'x' }] }],
      'invalid message format',
    ],
    [
      'an http image URL',
      image({ url: 'https://example.com/cat.png' }),
      'image URLs are not currently supported, please use base64 encoded data instead',
    ],
    ['a GIF data URL', image({ url: `data:image/gif;base64,${GIF}` }), 'invalid image input'],
    ['broken base64', image(`data:image/png;base64,${PNG.slice(1)}`), 'invalid image input'],
    ['a bare base64 string', image(PNG), 'invalid image input'],
    [
      'assistant tool-call arguments that are not JSON',
      [
        ...user,
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'x', arguments: '{sides' } },
          ],
        },
      ],
      'invalid tool call arguments',
    ],
  ])('rejects %s', async (_what, messages, message) => {
    expect(await post('/v1/chat/completions', { model: 'llama3.2', messages })).toEqual(
      openai(message),
    )
  })

  it('rejects tools on a model without them, in the OpenAI shape', async () => {
    expect(
      await post('/v1/chat/completions', { model: 'gemma3:1b', messages: user, tools: [tool] }),
    ).toEqual(openai('registry.ollama.ai/library/gemma3:1b does not support tools'))
  })

  it('accepts PNG, JPEG, WebP and bare data URLs, and content null beside tool calls', async () => {
    // Go's base64 decoder skips line breaks, so wrapped base64 is fine.
    const wrapped = `${PNG.slice(0, 40)}\r\n${PNG.slice(40)}`
    expect(
      (
        await post('/api/chat', {
          model: 'llama3.2',
          stream: false,
          messages: [{ ...user[0], images: [wrapped] }],
        })
      ).status,
    ).toBe(200)
    for (const prefix of ['data:image/png', 'data:image/jpeg', 'data:image/webp', 'data:']) {
      const res = await post('/v1/chat/completions', {
        model: 'llama3.2',
        messages: image({ url: `${prefix};base64,${prefix === 'data:' ? wrapped : PNG}` }),
      })
      expect(res.status).toBe(200)
    }
    const res = await post('/v1/chat/completions', {
      model: 'llama3.2',
      messages: [
        ...user,
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'x', arguments: '{}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: 'ok' },
      ],
    })
    expect(res.status).toBe(200)
  })
})
