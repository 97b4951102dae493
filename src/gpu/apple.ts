import type { GpuInfo } from './detect.js'
import type { CommandRunner } from './run.js'

const GIB = 1024 ** 3

export interface AppleProbe {
  /** Present on Apple Silicon only. */
  gpu?: GpuInfo
  ramBytes?: number
  notes: string[]
}

/**
 * Metal lets a model use `recommendedMaxWorkingSetSize` of the unified memory, which Node cannot
 * read. Reported values (docs/decisions.md, "Apple Silicon") are about 2/3 of RAM on small machines
 * and about 3/4 on large ones; `iogpu.wired_limit_mb`, when set, replaces it.
 */
export function appleGpuBudget(ramBytes: number, wiredLimitMb = 0): number {
  if (wiredLimitMb > 0) return wiredLimitMb * 1024 * 1024
  return Math.floor(ramBytes <= 36 * GIB ? (ramBytes * 2) / 3 : (ramBytes * 3) / 4)
}

async function sysctl(
  run: CommandRunner,
  key: string,
  timeoutMs: number,
): Promise<string | undefined> {
  const result = await run('sysctl', ['-n', key], { timeoutMs })
  return result.code === 0 ? result.stdout.trim() : undefined
}

/**
 * `process.arch` says x64 under Rosetta, so Apple Silicon is recognised from `hw.optional.arm64` or
 * the CPU brand string instead (docs/decisions.md, "Apple Silicon").
 */
export async function probeApple(
  run: CommandRunner,
  arch: string,
  timeoutMs: number,
): Promise<AppleProbe> {
  const [memsize, brand, arm64, wired] = await Promise.all([
    sysctl(run, 'hw.memsize', timeoutMs),
    sysctl(run, 'machdep.cpu.brand_string', timeoutMs),
    sysctl(run, 'hw.optional.arm64', timeoutMs),
    sysctl(run, 'iogpu.wired_limit_mb', timeoutMs),
  ])
  const notes: string[] = []
  const ramBytes = memsize && /^\d+$/.test(memsize) ? Number(memsize) : undefined
  const appleSilicon = arm64 === '1' || /^Apple M/i.test(brand ?? '')
  if (!appleSilicon || !ramBytes) return { ramBytes, notes }
  if (arch !== 'arm64') {
    notes.push('this Node runs under Rosetta (x64); native Ollama still uses the Apple GPU')
  }
  const wiredMb = wired && /^\d+$/.test(wired) ? Number(wired) : 0
  if (wiredMb > 0) notes.push(`iogpu.wired_limit_mb is set: the GPU may use ${wiredMb} MB`)
  const gpu: GpuInfo = {
    vendor: 'apple',
    name: brand && /^Apple/.test(brand) ? brand : 'Apple Silicon',
    vramBytes: appleGpuBudget(ramBytes, wiredMb),
    source: 'sysctl',
  }
  return { gpu, ramBytes, notes }
}
