import { formatBytes } from '../format.js'
import type { Accelerator } from '../protocol.js'
import type { GpuInfo } from './detect.js'
import type { GpuDevices, SysfsCard } from './sysfs.js'

// Which accelerator Ollama would use on what detection found, and how much memory one model may
// take on it: Ollama's own order of preference, and the notes that explain the choice.

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
export const CPU_RAM_SHARE = 0.5
/** A GPU that shares system memory (GB10, Jetson) gets most of it, as Apple's Metal does. */
const UNIFIED_RAM_SHARE = 0.75

/** What the choice reads of the probes' findings. */
export interface Findings {
  /** nvidia-smi's GPUs. */
  nvidiaGpus: GpuInfo[]
  /** amd-smi/rocm-smi figures, gaps filled from sysfs, in the order of `amdCards`. */
  amdGpus: GpuInfo[]
  amdCards: SysfsCard[]
  intelCards: SysfsCard[]
  /** Apple Silicon's GPU, with Metal's share of unified memory. */
  appleGpu: GpuInfo | undefined
  devices: GpuDevices | undefined
  ramBytes: number
}

/** Which accelerator Ollama would use, and how much memory one model may take on it. */
export interface Choice {
  accelerator: Accelerator
  budgetBytes: number
  /** The GPUs a model larger than one of them is split across. */
  counted: GpuInfo[]
}

type AcceleratorBudget = Omit<Choice, 'counted'>

/** CUDA first, then ROCm or Vulkan on AMD, Metal, Vulkan on a discrete Intel GPU, else the CPU. */
export function chooseAccelerator(found: Findings, notes: string[]): Choice {
  const cudaGpus = found.nvidiaGpus.filter((g) => {
    const cc = Number(g.computeCapability ?? '5.0')
    if (cc >= 5) return true
    notes.push(`${g.name} has compute capability ${g.computeCapability}; Ollama needs 5.0 or newer`)
    return false
  })
  const usableAmd = found.amdGpus.filter((g, i) => g.vramBytes && !found.amdCards[i]?.integrated)
  if (found.amdCards.some((c) => c.integrated)) {
    notes.push(
      'an AMD integrated GPU shares system memory; Ollama counts only its small VRAM carve-out',
    )
  }
  const discreteIntel = found.intelCards.filter((c) => !c.integrated)
  const pick = pickAccelerator(found, cudaGpus, usableAmd, discreteIntel, notes)
  if (found.intelCards.length && !discreteIntel.length && pick.accelerator === 'cpu') {
    notes.push('Ollama ignores integrated Intel graphics unless OLLAMA_IGPU_ENABLE=1 is set')
  }
  const counted =
    pick.accelerator === 'cuda' ? cudaGpus : pick.accelerator === 'metal' ? [] : usableAmd
  return { ...pick, counted }
}

/** Ollama's order of preference, on the GPUs each backend can use. */
function pickAccelerator(
  found: Findings,
  cudaGpus: GpuInfo[],
  usableAmd: GpuInfo[],
  discreteIntel: GpuInfo[],
  notes: string[],
): AcceleratorBudget {
  if (cudaGpus.length) return cudaChoice(cudaGpus, found.ramBytes, notes)
  if (usableAmd.length && found.devices?.dri) return amdChoice(usableAmd, found.devices, notes)
  if (found.appleGpu) return { accelerator: 'metal', budgetBytes: found.appleGpu.vramBytes ?? 0 }
  if (discreteIntel.some((g) => g.vramBytes) && found.devices?.dri) {
    return { accelerator: 'vulkan', budgetBytes: largest(discreteIntel) }
  }
  return { accelerator: 'cpu', budgetBytes: 0 }
}

function cudaChoice(cudaGpus: GpuInfo[], ramBytes: number, notes: string[]): AcceleratorBudget {
  const budgetBytes = largest(cudaGpus)
  if (budgetBytes) return { accelerator: 'cuda', budgetBytes }
  // GB10 (DGX Spark) and Jetson share system memory: nvidia-smi prints [N/A] for memory.total.
  const shared = Math.floor(ramBytes * UNIFIED_RAM_SHARE)
  notes.push(
    `${cudaGpus[0]?.name} reports no VRAM of its own (unified memory): about ${formatBytes(shared)} of system RAM is counted for models`,
  )
  return { accelerator: 'cuda', budgetBytes: shared }
}

/** ROCm needs /dev/kfd and a gfx target Ollama's build has kernels for; else Vulkan. */
function amdChoice(usableAmd: GpuInfo[], devices: GpuDevices, notes: string[]): AcceleratorBudget {
  if (!devices.kfd) {
    notes.push('no /dev/kfd: the amdgpu ROCm driver is not loaded, so Ollama can only use Vulkan')
    return { accelerator: 'vulkan', budgetBytes: largest(usableAmd) }
  }
  const supported = usableAmd.filter((g) => ROCM_TARGETS.has(g.computeCapability ?? ''))
  if (supported.length) return { accelerator: 'rocm', budgetBytes: largest(supported) }
  const targets = [...new Set(usableAmd.map((g) => g.computeCapability ?? 'unknown'))].join(', ')
  notes.push(
    `Ollama's ROCm build has no kernels for ${targets}: it falls back to Vulkan; HSA_OVERRIDE_GFX_VERSION can map it to a close supported target`,
  )
  return { accelerator: 'vulkan', budgetBytes: largest(usableAmd) }
}

/** On the CPU a model gets a share of RAM; on a GPU, say what takes from its memory. */
export function settleBudget(
  choice: Choice,
  gpus: GpuInfo[],
  ramBytes: number,
  notes: string[],
): number {
  if (choice.accelerator === 'cpu') {
    const budgetBytes = Math.floor(ramBytes * CPU_RAM_SHARE)
    notes.push(
      `no GPU Ollama can use: models run on the CPU, with about ${formatBytes(budgetBytes)} of RAM to spare for them`,
    )
    return budgetBytes
  }
  const used = gpus.filter((g) => g.vramBytes && g.freeVramBytes !== undefined)
  for (const g of used) {
    const taken = (g.vramBytes ?? 0) - (g.freeVramBytes ?? 0)
    if (taken > 0.2 * (g.vramBytes ?? 0)) {
      notes.push(`${formatBytes(taken)} of ${g.name}'s memory is held by other programs`)
    }
  }
  const { counted } = choice
  if (counted.length > 1) {
    const total = counted.reduce((sum, g) => sum + (g.vramBytes ?? 0), 0)
    notes.push(
      `${counted.length} GPUs with ${formatBytes(total)} in all: a model larger than one GPU is split across them, which is slower`,
    )
  }
  return choice.budgetBytes
}

function largest(gpus: GpuInfo[]): number {
  return Math.max(0, ...gpus.map((g) => g.vramBytes ?? 0))
}
