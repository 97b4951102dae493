import { generateObject, generateText, jsonSchema, tool } from 'ai'
import { Ollama } from 'ollama'
import { createOllama } from 'ollama-ai-provider-v2'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { type Simulator, startSimulator } from '../src/simulator/index.js'
import { simulatedReply } from '../src/simulator/tokens.js'
import { servePlugin, waitForStatus } from './helpers/faults.js'

// Tools, thinking and structured output with the official clients, against the simulator
// directly and through the dev server's transparent proxy (engine 'simulator'): the apps' CI
// must see what Ollama would send (docs/simulator.md).

const MODELS = ['llama3.2', 'qwen3:0.6b', 'gemma3:1b']

let sim: Simulator
let served: Awaited<ReturnType<typeof servePlugin>>
const bases: Record<string, string> = {}

beforeAll(async () => {
  sim = await startSimulator({ models: MODELS })
  served = await servePlugin({
    engine: 'simulator',
    models: ['llama3.2'],
    simulator: { tokenDelayMs: 0, installed: MODELS },
  })
  await waitForStatus(served.url, (s) => s.phase === 'ready', 30_000, 'ready')
  bases.direct = sim.url
  bases.proxy = `${served.url}/__ollama`
}, 60_000)
afterAll(async () => {
  await served?.close()
  await sim?.close()
})

const weather = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: {
      type: 'object',
      properties: {
        city: { type: 'string' },
        unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
      },
      required: ['city'],
    },
  },
}

const person = z.object({
  name: z.string(),
  age: z.number().int().min(0),
  role: z.enum(['engineer', 'artist']),
  tags: z.array(z.string()),
})

describe.each(['direct', 'proxy'])('fidelity (%s): the ollama client', (target) => {
  const client = () => new Ollama({ host: bases[target] })

  it('gets a tool call with object arguments, then an answer that uses the result', async () => {
    const messages = [{ role: 'user', content: "What's the weather in Oslo?" }]
    const first = await client().chat({ model: 'llama3.2', messages, tools: [weather] })
    expect(first.done_reason).toBe('stop')
    expect(first.message.content).toBe('')
    const call = first.message.tool_calls?.[0]
    expect(call?.function).toEqual({
      index: 0,
      name: 'get_weather',
      arguments: { city: 'Oslo', unit: 'celsius' },
    })
    expect((call as { id?: string }).id).toMatch(/^call_[a-z0-9]{8}$/)

    const second = await client().chat({
      model: 'llama3.2',
      tools: [weather],
      messages: [
        ...messages,
        first.message,
        { role: 'tool', content: '{"temperature":21}', tool_name: 'get_weather' },
      ],
    })
    expect(second.message.tool_calls).toBeUndefined()
    expect(second.message.content).toBe('The get_weather tool returned: {"temperature":21}.')
  })

  it('streams the tool call in a chunk of its own before the final chunk', async () => {
    const parts = []
    for await (const part of await client().chat({
      model: 'llama3.2',
      messages: [{ role: 'user', content: 'weather in Paris please' }],
      tools: [weather],
      stream: true,
    })) {
      parts.push(part)
    }
    const withCalls = parts.filter((p) => p.message.tool_calls?.length)
    expect(withCalls).toHaveLength(1)
    expect(withCalls[0]?.done).toBe(false)
    expect(withCalls[0]?.message.tool_calls?.[0]?.function.arguments).toEqual({
      city: 'Paris',
      unit: 'celsius',
    })
    expect(parts.at(-1)?.done_reason).toBe('stop')
  })

  it('thinks by default on a thinking model, and not with think:false', async () => {
    const messages = [{ role: 'user', content: 'Why is the sky blue?' }]
    const on = await client().chat({ model: 'qwen3:0.6b', messages })
    expect(on.message.thinking).toContain('Why is the sky blue?')
    expect(on.message.content).toBe(simulatedReply('qwen3:0.6b', 'Why is the sky blue?'))
    const off = await client().chat({ model: 'qwen3:0.6b', messages, think: false })
    expect(off.message.thinking).toBeUndefined()
  })

  it('answers format with a schema with JSON that validates', async () => {
    const res = await client().chat({
      model: 'llama3.2',
      messages: [{ role: 'user', content: 'Describe Ada Lovelace, aged 36.' }],
      format: z.toJSONSchema(person),
    })
    const value = person.parse(JSON.parse(res.message.content))
    // Strings take the capitalised names first, then the message itself.
    expect(value).toEqual({
      name: 'Ada Lovelace',
      age: 36,
      role: 'engineer',
      tags: ['Describe Ada Lovelace, aged 36.'],
    })
  })

  it('throws Ollama’s error for tools on a model without them', async () => {
    await expect(
      client().chat({
        model: 'gemma3:1b',
        messages: [{ role: 'user', content: 'weather?' }],
        tools: [weather],
      }),
    ).rejects.toThrow('registry.ollama.ai/library/gemma3:1b does not support tools')
  })
})

