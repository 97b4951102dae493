/// <reference types="../../client.d.ts" />
import {
  type ChatMessage,
  type ChatMetrics,
  type ChatReply,
  type ChatSocket,
  chatParts,
  connect,
  pull,
  type StateSnapshot,
  status,
} from 'virtual:ollama'
import { chatStructured, chatWithDice } from './examples.ts'
import { renderMarkdown } from './markdown.ts'

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T
const messages = $<HTMLElement>('messages')
const modelSelect = $<HTMLSelectElement>('model')
const modeSelect = $<HTMLSelectElement>('mode')
const prompt = $<HTMLTextAreaElement>('prompt')
const sendButton = $<HTMLButtonElement>('send')
const stopButton = $<HTMLButtonElement>('stop')
const metricsLine = $<HTMLElement>('metrics')

// Every tab with the same ?room= watches the others' answers stream live over the WebSocket.
const room = new URLSearchParams(location.search).get('room') ?? 'playground'
// One session per tab, kept across reloads, so the server-side history survives them too.
const session =
  sessionStorage.getItem('playground-session') ?? `tab-${Math.random().toString(36).slice(2, 10)}`
sessionStorage.setItem('playground-session', session)
$<HTMLElement>('room').textContent = `room: ${room}`

// Rooms and server-side history live in the dev server's WebSocket (there is one where there is
// HMR). A built app chats over chatStream(), which works in both: the production handler serves it.
const socket: ChatSocket | undefined = import.meta.hot ? connect({ session, room }) : undefined
if (!socket) $<HTMLElement>('room').hidden = true
let current: { cancel(): void } | undefined
/** The conversation, kept here when there is no socket to keep it (and for the examples). */
const history: ChatMessage[] = []

/** A chat bubble whose text re-renders as Markdown at most once a frame while it streams. */
function bubble(role: 'user' | 'assistant', who: string, watched = false) {
  const el = document.createElement('article')
  el.className = `msg ${role}${watched ? ' watched' : ''}`
  el.dataset.testid = role === 'user' ? 'user-message' : watched ? 'watched-answer' : 'answer'
  const label = document.createElement('div')
  label.className = 'who'
  label.textContent = who
  const body = document.createElement('div')
  body.className = 'body'
  el.append(label, body)
  messages.append(el)
  let text = ''
  // A thinking model's reasoning: open while it streams, folded away once the answer starts.
  let reasoning: { details: HTMLDetailsElement; text: HTMLElement; started: number } | undefined
  const foldReasoning = () => {
    if (!reasoning?.details.open) return
    reasoning.details.open = false
    const seconds = Math.max(1, Math.round((performance.now() - reasoning.started) / 1000))
    reasoning.details.querySelector('summary')!.textContent = `Thought for ${seconds} s`
  }
  let scheduled = false
  const render = () => {
    scheduled = false
    body.replaceChildren(renderMarkdown(text))
    messages.scrollTop = messages.scrollHeight
  }
  return {
    el,
    append(token: string) {
      foldReasoning()
      text += token
      body.classList.add('streaming')
      if (!scheduled) {
        scheduled = true
        requestAnimationFrame(render)
      }
    },
    reason(piece: string) {
      if (!reasoning) {
        const details = document.createElement('details')
        details.className = 'reasoning'
        details.dataset.testid = 'reasoning'
        details.open = true
        const summary = document.createElement('summary')
        summary.textContent = 'Thinking…'
        const pre = document.createElement('div')
        details.append(summary, pre)
        el.insertBefore(details, body)
        reasoning = { details, text: pre, started: performance.now() }
      }
      reasoning.text.textContent += piece
      messages.scrollTop = messages.scrollHeight
    },
    note(line: string) {
      const chip = document.createElement('div')
      chip.className = 'note'
      chip.dataset.testid = 'note'
      chip.textContent = line
      el.insertBefore(chip, body)
    },
    /** Shows a structured answer as a table of its fields. */
    card(fields: Record<string, unknown>) {
      const table = document.createElement('table')
      table.className = 'card'
      table.dataset.testid = 'card'
      for (const [key, value] of Object.entries(fields)) {
        const row = table.insertRow()
        row.insertCell().textContent = key
        row.insertCell().textContent = Array.isArray(value) ? value.join(', ') : String(value)
      }
      body.after(table)
    },
    set(value: string) {
      text = value
      render()
    },
    end(note?: string) {
      foldReasoning()
      body.classList.remove('streaming')
      render()
      if (note) label.textContent = `${who} · ${note}`
    },
    fail(message: string) {
      el.classList.add('error')
      body.classList.remove('streaming')
      body.textContent = text ? `${text}\n\n${message}` : message
    },
  }
}

function showMetrics(m: ChatMetrics): void {
  metricsLine.textContent = `${m.model} · ${m.tokens} tokens · ${m.tokensPerSecond.toFixed(1)} tok/s · first token after ${Math.round(m.ttftMs)} ms`
  metricsLine.dataset.tokensPerSecond = String(m.tokensPerSecond)
}

async function send(): Promise<void> {
  const content = prompt.value.trim()
  if (!content || current) return
  prompt.value = ''
  bubble('user', 'you').set(content)
  const answer = bubble('assistant', modelSelect.value || 'assistant')
  sendButton.disabled = true
  stopButton.disabled = false
  try {
    const metrics = await ask(content, answer)
    answer.end(`${metrics.tokensPerSecond.toFixed(0)} tok/s`)
    showMetrics(metrics)
  } catch (error) {
    const message = (error as Error).message
    if (/cancel/i.test(message)) answer.end('stopped')
    else answer.fail(message)
  } finally {
    current = undefined
    sendButton.disabled = false
    stopButton.disabled = true
  }
}

