import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseAmdSmi, parseRocmSmi } from '../src/gpu/amd.js'
import { appleGpuBudget } from '../src/gpu/apple.js'
import { detectGpus } from '../src/gpu/detect.js'
import { NVIDIA_QUERY, parseNvidiaSmi } from '../src/gpu/nvidia.js'
import { decodeGfxTarget } from '../src/gpu/sysfs.js'
import { loadGpuFixture } from './fixtures/gpu/fixture.js'

const MIB = 1024 ** 2
const GIB = 1024 ** 3

describe('nvidia-smi parsing', () => {
  it('asks exactly the query Ollama documents', () => {
    expect(NVIDIA_QUERY).toEqual([
      '--query-gpu=name,memory.total,memory.free,driver_version,compute_cap',
      '--format=csv,noheader,nounits',
    ])
  })

  it('reads name, MiB totals, driver and compute capability from each line', () => {
    const gpus = parseNvidiaSmi('NVIDIA GeForce RTX 4090, 24564, 23811, 550.54.14, 8.9\r\n\n')
    expect(gpus).toEqual([
      {
        vendor: 'nvidia',
        name: 'NVIDIA GeForce RTX 4090',
        vramBytes: 24564 * MIB,
        freeVramBytes: 23811 * MIB,
        driver: '550.54.14',
        computeCapability: '8.9',
        source: 'nvidia-smi',
      },
    ])
  })

  it('leaves [N/A] and [Not Supported] fields out instead of reading them as numbers', () => {
    const [gpu] = parseNvidiaSmi('NVIDIA GB10, [N/A], [Not Supported], 580.95.05, 12.1')
    expect(gpu?.vramBytes).toBeUndefined()
    expect(gpu?.freeVramBytes).toBeUndefined()
    expect(gpu?.computeCapability).toBe('12.1')
  })

  it('keeps a comma inside a product name', () => {
    const [gpu] = parseNvidiaSmi('Quadro RTX 8000, Rev A, 49152, 49000, 535.104.05, 7.5')
    expect(gpu?.name).toBe('Quadro RTX 8000, Rev A')
    expect(gpu?.vramBytes).toBe(49152 * MIB)
  })

  it('reads the old-driver query without compute_cap', () => {
    const [gpu] = parseNvidiaSmi('Tesla K80, 11441, 11372, 470.182.03', false)
    expect(gpu).toMatchObject({ name: 'Tesla K80', driver: '470.182.03', vramBytes: 11441 * MIB })
    expect(gpu?.computeCapability).toBeUndefined()
  })
})

describe('AMD tool parsing', () => {
  it('reads rocm-smi JSON after a warning line, in either key case', () => {
    const out = `WARNING: AMD GPU device(s) is/are in a low-power state. Check power control/runtime_status\n${JSON.stringify(
      {
        card0: {
          'VRAM Total Memory (B)': '21458059264',
          'Card series': 'Radeon RX 7900 XT',
          'GFX Version': 'gfx1100',
        },
        system: { 'Driver version': '6.8.5' },
      },
    )}`
    expect(parseRocmSmi(out)).toEqual([
      {
        vendor: 'amd',
        name: 'Radeon RX 7900 XT',
        vramBytes: 21458059264,
        computeCapability: 'gfx1100',
        source: 'rocm-smi',
      },
    ])
  })

  it('reads both amd-smi shapes and their {value, unit} sizes', () => {
    const entry = {
      gpu: 0,
      asic: { market_name: 'AMD Radeon RX 7800 XT', target_graphics_version: 'gfx1101' },
      vram: { type: 'GDDR6', vendor: 'N/A', size: { value: 16368, unit: 'MB' } },
    }
    const expected = [
      {
        vendor: 'amd',
        name: 'AMD Radeon RX 7800 XT',
        vramBytes: 16368 * MIB,
        computeCapability: 'gfx1101',
        source: 'amd-smi',
      },
    ]
    expect(parseAmdSmi(JSON.stringify({ gpu_data: [entry] }))).toEqual(expected)
    expect(parseAmdSmi(JSON.stringify([entry]))).toEqual(expected)
    expect(parseAmdSmi('not json')).toEqual([])
  })

  it('decodes KFD gfx_target_version the way Ollama does', () => {
    expect(decodeGfxTarget(110000)).toBe('gfx1100')
    expect(decodeGfxTarget(100300)).toBe('gfx1030')
    expect(decodeGfxTarget(90010)).toBe('gfx90a')
    expect(decodeGfxTarget(90402)).toBe('gfx942')
    expect(decodeGfxTarget(0)).toBeUndefined()
  })
})

