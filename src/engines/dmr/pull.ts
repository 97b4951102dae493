// Docker Model Runner's pull progress (`POST /models/create` with `Accept: application/json`,
// model-runner `pkg/distribution/oci/progress.go`) as the lines of Ollama's `/api/pull`, so the
// plugin's one progress pipeline (src/models/progress.ts) shows it in the terminal and the overlay.
//
// DMR downloads every layer at once and interleaves their lines, but says the image's whole size
// up front (docs/decisions.md, "Docker Model Runner pulls every layer at once"); Ollama downloads
// one layer after another. So the layers are summed here into one running figure for the image,
// and the folder downstream sees a single layer that grows: percent, speed and ETA come out right.

/** One NDJSON line of `/models/create`. */
export interface DmrProgressMessage {
  type?: 'progress' | 'success' | 'warning' | 'error' | (string & {})
  message?: string
  /** Bytes of the whole image (every layer). */
  total?: number
  layer?: { id?: string; size?: number; current?: number }
}

/** A line of Ollama's `/api/pull`, or its `{"error": …}` line. */
export type OllamaPullLine =
  | { status: string; digest?: string; total?: number; completed?: number }
  | { error: string }

/**
 * Folds one pull's DMR lines into Ollama pull lines: `add()` per DMR line returns the lines to
 * pass on (none for a warning, which `warnings` keeps for the log).
 */
export class DmrPullTranslation {
  private readonly layers = new Map<string, { size: number; current: number }>()
  readonly warnings: string[] = []
  private announced = false

  /** `ref` is the name DMR pulls (`ai/llama3.2:latest`), used as the image's one "digest". */
  constructor(private readonly ref: string) {}

  add(message: DmrProgressMessage): OllamaPullLine[] {
    switch (message.type) {
      case 'progress':
        return this.progress(message)
      case 'success':
        return [{ status: 'success' }]
      case 'warning':
        if (message.message) this.warnings.push(message.message)
        return []
      case 'error':
        return [{ error: message.message || 'the pull failed' }]
      default:
        return [{ error: `unexpected progress line: ${JSON.stringify(message).slice(0, 200)}` }]
    }
  }

  /**
   * A line that is not JSON: after the stream has begun, DMR reports a failure as plain text
   * (`http.Error` once the status is already sent).
   */
  text(line: string): OllamaPullLine[] {
    const text = line.trim()
    return text ? [{ error: text }] : []
  }

  private progress(message: DmrProgressMessage): OllamaPullLine[] {
    const out: OllamaPullLine[] = []
    if (!this.announced) {
      this.announced = true
      out.push({ status: 'pulling manifest' })
    }
    const layer = message.layer
    if (layer?.id) {
      const known = this.layers.get(layer.id) ?? { size: 0, current: 0 }
      known.size = layer.size ?? known.size
      // Never backwards: a resumed layer may restart its count from the bytes it already had.
      known.current = Math.max(known.current, layer.current ?? 0)
      this.layers.set(layer.id, known)
    }
    let completed = 0
    let sizes = 0
    for (const l of this.layers.values()) {
      completed += l.current
      sizes += l.size
    }
    const total = Math.max(message.total ?? 0, sizes)
    if (total > 0) {
      out.push({
        status: `pulling ${shortDigest(layer?.id) ?? this.ref}`,
        digest: this.ref,
        total,
        completed: Math.min(completed, total),
      })
    }
    return out
  }
}

/** `sha256:0123456789abcdef…` → `0123456789ab`, as Ollama names a layer in its status. */
function shortDigest(id: string | undefined): string | undefined {
  if (!id) return undefined
  return id.startsWith('sha256:') ? id.slice(7, 19) : id.slice(0, 12)
}
