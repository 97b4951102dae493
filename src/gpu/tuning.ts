import { formatBytes } from '../format.js'
import type { GpuInfo, GpuReport } from './detect.js'

/** One Ollama server setting a GPU engineer would suggest for this machine. */
export interface Tuning {
  env: string
  value: string
  reason: string
  /** Cannot change answers or break a start: the Docker engine applies only these by itself. */
  safe: boolean
}

const GIB = 1024 ** 3

/**
 * Ollama's own rule (ml/device.go `FlashAttentionSupported`): CUDA from compute capability 6.0
 * except 7.2 (Jetson Xavier), ROCm and Metal; Vulkan only in recent releases, so not suggested.
 */
function flashAttentionSupport(report: GpuReport): { ok: boolean; why: string } {
  switch (report.accelerator) {
    case 'metal':
      return { ok: true, why: 'Metal supports it' }
    case 'rocm':
      return { ok: true, why: 'ROCm supports it' }
    case 'cuda': {
      const gpus = report.gpus.filter((g) => g.vendor === 'nvidia' && g.source !== 'sysfs')
      const unknown = gpus.find((g) => !g.computeCapability)
      if (unknown) return { ok: false, why: `the compute capability of ${unknown.name} is unknown` }
      const old = gpus.find((g) => !ccSupportsFlashAttention(g))
      if (old) {
        return {
          ok: false,
          why: `${old.name} (compute capability ${old.computeCapability}) lacks it`,
        }
      }
      const caps = [...new Set(gpus.map((g) => g.computeCapability))].join(', ')
      return { ok: true, why: `compute capability ${caps} supports it` }
    }
    default:
      return { ok: false, why: `${report.accelerator} is not a backend it helps on` }
  }
}

function ccSupportsFlashAttention(gpu: GpuInfo): boolean {
  const [major = 0, minor = 0] = (gpu.computeCapability ?? '').split('.').map(Number)
  return major >= 6 && !(major === 7 && minor === 2)
}

/** Suggested Ollama server environment for the detected hardware, each with its reason. */
export function recommendTuning(report: GpuReport): Tuning[] {
  const tuning: Tuning[] = []
  const budget = report.budgetBytes
  const gpu = report.accelerator !== 'cpu'
  const fa = flashAttentionSupport(report)
  if (gpu && fa.ok) {
    tuning.push({
      env: 'OLLAMA_FLASH_ATTENTION',
      value: '1',
      reason: `flash attention shrinks the context's memory and speeds up long prompts; ${fa.why}`,
      safe: true,
    })
    // The KV cache grows with the context; q8_0 halves it at a barely visible cost in quality,
    // which is a choice for the developer, hence not applied on its own.
    if (budget <= 12 * GIB) {
      tuning.push({
        env: 'OLLAMA_KV_CACHE_TYPE',
        value: 'q8_0',
        reason: `${formatBytes(budget)} is tight: an 8-bit KV cache halves the context's memory (needs flash attention; answers can differ slightly)`,
        safe: false,
      })
    }
  }
  // Each parallel slot reserves a full context of KV cache, so only a roomy budget affords more
  // than one; a dev server sees few concurrent chats (a tab, the overlay, a test run).
  const parallel = !gpu ? 1 : budget >= 40 * GIB ? 4 : budget >= 16 * GIB ? 2 : 1
  tuning.push({
    env: 'OLLAMA_NUM_PARALLEL',
    value: String(parallel),
    reason:
      parallel > 1
        ? `${formatBytes(budget)} leaves room for ${parallel} chats at once per model (each adds a context's KV cache)`
        : gpu
          ? `with ${formatBytes(budget)}, one chat at a time keeps the whole model on the GPU`
          : 'on the CPU a second chat at once only halves the speed of both',
    safe: true,
  })
  // Ollama's default is 3 per GPU; on a small budget a second model only evicts the first or
  // spills to the CPU, so loading one at a time is the honest setting.
  const loaded = !gpu || budget < 12 * GIB ? 1 : budget < 32 * GIB ? 2 : 3
  tuning.push({
    env: 'OLLAMA_MAX_LOADED_MODELS',
    value: String(loaded),
    reason:
      loaded === 1
        ? `${gpu ? formatBytes(budget) : 'RAM for models'} holds one model at a time; switching models reloads`
        : `${formatBytes(budget)} can keep ${loaded} models loaded, so switching models does not reload`,
    safe: true,
  })
  return tuning
}

/** The safe tuning as environment variables, for the engines the plugin starts. */
export function safeTuningEnv(report: GpuReport): Record<string, string> {
  const env: Record<string, string> = {}
  for (const t of recommendTuning(report)) if (t.safe) env[t.env] = t.value
  return env
}
