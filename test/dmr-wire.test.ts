// The translations between Ollama's wire and Docker Model Runner's: an Ollama chat request as an
// OpenAI chat completion, the completion's event stream back as Ollama chunks (tool calls,
// reasoning, metrics, errors, bytes split anywhere), and DMR's parallel-layer pull progress as
// Ollama's pull lines.
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { OpenAiChatTranslation, openAiChatBody } from '../src/engines/dmr/chat.js'
import { DmrPullTranslation } from '../src/engines/dmr/pull.js'
import { chatCompletionAsOllama, pullProgressAsOllama } from '../src/engines/dmr/wire.js'
import { chatStreamKind, pullStreamKind } from '../src/ollama/client.js'
import type { ChatResponse, PullProgress } from '../src/ollama/schemas.js'
import { OllamaStream } from '../src/ollama/stream.js'

const site = {
  baseUrl: 'http://127.0.0.1:12434',
  method: 'POST',
  path: '/engines/v1/chat/completions',
}

/** `text` as a body that arrives in pieces of `size` bytes, cutting lines and characters. */
function body(text: string, size = 7): Readable {
  const bytes = Buffer.from(text)
  const pieces: Buffer[] = []
  for (let i = 0; i < bytes.length; i += size) pieces.push(bytes.subarray(i, i + size))
  return Readable.from(pieces)
}

function sse(events: unknown[], done = true): string {
  const frames = events.map((e) => `data: ${JSON.stringify(e)}\n\n`)
  return `: keep-alive\n\n${frames.join('')}${done ? 'data: [DONE]\n\n' : ''}`
}

async function readAll<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const value of stream) out.push(value)
  return out
}

const delta = (d: Record<string, unknown>, finish: string | null = null) => ({
  choices: [{ index: 0, delta: d, finish_reason: finish }],
})

describe('an Ollama chat as an OpenAI chat completion', () => {
  it('carries messages, images, tools, options, format and think', () => {
    const body = openAiChatBody(
      {
        model: 'llama3.2',
        messages: [
          { role: 'user', content: 'what is this?', images: ['iVBORw0KGgo='] },
          {
            role: 'assistant',
            content: '',
            tool_calls: [{ function: { name: 'weather', arguments: { city: 'Paris' } } }],
          },
          { role: 'tool', content: '21°C', tool_name: 'weather' },
        ],
        tools: [
          { type: 'function', function: { name: 'weather', parameters: { type: 'object' } } },
        ],
        options: { temperature: 0.2, num_predict: 64, num_ctx: 8192, stop: ['\n\n'], seed: 7 },
        format: { type: 'object', properties: { answer: { type: 'string' } } },
        think: 'low',
      },
      'ai/llama3.2:latest',
    )
    expect(body).toEqual({
      model: 'ai/llama3.2:latest',
      stream: true,
      stream_options: { include_usage: true },
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'what is this?' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          ],
        },
        {
          role: 'assistant',
          content: '',
          tool_calls: [
            {
              id: 'call_1_0',
              type: 'function',
              function: { name: 'weather', arguments: '{"city":"Paris"}' },
            },
          ],
        },
        { role: 'tool', content: '21°C', tool_call_id: 'call_1_0' },
      ],
      tools: [{ type: 'function', function: { name: 'weather', parameters: { type: 'object' } } }],
      // num_ctx has no per-request name here: DMR sets it on the runner.
      temperature: 0.2,
      max_tokens: 64,
      stop: ['\n\n'],
      seed: 7,
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'response',
          schema: { type: 'object', properties: { answer: { type: 'string' } } },
          strict: true,
        },
      },
      reasoning_effort: 'low',
      chat_template_kwargs: { enable_thinking: true },
    })
    expect(
      openAiChatBody({ model: 'm', format: 'json', think: false }, 'ai/m:latest'),
    ).toMatchObject({
      response_format: { type: 'json_object' },
      reasoning_effort: 'none',
      chat_template_kwargs: { enable_thinking: false },
    })
  })
})

