// Decodes a request body the way Go's json.Decoder (behind gin's ShouldBindJSON) does, so syntax
// errors carry Go's exact wording (`invalid character 'x' looking for beginning of value`,
// `unexpected EOF`) and text after the first value is ignored, as it is by Ollama.

export class GoJsonError extends Error {}

const WS = new Set([' ', '\t', '\n', '\r'])

/** Parses the first JSON value in `text`; throws GoJsonError with Go's message. */
export function decodeGoJson(text: string): unknown {
  const scanner = new Scanner(text)
  scanner.skipSpace()
  if (scanner.done()) throw new GoJsonError('EOF')
  scanner.value()
  return JSON.parse(text.slice(0, scanner.pos))
}

class Scanner {
  pos = 0
  constructor(private readonly text: string) {}

  done(): boolean {
    return this.pos >= this.text.length
  }

  skipSpace(): void {
    while (WS.has(this.text[this.pos] ?? '')) this.pos++
  }

  private peek(): string {
    if (this.done()) throw new GoJsonError('unexpected EOF')
    return this.text[this.pos] ?? ''
  }

  private fail(context: string): never {
    throw new GoJsonError(`invalid character ${quoteChar(this.peek())} ${context}`)
  }

  value(): void {
    this.skipSpace()
    const ch = this.peek()
    if (ch === '{') this.object()
    else if (ch === '[') this.array()
    else if (ch === '"') this.string()
    else if (ch === '-' || (ch >= '0' && ch <= '9')) this.number()
    else if (ch === 't') this.literal('true')
    else if (ch === 'f') this.literal('false')
    else if (ch === 'n') this.literal('null')
    else this.fail('looking for beginning of value')
  }

  private object(): void {
    this.pos++
    this.skipSpace()
    if (this.peek() === '}') {
      this.pos++
      return
    }
    for (;;) {
      this.skipSpace()
      if (this.peek() !== '"') this.fail('looking for beginning of object key string')
      this.string()
      this.skipSpace()
      if (this.peek() !== ':') this.fail('after object key')
      this.pos++
      this.value()
      this.skipSpace()
      const next = this.peek()
      this.pos++
      if (next === '}') return
      if (next !== ',') {
        this.pos--
        this.fail('after object key:value pair')
      }
    }
  }

  private array(): void {
    this.pos++
    this.skipSpace()
    if (this.peek() === ']') {
      this.pos++
      return
    }
    for (;;) {
      this.value()
      this.skipSpace()
      const next = this.peek()
      this.pos++
      if (next === ']') return
      if (next !== ',') {
        this.pos--
        this.fail('after array element')
      }
    }
  }

  private string(): void {
    this.pos++
    for (;;) {
      const ch = this.peek()
      if (ch === '"') {
        this.pos++
        return
      }
      if (ch < ' ') this.fail('in string literal')
      if (ch === '\\') {
        this.pos++
        const code = this.peek()
        if (code === 'u') {
          for (let i = 0; i < 4; i++) {
            this.pos++
            if (!/[0-9a-fA-F]/.test(this.peek())) this.fail('in \\u hexadecimal character escape')
          }
        } else if (!'"\\/bfnrt'.includes(code)) {
          this.fail('in string escape code')
        }
      }
      this.pos++
    }
  }

  private number(): void {
    if (this.peek() === '-') this.pos++
    if (!/[0-9]/.test(this.peek())) this.fail('in numeric literal')
    if (this.peek() === '0') this.pos++
    else this.digits()
    if (!this.done() && this.text[this.pos] === '.') {
      this.pos++
      if (!/[0-9]/.test(this.peek())) this.fail('after decimal point in numeric literal')
      this.digits()
    }
    if (!this.done() && /[eE]/.test(this.text[this.pos] ?? '')) {
      this.pos++
      if (/[+-]/.test(this.peek())) this.pos++
      if (!/[0-9]/.test(this.peek())) this.fail('in exponent of numeric literal')
      this.digits()
    }
  }

  private digits(): void {
    while (!this.done() && /[0-9]/.test(this.text[this.pos] ?? '')) this.pos++
  }

  private literal(word: string): void {
    for (let i = 0; i < word.length; i++) {
      if (this.peek() !== word[i]) this.fail(`in literal ${word} (expecting '${word[i]}')`)
      this.pos++
    }
  }
}

/** Go's quoteChar: `'x'`, `'\n'`, and `'\''` for a single quote. */
function quoteChar(ch: string): string {
  if (ch === "'") return "'\\''"
  if (ch === '"') return `'"'`
  const quoted = JSON.stringify(ch).slice(1, -1)
  return `'${quoted}'`
}
