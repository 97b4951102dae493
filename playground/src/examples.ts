// The playground's two agent-style examples, over `chatParts` (they work in dev and in a built app
// alike): a client-side tool the model calls, and an answer shaped by a JSON schema.
import {
  type ChatMessage,
  type ChatMetrics,
  type ChatTool,
  chatParts,
  type ToolCallEvent,
} from 'virtual:ollama'

/** What an example writes into the page's answer bubble. */
export interface AnswerView {
  append(token: string): void
  reason(text: string): void
  note(text: string): void
}

export interface ExampleRun {
  model?: string
  signal: AbortSignal
  answer: AnswerView
}

/** A dice roll the browser performs when the model asks for one. */
const diceTool: ChatTool = {
  type: 'function',
  function: {
    name: 'roll_dice',
    description: 'Roll dice and return the face of each die',
    parameters: {
      type: 'object',
      properties: {
        sides: { type: 'integer', minimum: 2, maximum: 100, description: 'faces on each die' },
        count: { type: 'integer', minimum: 1, maximum: 10, description: 'how many dice' },
      },
      required: ['sides', 'count'],
    },
  },
}

function rollDice(args: Record<string, unknown>): number[] {
  const clamp = (value: unknown, low: number, high: number, fallback: number) =>
    Math.min(high, Math.max(low, Math.trunc(Number(value) || fallback)))
  const sides = clamp(args.sides, 2, 100, 6)
  const count = clamp(args.count, 1, 10, 1)
  return Array.from({ length: count }, () => 1 + Math.floor(Math.random() * sides))
}

/**
 * Asks with the dice tool: each call the model makes is rolled here and sent back as a `tool`
 * message, until the model answers in words (at most four rounds).
 */
export async function chatWithDice(
  history: ChatMessage[],
  { model, signal, answer }: ExampleRun,
): Promise<ChatMetrics> {
  const messages = [...history]
  for (let round = 0; round < 4; round++) {
    const calls: ToolCallEvent[] = []
    const { text, metrics } = await streamTurn(
      messages,
      { model, signal, answer },
      {
        tools: [diceTool],
        onToolCall: (call) => calls.push(call),
      },
    )
    messages.push({
      role: 'assistant',
      content: text,
      ...(calls.length
        ? {
            tool_calls: calls.map(({ id, name, arguments: args }) => ({
              id,
              function: { name, arguments: args },
            })),
          }
        : {}),
    })
    if (calls.length === 0) {
      history.splice(0, history.length, ...messages)
      return metrics
    }
    for (const call of calls) {
      const faces = rollDice(call.arguments)
      answer.note(`🎲 ${call.name}(${JSON.stringify(call.arguments)}) → ${faces.join(', ')}`)
      messages.push({
        role: 'tool',
        tool_name: call.name,
        ...(call.id ? { tool_call_id: call.id } : {}),
        content: JSON.stringify({ faces, total: faces.reduce((a, b) => a + b, 0) }),
      })
    }
  }
  throw new Error('The model kept calling the tool: stopped after four rounds')
}

/** The shape a structured answer must have: Ollama's `format` takes the JSON schema itself. */
const citySchema = {
  type: 'object',
  properties: {
    city: { type: 'string' },
    country: { type: 'string' },
    population: { type: 'integer' },
    landmarks: { type: 'array', items: { type: 'string' } },
  },
  required: ['city', 'country', 'population', 'landmarks'],
}

/** Asks for a city card as JSON that fits `citySchema`, and shows it as a table once parsed. */
export async function chatStructured(
  history: ChatMessage[],
  { model, signal, answer }: ExampleRun,
): Promise<{ metrics: ChatMetrics; card: Record<string, unknown> }> {
  const { text, metrics } = await streamTurn(
    history,
    { model, signal, answer },
    {
      format: citySchema,
    },
  )
  const card = JSON.parse(text) as Record<string, unknown>
  history.push({ role: 'assistant', content: text })
  return { metrics, card }
}

/** One turn over `chatParts`: text and reasoning into the answer, tool calls to `onToolCall`. */
async function streamTurn(
  messages: ChatMessage[],
  { model, signal, answer }: ExampleRun,
  extra: {
    tools?: ChatTool[]
    format?: 'json' | Record<string, unknown>
    onToolCall?: (call: ToolCallEvent) => void
  },
): Promise<{ text: string; metrics: ChatMetrics }> {
  let text = ''
  let metrics: ChatMetrics | undefined
  for await (const part of chatParts(messages, {
    model,
    signal,
    tools: extra.tools,
    format: extra.format,
    onDone: (m) => {
      metrics = m
    },
  })) {
    if (part.type === 'text') {
      text += part.text
      answer.append(part.text)
    } else if (part.type === 'reasoning') answer.reason(part.text)
    else if (part.type === 'tool-call') extra.onToolCall?.(part)
    else answer.note(`waiting for ${part.model}: ${part.percent}%`)
  }
  if (!metrics) throw new Error('The answer ended without metrics')
  return { text, metrics }
}
