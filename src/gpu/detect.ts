import { promises as fsp } from 'node:fs'
import os from 'node:os'
import { setTimeout as delay } from 'node:timers/promises'
import { debuglog } from 'node:util'
import { errorMessage } from '../problem.js'
import type { Accelerator } from '../protocol.js'
import { probeAmdTools } from './amd.js'
import { probeApple } from './apple.js'
import { formatMemory } from './format.js'
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

// Ollama's ROCm build ships kernels for these targets only (docs/decisions.md, "How Ollama finds
// AMD GPUs"); other AMD GPUs are dropped from ROCm and may still run through Vulkan.
const ROCM_TARGETS = new Set([
  'gfx908',
  'gfx90a',
  'gfx942',
  'gfx950',
  'gfx1030',
  'gfx1100',
  'gfx1101',
  'gfx1102',
  'gfx1150',
  'gfx1151',
  'gfx1200',
  'gfx1201',
])

/** On the CPU a model shares RAM with the OS, the browser and Vite: offer it half. */
const CPU_RAM_SHARE = 0.5
/** A GPU that shares system memory (GB10, Jetson) gets most of it, as Apple's Metal does. */
const UNIFIED_RAM_SHARE = 0.75

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

function largest(gpus: GpuInfo[]): number {
  return Math.max(0, ...gpus.map((g) => g.vramBytes ?? 0))
}

function strip(card: SysfsCard): GpuInfo {
  const { pciSlot: _slot, integrated: _integrated, ...gpu } = card
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
    }
  })
}

