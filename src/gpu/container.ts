import type { GpuReport } from './detect.js'

/** The values of `docker.gpu`: detection's choice, one vendor's path, Vulkan for any GPU, or none. */
export const dockerGpuChoices = ['auto', 'nvidia', 'amd', 'intel', 'vulkan', 'none'] as const

export type DockerGpuChoice = (typeof dockerGpuChoices)[number]

/** What `docker info` (and `version`, for Podman) says about the daemon's GPU support. */
export interface DockerGpuInfo {
  runtimes?: Record<string, unknown>
  cdiSpecDirs?: string[]
  operatingSystem?: string
  isPodman?: boolean
  serverVersion?: string
  /** `x86_64`, `aarch64`: the image's Vulkan runner exists on amd64 only. */
  architecture?: string
}

export interface ContainerGpuPlan {
  gpu: Exclude<DockerGpuChoice, 'auto'>
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
// Vulkan was opt-in in the Ollama releases that introduced it and is on by default since; saying
// so is right for both (docs/decisions.md, "Intel and Vulkan GPUs in containers").
const VULKAN_ENV = { OLLAMA_VULKAN: '1' }
// Ollama skips integrated GPUs unless told otherwise (docs/decisions.md, "Intel Arc memory").
const IGPU_ENV = { OLLAMA_IGPU_ENABLE: '1' }

function device(path: string): object {
  return { PathOnHost: path, PathInContainer: path, CgroupPermissions: 'rwm' }
}

function none(reason: string): ContainerGpuPlan {
  return { gpu: 'none', hostConfig: {}, env: {}, reason }
}

/** Names such as `render` may not exist in the image, numeric gids always work. */
function groupAdd(report: GpuReport): string[] {
  return ['video', ...(report.devices?.groupIds ?? []).map(String)]
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
  const customImage = userImage && userImage !== DEFAULT_IMAGE ? userImage : undefined
  if (devices && !devices.kfd) {
    // A missing /dev/kfd fails the container at start (docs/decisions.md, "AMD GPUs in
    // containers"): pass /dev/dri alone, for Vulkan.
    if (!devices.dri) return none('no /dev/kfd and no /dev/dri: the container runs on the CPU')
    return {
      gpu: 'amd',
      hostConfig: { Devices: [device('/dev/dri')], GroupAdd: groupAdd(report) },
      env: { ...VULKAN_ENV },
      reason:
        'AMD GPU through Vulkan (/dev/dri): no /dev/kfd, so the amdgpu ROCm driver is not loaded',
    }
  }
  const hostConfig = {
    Devices: [device('/dev/kfd'), device('/dev/dri')],
    GroupAdd: groupAdd(report),
  }
  if (!rocm) {
    // The :rocm image has no Vulkan runner; the main image has (docs/decisions.md, "Which image has
    // which runners"), with the same devices.
    return {
      gpu: 'amd',
      hostConfig,
      env: { ...VULKAN_ENV },
      reason:
        "AMD GPU through Vulkan (/dev/kfd, /dev/dri): Ollama's ROCm build does not support it",
    }
  }
  const plan: ContainerGpuPlan = {
    gpu: 'amd',
    hostConfig,
    env: {},
    reason: customImage
      ? `AMD GPU through ROCm (/dev/kfd, /dev/dri); keeping your docker.image ${customImage}, which must be a ROCm build`
      : `AMD GPU through ROCm with ${ROCM_IMAGE} (/dev/kfd, /dev/dri)`,
  }
  if (!customImage) plan.image = ROCM_IMAGE
  return plan
}

/**
 * Ollama's Vulkan runner in the main image, given `/dev/dri` and its groups (docs/decisions.md,
 * "Intel and Vulkan GPUs in containers"). `what` finishes "… through Vulkan (/dev/dri)".
 */
function planVulkan(
  gpu: 'intel' | 'vulkan',
  report: GpuReport,
  info: DockerGpuInfo,
  userImage: string | undefined,
  what: { name: string; integratedOnly: boolean; prefix?: string },
): ContainerGpuPlan {
  if (report.wsl || report.platform !== 'linux') {
    return none(
      `${what.name} reaches containers only on Linux (Docker Desktop passes NVIDIA GPUs alone): the container runs on the CPU; native Ollama (ollama.com/download) can use it`,
    )
  }
  if (/^(aarch64|arm64)$/i.test(info.architecture ?? '')) {
    return none(
      'the arm64 ollama/ollama image has no Vulkan runner: the container runs on the CPU; native Ollama can use the GPU',
    )
  }
  if (report.devices && !report.devices.dri) {
    return none(
      `no /dev/dri for ${what.name} (is the i915, xe or amdgpu driver loaded?): the container runs on the CPU`,
    )
  }
  const customImage = userImage && userImage !== DEFAULT_IMAGE ? userImage : undefined
  const keeping = customImage
    ? `; keeping your docker.image ${customImage}, which must include Ollama's Vulkan runner`
    : ''
  const igpu = what.integratedOnly
    ? '; OLLAMA_IGPU_ENABLE=1, since Ollama skips integrated GPUs, which share system memory and may be no faster than the CPU'
    : ''
  return {
    gpu,
    hostConfig: { Devices: [device('/dev/dri')], GroupAdd: groupAdd(report) },
    env: { ...VULKAN_ENV, ...(what.integratedOnly ? IGPU_ENV : {}) },
    reason: `${what.prefix ?? ''}${what.name} through Vulkan (/dev/dri, OLLAMA_VULKAN=1)${igpu}${keeping}`,
  }
}

/** The Intel GPU to name: a discrete card first; integrated graphics only when asked for. */
function planIntel(
  report: GpuReport,
  info: DockerGpuInfo,
  userImage: string | undefined,
  explicit: boolean,
): ContainerGpuPlan {
  const intel = report.gpus.filter((g) => g.vendor === 'intel')
  const discrete = intel.find((g) => !g.integrated)
  if (discrete) {
    return planVulkan('intel', report, info, userImage, {
      name: discrete.name,
      integratedOnly: false,
    })
  }
  if (!explicit) {
    return none(
      "only integrated Intel graphics, which Ollama skips by default: the container runs on the CPU; docker.gpu: 'intel' tries it through Vulkan",
    )
  }
  const integrated = intel[0]
  if (integrated) {
    return planVulkan('intel', report, info, userImage, {
      name: integrated.name,
      integratedOnly: true,
    })
  }
  return planVulkan('intel', report, info, userImage, {
    name: 'the GPU',
    integratedOnly: false,
    prefix: "docker.gpu is 'intel', but no Intel GPU was detected: passing ",
  })
}

/** Any GPU but NVIDIA's through Vulkan: the image carries no NVIDIA Vulkan driver. */
function planAnyVulkan(
  report: GpuReport,
  info: DockerGpuInfo,
  userImage: string | undefined,
): ContainerGpuPlan {
  const others = report.gpus.filter((g) => g.vendor !== 'nvidia' && g.vendor !== 'apple')
  if (!others.length && report.gpus.some((g) => g.vendor === 'nvidia')) {
    return none(
      "docker.gpu is 'vulkan', but the image's Vulkan runner has no NVIDIA driver (ollama/ollama#17549): the container runs on the CPU; set docker.gpu to 'nvidia'",
    )
  }
  const first = others.find((g) => !g.integrated) ?? others[0]
  if (!first) {
    return planVulkan('vulkan', report, info, userImage, {
      name: 'the GPU',
      integratedOnly: false,
      prefix: "docker.gpu is 'vulkan', but no GPU was detected: passing ",
    })
  }
  return planVulkan('vulkan', report, info, userImage, {
    name: first.name,
    integratedOnly: Boolean(first.integrated),
  })
}

/**
 * The GPU part of the Ollama container's create body, from detection and the daemon's `info`.
 * `userImage` is `docker.image` from the options: a non-default image is never replaced.
 */
export function planContainerGpu(
  report: GpuReport,
  requested: DockerGpuChoice,
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
  switch (requested) {
    case 'nvidia':
      return planNvidia(report, info, true)
    case 'amd':
      return planAmd(report, userImage, true)
    case 'intel':
      return planIntel(report, info, userImage, true)
    case 'vulkan':
      return planAnyVulkan(report, info, userImage)
    case 'auto':
      return planFromDetection(report, info, userImage)
  }
}

/** `docker.gpu: 'auto'`: the path detection says Ollama would take on this machine. */
function planFromDetection(
  report: GpuReport,
  info: DockerGpuInfo,
  userImage: string | undefined,
): ContainerGpuPlan {
  switch (report.accelerator) {
    case 'cuda':
      return planNvidia(report, info, false)
    case 'rocm':
      return planAmd(report, userImage, true)
    case 'vulkan':
      if (report.gpus.some((g) => g.vendor === 'amd')) return planAmd(report, userImage, false)
      return planIntel(report, info, userImage, false)
    case 'metal':
    case 'cpu':
      if (report.gpus.some((g) => g.vendor === 'intel' && g.integrated)) {
        return planIntel(report, info, userImage, false)
      }
      return none('no GPU found: the container runs on the CPU')
  }
}
