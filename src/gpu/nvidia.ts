import type { GpuInfo } from './detect.js'
import type { CommandRunner } from './run.js'

// The query Ollama's own docs use (docs/decisions.md, "nvidia-smi"). Memory is in MiB with
// `nounits`.
export const NVIDIA_QUERY = [
  '--query-gpu=name,memory.total,memory.free,driver_version,compute_cap',
  '--format=csv,noheader,nounits',
]
// Drivers before ~510 reject `compute_cap` and the whole command fails (docs/decisions.md,
// "nvidia-smi"): ask again without it.
const NVIDIA_QUERY_OLD_DRIVER = [
  '--query-gpu=name,memory.total,memory.free,driver_version',
  '--format=csv,noheader,nounits',
]

/** Where WSL2 puts the Windows driver's nvidia-smi; it is often not on PATH inside the distro. */
export const WSL_NVIDIA_SMI = '/usr/lib/wsl/lib/nvidia-smi'

const MIB = 1024 * 1024

export interface ProbeResult {
  gpus: GpuInfo[]
  notes: string[]
  /** `missing`: the tool is not installed; `failed`: installed but it gave no usable answer. */
  status: 'ok' | 'missing' | 'failed'
}

/** `[N/A]`, `[Not Supported]` and friends (GB10 unified memory, old drivers) become undefined. */
function numberOrUndefined(field: string | undefined): number | undefined {
  if (field === undefined || !/^\d+(\.\d+)?$/.test(field)) return undefined
  return Number(field)
}

/**
 * Parses `nvidia-smi --query-gpu=name,memory.total,memory.free,driver_version[,compute_cap]
 * --format=csv,noheader,nounits`. The CSV is not quoted, so the name is taken as everything before
 * the fixed trailing fields, in case a product name ever holds a comma.
 */
export function parseNvidiaSmi(stdout: string, withComputeCap = true): GpuInfo[] {
  const trailing = withComputeCap ? 4 : 3
  const gpus: GpuInfo[] = []
  for (const line of stdout.split(/\r?\n/)) {
    const fields = line.split(',').map((f) => f.trim())
    if (fields.length < trailing + 1 || !fields[0]) continue
    const tail = fields.slice(-trailing)
    const name = fields.slice(0, fields.length - trailing).join(', ')
    const total = numberOrUndefined(tail[0])
    const free = numberOrUndefined(tail[1])
    const driver = tail[2]
    const cc = withComputeCap ? tail[3] : undefined
    const gpu: GpuInfo = { vendor: 'nvidia', name, source: 'nvidia-smi' }
    if (total !== undefined) gpu.vramBytes = total * MIB
    if (free !== undefined) gpu.freeVramBytes = free * MIB
    if (driver && !driver.startsWith('[')) gpu.driver = driver
    if (cc && /^\d+\.\d+$/.test(cc)) gpu.computeCapability = cc
    gpus.push(gpu)
  }
  return gpus
}

function firstLine(text: string): string {
  return text.trim().split(/\r?\n/)[0]?.trim() ?? ''
}

/** Runs nvidia-smi (or WSL2's copy) and says what it found, or why it found nothing. */
export async function probeNvidia(
  run: CommandRunner,
  command: string,
  timeoutMs: number,
): Promise<ProbeResult> {
  let result = await run(command, NVIDIA_QUERY, { timeoutMs })
  let withComputeCap = true
  if (result.errorCode === 'ENOENT') return { gpus: [], notes: [], status: 'missing' }
  const output = `${result.stdout}\n${result.stderr}`
  if (result.code !== 0 && /compute_cap.*not a valid field/i.test(output)) {
    result = await run(command, NVIDIA_QUERY_OLD_DRIVER, { timeoutMs })
    withComputeCap = false
  }
  if (result.errorCode === 'ETIMEDOUT') {
    return {
      gpus: [],
      notes: [
        `nvidia-smi did not answer within ${timeoutMs / 1000} s; NVIDIA GPUs were not checked`,
      ],
      status: 'failed',
    }
  }
  const text = `${result.stdout}\n${result.stderr}`
  if (/couldn't communicate with the NVIDIA driver/i.test(text)) {
    return {
      gpus: [],
      notes: [
        'nvidia-smi cannot talk to the NVIDIA driver: install or load the driver (after a kernel update, reboot); until then Ollama runs on the CPU',
      ],
      status: 'failed',
    }
  }
  if (/No devices were found/i.test(text)) return { gpus: [], notes: [], status: 'ok' }
  if (result.code !== 0) {
    const why = firstLine(text) || `exit status ${result.code ?? result.errorCode}`
    return { gpus: [], notes: [`nvidia-smi failed: ${why}`], status: 'failed' }
  }
  return { gpus: parseNvidiaSmi(result.stdout, withComputeCap), notes: [], status: 'ok' }
}