describe('an OpenAI chat completion stream as Ollama chunks', () => {
  it('reads text, reasoning, streamed tool calls and the usage into Ollama chunks', () => {
    const t = new OpenAiChatTranslation('llama3.2')
    expect(t.event(delta({ role: 'assistant' }))).toEqual([])
    expect(t.event(delta({ reasoning_content: 'thinking…' }))[0]).toMatchObject({
      model: 'llama3.2',
      done: false,
      message: { role: 'assistant', content: '', thinking: 'thinking…' },
    })
    expect(t.event(delta({ content: 'Hi' }))).toEqual([
      expect.objectContaining({ message: { role: 'assistant', content: 'Hi' } }),
    ])
    const fragments = [
      { index: 0, id: 'call_a', type: 'function', function: { name: 'weather', arguments: '' } },
      { index: 0, function: { arguments: '{"city":' } },
      { index: 0, function: { arguments: '"Paris"}' } },
    ]
    for (const fragment of fragments) expect(t.event(delta({ tool_calls: [fragment] }))).toEqual([])
    expect(t.event(delta({}, 'tool_calls'))).toEqual([
      expect.objectContaining({
        message: {
          role: 'assistant',
          content: '',
          tool_calls: [
            { id: 'call_a', function: { index: 0, name: 'weather', arguments: { city: 'Paris' } } },
          ],
        },
      }),
    ])
    t.event({
      choices: [],
      usage: { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 },
      timings: { predicted_ms: 450.5, prompt_ms: 20 },
    })
    expect(t.done()).toMatchObject({
      done: true,
      done_reason: 'stop',
      prompt_eval_count: 12,
      eval_count: 9,
      eval_duration: 450_500_000,
      prompt_eval_duration: 20_000_000,
      message: { role: 'assistant', content: '' },
    })
  })

  it('streams as OllamaStream reads it, however the bytes are cut', async () => {
    const text = sse([
      delta({ role: 'assistant', content: 'Bonjour' }),
      delta({ content: ' à tous' }),
      delta({}, 'length'),
      { choices: [], usage: { prompt_tokens: 3, completion_tokens: 2 } },
    ])
    for (const size of [1, 3, 64]) {
      const chunks = await readAll(
        new OllamaStream<ChatResponse>(
          chatCompletionAsOllama(body(text, size), 'llama3.2'),
          site,
          200,
          chatStreamKind,
        ),
      )
      expect(chunks.map((c) => c.message.content).join(''), `${size}`).toBe('Bonjour à tous')
      expect(chunks.at(-1)).toMatchObject({ done: true, done_reason: 'length', eval_count: 2 })
    }
  })

  it('fails on an error event, and on a stream cut before [DONE]', async () => {
    const failing = sse([delta({ content: 'a' }), { error: { message: 'context overflow' } }])
    await expect(
      readAll(
        new OllamaStream(chatCompletionAsOllama(body(failing), 'm'), site, 200, chatStreamKind),
      ),
    ).rejects.toThrow(/context overflow/)
    const cut = sse([delta({ content: 'a' })], false)
    await expect(
      readAll(new OllamaStream(chatCompletionAsOllama(body(cut), 'm'), site, 200, chatStreamKind)),
    ).rejects.toThrow(/ended before its final chunk/)
  })
})

describe("DMR's pull progress as Ollama's", () => {
  const layer = (id: string, size: number, current: number) => ({
    type: 'progress',
    message: '',
    total: 1000,
    layer: { id: `sha256:${id.repeat(64).slice(0, 64)}`, size, current },
    mode: 'pull',
  })

  it('sums layers downloading side by side into one figure that only grows', () => {
    const t = new DmrPullTranslation('ai/m:latest')
    const lines = [
      ...t.add(layer('a', 900, 0)),
      ...t.add(layer('b', 100, 50)),
      ...t.add(layer('a', 900, 300)),
      ...t.add(layer('b', 100, 100)),
      ...t.add(layer('a', 900, 900)),
      ...t.add({ type: 'warning', message: 'format is experimental' }),
      ...t.add({ type: 'success', message: 'Model pulled successfully' }),
    ]
    expect(lines).toEqual([
      { status: 'pulling manifest' },
      { status: 'pulling aaaaaaaaaaaa', digest: 'ai/m:latest', total: 1000, completed: 0 },
      { status: 'pulling bbbbbbbbbbbb', digest: 'ai/m:latest', total: 1000, completed: 50 },
      { status: 'pulling aaaaaaaaaaaa', digest: 'ai/m:latest', total: 1000, completed: 350 },
      { status: 'pulling bbbbbbbbbbbb', digest: 'ai/m:latest', total: 1000, completed: 400 },
      { status: 'pulling aaaaaaaaaaaa', digest: 'ai/m:latest', total: 1000, completed: 1000 },
      { status: 'success' },
    ])
    expect(t.warnings).toEqual(['format is experimental'])
  })

  it('ends with the error DMR writes after the stream began, JSON or plain text', async () => {
    const text = [
      JSON.stringify(layer('a', 900, 10)),
      JSON.stringify({ type: 'error', message: 'Error: no space left on device', mode: 'pull' }),
      'error while pulling model: writing image to store: no space left on device',
      '',
    ].join('\n')
    const { lines } = pullProgressAsOllama(body(text), 'ai/m:latest')
    const read: PullProgress[] = []
    await expect(
      (async () => {
        for await (const line of new OllamaStream(lines, site, 200, pullStreamKind)) read.push(line)
      })(),
    ).rejects.toThrow(/no space left on device/)
    expect(read.at(-1)).toMatchObject({ completed: 10, total: 1000 })

    const plain = pullProgressAsOllama(body('error while pulling model: boom\n'), 'ai/m:latest')
    await expect(readAll(new OllamaStream(plain.lines, site, 200, pullStreamKind))).rejects.toThrow(
      /boom/,
    )
  })
})