async function runDetection(deps: DetectDeps): Promise<GpuReport> {
  const started = Date.now()
  const { platform } = deps
  const linux = platform === 'linux'
  const wsl = await isWsl(deps)
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
  const cards = [...drm.cards, ...unbound]

  const nvidiaGpus = nvidia.gpus
  const nvidiaCards = cards.filter((c) => c.vendor === 'nvidia')
  const amdCards = drm.cards.filter((c) => c.vendor === 'amd')
  const intelCards = drm.cards.filter((c) => c.vendor === 'intel')
  const otherUnbound = unbound.filter((c) => c.vendor !== 'nvidia')
  const amdGpus = mergeAmd(amdTools.gpus, amdCards)
  const gpus: GpuInfo[] = [...nvidiaGpus]
  if (!nvidiaGpus.length && nvidiaCards.length) {
    gpus.push(...nvidiaCards.map(strip))
    if (nvidia.status === 'missing') {
      notes.push(
        'an NVIDIA GPU is on the PCI bus but nvidia-smi is missing: install the NVIDIA driver so Ollama can use it',
      )
    }
  }
  gpus.push(...amdGpus, ...intelCards.map(strip), ...otherUnbound.map(strip))
  for (const card of otherUnbound) {
    notes.push(`${card.name} has no kernel driver loaded; Ollama cannot use it`)
  }
  if (apple?.gpu) gpus.push(apple.gpu)

  // Vendor tools found nothing: ask systeminformation for names only (Windows, Intel Macs). Never
  // on Linux: sysfs already said everything it could, and systeminformation would run dmidecode and
  // nvidia-smi there with execSync, blocking the event loop (docs/decisions.md, "systeminformation
  // runs nvidia-smi synchronously").
  if (!gpus.length && !apple?.gpu && !linux) {
    const named = await namesFromSystemInformation(deps)
    gpus.push(...named)
    for (const g of named) {
      notes.push(`found ${g.name}, but no vendor tool reported its memory; Ollama may not use it`)
    }
  }

  // Which accelerator Ollama would use, and how much memory one model may take on it.
  let accelerator: Accelerator = 'cpu'
  let budgetBytes = 0
  const cudaGpus = nvidiaGpus.filter((g) => {
    const cc = Number(g.computeCapability ?? '5.0')
    if (cc >= 5) return true
    notes.push(`${g.name} has compute capability ${g.computeCapability}; Ollama needs 5.0 or newer`)
    return false
  })
  const usableAmd = amdGpus.filter((g, i) => g.vramBytes && !amdCards[i]?.integrated)
  if (amdCards.some((c) => c.integrated)) {
    notes.push(
      'an AMD integrated GPU shares system memory; Ollama counts only its small VRAM carve-out',
    )
  }
  const discreteIntel = intelCards.filter((c) => !c.integrated)
  if (cudaGpus.length) {
    accelerator = 'cuda'
    budgetBytes = largest(cudaGpus)
    if (!budgetBytes) {
      // GB10 (DGX Spark) and Jetson share system memory: nvidia-smi prints [N/A] for memory.total.
      budgetBytes = Math.floor(ramBytes * UNIFIED_RAM_SHARE)
      notes.push(
        `${cudaGpus[0]?.name} reports no VRAM of its own (unified memory): about ${formatMemory(budgetBytes)} of system RAM is counted for models`,
      )
    }
  } else if (usableAmd.length && devices?.dri) {
    const supported = usableAmd.filter((g) => ROCM_TARGETS.has(g.computeCapability ?? ''))
    if (!devices.kfd) {
      accelerator = 'vulkan'
      notes.push('no /dev/kfd: the amdgpu ROCm driver is not loaded, so Ollama can only use Vulkan')
    } else if (supported.length) {
      accelerator = 'rocm'
    } else {
      accelerator = 'vulkan'
      const targets = [...new Set(usableAmd.map((g) => g.computeCapability ?? 'unknown'))].join(
        ', ',
      )
      notes.push(
        `Ollama's ROCm build has no kernels for ${targets}: it falls back to Vulkan; HSA_OVERRIDE_GFX_VERSION can map it to a close supported target`,
      )
    }
    budgetBytes = largest(accelerator === 'rocm' ? supported : usableAmd)
  } else if (apple?.gpu) {
    accelerator = 'metal'
    budgetBytes = apple.gpu.vramBytes ?? 0
  } else if (discreteIntel.some((g) => g.vramBytes) && devices?.dri) {
    accelerator = 'vulkan'
    budgetBytes = largest(discreteIntel)
  }
  if (intelCards.length && !discreteIntel.length && accelerator === 'cpu') {
    notes.push('Ollama ignores integrated Intel graphics unless OLLAMA_IGPU_ENABLE=1 is set')
  }
  if (accelerator === 'cpu') {
    budgetBytes = Math.floor(ramBytes * CPU_RAM_SHARE)
    notes.push(
      `no GPU Ollama can use: models run on the CPU, with about ${formatMemory(budgetBytes)} of RAM to spare for them`,
    )
  } else {
    const used = gpus.filter((g) => g.vramBytes && g.freeVramBytes !== undefined)
    for (const g of used) {
      const taken = (g.vramBytes ?? 0) - (g.freeVramBytes ?? 0)
      if (taken > 0.2 * (g.vramBytes ?? 0)) {
        notes.push(`${formatMemory(taken)} of ${g.name}'s memory is held by other programs`)
      }
    }
    const counted = accelerator === 'cuda' ? cudaGpus : accelerator === 'metal' ? [] : usableAmd
    if (counted.length > 1) {
      const total = counted.reduce((sum, g) => sum + (g.vramBytes ?? 0), 0)
      notes.push(
        `${counted.length} GPUs with ${formatMemory(total)} in all: a model larger than one GPU is split across them, which is slower`,
      )
    }
  }
  if (wsl && accelerator === 'cuda') {
    notes.push(
      'WSL2: the GPU comes from the Windows driver; Docker Desktop passes it to containers with --gpus',
    )
  }
  debug('gpu detection took %d ms: %s, budget %d', Date.now() - started, accelerator, budgetBytes)
  const report: GpuReport = { gpus, accelerator, budgetBytes, ramBytes, platform, wsl, notes }
  if (freeDiskBytes !== undefined) report.freeDiskBytes = freeDiskBytes
  if (devices) report.devices = devices
  return report
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
