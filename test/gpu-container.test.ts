import { describe, expect, it } from 'vitest'
import { type DockerGpuInfo, planContainerGpu } from '../src/gpu/container.js'
import { detectGpus, type GpuReport } from '../src/gpu/detect.js'
import { type GpuFixtureName, loadGpuFixture } from './fixtures/gpu/fixture.js'

async function reportOf(name: GpuFixtureName): Promise<GpuReport> {
  return detectGpus(loadGpuFixture(name).deps)
}

const linuxDocker: DockerGpuInfo = {
  runtimes: { runc: { path: 'runc' }, 'io.containerd.runc.v2': { path: 'runc' } },
  cdiSpecDirs: [],
  operatingSystem: 'Ubuntu 24.04.1 LTS',
  serverVersion: '27.3.1',
}
const withNvidiaRuntime: DockerGpuInfo = {
  ...linuxDocker,
  runtimes: { ...linuxDocker.runtimes, nvidia: { path: 'nvidia-container-runtime' } },
}
const NVIDIA_ALL = [{ Driver: 'nvidia', Count: -1, Capabilities: [['gpu']] }]

describe('planContainerGpu', () => {
  it('NVIDIA with the nvidia runtime: --gpus all as a DeviceRequest', async () => {
    const plan = planContainerGpu(await reportOf('nvidia-rtx4090'), 'auto', withNvidiaRuntime)
    expect(plan).toEqual({
      gpu: 'nvidia',
      hostConfig: { DeviceRequests: NVIDIA_ALL },
      env: {},
      reason: 'NVIDIA GPU passed to the container (the daemon has the nvidia runtime)',
    })
  })

  it('NVIDIA with CDI enabled and no runtime entry: the same request', async () => {
    const plan = planContainerGpu(await reportOf('nvidia-2x-h100'), 'auto', {
      ...linuxDocker,
      cdiSpecDirs: ['/etc/cdi', '/var/run/cdi'],
    })
    expect(plan.hostConfig.DeviceRequests).toEqual(NVIDIA_ALL)
    expect(plan.reason).toMatch(/CDI/)
  })

  it('Podman: the CDI form, the only one its compat API honours', async () => {
    const plan = planContainerGpu(await reportOf('nvidia-rtx4090'), 'auto', {
      ...withNvidiaRuntime,
      isPodman: true,
    })
    expect(plan.gpu).toBe('nvidia')
    expect(plan.hostConfig).toEqual({
      DeviceRequests: [{ Driver: 'cdi', DeviceIDs: ['nvidia.com/gpu=all'] }],
    })
    expect(plan.reason).toMatch(/nvidia-ctk cdi generate/)
  })

  it("docker.gpu 'nvidia' without runtime or CDI: planned anyway, the reason says the toolkit seems missing", async () => {
    const plan = planContainerGpu(await reportOf('no-gpu'), 'nvidia', linuxDocker)
    expect(plan.gpu).toBe('nvidia')
    expect(plan.hostConfig.DeviceRequests).toEqual(NVIDIA_ALL)
    expect(plan.reason).toMatch(
      /^docker.gpu is 'nvidia', but .*NVIDIA Container Toolkit seems missing/,
    )
    expect(plan.reason).toMatch(/the container runs on the CPU/)
  })

  it('WSL2 with Docker Desktop: GPU passed although no nvidia runtime is listed', async () => {
    const plan = planContainerGpu(await reportOf('wsl2-nvidia'), 'auto', {
      runtimes: { runc: {} },
      operatingSystem: 'Docker Desktop',
    })
    expect(plan.hostConfig.DeviceRequests).toEqual(NVIDIA_ALL)
    expect(plan.reason).toMatch(/WSL2/)
  })

  it('Docker Desktop on macOS: no GPU, and says to use native Ollama for Metal', async () => {
    const report = await reportOf('apple-m3-max-64gb')
    for (const requested of ['auto', 'nvidia'] as const) {
      const plan = planContainerGpu(report, requested, { operatingSystem: 'Docker Desktop' })
      expect(plan).toEqual({
        gpu: 'none',
        hostConfig: {},
        env: {},
        reason:
          'no GPU in Docker Desktop on macOS: the container runs on the CPU; install native Ollama (ollama.com/download) for Metal',
      })
    }
  })

  it('Docker Desktop for Linux: no GPU, with how to switch to the native engine', async () => {
    const plan = planContainerGpu(await reportOf('nvidia-rtx4090'), 'auto', {
      ...withNvidiaRuntime,
      operatingSystem: 'Docker Desktop',
    })
    expect(plan.gpu).toBe('none')
    expect(plan.reason).toMatch(/docker context use default/)
  })

  it('AMD with ROCm: the :rocm image, /dev/kfd and /dev/dri, video plus the numeric gids', async () => {
    const plan = planContainerGpu(await reportOf('amd-rocm-smi'), 'auto', linuxDocker)
    expect(plan).toEqual({
      gpu: 'amd',
      image: 'ollama/ollama:rocm',
      hostConfig: {
        Devices: [
          { PathOnHost: '/dev/kfd', PathInContainer: '/dev/kfd', CgroupPermissions: 'rwm' },
          { PathOnHost: '/dev/dri', PathInContainer: '/dev/dri', CgroupPermissions: 'rwm' },
        ],
        GroupAdd: ['video', '992', '991'],
      },
      env: {},
      reason: 'AMD GPU through ROCm with ollama/ollama:rocm (/dev/kfd, /dev/dri)',
    })
  })

  it("AMD with the user's own image: keeps it", async () => {
    const plan = planContainerGpu(
      await reportOf('amd-sysfs'),
      'auto',
      linuxDocker,
      'ollama/ollama:0.12.0-rocm',
    )
    expect(plan.gpu).toBe('amd')
    expect(plan.image).toBeUndefined()
    expect(plan.reason).toMatch(/keeping your docker.image ollama\/ollama:0.12.0-rocm/)
  })

  it('AMD without /dev/kfd: only /dev/dri, for Vulkan in the main image', async () => {
    const report = await reportOf('amd-sysfs')
    const plan = planContainerGpu(
      { ...report, devices: { kfd: false, dri: true, groupIds: [105] } },
      'amd',
      linuxDocker,
    )
    expect(plan.image).toBeUndefined()
    expect(plan.hostConfig.Devices).toEqual([
      { PathOnHost: '/dev/dri', PathInContainer: '/dev/dri', CgroupPermissions: 'rwm' },
    ])
    expect(plan.reason).toMatch(/no \/dev\/kfd/)
  })

  it('Intel Arc: /dev/dri for Vulkan in the main image (more in gpu-vulkan.test.ts)', async () => {
    const plan = planContainerGpu(await reportOf('intel-arc'), 'auto', linuxDocker)
    expect(plan.gpu).toBe('intel')
    expect(plan.image).toBeUndefined()
    expect(plan.reason).toMatch(/^Intel Arc A770 through Vulkan/)
  })

  it("no GPU, or docker.gpu 'none': CPU, each with a reason", async () => {
    expect(planContainerGpu(await reportOf('no-gpu'), 'auto', linuxDocker)).toEqual({
      gpu: 'none',
      hostConfig: {},
      env: {},
      reason: 'no GPU found: the container runs on the CPU',
    })
    const none = planContainerGpu(await reportOf('nvidia-rtx4090'), 'none', withNvidiaRuntime)
    expect(none.gpu).toBe('none')
    expect(none.reason).toBe("docker.gpu is 'none': the container runs on the CPU")
  })

  it('a driver that cannot be reached means no GPU request under auto', async () => {
    const plan = planContainerGpu(await reportOf('nvidia-driver-failed'), 'auto', withNvidiaRuntime)
    expect(plan.gpu).toBe('none')
  })
})
