// Intel and Vulkan GPUs, from recorded machines (test/fixtures/gpu): what detection makes of them,
// the container plan it leads to, and the models recommended for the card.
import { describe, expect, it } from 'vitest'
import { type DockerGpuInfo, planContainerGpu } from '../src/gpu/container.js'
import { detectGpus, type GpuReport } from '../src/gpu/detect.js'
import { recommendModels } from '../src/gpu/recommend.js'
import { resolveOptions } from '../src/options.js'
import { type GpuFixtureName, loadGpuFixture } from './fixtures/gpu/fixture.js'

const GIB = 1024 ** 3

async function reportOf(name: GpuFixtureName): Promise<GpuReport> {
  return detectGpus(loadGpuFixture(name).deps)
}

const linuxDocker: DockerGpuInfo = {
  runtimes: { runc: { path: 'runc' } },
  cdiSpecDirs: [],
  operatingSystem: 'Ubuntu 24.04.1 LTS',
  serverVersion: '27.3.1',
  architecture: 'x86_64',
}

function dri(): object {
  return { PathOnHost: '/dev/dri', PathInContainer: '/dev/dri', CgroupPermissions: 'rwm' }
}

describe('Intel GPUs', () => {
  it('Arc B580 (xe): Vulkan with its 12 GB, and models sized for it', async () => {
    const report = await reportOf('intel-arc-b580')
    expect(report.accelerator).toBe('vulkan')
    expect(report.gpus).toEqual([
      {
        vendor: 'intel',
        name: 'Intel Arc B580',
        vramBytes: 12 * GIB,
        driver: 'xe',
        source: 'sysfs+pci-id',
      },
    ])
    expect(report.budgetBytes).toBe(12 * GIB)
    const names = recommendModels(report.budgetBytes, { accelerator: 'vulkan' }).map((r) => r.name)
    // An 8B model (4.7 GB, about 6.1 GB loaded) fits 12 GiB; a 14B one (9 GB, about 11.3 GB) too,
    // a 32B one (20 GB) does not.
    expect(names).toContain('llama3.1:8b')
    expect(names).toContain('qwen2.5:14b')
    expect(names).not.toContain('qwen2.5:32b')
  })

  it('Arc B580 under auto: /dev/dri, its render group and OLLAMA_VULKAN=1 in the main image', async () => {
    const plan = planContainerGpu(await reportOf('intel-arc-b580'), 'auto', linuxDocker)
    expect(plan).toEqual({
      gpu: 'intel',
      hostConfig: { Devices: [dri()], GroupAdd: ['video', '992'] },
      env: { OLLAMA_VULKAN: '1' },
      reason: 'Intel Arc B580 through Vulkan (/dev/dri, OLLAMA_VULKAN=1)',
    })
  })

  it("Arc A770 next to integrated graphics: the discrete card, also under docker.gpu 'intel'", async () => {
    const report = await reportOf('intel-arc')
    for (const requested of ['auto', 'intel'] as const) {
      const plan = planContainerGpu(report, requested, linuxDocker)
      expect(plan.gpu).toBe('intel')
      expect(plan.env).toEqual({ OLLAMA_VULKAN: '1' })
      expect(plan.hostConfig.GroupAdd).toEqual(['video', '993'])
      expect(plan.reason).toMatch(/^Intel Arc A770 through Vulkan/)
    }
  })

  it("Iris Xe only: the CPU under auto, and OLLAMA_IGPU_ENABLE=1 when docker.gpu is 'intel'", async () => {
    const report = await reportOf('intel-iris-xe')
    expect(report.accelerator).toBe('cpu')
    expect(report.gpus).toEqual([
      expect.objectContaining({ vendor: 'intel', integrated: true, driver: 'i915' }),
    ])
    expect(report.notes.join('\n')).toMatch(/OLLAMA_IGPU_ENABLE=1/)

    const auto = planContainerGpu(report, 'auto', linuxDocker)
    expect(auto.gpu).toBe('none')
    expect(auto.reason).toMatch(/integrated Intel graphics.*docker\.gpu: 'intel'/)

    const asked = planContainerGpu(report, 'intel', linuxDocker)
    expect(asked).toEqual({
      gpu: 'intel',
      hostConfig: { Devices: [dri()], GroupAdd: ['video', '105'] },
      env: { OLLAMA_VULKAN: '1', OLLAMA_IGPU_ENABLE: '1' },
      reason: expect.stringMatching(
        /^Intel integrated graphics \(8086:9a49\) through Vulkan .*OLLAMA_IGPU_ENABLE=1/,
      ),
    })
    // Sized for the shared RAM the CPU would use: no model bigger than the CPU's share.
    const biggest = Math.max(
      ...recommendModels(report.budgetBytes, { accelerator: report.accelerator }).map(
        (r) => r.sizeBytes,
      ),
    )
    expect(biggest).toBeLessThanOrEqual(3.5e9)
  })

  it("docker.gpu 'intel' with no Intel GPU detected: /dev/dri anyway, and says so", async () => {
    const plan = planContainerGpu(await reportOf('amd-sysfs'), 'intel', linuxDocker)
    expect(plan.gpu).toBe('intel')
    expect(plan.hostConfig.Devices).toEqual([dri()])
    expect(plan.reason).toMatch(/^docker\.gpu is 'intel', but no Intel GPU was detected/)
  })
})

