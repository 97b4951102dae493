import { promises as fsp } from 'node:fs'
import os from 'node:os'
import { setTimeout as delay } from 'node:timers/promises'
import { debuglog } from 'node:util'
import { errorMessage } from '../problem.js'
import type { Accelerator } from '../protocol.js'
import { CPU_RAM_SHARE, chooseAccelerator, type Findings, settleBudget } from './accelerator.js'
import { probeAmdTools } from './amd.js'
import { probeApple } from './apple.js'
import { type ProbeResult, probeNvidia, WSL_NVIDIA_SMI } from './nvidia.js'
import { type CommandRunner, createCommandRunner } from './run.js'
import {
  type DetectFs,
  type GpuDevices,
  probeDevices,
  probeDrmCards,
  probePciDisplays,
  type SysfsCard,
} from './sysfs.js'

const debug = debuglog('vite-plugin-ollama')

export type { CommandResult, CommandRunner } from './run.js'
export type { DetectFs, GpuDevices } from './sysfs.js'

export interface GpuInfo {
  vendor: 'nvidia' | 'amd' | 'intel' | 'apple' | 'other'
  name: string
  /** Total memory the GPU can give a model: VRAM, or Metal's share of unified memory on Apple. */
  vramBytes?: number
  /** Free VRAM when the vendor tool reports it (nvidia-smi, rocm-smi, amdgpu sysfs). */
  freeVramBytes?: number
  driver?: string
  /** NVIDIA compute capability ("8.9"); for AMD the gfx target ("gfx1100"). */
  computeCapability?: string
  /** Where the figures came from: `nvidia-smi`, `rocm-smi`, `amd-smi`, `sysfs`, `sysctl`, `systeminformation`. */
  source: string
  /** Shares system memory (an APU, Intel's integrated graphics): Ollama skips it by default. */
  integrated?: boolean
}

export interface GpuReport {
  gpus: GpuInfo[]
  accelerator: Accelerator
  /** What one model may occupy: the largest usable GPU's VRAM, Apple's Metal budget, or for `cpu` a share of RAM. */
  budgetBytes: number
  ramBytes: number
  freeDiskBytes?: number
  platform: NodeJS.Platform
  wsl: boolean
  /** Linux only: the device nodes a container needs for AMD/Intel passthrough. */
  devices?: GpuDevices
  /** One line each, for people: what was found, what is wrong, what to do. */
  notes: string[]
}

/** The part of systeminformation detection uses; its `vram` is never read (it is a PCI BAR size). */
export interface SystemInformationSource {
  graphics(): Promise<{
    controllers: Array<{ vendor?: string; model?: string; name?: string; bus?: string }>
  }>
}

export interface DetectDeps {
  run: CommandRunner
  fs: DetectFs
  platform: NodeJS.Platform
  arch: string
  env: NodeJS.ProcessEnv
  /** `null` turns the fallback off. */
  systemInformation: SystemInformationSource | null
  totalMemory(): number
  freeDisk(): Promise<number | undefined>
  /** Limit for each probe. @default 2000 */
  timeoutMs: number
}

const nodeFs: DetectFs = {
  readFile: (path) => fsp.readFile(path, 'utf8'),
  readdir: (path) => fsp.readdir(path),
  stat: (path) => fsp.stat(path),
  access: (path) => fsp.access(path),
}

async function loadSystemInformation(): Promise<SystemInformationSource> {
  const si = await import('systeminformation')
  return (si.default ?? si) as unknown as SystemInformationSource
}

