/**
 * Memory (RAM, VRAM) in binary units, as operating systems and nvidia-smi count it: a 24564 MiB
 * RTX 4090 is "24 GB".
 */
export function formatMemory(bytes: number): string {
  const gib = bytes / 1024 ** 3
  if (gib >= 10) return `${Math.round(gib)} GB`
  if (gib >= 1) return `${gib.toFixed(1).replace(/\.0$/, '')} GB`
  return `${Math.round(bytes / 1024 ** 2)} MB`
}

/** Download sizes in decimal units, as `ollama list` and ollama.com show them ("4.7 GB"). */
export function formatSize(bytes: number): string {
  const gb = bytes / 1e9
  if (gb >= 10) return `${Math.round(gb)} GB`
  if (gb >= 1) return `${gb.toFixed(1).replace(/\.0$/, '')} GB`
  return `${Math.round(bytes / 1e6)} MB`
}