describe('Apple unified memory budget', () => {
  it('is 2/3 of RAM up to 36 GB and 3/4 above, or the wired limit when set', () => {
    expect(appleGpuBudget(16 * GIB)).toBe(Math.floor((16 * GIB * 2) / 3))
    expect(appleGpuBudget(36 * GIB)).toBe(24 * GIB)
    expect(appleGpuBudget(64 * GIB)).toBe(48 * GIB)
    expect(appleGpuBudget(64 * GIB, 57344)).toBe(56 * GIB)
  })
})

describe('detectGpus on recorded machines', () => {
  it('one RTX 4090: cuda, its full VRAM as the budget, the sysfs card not counted twice', async () => {
    const { deps } = loadGpuFixture('nvidia-rtx4090')
    const report = await detectGpus(deps)
    expect(report.accelerator).toBe('cuda')
    expect(report.gpus).toHaveLength(1)
    expect(report.gpus[0]).toMatchObject({
      vendor: 'nvidia',
      name: 'NVIDIA GeForce RTX 4090',
      computeCapability: '8.9',
    })
    expect(report.budgetBytes).toBe(24564 * MIB)
    expect(report.ramBytes).toBe(64 * GIB)
    expect(report.wsl).toBe(false)
    expect(report.freeDiskBytes).toBe(500e9)
  })

  it('two H100s: the budget is one GPU, and the notes say a larger model is split and memory is in use', async () => {
    const { deps } = loadGpuFixture('nvidia-2x-h100')
    const report = await detectGpus(deps)
    expect(report.accelerator).toBe('cuda')
    expect(report.gpus.map((g) => g.name)).toEqual([
      'NVIDIA H100 80GB HBM3',
      'NVIDIA H100 80GB HBM3',
    ])
    expect(report.budgetBytes).toBe(81559 * MIB)
    expect(report.notes.join('\n')).toMatch(/2 GPUs with 171\.0 GB in all/)
    expect(report.notes.join('\n')).toMatch(
      /22\.3 GB of NVIDIA H100 80GB HBM3's memory is held by other programs/,
    )
  })

  it('driver not loaded: the card is listed, the budget falls back to RAM, and the note says why', async () => {
    const { deps } = loadGpuFixture('nvidia-driver-failed')
    const report = await detectGpus(deps)
    expect(report.accelerator).toBe('cpu')
    expect(report.gpus).toEqual([
      { vendor: 'nvidia', name: 'NVIDIA GPU (10de:2684)', source: 'pci' },
    ])
    expect(report.budgetBytes).toBe(16 * GIB)
    expect(report.notes.join('\n')).toMatch(/cannot talk to the NVIDIA driver/)
  })

  it('nvidia-smi missing with an NVIDIA card on the bus: tells the user to install the driver', async () => {
    const { deps } = loadGpuFixture('nvidia-smi-missing')
    const report = await detectGpus(deps)
    expect(report.accelerator).toBe('cpu')
    expect(report.gpus[0]).toMatchObject({ vendor: 'nvidia', driver: 'nouveau' })
    expect(report.notes.join('\n')).toMatch(/nvidia-smi is missing: install the NVIDIA driver/)
  })

  it('old driver: asks again without compute_cap and still finds the GPUs', async () => {
    const { deps, calls } = loadGpuFixture('nvidia-old-driver')
    const report = await detectGpus(deps)
    expect(calls.filter((c) => c.startsWith('nvidia-smi'))).toEqual([
      'nvidia-smi --query-gpu=name,memory.total,memory.free,driver_version,compute_cap --format=csv,noheader,nounits',
      'nvidia-smi --query-gpu=name,memory.total,memory.free,driver_version --format=csv,noheader,nounits',
    ])
    expect(report.accelerator).toBe('cuda')
    expect(report.gpus).toHaveLength(2)
    expect(report.budgetBytes).toBe(11441 * MIB)
  })

  it('GB10 with [N/A] memory: counts unified system memory instead of zero', async () => {
    const { deps } = loadGpuFixture('nvidia-gb10')
    const report = await detectGpus(deps)
    expect(report.accelerator).toBe('cuda')
    expect(report.budgetBytes).toBe(Math.floor(128526278656 * 0.75))
    expect(report.notes.join('\n')).toMatch(/unified memory/)
  })

  it('AMD through rocm-smi: rocm, exact VRAM, gfx target, and the device gids for the container', async () => {
    const { deps } = loadGpuFixture('amd-rocm-smi')
    const report = await detectGpus(deps)
    expect(report.accelerator).toBe('rocm')
    expect(report.gpus).toEqual([
      {
        vendor: 'amd',
        name: 'Radeon RX 7900 XTX',
        vramBytes: 25753026560,
        freeVramBytes: 25753026560 - 1041326080,
        computeCapability: 'gfx1100',
        driver: 'amdgpu',
        source: 'rocm-smi',
      },
    ])
    expect(report.budgetBytes).toBe(25753026560)
    expect(report.devices).toEqual({ kfd: true, dri: true, groupIds: [992, 991] })
  })

  it('AMD through sysfs alone: VRAM from mem_info_vram_total, gfx from the KFD topology', async () => {
    const { deps } = loadGpuFixture('amd-sysfs')
    const report = await detectGpus(deps)
    expect(report.accelerator).toBe('rocm')
    expect(report.gpus[0]).toMatchObject({
      vendor: 'amd',
      name: 'AMD GPU (1002:73bf)',
      vramBytes: 17163091968,
      computeCapability: 'gfx1030',
      source: 'sysfs',
    })
    expect(report.budgetBytes).toBe(17163091968)
  })

  it('Intel Arc: vulkan with the card size, the integrated GPU listed but not counted', async () => {
    const { deps } = loadGpuFixture('intel-arc')
    const report = await detectGpus(deps)
    expect(report.accelerator).toBe('vulkan')
    expect(report.gpus.map((g) => g.name)).toEqual([
      'Intel integrated graphics (8086:a780)',
      'Intel Arc A770',
    ])
    expect(report.budgetBytes).toBe(8 * GIB)
    expect(report.notes.join('\n')).toMatch(/8 or 16 GB/)
    expect(report.devices).toEqual({ kfd: false, dri: true, groupIds: [993] })
  })

  it('Apple M2 Max 32 GB: metal with 2/3 of RAM, and no Linux or NVIDIA probes', async () => {
    const { deps, calls } = loadGpuFixture('apple-m2-max-32gb')
    const report = await detectGpus(deps)
    expect(report.accelerator).toBe('metal')
    expect(report.gpus).toEqual([
      {
        vendor: 'apple',
        name: 'Apple M2 Max',
        vramBytes: Math.floor((32 * GIB * 2) / 3),
        source: 'sysctl',
      },
    ])
    expect(report.budgetBytes).toBe(Math.floor((32 * GIB * 2) / 3))
    expect(report.ramBytes).toBe(32 * GIB)
    expect(calls.every((c) => c.startsWith('sysctl -n '))).toBe(true)
    expect(report.devices).toBeUndefined()
  })

  it('Apple M3 Max 64 GB: 3/4 of RAM', async () => {
    const { deps } = loadGpuFixture('apple-m3-max-64gb')
    const report = await detectGpus(deps)
    expect(report.accelerator).toBe('metal')
    expect(report.budgetBytes).toBe(48 * GIB)
  })

  it('WSL2: recognised from /proc/version, nvidia-smi found in /usr/lib/wsl/lib', async () => {
    const { deps, calls } = loadGpuFixture('wsl2-nvidia')
    const report = await detectGpus(deps)
    expect(report.wsl).toBe(true)
    expect(report.accelerator).toBe('cuda')
    expect(report.gpus[0]?.name).toBe('NVIDIA GeForce RTX 3080 Laptop GPU')
    expect(calls.some((c) => c.startsWith('/usr/lib/wsl/lib/nvidia-smi --query-gpu='))).toBe(true)
    // WSL exposes no amdgpu: the AMD tools are not asked.
    expect(calls.some((c) => c.startsWith('rocm-smi') || c.startsWith('amd-smi'))).toBe(false)
  })

  it('no GPU: cpu with half the RAM, virtual display adapters ignored', async () => {
    const { deps } = loadGpuFixture('no-gpu')
    const report = await detectGpus(deps)
    expect(report).toMatchObject({ gpus: [], accelerator: 'cpu', budgetBytes: 8 * GIB, wsl: false })
  })

  it('names from systeminformation when no vendor tool answers, its vram never used', async () => {
    const { deps } = loadGpuFixture('windows-amd-names-only')
    const report = await detectGpus(deps)
    expect(report.gpus).toEqual([
      { vendor: 'amd', name: 'AMD Radeon RX 6600', source: 'systeminformation' },
    ])
    expect(report.accelerator).toBe('cpu')
    expect(report.notes.join('\n')).toMatch(
      /found AMD Radeon RX 6600, but no vendor tool reported its memory/,
    )
  })

  it('a probe that hangs is cut off at its timeout and the rest still answers', async () => {
    const { deps } = loadGpuFixture('apple-m3-max-64gb')
    const inner = deps.run!
    const report = await detectGpus({
      ...deps,
      timeoutMs: 50,
      run: (cmd, args, opts) =>
        args.includes('iogpu.wired_limit_mb')
          ? new Promise((resolve) =>
              setTimeout(
                () => resolve({ stdout: '', stderr: '', code: null, errorCode: 'ETIMEDOUT' }),
                opts.timeoutMs,
              ),
            )
          : inner(cmd, args, opts),
    })
    expect(report.budgetBytes).toBe(48 * GIB)
  })
})