describe.each(['direct', 'proxy'])('fidelity (%s): the openai client', (target) => {
  const client = () =>
    new OpenAI({ baseURL: `${bases[target]}/v1`, apiKey: 'ollama', maxRetries: 0 })
  const tools = [weather] as OpenAI.Chat.ChatCompletionTool[]
  const ask = [{ role: 'user' as const, content: "What's the weather in Oslo?" }]

  it('gets a tool call with string arguments and finish_reason tool_calls', async () => {
    const res = await client().chat.completions.create({ model: 'llama3.2', messages: ask, tools })
    const choice = res.choices[0]!
    expect(choice.finish_reason).toBe('tool_calls')
    const call = choice.message.tool_calls?.[0] as OpenAI.Chat.ChatCompletionMessageFunctionToolCall
    expect(call.id).toMatch(/^call_[a-z0-9]{8}$/)
    expect(call.type).toBe('function')
    expect(JSON.parse(call.function.arguments)).toEqual({ city: 'Oslo', unit: 'celsius' })

    const next = await client().chat.completions.create({
      model: 'llama3.2',
      tools,
      messages: [
        ...ask,
        choice.message,
        { role: 'tool', tool_call_id: call.id, content: 'sunny, 21 °C' },
      ],
    })
    expect(next.choices[0]?.finish_reason).toBe('stop')
    expect(next.choices[0]?.message.content).toBe('The get_weather tool returned: sunny, 21 °C.')
  })

  it('streams the tool call complete in one delta', async () => {
    const stream = await client().chat.completions.create({
      model: 'llama3.2',
      messages: ask,
      tools,
      stream: true,
    })
    const calls = []
    let finish: string | null = null
    for await (const chunk of stream) {
      const choice = chunk.choices[0]
      if (choice?.delta.tool_calls) calls.push(...choice.delta.tool_calls)
      if (choice?.finish_reason) finish = choice.finish_reason
    }
    expect(calls).toHaveLength(1)
    expect(calls[0]?.index).toBe(0)
    expect(JSON.parse(calls[0]?.function?.arguments ?? '')).toEqual({
      city: 'Oslo',
      unit: 'celsius',
    })
    expect(finish).toBe('tool_calls')
  })

  it.each([false, true])('answers response_format json_schema (stream %s)', async (stream) => {
    const body = {
      model: 'llama3.2',
      messages: [{ role: 'user' as const, content: 'Describe Ada Lovelace, aged 36.' }],
      response_format: {
        type: 'json_schema' as const,
        json_schema: { name: 'person', schema: z.toJSONSchema(person) as Record<string, unknown> },
      },
    }
    let text = ''
    if (stream) {
      for await (const chunk of await client().chat.completions.create({ ...body, stream: true }))
        text += chunk.choices[0]?.delta.content ?? ''
    } else {
      text = (await client().chat.completions.create(body)).choices[0]?.message.content ?? ''
    }
    expect(person.parse(JSON.parse(text)).name).toBe('Ada Lovelace')
  })

  it('throws the OpenAI-shaped 400 for tools on a model without them', async () => {
    const error = await client()
      .chat.completions.create({ model: 'gemma3:1b', messages: ask, tools })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(OpenAI.BadRequestError)
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).message).toContain(
      'registry.ollama.ai/library/gemma3:1b does not support tools',
    )
  })
})

describe.each(['direct', 'proxy'])(
  'fidelity (%s): the AI SDK with ollama-ai-provider-v2',
  (target) => {
    const provider = () => createOllama({ baseURL: `${bases[target]}/api` })

    it('generateText with a tool returns the tool call', async () => {
      const result = await generateText({
        model: provider()('llama3.2'),
        prompt: 'Roll a 20-sided die',
        tools: {
          roll_dice: tool({
            description: 'Roll a die',
            inputSchema: z.object({ sides: z.number().int().min(2) }),
          }),
        },
      })
      // Ollama's done_reason stays "stop" beside tool calls, so the provider reports "stop".
      expect(result.finishReason).toBe('stop')
      expect(result.toolCalls.map((c) => [c.toolName, c.input])).toEqual([
        ['roll_dice', { sides: 20 }],
      ])
    })

    it('generateText runs the tool and answers with its result', async () => {
      const result = await generateText({
        model: provider()('llama3.2'),
        prompt: 'Roll a 6-sided die',
        stopWhen: ({ steps }) => steps.length >= 3,
        tools: {
          roll_dice: tool({
            inputSchema: jsonSchema<{ sides: number }>({
              type: 'object',
              properties: { sides: { type: 'integer' } },
              required: ['sides'],
            }),
            execute: async ({ sides }) => `rolled a ${sides - 2}`,
          }),
        },
      })
      expect(result.text).toBe('The roll_dice tool returned: rolled a 4.')
    })

    it('generateObject with a zod schema returns a parsed object', async () => {
      const { object } = await generateObject({
        model: provider()('llama3.2'),
        schema: person,
        prompt: 'Describe Ada Lovelace, aged 36.',
      })
      expect(object).toEqual({
        name: 'Ada Lovelace',
        age: 36,
        role: 'engineer',
        tags: ['Describe Ada Lovelace, aged 36.'],
      })
    })
  },
)
