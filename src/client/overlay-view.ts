// DOM for the overlay card, built with createElement/textContent only: model names, errors and
// hints come from the server and must never be parsed as HTML (Vite's own overlay dropped its
// innerHTML template for the same reason, vitejs/vite#15852).
import type { ModelState, Problem, StateSnapshot } from '../protocol.js'
import {
  clampPercent,
  engineLine,
  formatEta,
  formatPercent,
  formatSpeed,
  formatTransfer,
  gpuLine,
  modelStatusText,
  phaseLabel,
  summarisePulls,
  waitingBadge,
  waitingLine,
} from './overlay-format.js'

type Child = Node | string

/** A tiny hyperscript helper, as in Vite's overlay: attributes are set, never markup parsed. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined) el.setAttribute(name, value)
  }
  el.append(...children)
  return el
}

/** The parts of the card the element updates in place. */
export interface CardParts {
  card: HTMLDivElement
  header: HTMLDivElement
  phase: HTMLSpanElement
  summary: HTMLSpanElement
  /** The summary's pull figure (or models ready), then its waiting chats (the badge only). */
  summaryMain: HTMLSpanElement
  summaryWaiting: HTMLSpanElement
  toggle: HTMLButtonElement
  /** One line per model that chats wait for. */
  waiting: HTMLDivElement
  engine: HTMLSpanElement
  simulated: HTMLSpanElement
  gpu: HTMLSpanElement
  models: HTMLUListElement
  problem: HTMLDivElement
  problemMessage: HTMLDivElement
  problemHint: HTMLDivElement
  /** The problem's action, when it has one (`restart-engine`: the GPU watchdog's Restart). */
  restart: HTMLButtonElement
  /** The last chat's context warning (a prompt near or past num_ctx). */
  context: HTMLDivElement
  contextMessage: HTMLDivElement
  contextHint: HTMLDivElement
  note: HTMLDivElement
}

export function createCard(): CardParts {
  const phase = h('span', {
    class: 'phase',
    part: 'phase',
    'data-testid': 'phase',
    role: 'status',
    'aria-live': 'polite',
  })
  const summaryMain = h('span')
  // The card has a line of its own for waiting chats; the badge says it here.
  const summaryWaiting = h('span', { class: 'summary-waiting' })
  const summary = h(
    'span',
    { class: 'summary', 'data-testid': 'summary' },
    summaryMain,
    summaryWaiting,
  )
  const simulated = h(
    'span',
    {
      class: 'sim',
      'data-testid': 'simulated-badge',
      title: 'Replies come from the built-in simulator, not a real model',
    },
    'simulated',
  )
  const toggle = h(
    'button',
    { type: 'button', class: 'toggle', part: 'toggle', 'data-testid': 'toggle' },
    h('span', { class: 'chevron', 'aria-hidden': 'true' }),
  )
  const header = h(
    'div',
    { class: 'header', part: 'header' },
    h('span', { class: 'dot', 'aria-hidden': 'true' }),
    h('span', { class: 'title' }, 'Ollama'),
    phase,
    summary,
    h('span', { class: 'spacer' }),
    simulated,
    toggle,
  )
  const waiting = h('div', {
    class: 'waiting',
    part: 'waiting',
    'data-testid': 'waiting',
    role: 'status',
    'aria-live': 'polite',
  })
  const engine = h('span', { 'data-testid': 'engine' })
  const gpu = h('span', { class: 'value', 'data-testid': 'gpu' })
  const models = h('ul', { class: 'models', part: 'models', 'aria-label': 'Models' })
  const problemMessage = h('div', { class: 'error', 'data-testid': 'problem-message' })
  const problemHint = h('div', { class: 'hint', 'data-testid': 'problem-hint' })
  const restart = h(
    'button',
    { type: 'button', class: 'retry', 'data-testid': 'restart', 'aria-label': 'Restart Ollama' },
    'Restart',
  )
  const problem = h(
    'div',
    { class: 'problem', part: 'problem', 'data-testid': 'problem', role: 'alert' },
    problemMessage,
    problemHint,
    restart,
  )
  const contextMessage = h('div', { class: 'error', 'data-testid': 'context-message' })
  const contextHint = h('div', { class: 'hint', 'data-testid': 'context-hint' })
  const context = h(
    'div',
    {
      class: 'problem',
      part: 'context-warning',
      'data-testid': 'context-warning',
      'data-warning': '',
      role: 'status',
    },
    contextMessage,
    contextHint,
  )
  const note = h('div', { class: 'note', 'data-testid': 'note' })
  const body = h(
    'div',
    { class: 'body', part: 'body' },
    waiting,
    h(
      'div',
      { class: 'facts' },
      h('span', { class: 'label' }, 'Engine'),
      h('span', { class: 'value' }, engine),
      h('span', { class: 'label' }, 'GPU'),
      gpu,
    ),
    models,
    problem,
    context,
    note,
  )
  const card = h('div', { class: 'card', part: 'card' }, header, body)
  return {
    card,
    header,
    phase,
    summary,
    summaryMain,
    summaryWaiting,
    toggle,
    waiting,
    engine,
    simulated,
    gpu,
    models,
    problem,
    problemMessage,
    problemHint,
    restart,
    context,
    contextMessage,
    contextHint,
    note,
  }
}

