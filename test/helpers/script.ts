// Runs one of scripts/*.ts in a child Node at the lowest CPU priority and returns its stdout. The
// in-memory builds those scripts do take seconds of CPU: at low priority they do not starve the
// suites that run beside them and measure time (event-loop delay, cancel latency).
import { spawn } from 'node:child_process'
import os from 'node:os'
import path from 'node:path'
import { root } from '../../scripts/emit.js'

export function runScript(script: string, args: string[] = []): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, script), ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    try {
      if (child.pid) os.setPriority(child.pid, os.constants.priority.PRIORITY_LOW)
    } catch {
      // Not permitted here: it runs at normal priority.
    }
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (b: Buffer) => out.push(b))
    child.stderr.on('data', (b: Buffer) => err.push(b))
    child.on('error', reject)
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'))
      else reject(new Error(`${script} ${args.join(' ')} exited ${code}:\n${Buffer.concat(err)}`))
    })
  })
}