describe('Vulkan', () => {
  it('RX 6600 (gfx1032): Vulkan, since ROCm has no kernels for it; the main image with both devices', async () => {
    const report = await reportOf('amd-rx6600-vulkan')
    expect(report.accelerator).toBe('vulkan')
    expect(report.budgetBytes).toBe(8573157376)
    expect(report.notes.join('\n')).toMatch(/no kernels for gfx1032/)
    const plan = planContainerGpu(report, 'auto', linuxDocker)
    expect(plan.gpu).toBe('amd')
    expect(plan.image).toBeUndefined()
    expect(plan.env).toEqual({ OLLAMA_VULKAN: '1' })
    expect(plan.reason).toMatch(/through Vulkan/)
  })

  it("docker.gpu 'vulkan': /dev/dri alone, for AMD and Intel alike", async () => {
    const amd = planContainerGpu(await reportOf('amd-rx6600-vulkan'), 'vulkan', linuxDocker)
    expect(amd).toEqual({
      gpu: 'vulkan',
      hostConfig: { Devices: [dri()], GroupAdd: ['video', '26', '105'] },
      env: { OLLAMA_VULKAN: '1' },
      reason: 'AMD GPU (1002:73ff) through Vulkan (/dev/dri, OLLAMA_VULKAN=1)',
    })
    const intel = planContainerGpu(await reportOf('intel-arc-b580'), 'vulkan', linuxDocker)
    expect(intel.gpu).toBe('vulkan')
    expect(intel.reason).toMatch(/^Intel Arc B580 through Vulkan/)
  })

  it("docker.gpu 'vulkan' on an NVIDIA-only machine: the CPU, and says to use 'nvidia'", async () => {
    const plan = planContainerGpu(await reportOf('nvidia-2x-h100'), 'vulkan', linuxDocker)
    expect(plan.gpu).toBe('none')
    expect(plan.reason).toMatch(/no NVIDIA driver .*set docker\.gpu to 'nvidia'/)
  })

  it('where a container cannot have it: arm64 images, WSL2, macOS, and no /dev/dri', async () => {
    const b580 = await reportOf('intel-arc-b580')
    const arm = planContainerGpu(b580, 'auto', { ...linuxDocker, architecture: 'aarch64' })
    expect(arm).toMatchObject({ gpu: 'none', reason: expect.stringMatching(/arm64.*no Vulkan/) })

    const wsl = planContainerGpu({ ...b580, wsl: true }, 'intel', linuxDocker)
    expect(wsl).toMatchObject({ gpu: 'none', reason: expect.stringMatching(/only on Linux/) })

    const noDri = planContainerGpu(
      { ...b580, devices: { kfd: false, dri: false, groupIds: [] } },
      'intel',
      linuxDocker,
    )
    expect(noDri).toMatchObject({ gpu: 'none', reason: expect.stringMatching(/no \/dev\/dri/) })

    const mac = planContainerGpu(await reportOf('apple-m3-max-64gb'), 'vulkan', linuxDocker)
    expect(mac.gpu).toBe('none')
  })

  it('keeps a docker.image the user chose, and says it needs the Vulkan runner', async () => {
    const plan = planContainerGpu(
      await reportOf('intel-arc-b580'),
      'intel',
      linuxDocker,
      'ghcr.io/me/ollama:vulkan',
    )
    expect(plan.image).toBeUndefined()
    expect(plan.reason).toMatch(/keeping your docker\.image ghcr\.io\/me\/ollama:vulkan/)
  })
})

describe('docker.gpu option', () => {
  it("takes 'intel' and 'vulkan', and names the choices when it gets something else", () => {
    expect(resolveOptions({ docker: { gpu: 'intel' } }).docker.gpu).toBe('intel')
    expect(resolveOptions({ docker: { gpu: 'vulkan' } }).docker.gpu).toBe('vulkan')
    expect(() => resolveOptions({ docker: { gpu: 'arc' as never } })).toThrow(
      /docker\.gpu: .*"vulkan"/,
    )
  })
})
