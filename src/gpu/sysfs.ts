import type { GpuInfo } from './detect.js'

/** The file-system calls the probes need, injectable so tests can point them at a fixture tree. */
export interface DetectFs {
  readFile(path: string): Promise<string>
  readdir(path: string): Promise<string[]>
  stat(path: string): Promise<{ gid: number }>
  access(path: string): Promise<void>
}

/**
 * What the container needs to pass an AMD (or Intel) GPU through (docs/decisions.md, "AMD GPUs in
 * containers").
 */
export interface GpuDevices {
  /** `/dev/kfd` exists: the amdgpu ROCm compute interface. */
  kfd: boolean
  /** `/dev/dri` exists: render nodes for ROCm and Vulkan. */
  dri: boolean
  /** Numeric group ids of `/dev/kfd` and `/dev/dri/renderD*`, for the container's `GroupAdd`. */
  groupIds: number[]
}

const VENDORS: Record<string, GpuInfo['vendor']> = {
  '0x10de': 'nvidia',
  '0x1002': 'amd',
  '0x8086': 'intel',
}

// Intel Arc cards by PCI device id. sysfs gives no VRAM figure for Intel without root (debugfs,
// docs/decisions.md, "Intel Arc memory"), so the size comes from the product; where a model ships
// in two sizes the smaller one is taken, so a recommendation never overshoots.
const INTEL_ARC: Record<string, { name: string; gib?: number; note?: string }> = {
  '0x56a0': {
    name: 'Intel Arc A770',
    gib: 8,
    note: 'the Arc A770 comes with 8 or 16 GB; assuming 8 GB',
  },
  '0x56a1': { name: 'Intel Arc A750', gib: 8 },
  '0x56a2': { name: 'Intel Arc A580', gib: 8 },
  '0x56a5': { name: 'Intel Arc A380', gib: 6 },
  '0x56a6': { name: 'Intel Arc A310', gib: 4 },
  '0x5690': { name: 'Intel Arc A770M', gib: 16 },
  '0x5691': { name: 'Intel Arc A730M', gib: 12 },
  '0x5692': { name: 'Intel Arc A550M', gib: 8 },
  '0x5693': { name: 'Intel Arc A370M', gib: 4 },
  '0x5694': { name: 'Intel Arc A350M', gib: 4 },
  '0xe20b': { name: 'Intel Arc B580', gib: 12 },
  '0xe20c': { name: 'Intel Arc B570', gib: 10 },
}

// Intel's integrated graphics always sit at 00:02.0; Ollama drops integrated GPUs by default.
const INTEL_IGPU_SLOT = /^0000:00:02\.0$/

async function readTrimmed(fs: DetectFs, path: string): Promise<string | undefined> {
  try {
    return (await fs.readFile(path)).trim()
  } catch {
    return undefined
  }
}

async function readBytes(fs: DetectFs, path: string): Promise<number | undefined> {
  const text = await readTrimmed(fs, path)
  const n = text === undefined ? Number.NaN : Number(text)
  return Number.isFinite(n) && n > 0 ? n : undefined
}

function parseUevent(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of (text ?? '').split('\n')) {
    const eq = line.indexOf('=')
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1).trim()
  }
  return out
}

/** `gfx_target_version` is MMmmss with the stepping in hex: 110000 → gfx1100, 90010 → gfx90a. */
export function decodeGfxTarget(version: number): string | undefined {
  if (!Number.isInteger(version) || version <= 0) return undefined
  const major = Math.floor(version / 10000)
  const minor = Math.floor(version / 100) % 100
  const stepping = version % 100
  return `gfx${major}${minor}${stepping.toString(16)}`
}

/**
 * gfx targets by PCI device id, from the KFD topology (how Ollama itself finds them:
 * docs/decisions.md, "How Ollama finds AMD GPUs").
 */
async function readKfdTargets(fs: DetectFs): Promise<Map<string, string>> {
  const targets = new Map<string, string>()
  const base = '/sys/class/kfd/kfd/topology/nodes'
  let nodes: string[] = []
  try {
    nodes = await fs.readdir(base)
  } catch {
    return targets
  }
  await Promise.all(
    nodes.map(async (node) => {
      const props = await readTrimmed(fs, `${base}/${node}/properties`)
      if (!props) return
      const values = new Map<string, number>()
      for (const line of props.split('\n')) {
        const [key, value] = line.trim().split(/\s+/)
        if (key && value) values.set(key, Number(value))
      }
      const deviceId = values.get('device_id') ?? 0
      const gfx = decodeGfxTarget(values.get('gfx_target_version') ?? 0)
      if (deviceId && gfx) targets.set(`0x${deviceId.toString(16).padStart(4, '0')}`, gfx)
    }),
  )
  return targets
}

export interface SysfsCard extends GpuInfo {
  pciSlot?: string
}

/**
 * Walks `/sys/class/drm/card*\/device`: vendor, device id, driver and, for amdgpu, the exact
 * `mem_info_vram_total` in bytes (the number systeminformation cannot get right: docs/decisions.md,
 * "AMD memory figures").
 */