/** The composer's mode picks the example: a plain chat, the dice tool, or a structured answer. */
async function ask(content: string, answer: ReturnType<typeof bubble>): Promise<ChatMetrics> {
  const mode = modeSelect.value
  if (mode === 'chat') {
    return socket ? chatOverSocket(socket, content, answer) : chatOverHttp(content, answer)
  }
  const abort = new AbortController()
  current = { cancel: () => abort.abort(new Error('cancelled')) }
  const run = { model: modelSelect.value || undefined, signal: abort.signal, answer }
  history.push({ role: 'user', content })
  if (mode === 'dice') return chatWithDice(history, run)
  const { metrics, card } = await chatStructured(history, run)
  answer.card(card)
  return metrics
}

async function chatOverSocket(
  socket: ChatSocket,
  content: string,
  answer: ReturnType<typeof bubble>,
): Promise<ChatMetrics> {
  // In the room, so the other tabs watch it stream (connect's room only subscribes this tab).
  const reply: ChatReply = socket.chat(content, { model: modelSelect.value || undefined, room })
  current = reply
  const off = socket.on('reasoning', (frame) => {
    if (frame.id === reply.id && frame.session === socket.session) answer.reason(frame.content)
  })
  try {
    for await (const token of reply) answer.append(token)
    return (await reply.result).metrics
  } finally {
    off()
  }
}

async function chatOverHttp(
  content: string,
  answer: ReturnType<typeof bubble>,
): Promise<ChatMetrics> {
  const abort = new AbortController()
  current = { cancel: () => abort.abort(new Error('cancelled')) }
  let text = ''
  let metrics: ChatMetrics | undefined
  const asked = [...history, { role: 'user' as const, content }]
  for await (const part of chatParts(asked, {
    model: modelSelect.value || undefined,
    signal: abort.signal,
    onDone: (m) => {
      metrics = m
    },
  })) {
    if (part.type === 'reasoning') answer.reason(part.text)
    if (part.type !== 'text') continue
    text += part.text
    answer.append(part.text)
  }
  history.push({ role: 'user', content }, { role: 'assistant', content: text })
  if (!metrics) throw new Error('The answer ended without metrics')
  return metrics
}

// Chats started in other tabs of the room: render them as they stream.
const watched = new Map<string, ReturnType<typeof bubble>>()
socket?.on('start', (frame) => {
  if (frame.session === socket?.session) return
  bubble('user', `${frame.session}`, true).set(frame.content)
  watched.set(`${frame.session}:${frame.id}`, bubble('assistant', `${frame.model} (live)`, true))
})
socket?.on('token', (frame) => {
  if (frame.session !== socket?.session)
    watched.get(`${frame.session}:${frame.id}`)?.append(frame.content)
})
socket?.on('done', (frame) => {
  const key = `${frame.session}:${frame.id}`
  watched.get(key)?.end(`${frame.metrics.tokensPerSecond.toFixed(0)} tok/s`)
  watched.delete(key)
})
socket?.on('error', (frame) => {
  const key = `${frame.session}:${frame.id}`
  if (frame.session !== socket?.session && watched.has(key)) {
    watched.get(key)?.end('stopped')
    watched.delete(key)
  }
})

$<HTMLFormElement>('composer').addEventListener('submit', (event) => {
  event.preventDefault()
  void send()
})
prompt.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey) {
    event.preventDefault()
    void send()
  }
})
stopButton.addEventListener('click', () => current?.cancel())

/** The model picker lists what the plugin knows: the app's models and what has been pulled. */
async function refreshModels(select?: string): Promise<void> {
  showModels(await status(), select)
}

function showModels(snapshot: StateSnapshot, select?: string): void {
  const names = snapshot.models.map((m) => m.name)
  const chosen = select ?? (modelSelect.value || snapshot.defaultModel || names[0] || '')
  modelSelect.replaceChildren(
    ...names.map((name) => {
      const option = document.createElement('option')
      const model = snapshot.models.find((m) => m.name === name)
      option.value = name
      option.textContent =
        model && model.status !== 'loaded' && model.status !== 'present'
          ? `${name} (${model.status})`
          : name
      return option
    }),
  )
  if (chosen) modelSelect.value = chosen
}

// Pulling models is for development; in production the provider serves them.
if (!import.meta.hot) $<HTMLFormElement>('pull').hidden = true
$<HTMLFormElement>('pull').addEventListener('submit', async (event) => {
  event.preventDefault()
  const input = $<HTMLInputElement>('pull-model')
  const model = input.value.trim()
  if (!model) return
  const bar = $<HTMLProgressElement>('pull-progress')
  const line = $<HTMLElement>('pull-status')
  bar.hidden = false
  bar.value = 0
  line.textContent = `pulling ${model}…`
  try {
    for await (const progress of pull(model)) {
      bar.value = progress.percent
      line.textContent = `${model}: ${progress.percent.toFixed(0)}%`
    }
    line.textContent = `${model} is ready`
    input.value = ''
    await refreshModels(model)
  } catch (error) {
    line.textContent = (error as Error).message
  } finally {
    bar.hidden = true
  }
})

// The models appear once the plugin has read them from Ollama; the overlay shows the rest.
refreshModels().catch(() => {
  // The dev server is restarting or gone: the overlay says so, and `ollama:state` refills this.
})
// The pushed state is the snapshot itself: no fetch, which could race a restarting server.
import.meta.hot?.on('ollama:state', (snapshot: StateSnapshot) => showModels(snapshot))
