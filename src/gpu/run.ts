import { execFile } from 'node:child_process'

/** What a probe sees of a finished command. */
export interface CommandResult {
  stdout: string
  stderr: string
  /** Exit status; `null` when the command could not run or was killed. */
  code: number | null
  /** `'ENOENT'` when the command is not installed, `'ETIMEDOUT'` when it ran past its limit. */
  errorCode?: string
}

export type CommandRunner = (
  cmd: string,
  args: string[],
  opts: { timeoutMs: number },
) => Promise<CommandResult>

/**
 * Runs vendor tools with `execFile`, never the sync APIs: systeminformation's `execSync` of
 * nvidia-smi blocks the event loop for the whole call (docs/decisions.md, "systeminformation runs
 * nvidia-smi synchronously"), which would freeze the dev server's HMR and requests. Never rejects:
 * a probe only wants to know what happened.
 */
export function createCommandRunner(env: NodeJS.ProcessEnv = process.env): CommandRunner {
  return function runCommand(cmd, args, { timeoutMs }) {
    return new Promise((resolve) => {
      execFile(
        cmd,
        args,
        {
          env,
          timeout: timeoutMs,
          killSignal: 'SIGKILL',
          maxBuffer: 4 * 1024 * 1024,
          windowsHide: true,
          encoding: 'utf8',
        },
        (error, stdout, stderr) => {
          if (!error) return resolve({ stdout, stderr, code: 0 })
          const err = error as NodeJS.ErrnoException & { killed?: boolean; code?: unknown }
          if (err.killed) return resolve({ stdout, stderr, code: null, errorCode: 'ETIMEDOUT' })
          if (typeof err.code === 'number') return resolve({ stdout, stderr, code: err.code })
          resolve({ stdout, stderr, code: null, errorCode: err.code ?? 'EFAIL' })
        },
      )
    })
  }
}