export async function probeDrmCards(
  fs: DetectFs,
): Promise<{ cards: SysfsCard[]; notes: string[] }> {
  let entries: string[] = []
  try {
    entries = await fs.readdir('/sys/class/drm')
  } catch {
    return { cards: [], notes: [] }
  }
  const [kfdTargets, cards] = await Promise.all([
    readKfdTargets(fs),
    Promise.all(
      entries
        .filter((e) => /^card\d+$/.test(e))
        .sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)))
        .map(async (entry) => {
          const dir = `/sys/class/drm/${entry}/device`
          const [vendorId, deviceId, uevent, vram, vramUsed, gtt] = await Promise.all([
            readTrimmed(fs, `${dir}/vendor`),
            readTrimmed(fs, `${dir}/device`),
            readTrimmed(fs, `${dir}/uevent`),
            readBytes(fs, `${dir}/mem_info_vram_total`),
            readBytes(fs, `${dir}/mem_info_vram_used`),
            readBytes(fs, `${dir}/mem_info_gtt_total`),
          ])
          return { vendorId, deviceId, uevent: parseUevent(uevent), vram, vramUsed, gtt }
        }),
    ),
  ])
  const notes: string[] = []
  const seen = new Set<string>()
  const out: SysfsCard[] = []
  for (const c of cards) {
    const vendor = c.vendorId ? VENDORS[c.vendorId.toLowerCase()] : undefined
    if (!vendor) continue
    const slot = c.uevent.PCI_SLOT_NAME
    if (slot) {
      if (seen.has(slot)) continue
      seen.add(slot)
    }
    const id = `${c.vendorId?.slice(2)}:${c.deviceId?.slice(2) ?? '?'}`
    const card: SysfsCard = { vendor, name: `GPU ${id}`, source: 'sysfs' }
    if (slot) card.pciSlot = slot
    if (c.uevent.DRIVER) card.driver = c.uevent.DRIVER
    if (vendor === 'amd') {
      card.name = `AMD GPU (${id})`
      if (c.vram) card.vramBytes = c.vram
      if (c.vram && c.vramUsed !== undefined) card.freeVramBytes = Math.max(0, c.vram - c.vramUsed)
      const gfx = c.deviceId ? kfdTargets.get(c.deviceId.toLowerCase()) : undefined
      if (gfx) card.computeCapability = gfx
      // Ollama's integrated-GPU rule (docs/decisions.md, "How Ollama finds AMD GPUs"): a small VRAM
      // carve-out with a large GTT is an APU.
      if (
        c.vram &&
        c.gtt &&
        c.vram <= 4 * 1024 ** 3 &&
        c.gtt >= 8 * 1024 ** 3 &&
        c.gtt >= 4 * c.vram
      ) {
        card.integrated = true
      }
    } else if (vendor === 'intel') {
      const arc = c.deviceId ? INTEL_ARC[c.deviceId.toLowerCase()] : undefined
      card.integrated = slot ? INTEL_IGPU_SLOT.test(slot) : !arc
      card.name = arc
        ? arc.name
        : card.integrated
          ? `Intel integrated graphics (${id})`
          : `Intel GPU (${id})`
      if (arc?.gib) {
        card.vramBytes = arc.gib * 1024 ** 3
        card.source = 'sysfs+pci-id'
      }
      if (arc?.note) notes.push(arc.note)
    } else {
      card.name = `NVIDIA GPU (${id})`
    }
    out.push(card)
  }
  return { cards: out, notes }
}

/**
 * Display controllers on the PCI bus with no DRM card, i.e. no driver bound (docs/decisions.md,
 * "The PCI bus lists a GPU before any driver does"): an NVIDIA card whose kernel module failed to
 * load still shows up here, where systeminformation would need lspci and would run nvidia-smi
 * synchronously.
 */
export async function probePciDisplays(fs: DetectFs, known: SysfsCard[]): Promise<SysfsCard[]> {
  const base = '/sys/bus/pci/devices'
  let slots: string[] = []
  try {
    slots = await fs.readdir(base)
  } catch {
    return []
  }
  const seen = new Set(known.map((c) => c.pciSlot))
  const devices = await Promise.all(
    slots
      .filter((slot) => !seen.has(slot))
      .sort()
      .map(async (slot) => {
        const [cls, vendorId, deviceId] = await Promise.all([
          readTrimmed(fs, `${base}/${slot}/class`),
          readTrimmed(fs, `${base}/${slot}/vendor`),
          readTrimmed(fs, `${base}/${slot}/device`),
        ])
        return { slot, cls, vendorId, deviceId }
      }),
  )
  const out: SysfsCard[] = []
  for (const d of devices) {
    // PCI class 0x03xxxx: VGA, 3D and other display controllers.
    if (!d.cls?.toLowerCase().startsWith('0x03')) continue
    const vendor = d.vendorId ? VENDORS[d.vendorId.toLowerCase()] : undefined
    if (!vendor) continue
    const id = `${d.vendorId?.slice(2)}:${d.deviceId?.slice(2) ?? '?'}`
    const label = { nvidia: 'NVIDIA GPU', amd: 'AMD GPU', intel: 'Intel GPU' }[vendor as string]
    const integrated = vendor === 'intel' && INTEL_IGPU_SLOT.test(d.slot)
    out.push({ vendor, name: `${label} (${id})`, source: 'pci', pciSlot: d.slot, integrated })
  }
  return out
}

async function exists(fs: DetectFs, path: string): Promise<boolean> {
  try {
    await fs.access(path)
    return true
  } catch {
    return false
  }
}

/** `/dev/kfd`, `/dev/dri` and their numeric gids (names such as `render` may not exist in the image). */
export async function probeDevices(fs: DetectFs): Promise<GpuDevices> {
  const [kfd, dri] = await Promise.all([exists(fs, '/dev/kfd'), exists(fs, '/dev/dri')])
  const paths = kfd ? ['/dev/kfd'] : []
  if (dri) {
    try {
      for (const node of await fs.readdir('/dev/dri')) {
        if (/^renderD\d+$/.test(node)) paths.push(`/dev/dri/${node}`)
      }
    } catch {}
  }
  const gids = await Promise.all(
    paths.map((p) =>
      fs.stat(p).then(
        (s) => s.gid,
        () => undefined,
      ),
    ),
  )
  const groupIds = [...new Set(gids.filter((g): g is number => g !== undefined && g > 0))]
  return { kfd, dri, groupIds }
}
