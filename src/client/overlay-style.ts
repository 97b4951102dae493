// The overlay's stylesheet. It lives in the shadow root, so the app's CSS cannot reach in and ours
// cannot leak out; the palette follows Vite's own error overlay so the two feel like one tool.
export const overlayCss = `
:host {
  all: initial;
  position: fixed;
  /* Below Vite's error overlay (99999): a compile error must stay on top of us. */
  z-index: 99990;
  /* overlay-dock.ts slides the docked badge along the side edge, past the page's controls. */
  right: 16px;
  bottom: calc(16px + var(--ollama-dock-offset, 0px));
  display: block;
  font-family: system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif;
  font-size: 12.5px;
  line-height: 1.45;
  color: var(--fg);
  -webkit-font-smoothing: antialiased;
  --bg: #181818;
  --bg-raised: #222222;
  --border: #2c2c2c;
  --fg: #d8d8d8;
  --fg-strong: #f4f4f4;
  --dim: #8f8f8f;
  --red: #ff5555;
  --yellow: #e2aa53;
  --purple: #cfa4ff;
  --cyan: #2dd9da;
  --green: #4fd18b;
  --accent: #646cff;
  --mono: ui-monospace, 'SFMono-Regular', Consolas, 'Liberation Mono', Menlo, monospace;
  --phase-color: var(--cyan);
}
:host([position='bottom-left']) { right: auto; left: 16px; }
:host([position='top-right']) { bottom: auto; top: calc(16px + var(--ollama-dock-offset, 0px)); }
:host([position='top-left']) {
  bottom: auto;
  top: calc(16px + var(--ollama-dock-offset, 0px));
  right: auto;
  left: 16px;
}
/* No spot free of the page's controls: the badge lets every click through to the page. */
:host([yielding]) { pointer-events: none; opacity: 0.6; }

:host([phase='pulling']) { --phase-color: var(--purple); }
:host([phase='ready']) { --phase-color: var(--green); }
:host([phase='unavailable']) { --phase-color: var(--yellow); }
:host([phase='error']) { --phase-color: var(--red); }
:host([phase='stopped']) { --phase-color: var(--dim); }

[hidden] { display: none !important; }

.card {
  box-sizing: border-box;
  width: 320px;
  max-width: calc(100vw - 32px);
  background: var(--bg);
  border: 1px solid var(--border);
  border-radius: 10px;
  box-shadow: 0 12px 32px rgba(0, 0, 0, 0.32), 0 2px 6px rgba(0, 0, 0, 0.22);
  overflow: hidden;
}
/* Folded (the user's choice, or all is quiet) and docked (no free corner) both show the badge. */
:host([collapsed]) .card, :host([docked]) .card { width: auto; border-radius: 999px; }
:host([collapsed]) .body, :host([docked]) .body { display: none; }
:host([disconnected]) .card { opacity: 0.75; }

.header {
  display: flex;
  align-items: center;
  gap: 8px;
  padding: 8px 8px 8px 12px;
  cursor: pointer;
  user-select: none;
}
:host([collapsed]) .header, :host([docked]) .header { padding: 5px 6px 5px 11px; }

.dot {
  flex: none;
  width: 8px;
  height: 8px;
  border-radius: 50%;
  background: var(--phase-color);
  box-shadow: 0 0 0 3px color-mix(in srgb, var(--phase-color) 22%, transparent);
}
:host([phase='detecting']) .dot,
:host([phase='starting']) .dot,
:host([phase='pulling']) .dot { animation: pulse 1.4s ease-in-out infinite; }
@keyframes pulse { 50% { opacity: 0.35; } }

.title { flex: none; font-weight: 600; color: var(--fg-strong); letter-spacing: 0.01em; }
.phase { flex: none; color: var(--phase-color); font-weight: 500; }
/* The one part that gives way on a narrow screen, so the badge never loses its toggle. */
.summary {
  min-width: 0;
  overflow: hidden;
  text-overflow: ellipsis;
  color: var(--dim);
  font-variant-numeric: tabular-nums;
  white-space: nowrap;
}
:host(:not([collapsed]):not([docked])) .summary-waiting { display: none; }
.spacer { flex: 1; }

button {
  font: inherit;
  color: inherit;
  cursor: pointer;
}
button:focus-visible { outline: 2px solid var(--accent); outline-offset: 1px; }

.toggle {
  display: inline-flex;
  flex: none;
  align-items: center;
  justify-content: center;
  width: 22px;
  height: 22px;
  padding: 0;
  border: 0;
  border-radius: 6px;
  background: transparent;
  color: var(--dim);
}
.toggle:hover { background: var(--bg-raised); color: var(--fg-strong); }
.chevron {
  width: 7px;
  height: 7px;
  border-right: 1.5px solid currentColor;
  border-bottom: 1.5px solid currentColor;
  transform: translateY(-2px) rotate(45deg);
}
:host([collapsed]) .chevron, :host([docked]) .chevron { transform: translateY(2px) rotate(-135deg); }
:host([position^='top']) .chevron { transform: translateY(2px) rotate(-135deg); }
:host([position^='top'][collapsed]) .chevron,
:host([position^='top'][docked]) .chevron { transform: translateY(-2px) rotate(45deg); }

.body { padding: 2px 12px 12px; border-top: 1px solid var(--border); }

.waiting {
  margin-top: 9px;
  padding: 6px 9px;
  border-left: 2px solid var(--purple);
  border-radius: 0 6px 6px 0;
  background: color-mix(in srgb, var(--purple) 10%, transparent);
  color: var(--fg-strong);
  font-variant-numeric: tabular-nums;
}

.facts { display: grid; grid-template-columns: auto 1fr; gap: 4px 10px; margin-top: 9px; }
.label { color: var(--dim); font-size: 11px; text-transform: uppercase; letter-spacing: 0.06em; padding-top: 1px; }
.value { color: var(--fg); min-width: 0; overflow-wrap: anywhere; }

.sim {
  display: inline-block;
  flex: none;
  padding: 0 6px;
  line-height: 16px;
  border: 1px solid color-mix(in srgb, var(--yellow) 45%, transparent);
  border-radius: 999px;
  background: color-mix(in srgb, var(--yellow) 14%, transparent);
  color: var(--yellow);
  font-size: 10px;
  font-weight: 600;
  letter-spacing: 0.06em;
  text-transform: uppercase;
}

.models { list-style: none; margin: 8px 0 0; padding: 0; }
.model { padding: 7px 0 0; }
.model + .model { border-top: 1px solid #232323; margin-top: 7px; }
.model-line { display: flex; align-items: baseline; gap: 8px; }
.model-name {
  flex: 1;
  min-width: 0;
  font-family: var(--mono);
  font-size: 12px;
  color: var(--fg-strong);
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
}
.model-status { font-size: 11.5px; color: var(--dim); white-space: nowrap; }
.model[status='loaded'] .model-status { color: var(--green); }
.model[status='pulling'] .model-status { color: var(--purple); }
.model[status='error'] .model-status { color: var(--red); }

.track {
  height: 4px;
  margin-top: 6px;
  border-radius: 2px;
  background: #2b2b2b;
  overflow: hidden;
}
.bar {
  height: 100%;
  width: 0;
  border-radius: 2px;
  background: linear-gradient(90deg, var(--accent), var(--purple));
  transition: width 0.25s ease-out;
}
.meta {
  display: flex;
  gap: 10px;
  margin-top: 4px;
  color: var(--dim);
  font-size: 11.5px;
  font-variant-numeric: tabular-nums;
  white-space: nowrap;
}
.percent { color: var(--fg-strong); }
.meta .eta { margin-left: auto; }

.error { margin-top: 4px; color: var(--red); overflow-wrap: anywhere; }
.hint { margin-top: 2px; color: var(--fg); opacity: 0.85; overflow-wrap: anywhere; }
.action {
  margin-top: 6px;
  padding: 3px 10px;
  border: 1px solid #3a3a3a;
  border-radius: 6px;
  background: var(--bg-raised);
  color: var(--fg-strong);
  font-size: 12px;
}
.action:hover:not(:disabled) { border-color: var(--accent); }
.action:disabled { cursor: default; opacity: 0.6; }

.problem {
  margin-top: 10px;
  padding: 7px 9px;
  border-left: 2px solid var(--red);
  border-radius: 0 6px 6px 0;
  background: color-mix(in srgb, var(--red) 8%, transparent);
}
:host([phase='unavailable']) .problem { border-left-color: var(--yellow); background: color-mix(in srgb, var(--yellow) 8%, transparent); }
.problem .error { margin-top: 0; }
:host([phase='unavailable']) .problem .error { color: var(--yellow); }
.problem[data-warning] { border-left-color: var(--yellow); background: color-mix(in srgb, var(--yellow) 8%, transparent); }
.problem[data-warning] .error { color: var(--yellow); }

.note { margin-top: 10px; color: var(--dim); font-style: italic; }

@media (prefers-reduced-motion: reduce) {
  .dot { animation: none !important; }
  .bar { transition: none; }
}
`
