/**
 * Bytes as users read them, in every message that shows a size: "848 MB", "2.0 GB", "25.8 GB".
 *
 * One rule for all sizes, decimal units (1 GB = 10^9 bytes), so that sizes that meet in one
 * sentence ("needs about 24.5 GB of the 25.8 GB on the GPU") are comparable at a glance. Decimal
 * because that is how the figures users check against are counted: `ollama pull`, `ollama list`,
 * `ollama ps`, ollama.com and `docker pull` all print decimal GB, and model sizes are known in
 * them. Memory (VRAM, RAM) follows the same rule, so a 24564 MiB RTX 4090 reads "25.8 GB", not
 * the "24 GB" it is sold as (that is GiB, 2^30 bytes): mixing the two had `doctor` say a model
 * "needs about 25 GB of the 24 GB" when it fitted.
 */
export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(0)} MB`
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(0)} kB`
  return `${bytes} B`
}
