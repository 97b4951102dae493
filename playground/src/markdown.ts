/**
 * Just enough Markdown for chat answers: fenced code blocks, inline code, bold, italics and
 * paragraphs. Built with DOM nodes and textContent, never innerHTML: the text comes from a model.
 */
export function renderMarkdown(text: string): DocumentFragment {
  const fragment = document.createDocumentFragment()
  const parts = text.split(/^```/m)
  parts.forEach((part, i) => {
    if (i % 2 === 1) {
      // Inside a fence: the first line names the language; an unclosed fence is still streaming.
      const newline = part.indexOf('\n')
      const lang = newline === -1 ? part.trim() : part.slice(0, newline).trim()
      const code = newline === -1 ? '' : part.slice(newline + 1).replace(/\n$/, '')
      const pre = document.createElement('pre')
      const el = document.createElement('code')
      if (lang) el.dataset.lang = lang
      el.textContent = code
      pre.append(el)
      fragment.append(pre)
      return
    }
    for (const paragraph of part.split(/\n{2,}/)) {
      if (!paragraph.trim()) continue
      const p = document.createElement('p')
      appendInline(p, paragraph.replace(/^\n+|\n+$/g, ''))
      fragment.append(p)
    }
  })
  return fragment
}

function appendInline(parent: HTMLElement, text: string): void {
  const pattern = /(`[^`\n]+`|\*\*[^*\n]+\*\*|\*[^*\n]+\*|\n)/g
  let last = 0
  for (const match of text.matchAll(pattern)) {
    parent.append(text.slice(last, match.index))
    const token = match[0]
    if (token === '\n') parent.append(document.createElement('br'))
    else if (token.startsWith('`')) parent.append(el('code', token.slice(1, -1)))
    else if (token.startsWith('**')) parent.append(el('strong', token.slice(2, -2)))
    else parent.append(el('em', token.slice(1, -1)))
    last = (match.index ?? 0) + token.length
  }
  parent.append(text.slice(last))
}

function el(tag: string, text: string): HTMLElement {
  const node = document.createElement(tag)
  node.textContent = text
  return node
}
