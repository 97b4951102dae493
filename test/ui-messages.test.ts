// A useChat body's UIMessages as the Ollama messages the dev server and the production handler
// send (src/chat/ui-messages.ts).
import { describe, expect, it } from 'vitest'
import { isUiMessageBody, parseUiChatBody } from '../src/chat/ui-messages.js'

describe('UIMessages to Ollama messages', () => {
  it('tells a useChat body from our own', () => {
    expect(isUiMessageBody({ messages: [{ role: 'user', parts: [] }] })).toBe(true)
    expect(isUiMessageBody({ messages: [{ role: 'user', content: 'hi' }] })).toBe(false)
    expect(isUiMessageBody({ prompt: 'hi' })).toBe(false)
    expect(isUiMessageBody({ messages: [] })).toBe(false)
  })

  it('splits the assistant message at step-start, each step followed by its tool results', () => {
    const { payload, messageId } = parseUiChatBody({
      id: 'c',
      trigger: 'submit-message',
      model: 'llama3.2',
      system: 'Be brief.',
      messages: [
        { id: 's', role: 'system', parts: [{ type: 'text', text: 'You roll dice.' }] },
        {
          id: 'u',
          role: 'user',
          parts: [
            { type: 'text', text: 'Roll' },
            { type: 'text', text: 'twice' },
          ],
        },
        {
          id: 'a',
          role: 'assistant',
          parts: [
            { type: 'step-start' },
            { type: 'reasoning', text: 'They want dice.', state: 'done' },
            { type: 'text', text: 'Rolling.', state: 'done' },
            {
              type: 'tool-roll_dice',
              toolCallId: 'call_1',
              state: 'output-available',
              input: { sides: 6 },
              output: { rolled: 4 },
            },
            {
              type: 'dynamic-tool',
              toolName: 'flip',
              toolCallId: 'call_2',
              state: 'output-error',
              input: {},
              errorText: 'no coin',
            },
            { type: 'tool-skip', toolCallId: 'call_3', state: 'input-streaming' },
            { type: 'step-start' },
            { type: 'text', text: 'You got 4.', state: 'done' },
            { type: 'data-note', data: 1 },
          ],
        },
      ],
    })
    expect(messageId).toBe('a')
    expect(payload.model).toBe('llama3.2')
    expect(payload.system).toBe('Be brief.')
    expect(payload.messages).toEqual([
      { role: 'system', content: 'You roll dice.' },
      { role: 'user', content: 'Roll\ntwice' },
      {
        role: 'assistant',
        content: 'Rolling.',
        thinking: 'They want dice.',
        tool_calls: [
          { id: 'call_1', function: { name: 'roll_dice', arguments: { sides: 6 } } },
          { id: 'call_2', function: { name: 'flip', arguments: {} } },
        ],
      },
      { role: 'tool', content: '{"rolled":4}', tool_name: 'roll_dice', tool_call_id: 'call_1' },
      { role: 'tool', content: 'no coin', tool_name: 'flip', tool_call_id: 'call_2' },
      { role: 'assistant', content: 'You got 4.' },
    ])
  })

  it('sends data: URL images as base64 and refuses what Ollama cannot take, naming the fix', () => {
    const user = (parts: unknown[]) => ({ messages: [{ id: 'u', role: 'user', parts }] })
    const { payload, messageId } = parseUiChatBody(
      user([
        { type: 'text', text: 'What is this?' },
        { type: 'file', mediaType: 'image/png', url: 'data:image/png;base64,AAAA' },
      ]),
    )
    expect(messageId).toBeUndefined()
    expect(payload.messages).toEqual([{ role: 'user', content: 'What is this?', images: ['AAAA'] }])
    expect(() =>
      parseUiChatBody(user([{ type: 'file', mediaType: 'image/png', url: 'https://x/y.png' }])),
    ).toThrow(/messages\.0\.parts\.0\.url: image URLs cannot be sent/)
    expect(() =>
      parseUiChatBody(
        user([
          { type: 'file', mediaType: 'application/pdf', url: 'data:application/pdf;base64,AA' },
        ]),
      ),
    ).toThrow(/"application\/pdf" files cannot be sent to Ollama/)
    expect(() => parseUiChatBody(user([{ text: 'no type' }]))).toThrow(/parts\.0: expected a part/)
    expect(() => parseUiChatBody({ messages: [{ id: 'x', role: 'tool', parts: [] }] })).toThrow(
      /messages\.0\.role/,
    )
  })
})