describe('detectGpus when a probe throws', () => {
  it('answers CPU with the reason instead of rejecting', async () => {
    const { deps } = loadGpuFixture('nvidia-rtx4090')
    const report = await detectGpus({
      ...deps,
      run: async () => {
        throw new Error('spawn EAGAIN')
      },
    })
    expect(report.accelerator).toBe('cpu')
    expect(report.notes).toEqual(['GPU detection failed (spawn EAGAIN); assuming the CPU'])
  })
})

describe('detectGpus on this machine', () => {
  it('is computed once per process when called without deps', async () => {
    const first = detectGpus()
    expect(detectGpus()).toBe(first)
    const report = await first
    expect(report.platform).toBe(process.platform)
    expect(report.ramBytes).toBe(os.totalmem())
  })
})

describe('detectGpus and the event loop', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vpo-fake-nvidia-'))
    const script = path.join(dir, 'nvidia-smi')
    await writeFile(
      script,
      '#!/bin/sh\nsleep 1\necho "NVIDIA GeForce RTX 4090, 24564, 23811, 550.54.14, 8.9"\n',
    )
    await chmod(script, 0o755)
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  // A blocking call would stall the loop for the whole second nvidia-smi takes; a loaded two-core
  // CI runner alone delays it by up to ~100 ms, so the bound sits between the two.
  it('never blocks the loop for the length of a 1 s nvidia-smi', async () => {
    const histogram = monitorEventLoopDelay({ resolution: 10 })
    histogram.enable()
    const started = performance.now()
    const report = await detectGpus({ env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } })
    const took = performance.now() - started
    histogram.disable()
    expect(took).toBeGreaterThanOrEqual(900)
    expect(report.gpus.find((g) => g.vendor === 'nvidia')?.name).toBe('NVIDIA GeForce RTX 4090')
    expect(report.accelerator).toBe('cuda')
    expect(histogram.max / 1e6).toBeLessThan(300)
  })
})
