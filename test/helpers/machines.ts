// Machines as the engine resolution sees them, shared by the tests that resolve engines.
import { connectDocker } from '../../src/engines/docker/connect.js'
import type { ResolveDeps } from '../../src/engines/index.js'
import { findOllamaBinary } from '../../src/engines/native.js'
import type { GpuReport } from '../../src/gpu/detect.js'

/** A Linux machine with 16 GB of RAM and no GPU. */
export const cpuOnly: GpuReport = {
  gpus: [],
  accelerator: 'cpu',
  budgetBytes: 8 * 1024 ** 3,
  ramBytes: 16 * 1024 ** 3,
  platform: 'linux',
  wsl: false,
  notes: [],
}

/** No Docker engine (DOCKER_HOST at a closed port) and no `ollama` on PATH. */
export const bareLinux: Partial<ResolveDeps> = {
  connectDocker: (signal) =>
    connectDocker({ signal, deps: { env: { DOCKER_HOST: 'tcp://127.0.0.1:1' } } }),
  findOllama: () => findOllamaBinary({ PATH: '/nonexistent' }),
  platform: 'linux',
}
