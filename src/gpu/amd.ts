import type { GpuInfo } from './detect.js'
import type { ProbeResult } from './nvidia.js'
import type { CommandRunner } from './run.js'

export const ROCM_SMI_ARGS = ['--showproductname', '--showmeminfo', 'vram', '--json']
export const AMD_SMI_ARGS = ['static', '--asic', '--vram', '--json']

const UNIT_BYTES: Record<string, number> = {
  B: 1,
  KB: 1024,
  KIB: 1024,
  // amd-smi writes "MB" for what is really MiB (a 16 GB card reports 16368 MB).
  MB: 1024 ** 2,
  MIB: 1024 ** 2,
  GB: 1024 ** 3,
  GIB: 1024 ** 3,
}

type Json = Record<string, unknown>

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The tools print warnings before the JSON on some installs: start at the first brace. */
function parseJsonLoosely(stdout: string): unknown {
  const start = stdout.search(/[[{]/)
  if (start < 0) return undefined
  try {
    return JSON.parse(stdout.slice(start))
  } catch {
    return undefined
  }
}

/** Looks a key up ignoring case: rocm-smi wrote "Card series" before it wrote "Card Series". */
function field(obj: Json, ...names: string[]): unknown {
  for (const name of names) {
    const key = Object.keys(obj).find((k) => k.toLowerCase() === name.toLowerCase())
    if (key !== undefined) return obj[key]
  }
  return undefined
}

/**
 * `rocm-smi --showproductname --showmeminfo vram --json`: `{"card0": {"VRAM Total Memory (B)":
 * "21458059264", "Card Series": "Radeon RX 7900 XT", "GFX Version": "gfx1100", …}}`, values as
 * strings in bytes (docs/decisions.md, "AMD memory figures").
 */
export function parseRocmSmi(stdout: string): GpuInfo[] {
  const data = parseJsonLoosely(stdout)
  if (!isObject(data)) return []
  const gpus: GpuInfo[] = []
  for (const [key, card] of Object.entries(data)) {
    if (!/^card\d+$/i.test(key) || !isObject(card)) continue
    const series = field(card, 'Card Series', 'Card series')
    const model = field(card, 'Card Model', 'Card model')
    const name =
      typeof series === 'string' && series && series !== 'N/A'
        ? series
        : typeof model === 'string' && model
          ? `AMD GPU ${model}`
          : 'AMD GPU'
    const gpu: GpuInfo = { vendor: 'amd', name, source: 'rocm-smi' }
    const total = Number(field(card, 'VRAM Total Memory (B)'))
    const used = Number(field(card, 'VRAM Total Used Memory (B)'))
    if (Number.isFinite(total) && total > 0) {
      gpu.vramBytes = total
      if (Number.isFinite(used)) gpu.freeVramBytes = Math.max(0, total - used)
    }
    const gfx = field(card, 'GFX Version')
    if (typeof gfx === 'string' && /^gfx[0-9a-f]+$/i.test(gfx)) gpu.computeCapability = gfx
    gpus.push(gpu)
  }
  return gpus
}

function sizeToBytes(size: unknown): number | undefined {
  if (typeof size === 'number') return size * UNIT_BYTES.MB!
  if (isObject(size)) {
    const value = Number(size.value)
    const unit = UNIT_BYTES[String(size.unit ?? 'MB').toUpperCase()]
    return Number.isFinite(value) && unit ? value * unit : undefined
  }
  if (typeof size === 'string') {
    const m = /^\s*([\d.]+)\s*([a-z]+)?\s*$/i.exec(size)
    const unit = UNIT_BYTES[(m?.[2] ?? 'MB').toUpperCase()]
    return m && unit ? Number(m[1]) * unit : undefined
  }
  return undefined
}

/**
 * `amd-smi static --asic --vram --json`: newer releases wrap the list as `{"gpu_data": [...]}`,
 * older ones print the bare array; sizes are `{value, unit}` objects (docs/decisions.md, "AMD
 * memory figures").
 */
export function parseAmdSmi(stdout: string): GpuInfo[] {
  const data = parseJsonLoosely(stdout)
  const list = Array.isArray(data) ? data : isObject(data) ? data.gpu_data : undefined
  if (!Array.isArray(list)) return []
  const gpus: GpuInfo[] = []
  for (const entry of list) {
    if (!isObject(entry)) continue
    const asic = isObject(entry.asic) ? entry.asic : {}
    const vram = isObject(entry.vram) ? entry.vram : {}
    const market = asic.market_name
    const gpu: GpuInfo = {
      vendor: 'amd',
      name: typeof market === 'string' && market && market !== 'N/A' ? market : 'AMD GPU',
      source: 'amd-smi',
    }
    const bytes = sizeToBytes(vram.size ?? vram.vram_size ?? vram.size_mb ?? vram.vram_size_mb)
    if (bytes && bytes > 0) gpu.vramBytes = bytes
    const gfx = asic.target_graphics_version
    if (typeof gfx === 'string' && /^gfx[0-9a-f]+$/i.test(gfx)) gpu.computeCapability = gfx
    gpus.push(gpu)
  }
  return gpus
}

async function probeTool(
  run: CommandRunner,
  cmd: string,
  args: string[],
  parse: (stdout: string) => GpuInfo[],
  timeoutMs: number,
): Promise<ProbeResult> {
  const result = await run(cmd, args, { timeoutMs })
  if (result.errorCode === 'ENOENT') return { gpus: [], notes: [], status: 'missing' }
  const gpus = result.code === 0 ? parse(result.stdout) : []
  if (gpus.length) return { gpus, notes: [], status: 'ok' }
  return { gpus: [], notes: [], status: 'failed' }
}

/**
 * amd-smi first (rocm-smi is deprecated in its favour), then rocm-smi; both run at once so a slow
 * one does not delay the other. A failure here is not news: sysfs still has the exact VRAM.
 */
export async function probeAmdTools(run: CommandRunner, timeoutMs: number): Promise<ProbeResult> {
  const [amdSmi, rocmSmi] = await Promise.all([
    probeTool(run, 'amd-smi', AMD_SMI_ARGS, parseAmdSmi, timeoutMs),
    probeTool(run, 'rocm-smi', ROCM_SMI_ARGS, parseRocmSmi, timeoutMs),
  ])
  if (amdSmi.status === 'ok') return amdSmi
  if (rocmSmi.status === 'ok') return rocmSmi
  const missing = amdSmi.status === 'missing' && rocmSmi.status === 'missing'
  return { gpus: [], notes: [], status: missing ? 'missing' : 'failed' }
}