/** The Restart request in flight, or how it failed (shown in place of the warning it answers). */
export interface RestartState {
  restarting: boolean
  failure?: Problem
}

/** Header, engine, GPU and the global problem; the model rows are rendered separately. */
export function renderFacts(
  parts: CardParts,
  snapshot: StateSnapshot | null,
  restart: RestartState = { restarting: false },
): void {
  setText(parts.phase, snapshot ? phaseLabel(snapshot.phase) : 'Connecting')
  const main = snapshot ? pullSummary(snapshot) : ''
  const waiting = snapshot ? waitingBadge(snapshot) : ''
  setText(parts.summaryMain, main)
  setText(parts.summaryWaiting, waiting && main ? ` · ${waiting}` : waiting)
  renderWaiting(parts.waiting, snapshot)
  setText(parts.engine, snapshot ? engineLine(snapshot.engine) : '…')
  parts.simulated.hidden = !snapshot?.engine?.simulated
  setText(parts.gpu, snapshot ? gpuLine(snapshot.gpu) : '…')
  // A warning (Docker unreachable while Ollama still answers) shows where errors do, in yellow.
  const problem = snapshot?.error ?? snapshot?.warning
  renderProblem(
    parts,
    problem && restart.failure ? restart.failure : problem,
    !snapshot?.error && !!snapshot?.warning,
  )
  const offered = problem?.action === 'restart-engine'
  parts.restart.hidden = !offered
  parts.restart.disabled = restart.restarting
  setText(parts.restart, restart.restarting ? 'Restarting…' : 'Restart')
  const context = snapshot?.contextWarning
  parts.context.hidden = !context
  setText(parts.contextMessage, context?.message ?? '')
  setText(parts.contextHint, context?.hint ?? '')
}

function renderProblem(parts: CardParts, problem: Problem | undefined, warning = false): void {
  parts.problem.hidden = !problem
  parts.problem.toggleAttribute('data-warning', warning)
  setText(parts.problemMessage, problem?.message ?? '')
  setText(parts.problemHint, problem?.hint ?? '')
  parts.problemHint.hidden = !problem?.hint
}

/** The chats waiting for their model, a line each model; rebuilt only when the words change. */
function renderWaiting(el: HTMLDivElement, snapshot: StateSnapshot | null): void {
  const lines = snapshot ? (snapshot.waitingChats ?? []).map((w) => waitingLine(w, snapshot)) : []
  el.hidden = lines.length === 0
  const shown = [...el.children].map((line) => line.textContent)
  if (shown.join('\n') === lines.join('\n')) return
  el.replaceChildren(...lines.map((line) => h('div', { 'data-testid': 'waiting-line' }, line)))
}

/** What the badge adds to the phase: overall pull progress, or how many models are ready. */
function pullSummary(snapshot: StateSnapshot): string {
  const pulls = summarisePulls(snapshot.models)
  if (pulls) return pulls.percent === null ? '' : formatPercent(pulls.percent)
  const failed = snapshot.models.filter((m) => m.status === 'error').length
  if (failed > 0) return `${failed} failed`
  if (snapshot.phase !== 'ready') return ''
  const ready = snapshot.models.filter(
    (m) => m.status === 'present' || m.status === 'loaded',
  ).length
  return ready === 1 ? '1 model' : `${ready} models`
}

/** One model's row; the element keeps these by name and updates them in place, so bars animate. */
export interface ModelRow {
  el: HTMLLIElement
  name: HTMLSpanElement
  status: HTMLSpanElement
  progress: HTMLDivElement
  track: HTMLDivElement
  bar: HTMLDivElement
  percent: HTMLSpanElement
  transfer: HTMLSpanElement
  speed: HTMLSpanElement
  eta: HTMLSpanElement
  warning: HTMLDivElement
  error: HTMLDivElement
  hint: HTMLDivElement
  /** Pull (a missing model) or Retry (a failed one). */
  retry: HTMLButtonElement
  /** Stops the pull in progress. */
  cancel: HTMLButtonElement
}

