// The Docker tests' own Ollama image, built locally with `docker import` (no registry is
// reachable in CI): a root filesystem holding this Node binary, the libraries it links, and the
// simulator's runnable entry compiled to plain JS. Built once per content hash.
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import Docker from 'dockerode'
import ts from 'typescript'

const run = promisify(execFile)
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const SIM_ENTRY = path.join(repo, 'src/simulator/main.ts')
export const SIM_IMAGE_REPO = 'vite-plugin-ollama-test/ollama-sim'
/** Label on everything the Docker tests create, so a failed run's leftovers can be found. */
export const TEST_LABEL = 'dev.vite-plugin-ollama.test'

/** Whether a Docker engine answers here; under CI its absence is a failure, not a skip. */
export async function probeDocker(): Promise<
  { ok: true; docker: Docker } | { ok: false; reason: string }
> {
  const docker = new Docker()
  try {
    // @types/dockerode does not know dockerode 5's abortSignal option.
    const ping = docker.ping as unknown as (
      this: Docker,
      o: { abortSignal: AbortSignal },
    ) => Promise<unknown>
    await ping.call(docker, { abortSignal: AbortSignal.timeout(3000) })
    return { ok: true, docker }
  } catch (err) {
    return { ok: false, reason: `no Docker engine: ${(err as Error).message}` }
  }
}

/** Compiles the simulator entry and what it imports to plain ESM JS under `outDir`. */
function compileSimulator(outDir: string): string[] {
  const program = ts.createProgram([SIM_ENTRY], {
    outDir,
    rootDir: path.join(repo, 'src'),
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    noCheck: true,
    skipLibCheck: true,
    declaration: false,
    sourceMap: false,
    noEmitOnError: false,
    verbatimModuleSyntax: true,
  })
  const written: string[] = []
  const result = program.emit(undefined, (file, text) => {
    mkdirSync(path.dirname(file), { recursive: true })
    writeFileSync(file, text)
    written.push(file)
  })
  if (result.emitSkipped || written.length === 0) throw new Error(`could not compile ${SIM_ENTRY}`)
  return written.sort()
}

/** The shared libraries (and the dynamic loader) `ldd` lists for a binary. */
async function sharedLibraries(binary: string): Promise<string[]> {
  const { stdout } = await run('ldd', [binary])
  const libs = new Set<string>()
  for (const line of stdout.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line)
    if (m?.[1]) libs.add(m[1])
  }
  return [...libs]
}

function copyInto(root: string, file: string, target = file): void {
  const dest = path.join(root, target)
  mkdirSync(path.dirname(dest), { recursive: true })
  copyFileSync(realpathSync(file), dest)
  chmodSync(dest, statSync(realpathSync(file)).mode & 0o777)
}

let building: Promise<string> | undefined

/**
 * The image tag (`vite-plugin-ollama-test/ollama-sim:<hash>`), building it when this content has
 * not been imported yet. Runs `node /app/simulator/main.js` with OLLAMA_HOST=0.0.0.0:11434.
 */
export function simulatorImage(docker: Docker): Promise<string> {
  building ??= buildSimulatorImage(docker)
  return building
}

async function buildSimulatorImage(docker: Docker): Promise<string> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'ollama-sim-image-'))
  try {
    const root = path.join(work, 'rootfs')
    const appDir = path.join(root, 'app')
    const files = compileSimulator(appDir)
    writeFileSync(path.join(appDir, 'package.json'), '{"type":"module"}\n')
    const node = realpathSync(process.execPath)
    const libs = await sharedLibraries(node)
    const hash = createHash('sha256')
    const nodeStat = statSync(node)
    hash.update(`${node}:${nodeStat.size}:${nodeStat.mtimeMs}\n${libs.join('\n')}\n`)
    for (const file of files) hash.update(path.relative(root, file)).update(readFileSync(file))
    const tag = `${SIM_IMAGE_REPO}:${hash.digest('hex').slice(0, 16)}`
    try {
      await docker.getImage(tag).inspect()
      return tag
    } catch {
      // not built yet
    }
    copyInto(root, node, '/node')
    for (const lib of libs) copyInto(root, lib)
    mkdirSync(path.join(root, 'tmp'), { mode: 0o1777 })
    chmodSync(path.join(root, 'tmp'), 0o1777)
    mkdirSync(path.join(root, 'root', '.ollama'), { recursive: true })
    const tar = path.join(work, 'rootfs.tar')
    await run('tar', ['-C', root, '-cf', tar, '.'])
    await run('docker', [
      'import',
      '--change',
      'CMD ["/node", "/app/simulator/main.js"]',
      '--change',
      'ENV OLLAMA_HOST=0.0.0.0:11434',
      '--change',
      `LABEL ${TEST_LABEL}=true`,
      tar,
      tag,
    ])
    await removeStaleImages(docker, tag)
    return tag
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

/** Older builds (the simulator changed since): removed unless a container still uses them. */
async function removeStaleImages(docker: Docker, keep: string): Promise<void> {
  const images = await docker.listImages({ filters: { reference: [SIM_IMAGE_REPO] } })
  for (const image of images) {
    if (image.RepoTags?.includes(keep)) continue
    await docker
      .getImage(image.Id)
      .remove()
      .catch(() => {})
  }
}

/** A name no other test (or test run) uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/** Removes containers (by name) and volumes a test made; missing ones are fine. */
export async function removeDockerThings(
  docker: Docker,
  things: { containers?: string[]; volumes?: string[] },
): Promise<void> {
  for (const name of things.containers ?? []) {
    await docker
      .getContainer(name)
      .remove({ force: true })
      .catch(() => {})
  }
  for (const name of things.volumes ?? []) {
    await docker
      .getVolume(name)
      .remove()
      .catch(() => {})
  }
}
