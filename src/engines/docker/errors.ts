// Classifies Docker Engine API errors by status code and the daemon's own message (never by
// docker-modem's `reason`, which is a per-endpoint guess: docs/decisions.md, "Classifying Docker
// errors"). The strings are the ones catalogued in that section.

interface DockerApiError {
  statusCode?: number
  json?: { message?: string } | null
  message?: string
  code?: string
}

/** The daemon's message (`json.message`), else the error's own. */
export function dockerMessage(err: unknown): string {
  const e = err as DockerApiError
  const fromJson = e?.json && typeof e.json === 'object' ? e.json.message : undefined
  return (fromJson ?? e?.message ?? String(err)).trim()
}

export function statusOf(err: unknown): number | undefined {
  return (err as DockerApiError)?.statusCode
}

/** 404: no such container / image / volume. */
export function isNotFound(err: unknown): boolean {
  return statusOf(err) === 404
}

/** 409 at create: the name is taken (another dev server won the race, or a foreign container). */
export function isNameConflict(err: unknown): boolean {
  return statusOf(err) === 409
}

/**
 * The daemon refused the GPU request at start: no such device driver (no NVIDIA toolkit, Docker
 * Desktop on macOS) or a missing device node (/dev/kfd without ROCm).
 */
export function isGpuRefused(err: unknown): boolean {
  const msg = dockerMessage(err)
  return (
    /could not select device driver ".*" with capabilities/.test(msg) ||
    /error gathering device information while adding custom device/.test(msg) ||
    /unresolvable CDI devices/.test(msg)
  )
}

/** The host port is taken: by another container (allocated) or a host process (bind). */
export function isPortTaken(err: unknown): boolean {
  const msg = dockerMessage(err)
  return (
    /port is already allocated/.test(msg) ||
    /address already in use/.test(msg) ||
    /failed to bind host port/.test(msg)
  )
}

/** 304 from start/stop: already in that state, which is what we wanted. */
export function isNotModified(err: unknown): boolean {
  return statusOf(err) === 304
}
