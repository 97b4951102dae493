import type { WaitingChats } from '../protocol.js'

/**
 * The chats waiting for their model (model-wait.ts), counted per model, so the overlay can say
 * "a chat is waiting for llama3.2" beside the pull it waits for. It holds only models with a
 * waiting chat: it never grows past the chats the routes let in at once.
 */
export class ChatWaits {
  readonly #counts = new Map<string, number>()

  /** `changed` runs whenever the list changes (the orchestrator sends a new snapshot). */
  constructor(private readonly changed: () => void) {}

  /** A chat starts waiting for `model`; the returned function (idempotent) says it stopped. */
  begin(model: string): () => void {
    this.#counts.set(model, (this.#counts.get(model) ?? 0) + 1)
    this.changed()
    let released = false
    return () => {
      if (released) return
      released = true
      const left = (this.#counts.get(model) ?? 1) - 1
      if (left > 0) this.#counts.set(model, left)
      else this.#counts.delete(model)
      this.changed()
    }
  }

  list(): WaitingChats[] {
    return [...this.#counts].map(([model, chats]) => ({ model, chats }))
  }
}
