import { statSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { ResolvedDockerOptions } from '../../options.js'
import { ProblemError } from '../../problem.js'

// The host's Ollama model store, mounted into the container so a model the host already has is
// not downloaded again (docs/decisions.md, "The host's model store"). Ollama's image runs as root,
// and files root writes in a bind mount are root's on the host: the user's own `ollama pull`
// could then no longer write there. So the container runs as the store's owner instead, with
// OLLAMA_MODELS pointing at the mount; nothing is ever chowned.

/** Where the store appears in the container: outside `/root`, which only root may enter. */
export const HOST_MODELS_TARGET = '/ollama-models'

/** The image's HOME is `/root`: a non-root Ollama keeps its key pair in a folder it may write. */
const NON_ROOT_HOME = '/tmp'

export interface HostModelStore {
  /** Absolute path on the host. */
  path: string
  /** Why this folder: `$OLLAMA_MODELS`, `~/.ollama/models` or `docker.hostModels`. */
  source: string
  uid: number
  gid: number
}

/** Which store the container gets, and why, in a line for the terminal and `doctor`. */
export interface HostModelsChoice {
  store?: HostModelStore
  reason: string
}

export interface HostModelsDeps {
  env: NodeJS.ProcessEnv
  home: string
  /** The Docker endpoint (`unix:///…`, `tcp://host:2375`, `ssh://…`), when known. */
  daemonHost?: string
  /** A folder's owner, or undefined when there is no folder at `path`. */
  folder(path: string): { uid: number; gid: number } | undefined
}

const defaultDeps: HostModelsDeps = {
  env: process.env,
  home: os.homedir(),
  folder(p) {
    try {
      const s = statSync(p)
      return s.isDirectory() ? { uid: s.uid, gid: s.gid } : undefined
    } catch {
      return undefined
    }
  },
}

/**
 * A daemon on another machine (`tcp://` or `ssh://` to a host that is not this one) would look
 * for the folder on its own disk.
 */
export function isRemoteDaemon(host: string | undefined): boolean {
  const m = /^(tcp|ssh|https?):\/\/(?:[^@/]*@)?(\[[^\]]+\]|[^:/]+)/.exec(host ?? '')
  if (!m) return false
  return !/^(localhost|127(\.\d+){3}|\[::1\])$/i.test(m[2] ?? '')
}

/** `~/x` → the home folder's `x`. */
function expandHome(value: string, home: string): string {
  return value === '~' || /^~[\\/]/.test(value) ? path.join(home, value.slice(1)) : value
}

/**
 * The store `docker.hostModels` asks for: a path must exist (else a ProblemError naming the
 * option); `'auto'` takes `$OLLAMA_MODELS`, as Ollama would, or else `~/.ollama/models`, when it
 * is a folder; otherwise models stay in `docker.volume`.
 */
export function findHostModelStore(
  options: Pick<ResolvedDockerOptions, 'hostModels' | 'volume'>,
  deps: Partial<HostModelsDeps> = {},
): HostModelsChoice {
  const d = { ...defaultDeps, ...deps }
  const volume = `models stay in the volume ${options.volume}`
  const setting = options.hostModels
  if (setting === false) return { reason: `docker.hostModels is false: ${volume}` }
  if (setting !== 'auto') {
    const wanted = path.resolve(expandHome(setting, d.home))
    const owner = d.folder(wanted)
    if (!owner) {
      throw new ProblemError({
        message: `docker.hostModels is ${setting}, which is not a folder.`,
        hint: "Fix the path in vite.config.ts (the folder that holds Ollama's blobs/ and manifests/), or set docker.hostModels to 'auto' or false.",
      })
    }
    return found({ path: wanted, source: 'docker.hostModels', ...owner })
  }
  if (isRemoteDaemon(d.daemonHost)) {
    return { reason: `Docker runs on another machine (${d.daemonHost}): ${volume}` }
  }
  const fromEnv = d.env.OLLAMA_MODELS
  if (fromEnv) {
    const wanted = path.resolve(expandHome(fromEnv, d.home))
    const owner = d.folder(wanted)
    if (!owner) return { reason: `OLLAMA_MODELS is ${fromEnv}, which is not a folder: ${volume}` }
    return found({ path: wanted, source: '$OLLAMA_MODELS', ...owner })
  }
  const standard = path.join(d.home, '.ollama', 'models')
  const owner = d.folder(standard)
  if (!owner) return { reason: `no host model store (${standard} does not exist): ${volume}` }
  return found({ path: standard, source: '~/.ollama/models', ...owner })
}

function found(store: HostModelStore): HostModelsChoice {
  return {
    store,
    reason: `the host's model store ${store.path} (${store.source}): models there are not downloaded again`,
  }
}

/**
 * The container's `User` for the store: its owner, so what Ollama writes there stays the owner's.
 * Not when the owner is root (nothing to keep), and not on a rootless engine, whose root already is
 * the user and where any other uid maps to a stranger on the host.
 */
export function storeUser(store: HostModelStore, rootless: boolean): string | undefined {
  if (rootless || store.uid === 0) return undefined
  return `${store.uid}:${store.gid}`
}

/** Which store `doctor` says the container would get, and who would write there. */
export function describeHostModels(
  options: Pick<ResolvedDockerOptions, 'hostModels' | 'volume'>,
  deps: Partial<HostModelsDeps> = {},
): string {
  let choice: HostModelsChoice
  try {
    choice = findHostModelStore(options, deps)
  } catch (err) {
    return err instanceof ProblemError ? `${err.message} ${err.hint ?? ''}`.trim() : String(err)
  }
  const store = choice.store
  if (!store || store.uid === 0) return choice.reason
  return `${choice.reason}; the container runs as its owner ${store.uid}:${store.gid} (as root on rootless Docker), so files written there stay theirs`
}

/** The create-body parts for the store: the bind mount, where Ollama looks, who runs it. */
export function hostModelsMount(
  store: HostModelStore,
  rootless: boolean,
): { mount: object; env: Record<string, string>; user?: string } {
  const user = storeUser(store, rootless)
  const env: Record<string, string> = { OLLAMA_MODELS: HOST_MODELS_TARGET }
  if (user) env.HOME = NON_ROOT_HOME
  const mount = { Type: 'bind', Source: store.path, Target: HOST_MODELS_TARGET }
  return user ? { mount, env, user } : { mount, env }
}
