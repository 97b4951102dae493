// The tokens of one socket chat as an async iterator: frames push, the caller's `for await` pulls.

export class TokenQueue implements AsyncIterator<string> {
  private items: string[] = []
  private waiting:
    | { resolve(r: IteratorResult<string>): void; reject(e: unknown): void }
    | undefined
  private ended = false
  private failure: unknown

  push(text: string): void {
    if (this.waiting) {
      const waiting = this.waiting
      this.waiting = undefined
      waiting.resolve({ value: text, done: false })
    } else this.items.push(text)
  }

  end(failure?: unknown): void {
    if (this.ended) return
    this.ended = true
    this.failure = failure
    const waiting = this.waiting
    this.waiting = undefined
    if (!waiting) return
    if (failure === undefined) waiting.resolve({ value: undefined, done: true })
    else waiting.reject(failure)
  }

  next(): Promise<IteratorResult<string>> {
    const item = this.items.shift()
    if (item !== undefined) return Promise.resolve({ value: item, done: false })
    if (this.ended) {
      if (this.failure === undefined) return Promise.resolve({ value: undefined, done: true })
      const failure = this.failure
      this.failure = undefined
      return Promise.reject(failure)
    }
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject }
    })
  }
}
