import type { Problem } from '../protocol.js'

/**
 * Turns what Ollama says when a pull or a load fails into what the user should do. The texts
 * matched here are Ollama's own (docs/decisions.md, "How a pull fails").
 */
export function describePullFailure(model: string, message: string): Problem {
  const text = message.toLowerCase()
  if (text.includes('file does not exist') || text.includes('manifest unknown')) {
    return {
      message: `'${model}' is not in the Ollama library`,
      hint: `Check the name at ollama.com/library (for example "llama3.2" or "qwen2.5:7b") and fix \`models\` in vite.config.ts.`,
    }
  }
  if (text.includes('invalid model name')) {
    return {
      message: `'${model}' is not a valid model name`,
      hint: 'Use a name such as "llama3.2", "qwen2.5:7b" or "namespace/model:tag" in `models`.',
    }
  }
  if (text.includes('no space left on device')) {
    return {
      message: `No disk space left to pull '${model}'`,
      hint: 'Free disk space where Ollama keeps its models (the Docker volume or ~/.ollama), or remove unused models with `ollama rm <model>`.',
    }
  }
  if (
    text.includes('no such host') ||
    text.includes('dial tcp') ||
    text.includes('i/o timeout') ||
    text.includes('tls handshake')
  ) {
    return {
      message: `Ollama cannot reach its registry to pull '${model}'`,
      hint: 'Check the internet connection of the machine running Ollama; behind a proxy, set HTTPS_PROXY (for the container: `docker.env` in vite.config.ts).',
    }
  }
  if (text.includes('max retries exceeded') || text.includes('digest mismatch')) {
    return {
      message: `The download of '${model}' failed: ${message}`,
      hint: 'The network dropped the download. Press Retry: Ollama resumes where it stopped.',
    }
  }
  if (text.includes('stalled')) {
    return {
      message: `The download of '${model}' stalled: ${message}`,
      hint: 'No progress for 30 s, three times. Check the network, then press Retry: Ollama resumes where it stopped.',
    }
  }
  return {
    message: `Pulling '${model}' failed: ${message}`,
    hint: `Try \`ollama pull ${model}\` in a terminal for Ollama's own output.`,
  }
}

/** Ollama lists `llama3.2` as `llama3.2:latest`, and the library namespace is implied. */
export function normalizeModelName(name: string): string {
  let n = name.trim()
  for (const prefix of ['registry.ollama.ai/library/', 'registry.ollama.ai/', 'library/']) {
    if (n.startsWith(prefix)) n = n.slice(prefix.length)
  }
  const lastSegment = n.slice(n.lastIndexOf('/') + 1)
  return lastSegment.includes(':') ? n : `${n}:latest`
}
