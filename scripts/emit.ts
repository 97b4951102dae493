// The package build (tsconfig.build.json) run in memory: what `tsc -p tsconfig.build.json` would
// write to dist/, keyed by the path it would write, with nothing written. Tests use it to check the
// build's output (declarations, source maps) without depending on an earlier `npm run build`:
//
//   node --import tsx scripts/emit.ts [--declarations] [--under src/client]
//
// prints { outputPath: text } as JSON (tests run it so, at low priority, off their own process).
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

/** The repository root. */
export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** tsconfig.build.json, parsed as `tsc -p` parses it. */
export function buildConfig(): ts.ParsedCommandLine {
  const configPath = path.join(root, 'tsconfig.build.json')
  const parsed = ts.getParsedCommandLineOfConfigFile(configPath, undefined, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'))
    },
  })
  if (!parsed) throw new Error(`cannot read ${configPath}`)
  if (parsed.errors.length) throw new Error(formatDiagnostics(parsed.errors))
  return parsed
}

export interface EmitOptions {
  /** Only the declarations (.d.ts), as `--emitDeclarationOnly`: quicker when that is all we need. */
  declarationOnly?: boolean
  /** Emit only the outputs of the sources this accepts (absolute paths); all by default. */
  sources?: (fileName: string) => boolean
}

/**
 * Output path → text, for every file the build writes. Emit errors throw; type errors are left to
 * `npm run typecheck` (checking the whole program here would double the time for nothing).
 */
export function emitBuild(options: EmitOptions = {}): Map<string, string> {
  const config = buildConfig()
  const compilerOptions: ts.CompilerOptions = {
    ...config.options,
    ...(options.declarationOnly ? { emitDeclarationOnly: true } : {}),
  }
  const program = ts.createProgram({ rootNames: config.fileNames, options: compilerOptions })
  const out = new Map<string, string>()
  const writeFile: ts.WriteFileCallback = (fileName, text) => {
    out.set(path.resolve(fileName), text)
  }
  const wanted = options.sources
  if (!wanted) {
    report(program.emit(undefined, writeFile))
  } else {
    for (const source of program.getSourceFiles()) {
      if (source.isDeclarationFile || !wanted(path.resolve(source.fileName))) continue
      report(program.emit(source, writeFile))
    }
  }
  return out
}

function report(result: ts.EmitResult): void {
  if (result.emitSkipped || result.diagnostics.length) {
    throw new Error(formatDiagnostics(result.diagnostics) || 'the build emitted nothing')
  }
}

export function formatDiagnostics(diagnostics: readonly ts.Diagnostic[]): string {
  return ts.formatDiagnostics(diagnostics, {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => root,
    getNewLine: () => '\n',
  })
}

function main(argv: string[]): void {
  const under = argv.includes('--under') ? argv[argv.indexOf('--under') + 1] : undefined
  const dir = under && path.resolve(root, under) + path.sep
  const out = emitBuild({
    declarationOnly: argv.includes('--declarations'),
    ...(dir ? { sources: (file: string) => file.startsWith(dir) } : {}),
  })
  process.stdout.write(JSON.stringify(Object.fromEntries(out)))
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2))
}
