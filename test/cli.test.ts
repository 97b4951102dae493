import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { DoctorReport } from '../src/doctor.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const children: ChildProcess[] = []

afterEach(() => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
})

/**
 * `npx tsx src/cli.ts …`, the command a user of this repository types. With `direct`, node runs
 * the CLI itself (tsx as a loader), so a signal reaches our process and not npm's wrapper.
 */
function cli(args: string[], env: NodeJS.ProcessEnv = {}, direct = false): ChildProcess {
  const [command, prefix] = direct ? ['node', ['--import', 'tsx']] : ['npx', ['tsx']]
  const child = spawn(command as string, [...(prefix as string[]), 'src/cli.ts', ...args], {
    cwd: root,
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  return child
}

async function finish(
  child: ChildProcess,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d
  })
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d
  })
  const [code] = (await once(child, 'exit')) as [number | null]
  return { code, stdout, stderr }
}

function onPath(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

describe('vite-plugin-ollama doctor', () => {
  // The 3 s budget is the doctor's: on a machine shared by busy test runs, `npx` and `tsx` alone
  // can take two seconds to start, so their start-up, measured the same way, is not counted.
  let startup = 0
  beforeAll(async () => {
    const started = performance.now()
    const child = spawn('npx', ['tsx', '-e', '0'], { cwd: root, stdio: 'ignore' })
    children.push(child)
    await once(child, 'exit')
    startup = performance.now() - started
  })

  it('prints the JSON report within 3 s and tells the truth about this machine', async () => {
    const started = performance.now()
    const { code, stdout, stderr } = await finish(cli(['doctor', '--json', '--model', 'llama3.2']))
    const took = performance.now() - started
    expect(code, stderr).toBe(0)
    const report = JSON.parse(stdout) as DoctorReport
    expect(report.elapsedMs).toBeLessThan(3000)
    expect(took - startup).toBeLessThan(3000)
    expect(report.gpu.platform).toBe(process.platform)
    expect(report.models).toEqual([expect.objectContaining({ model: 'llama3.2', status: 'fits' })])
    // This machine has no GPU hardware nor vendor tools: the report must say so.
    const gpuHints = existsSync('/sys/class/drm') || onPath('nvidia-smi') || onPath('rocm-smi')
    if (!gpuHints) {
      expect(report.gpu.gpus).toEqual([])
      expect(report.gpu.accelerator).toBe('cpu')
    }
    expect(report.ollama.url).toBe('http://127.0.0.1:11434')
  })

  it('answers within 3 s when no Docker is there, and says which socket it tried', async () => {
    const started = performance.now()
    const { code, stdout } = await finish(
      cli(['doctor', '--json', '--url', 'http://127.0.0.1:9'], {
        DOCKER_HOST: 'unix:///nonexistent/docker.sock',
      }),
    )
    const took = performance.now() - started
    expect(code).toBe(0)
    const report = JSON.parse(stdout) as DoctorReport
    expect(report.elapsedMs).toBeLessThan(3000)
    expect(took - startup).toBeLessThan(3000)
    expect(report.docker.reachable).toBe(false)
    expect(report.docker.attempts.map((a) => a.host)).toEqual(['unix:///nonexistent/docker.sock'])
    expect(report.ollama).toMatchObject({ url: 'http://127.0.0.1:9', reachable: false })
  })

  it('prints a report for people by default', async () => {
    const { code, stdout } = await finish(
      cli(['doctor', '--url', 'http://127.0.0.1:9'], {
        DOCKER_HOST: 'unix:///nonexistent/docker.sock',
      }),
    )
    expect(code).toBe(0)
    expect(stdout).toMatch(/vite-plugin-ollama doctor/)
    expect(stdout).toMatch(/[✓✗] GPU/)
    expect(stdout).toMatch(/✗ Docker\s+not reachable/)
    expect(stdout).toMatch(/✗ Ollama\s+nothing answers at http:\/\/127\.0\.0\.1:9/)
  })
})

describe('vite-plugin-ollama doctor --config', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vpo-config-'))
    // The plugin exposes the options it was given as `api.options`; nested arrays and promises
    // of plugins are allowed in a Vite config.
    await writeFile(
      path.join(dir, 'vite.config.mjs'),
      `export default { plugins: [[{ name: 'other' }], Promise.resolve({ name: 'vite-plugin-ollama', api: { options: { models: ['phi4', 'llama3.2'], url: 'http://127.0.0.1:9' } } })] }\n`,
    )
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it("checks the models and url of the user's Vite config", async () => {
    const { code, stdout, stderr } = await finish(
      cli(['doctor', '--json', '--config', path.join(dir, 'vite.config.mjs')], {}, true),
    )
    expect(code, stderr).toBe(0)
    const report = JSON.parse(stdout) as DoctorReport
    expect(report.models.map((m) => m.model)).toEqual(['phi4', 'llama3.2'])
    expect(report.ollama.url).toBe('http://127.0.0.1:9')
  })

  it('exits 1 naming the file when it does not exist', async () => {
    const { code, stderr } = await finish(
      cli(['doctor', '--config', path.join(dir, 'nope.ts')], {}, true),
    )
    expect(code).toBe(1)
    expect(stderr).toMatch(/there is no file .*nope\.ts/)
  })
})

describe('vite-plugin-ollama simulate', () => {
  it('says where it listens, answers /api/version, and stops cleanly on SIGTERM', async () => {
    const child = cli(
      ['simulate', '--port', '0', '--models', 'llama3.2,nomic-embed-text', '--token-delay', '5'],
      {},
      true,
    )
    const result = finish(child)
    let out = ''
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout?.on('data', (d: Buffer) => {
        out += d
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)
        if (m?.[1]) resolve(m[1])
      })
      child.once('exit', () => reject(new Error(`simulate exited early: ${out}`)))
    })
    const version = (await (await fetch(`${url}/api/version`)).json()) as { version: string }
    expect(version.version).toMatch(/^\d+\.\d+\.\d+/)
    const tags = (await (await fetch(`${url}/api/tags`)).json()) as { models: { name: string }[] }
    expect(tags.models.map((m) => m.name).sort()).toEqual([
      'llama3.2:latest',
      'nomic-embed-text:latest',
    ])
    child.kill('SIGTERM')
    expect((await result).code).toBe(0)
    await expect(fetch(`${url}/api/version`)).rejects.toThrow()
  })
})

describe('vite-plugin-ollama usage', () => {
  it('prints help with exit code 0', async () => {
    const { code, stdout } = await finish(cli(['--help'], {}, true))
    expect(code).toBe(0)
    expect(stdout).toMatch(/doctor\s+GPU, Docker, Ollama and model-fit report/)
    expect(stdout).toMatch(/--token-delay <ms>/)
  })

  it('exits 2 on an unknown command, an unknown flag or a bad value', async () => {
    for (const args of [
      ['frobnicate'],
      ['doctor', '--nope'],
      ['simulate', '--port', 'abc'],
      ['doctor', '--url', 'ftp://x'],
    ]) {
      const { code, stderr } = await finish(cli(args, {}, true))
      expect(code, args.join(' ')).toBe(2)
      expect(stderr).toMatch(/vite-plugin-ollama --help/)
    }
  })

  it('has the shebang the package bin needs', async () => {
    const { readFile } = await import('node:fs/promises')
    expect(
      (await readFile(path.join(root, 'src/cli.ts'), 'utf8')).startsWith('#!/usr/bin/env node\n'),
    ).toBe(true)
  })
})
