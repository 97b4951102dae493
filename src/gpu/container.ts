import type { GpuReport } from './detect.js'

/** What `docker info` (and `version`, for Podman) says about the daemon's GPU support. */
export interface DockerGpuInfo {
  runtimes?: Record<string, unknown>
  cdiSpecDirs?: string[]
  operatingSystem?: string
  isPodman?: boolean
  serverVersion?: string
}

export interface ContainerGpuPlan {
  gpu: 'nvidia' | 'amd' | 'none'
  /** Set only when the GPU needs another image (e.g. `ollama/ollama:rocm`). */
  image?: string
  hostConfig: { DeviceRequests?: object[]; Devices?: object[]; GroupAdd?: string[] }
  env: Record<string, string>
  reason: string
}

export const DEFAULT_IMAGE = 'ollama/ollama:latest'
export const ROCM_IMAGE = 'ollama/ollama:rocm'

// `--gpus all` (docs/decisions.md, "Passing an NVIDIA GPU to a container"): Count -1 = every GPU.
const NVIDIA_REQUEST = { Driver: 'nvidia', Count: -1, Capabilities: [['gpu']] }
// Podman's compat API drops every device request whose Driver is not `cdi`, silently
// (docs/decisions.md, "Podman honours only CDI device requests").
const CDI_REQUEST = { Driver: 'cdi', DeviceIDs: ['nvidia.com/gpu=all'] }

function device(path: string): object {
  return { PathOnHost: path, PathInContainer: path, CgroupPermissions: 'rwm' }
}

function none(reason: string): ContainerGpuPlan {
  return { gpu: 'none', hostConfig: {}, env: {}, reason }
}

function planNvidia(report: GpuReport, info: DockerGpuInfo, explicit: boolean): ContainerGpuPlan {
  if (info.isPodman) {
    return {
      gpu: 'nvidia',
      hostConfig: { DeviceRequests: [CDI_REQUEST] },
      env: {},
      reason:
        'Podman: GPU through CDI (nvidia.com/gpu=all); if the container starts without it, run `sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml`',
    }
  }
  const plan = (reason: string): ContainerGpuPlan => ({
    gpu: 'nvidia',
    hostConfig: { DeviceRequests: [NVIDIA_REQUEST] },
    env: {},
    reason,
  })
  if (info.runtimes && 'nvidia' in info.runtimes) {
    return plan('NVIDIA GPU passed to the container (the daemon has the nvidia runtime)')
  }
  if (info.cdiSpecDirs?.length) {
    return plan('NVIDIA GPU passed to the container (the daemon has CDI enabled)')
  }
  // Docker Desktop on Windows passes NVIDIA GPUs through WSL2 without listing an nvidia runtime
  // (docs/decisions.md, "Where a container can have a GPU"; linuxserver/docker-rdesktop#48), so the
  // missing runtime means nothing there.
  if (info.operatingSystem === 'Docker Desktop' && (report.platform === 'win32' || report.wsl)) {
    return plan('NVIDIA GPU passed to the container through Docker Desktop on WSL2')
  }
  // The daemon also accepts `--gpus` when nvidia-container-runtime-hook is merely on its PATH
  // (moby daemon/nvidia_linux.go), which `info` does not show: try, and let the engine fall back.
  const asked = explicit ? "docker.gpu is 'nvidia', but " : ''
  return plan(
    `${asked}the daemon lists no nvidia runtime and no CDI: the NVIDIA Container Toolkit seems missing (install it, run \`sudo nvidia-ctk runtime configure --runtime=docker\`, restart Docker); if the GPU request fails at start, the container runs on the CPU`,
  )
}

function planAmd(
  report: GpuReport,
  userImage: string | undefined,
  rocm: boolean,
): ContainerGpuPlan {
  if (report.wsl || report.platform !== 'linux') {
    return none('AMD GPUs reach containers only on Linux: the container runs on the CPU')
  }
  const devices = report.devices
  // Names such as `render` may not exist in the image, numeric gids always work (docs/decisions.md,
  // "AMD GPUs in containers").
  const groupAdd = ['video', ...(devices?.groupIds ?? []).map(String)]
  const customImage = userImage && userImage !== DEFAULT_IMAGE ? userImage : undefined
  if (devices && !devices.kfd) {
    // A missing /dev/kfd fails the container at start (docs/decisions.md, "AMD GPUs in
    // containers"): pass /dev/dri alone, for Vulkan.
    if (!devices.dri) return none('no /dev/kfd and no /dev/dri: the container runs on the CPU')
    return {
      gpu: 'amd',
      hostConfig: { Devices: [device('/dev/dri')], GroupAdd: groupAdd },
      env: {},
      reason:
        'AMD GPU through Vulkan (/dev/dri): no /dev/kfd, so the amdgpu ROCm driver is not loaded',
    }
  }
  if (!rocm) {
    // The :rocm image has no Vulkan runner; the main image has (docs/decisions.md, "Which image has
    // which runners"), with the same devices.
    return {
      gpu: 'amd',
      hostConfig: { Devices: [device('/dev/kfd'), device('/dev/dri')], GroupAdd: groupAdd },
      env: {},
      reason:
        "AMD GPU through Vulkan (/dev/kfd, /dev/dri): Ollama's ROCm build does not support it",
    }
  }
  const plan: ContainerGpuPlan = {
    gpu: 'amd',
    hostConfig: { Devices: [device('/dev/kfd'), device('/dev/dri')], GroupAdd: groupAdd },
    env: {},
    reason: customImage
      ? `AMD GPU through ROCm (/dev/kfd, /dev/dri); keeping your docker.image ${customImage}, which must be a ROCm build`
      : `AMD GPU through ROCm with ${ROCM_IMAGE} (/dev/kfd, /dev/dri)`,
  }
  if (!customImage) plan.image = ROCM_IMAGE
  return plan
}

/**
 * The GPU part of the Ollama container's create body, from detection and the daemon's `info`.
 * `userImage` is `docker.image` from the options: a non-default image is never replaced.
 */
export function planContainerGpu(
  report: GpuReport,
  requested: 'auto' | 'nvidia' | 'amd' | 'none',
  info: DockerGpuInfo,
  userImage?: string,
): ContainerGpuPlan {
  if (requested === 'none') return none("docker.gpu is 'none': the container runs on the CPU")
  const desktop = info.operatingSystem === 'Docker Desktop'
  if (report.platform === 'darwin') {
    // No GPU passthrough or emulation in any macOS VM runtime (ollama docs/faq.mdx, #3849).
    const vm = desktop ? 'Docker Desktop' : 'Docker'
    return none(
      `no GPU in ${vm} on macOS: the container runs on the CPU; install native Ollama (ollama.com/download) for Metal`,
    )
  }
  if (desktop && report.platform === 'linux' && !report.wsl) {
    return none(
      'Docker Desktop for Linux runs containers in a VM without GPU access: the container runs on the CPU; `docker context use default` switches to the native engine',
    )
  }
  if (requested === 'nvidia') return planNvidia(report, info, true)
  if (requested === 'amd') return planAmd(report, userImage, true)
  switch (report.accelerator) {
    case 'cuda':
      return planNvidia(report, info, false)
    case 'rocm':
      return planAmd(report, userImage, true)
    case 'vulkan':
      if (report.gpus.some((g) => g.vendor === 'amd')) return planAmd(report, userImage, false)
      return none(
        'Intel GPUs run Ollama only through Vulkan, which the container does not get: it runs on the CPU; native Ollama can use the GPU',
      )
    default:
      return none('no GPU found: the container runs on the CPU')
  }
}
