// Where a server keeps its secrets differs per runtime (docs/decisions.md, "Secrets"): Workers
// pass `env` to `fetch(request, env, ctx)`, Node, Bun and Vercel have `process.env`, Deno has
// `Deno.env`. Read at request time, so a key set or rotated after start is seen, and never
// copied anywhere else.

/**
 * What a runtime passes as the handler's second argument (Workers' `env`, Hono's `c.env`), typed
 * as each app declares it; keys are read from it when it is an object.
 */
export type RuntimeEnv = unknown

interface RuntimeGlobals {
  process?: { env?: Record<string, string | undefined> }
  Deno?: { env?: { get(name: string): string | undefined } }
}

/** The value of an environment variable, from `env`, `process.env` or `Deno.env`; undefined when unset or empty. */
export function readEnv(name: string, env: RuntimeEnv): string | undefined {
  const given =
    typeof env === 'object' && env !== null ? (env as Record<string, unknown>)[name] : undefined
  if (typeof given === 'string' && given) return given
  const runtime = globalThis as RuntimeGlobals
  const fromProcess = runtime.process?.env?.[name]
  if (fromProcess) return fromProcess
  try {
    return runtime.Deno?.env?.get(name) || undefined
  } catch {
    // Deno without --allow-env throws; the variable is then as good as unset.
    return undefined
  }
}
