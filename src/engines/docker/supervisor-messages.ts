import { withLogTail } from '../../problem.js'
import type { Problem } from '../../protocol.js'

// What the Docker supervisor tells the user, word for word: the terminal, the overlay and the
// tests read these, so they live in one place, apart from when they are said.

/** A `die` nobody asked for. A 137 (SIGKILL) or an `oom` before it says how to keep it stopped. */
export function crashedMessage(name: string, exitCode: number | undefined, oom: boolean): string {
  const code = exitCode ?? 'unknown'
  const why =
    oom || code === 137
      ? `was killed (exit code ${code}${oom ? ', out of memory' : ''}); restarting it (\`docker stop ${name}\` keeps it stopped)`
      : `exited with code ${code}`
  return `Ollama's container ${name} ${why}`
}

/** A death no event told of (missed before the stream opened, or while the daemon was away). */
export function missedDeathMessage(name: string, death: string, when: string): string {
  return `Ollama's container ${name} ${death}${when}`
}

/** The `die` after a user's `docker stop` (or a kill with a signal other than a lone SIGKILL). */
export function userStoppedMessage(name: string, exitCode: number | undefined): string {
  return `The container ${name} was stopped outside the plugin (exit code ${exitCode ?? 'unknown'}). Start it with \`docker start ${name}\`, or restart Vite.`
}

export function removedMessage(name: string): string {
  return `The container ${name} was removed outside the plugin; restart Vite to create it again.`
}

/** The restart limit is reached: what happened, and the container's last words. */
export function gaveUpProblem(
  name: string,
  attempt: number,
  windowMs: number,
  logTail: string[],
): Problem {
  return {
    message: `Ollama's container ${name} crashed ${attempt} time${attempt === 1 ? '' : 's'} in ${Math.round(windowMs / 60_000)} minutes; not restarting it again.`,
    hint: withLogTail(`See \`docker logs ${name}\`, then restart Vite.`, logTail),
  }
}

export function dockerUnreachableProblem(name: string, reason: string): Problem {
  return {
    message: `Docker does not answer (${reason}): crash recovery of the container ${name} is paused.`,
    hint: 'Start Docker again (Docker Desktop, Colima, Podman or `sudo systemctl start docker`); the plugin reconnects by itself.',
  }
}

export const DOCKER_BACK_MESSAGE = 'Docker answers again: crash recovery is back on.'

/** Ollama went quiet while Docker could not say why: nothing can be restarted until it answers. */
export function lostMessage(url: string, name: string): string {
  return `Ollama stopped answering at ${url} while Docker is unreachable; the plugin restarts the container ${name} once Docker answers again`
}