export function createModelRow(name: string): ModelRow {
  const nameEl = h('span', { class: 'model-name', title: name }, name)
  const status = h('span', { class: 'model-status', 'data-testid': 'model-status' })
  const bar = h('div', { class: 'bar', part: 'bar', 'data-testid': 'bar' })
  const track = h(
    'div',
    {
      class: 'track',
      role: 'progressbar',
      'aria-label': `Pulling ${name}`,
      'aria-valuemin': '0',
      'aria-valuemax': '100',
      'aria-valuenow': '0',
    },
    bar,
  )
  const percent = h('span', { class: 'percent', 'data-testid': 'percent' })
  const transfer = h('span', { class: 'transfer', 'data-testid': 'transfer' })
  const speed = h('span', { class: 'speed', 'data-testid': 'speed' })
  const eta = h('span', { class: 'eta', 'data-testid': 'eta' })
  const progress = h('div', {}, track, h('div', { class: 'meta' }, percent, transfer, speed, eta))
  const warning = h('div', { class: 'hint', 'data-testid': 'warning' })
  const error = h('div', { class: 'error', 'data-testid': 'error' })
  const hint = h('div', { class: 'hint', 'data-testid': 'hint' })
  const retry = h('button', { type: 'button', class: 'action', 'data-testid': 'retry' }, 'Retry')
  const cancel = h(
    'button',
    {
      type: 'button',
      class: 'action',
      'data-testid': 'cancel',
      'aria-label': `Cancel pulling ${name}`,
    },
    'Cancel',
  )
  const el = h(
    'li',
    { class: 'model', part: 'model', 'data-testid': 'model', 'data-model': name },
    h('div', { class: 'model-line' }, nameEl, status),
    progress,
    warning,
    error,
    hint,
    retry,
    cancel,
  )
  return {
    el,
    name: nameEl,
    status,
    progress,
    track,
    bar,
    percent,
    transfer,
    speed,
    eta,
    warning,
    error,
    hint,
    retry,
    cancel,
  }
}

/** What the row shows besides the server's model state: the row's own requests. */
export interface RowExtras {
  /** The engine is up: a missing model can be pulled and a pull cancelled from here. */
  canPull: boolean
  /** A Pull or Retry request of this row is in flight. */
  retrying: boolean
  /** Its Cancel request is in flight. */
  cancelling: boolean
  /** How the row's last request failed. */
  requestProblem?: Problem
}

export function updateModelRow(row: ModelRow, model: ModelState, extras: RowExtras): void {
  row.el.setAttribute('status', model.status)
  setText(row.status, modelStatusText(model))

  const progress = model.status === 'pulling' ? model.progress : undefined
  row.progress.hidden = model.status !== 'pulling'
  const percent = clampPercent(progress?.percent ?? 0)
  row.bar.style.width = `${percent}%`
  row.track.setAttribute('aria-valuenow', String(percent))
  setText(row.percent, formatPercent(percent))
  setText(row.transfer, progress ? formatTransfer(progress) : 'waiting…')
  setText(row.speed, progress ? formatSpeed(progress.bytesPerSecond) : '')
  setText(row.eta, progress ? `${formatEta(progress.etaSeconds)} left` : '')
  row.speed.hidden = !progress
  row.eta.hidden = !progress

  setText(row.warning, model.warning ?? '')
  row.warning.hidden = !model.warning

  // A failed request of the row is news even while the server still reports an older error.
  const problem = extras.requestProblem ?? (model.status === 'error' ? model.error : undefined)
  const message = problem?.message ?? (model.status === 'error' ? 'Pull failed' : '')
  setText(row.error, message)
  row.error.hidden = !message
  setText(row.hint, problem?.hint ?? '')
  row.hint.hidden = !problem?.hint

  // Pull for a model that is missing (a cancelled pull resumes from there), Retry after a failure.
  const fresh = model.status === 'missing' && !extras.requestProblem
  row.retry.hidden = fresh ? !extras.canPull : model.status !== 'error' && !extras.requestProblem
  row.retry.disabled = extras.retrying
  const verb = fresh ? 'Pull' : 'Retry'
  setText(row.retry, extras.retrying ? `${verb === 'Pull' ? 'Pulling' : 'Retrying'}…` : verb)
  row.retry.setAttribute('aria-label', fresh ? `Pull ${model.name}` : `Retry pulling ${model.name}`)

  row.cancel.hidden = model.status !== 'pulling' || !extras.canPull
  row.cancel.disabled = extras.cancelling
  setText(row.cancel, extras.cancelling ? 'Cancelling…' : 'Cancel')
}

/** Writes only on change, so screen readers and MutationObservers are not spammed. */
function setText(el: HTMLElement, text: string): void {
  if (el.textContent !== text) el.textContent = text
}