function resolveDeps(deps: Partial<DetectDeps>): DetectDeps {
  const env = deps.env ?? process.env
  return {
    run: deps.run ?? createCommandRunner(env),
    fs: deps.fs ?? nodeFs,
    platform: deps.platform ?? process.platform,
    arch: deps.arch ?? process.arch,
    env,
    systemInformation:
      deps.systemInformation === undefined
        ? { graphics: async () => (await loadSystemInformation()).graphics() }
        : deps.systemInformation,
    totalMemory: deps.totalMemory ?? os.totalmem,
    freeDisk:
      deps.freeDisk ??
      (async () => {
        const s = await fsp.statfs(os.homedir()).catch(() => undefined)
        return s ? s.bavail * s.bsize : undefined
      }),
    timeoutMs: deps.timeoutMs ?? 2000,
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  const stop = new AbortController()
  const timeout = delay(ms, undefined, { ref: false, signal: stop.signal }).catch(() => undefined)
  return Promise.race([promise.catch(() => undefined), timeout]).finally(() => stop.abort())
}

async function isWsl(deps: DetectDeps): Promise<boolean> {
  if (deps.platform !== 'linux') return false
  if (deps.env.WSL_DISTRO_NAME) return true
  const version = await deps.fs.readFile('/proc/version').catch(() => '')
  return /microsoft/i.test(version)
}

/**
 * Inside WSL2 the driver's nvidia-smi lives in /usr/lib/wsl/lib, often off PATH
 * (docs/decisions.md, "nvidia-smi").
 */
async function probeNvidiaAnywhere(deps: DetectDeps, wsl: boolean): Promise<ProbeResult> {
  const result = await probeNvidia(deps.run, 'nvidia-smi', deps.timeoutMs)
  if (result.status !== 'missing' || !wsl) return result
  return probeNvidia(deps.run, WSL_NVIDIA_SMI, deps.timeoutMs)
}

const EMPTY: ProbeResult = { gpus: [], notes: [], status: 'missing' }

function vendorOf(text: string): GpuInfo['vendor'] {
  if (/nvidia/i.test(text)) return 'nvidia'
  if (/amd|ati|advanced micro/i.test(text)) return 'amd'
  if (/intel/i.test(text)) return 'intel'
  if (/apple/i.test(text)) return 'apple'
  return 'other'
}

// Software and virtual display adapters are not GPUs a model can use.
const VIRTUAL_ADAPTER =
  /basic render|basic display|llvmpipe|vmware|virtualbox|qxl|cirrus|bochs|virtio|hyper-v|parallels/i

async function namesFromSystemInformation(deps: DetectDeps): Promise<GpuInfo[]> {
  if (!deps.systemInformation) return []
  const si = deps.systemInformation
  const data = await withTimeout(si.graphics(), deps.timeoutMs)
  if (!data) return []
  const gpus: GpuInfo[] = []
  for (const c of data.controllers) {
    const name = (c.name || c.model || '').trim()
    const described = `${c.vendor ?? ''} ${name}`
    if (!name || VIRTUAL_ADAPTER.test(described)) continue
    gpus.push({ vendor: vendorOf(described), name, source: 'systeminformation' })
  }
  return gpus
}

function strip(card: SysfsCard): GpuInfo {
  const { pciSlot: _slot, ...gpu } = card
  if (!gpu.integrated) delete gpu.integrated
  return gpu
}

/** Prefers the vendor tool's names and figures, filling gaps from sysfs card by card. */
function mergeAmd(tools: GpuInfo[], cards: SysfsCard[]): GpuInfo[] {
  if (!tools.length) return cards.map(strip)
  return tools.map((gpu, i) => {
    const card = cards[i]
    if (!card) return gpu
    return {
      ...gpu,
      vramBytes: gpu.vramBytes ?? card.vramBytes,
      computeCapability: gpu.computeCapability ?? card.computeCapability,
      driver: gpu.driver ?? card.driver,
      ...(card.integrated ? { integrated: true } : {}),
    }
  })
}

/** What the probes found, sorted by vendor: the material every later step reads. */
interface Found extends Findings {
  /** Whether nvidia-smi is there at all. */
  nvidiaStatus: ProbeResult['status']
  /** NVIDIA cards on the PCI bus, with or without a driver bound. */
  nvidiaCards: SysfsCard[]
  /** Cards of other vendors with no driver bound: listed, but unusable. */
  otherUnbound: SysfsCard[]
  freeDiskBytes: number | undefined
}

async function runDetection(deps: DetectDeps): Promise<GpuReport> {
  const started = Date.now()
  const { platform } = deps
  const wsl = await isWsl(deps)
  const { found, notes } = await probeEverything(deps, wsl)
  const gpus = listGpus(found, notes)
  // Vendor tools found nothing: ask systeminformation for names only (Windows, Intel Macs).
  // Never on Linux: sysfs already said everything it could, and systeminformation would run
  // dmidecode and nvidia-smi there with execSync, blocking the event loop (docs/decisions.md,
  // "systeminformation runs nvidia-smi synchronously").
  if (!gpus.length && !found.appleGpu && platform !== 'linux') {
    gpus.push(...(await namesOnly(deps, notes)))
  }
  const choice = chooseAccelerator(found, notes)
  const budgetBytes = settleBudget(choice, gpus, found.ramBytes, notes)
  const { accelerator } = choice
  if (wsl && accelerator === 'cuda') {
    notes.push(
      'WSL2: the GPU comes from the Windows driver; Docker Desktop passes it to containers with --gpus',
    )
  }
  debug('gpu detection took %d ms: %s, budget %d', Date.now() - started, accelerator, budgetBytes)
  const { ramBytes, freeDiskBytes, devices } = found
  const report: GpuReport = { gpus, accelerator, budgetBytes, ramBytes, platform, wsl, notes }
  if (freeDiskBytes !== undefined) report.freeDiskBytes = freeDiskBytes
  if (devices) report.devices = devices
  return report
}

/** Every probe at once, each for its platform; their notes come first, in probe order. */
async function probeEverything(
  deps: DetectDeps,
  wsl: boolean,
): Promise<{ found: Found; notes: string[] }> {
  const { platform } = deps
  const linux = platform === 'linux'
  const [nvidia, amdTools, drm, devices, apple, freeDiskBytes] = await Promise.all([
    platform === 'darwin' ? EMPTY : probeNvidiaAnywhere(deps, wsl),
    linux && !wsl ? probeAmdTools(deps.run, deps.timeoutMs) : EMPTY,
    linux ? probeDrmCards(deps.fs) : { cards: [], notes: [] },
    linux ? probeDevices(deps.fs) : undefined,
    platform === 'darwin' ? probeApple(deps.run, deps.arch, deps.timeoutMs) : undefined,
    deps.freeDisk().catch(() => undefined),
  ])
  const notes = [...nvidia.notes, ...amdTools.notes, ...drm.notes, ...(apple?.notes ?? [])]
  const ramBytes = apple?.ramBytes ?? deps.totalMemory()
  // Cards with no driver bound have no DRM entry; the PCI bus still lists them.
  const unbound = linux ? await probePciDisplays(deps.fs, drm.cards) : []
  const amdCards = drm.cards.filter((c) => c.vendor === 'amd')
  const found: Found = {
    nvidiaGpus: nvidia.gpus,
    nvidiaStatus: nvidia.status,
    nvidiaCards: [...drm.cards, ...unbound].filter((c) => c.vendor === 'nvidia'),
    amdGpus: mergeAmd(amdTools.gpus, amdCards),
    amdCards,
    intelCards: drm.cards.filter((c) => c.vendor === 'intel'),
    otherUnbound: unbound.filter((c) => c.vendor !== 'nvidia'),
    appleGpu: apple?.gpu,
    devices,
    ramBytes,
    freeDiskBytes,
  }
  return { found, notes }
}

/** The GPUs to report, and what keeps a card listed from being used. */
function listGpus(found: Found, notes: string[]): GpuInfo[] {
  const gpus: GpuInfo[] = [...found.nvidiaGpus]
  if (!found.nvidiaGpus.length && found.nvidiaCards.length) {
    gpus.push(...found.nvidiaCards.map(strip))
    if (found.nvidiaStatus === 'missing') {
      notes.push(
        'an NVIDIA GPU is on the PCI bus but nvidia-smi is missing: install the NVIDIA driver so Ollama can use it',
      )
    }
  }
  gpus.push(...found.amdGpus, ...found.intelCards.map(strip), ...found.otherUnbound.map(strip))
  for (const card of found.otherUnbound) {
    notes.push(`${card.name} has no kernel driver loaded; Ollama cannot use it`)
  }
  if (found.appleGpu) gpus.push(found.appleGpu)
  return gpus
}

async function namesOnly(deps: DetectDeps, notes: string[]): Promise<GpuInfo[]> {
  const named = await namesFromSystemInformation(deps)
  for (const g of named) {
    notes.push(`found ${g.name}, but no vendor tool reported its memory; Ollama may not use it`)
  }
  return named
}

// Keyed on globalThis so a second copy of this module (a config restart that re-evaluates the
// plugin) still finds the first detection instead of spawning the probes again.
const CACHE = Symbol.for('vite-plugin-ollama.gpu-report')
type CacheHolder = { [CACHE]?: Promise<GpuReport> }

/**
 * Finds the GPUs Ollama could use and how large a model fits. Every probe runs at once,
 * asynchronously, each within `timeoutMs`; none throws. Called without `deps`, the result is
 * computed once per process and shared.
 */
export function detectGpus(deps?: Partial<DetectDeps>): Promise<GpuReport> {
  if (deps) return safeDetection(resolveDeps(deps))
  const holder = globalThis as CacheHolder
  holder[CACHE] ??= safeDetection(resolveDeps({}))
  return holder[CACHE]
}

/** Detection must never stop the dev server: an unexpected failure reads as "CPU", with why. */
async function safeDetection(deps: DetectDeps): Promise<GpuReport> {
  try {
    return await runDetection(deps)
  } catch (err) {
    debug('gpu detection failed: %O', err)
    const ramBytes = deps.totalMemory()
    return {
      gpus: [],
      accelerator: 'cpu',
      budgetBytes: Math.floor(ramBytes * CPU_RAM_SHARE),
      ramBytes,
      platform: deps.platform,
      wsl: false,
      notes: [`GPU detection failed (${errorMessage(err)}); assuming the CPU`],
    }
  }
}
