// The engine registry is the one list of kinds: every kind has a driver, and the options, the
// CLI's help and the wire types take their kinds from it (adding a kind is a driver file and a
// registry line, plus its options).
import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { driverOf, engineNames } from '../src/engines/index.js'
import { engineKinds, resolveOptions } from '../src/options.js'
import type { EngineInfo } from '../src/protocol.js'

describe('engine registry', () => {
  it('gives every kind a driver that can probe, describe and name itself', async () => {
    expect(engineNames).toEqual(['external', 'docker', 'native', 'dmr', 'simulator'])
    for (const kind of engineNames) {
      const driver = await driverOf(kind)
      expect(typeof driver.probe, kind).toBe('function')
      expect(driver.label, kind).toMatch(/^[A-Z]/)
      const info: EngineInfo = {
        kind,
        url: 'http://127.0.0.1:11434',
        version: '0.12.3',
        simulated: false,
      }
      expect(driver.describe(info), kind).toContain('http://127.0.0.1:11434')
    }
  })

  it('lets `engine` take exactly auto and the registry kinds', () => {
    expect(engineKinds).toEqual(['auto', ...engineNames])
    for (const engine of engineKinds) expect(resolveOptions({ engine }).engine).toBe(engine)
    expect(() => resolveOptions({ engine: 'podman' as never })).toThrow(/engine/)
  })

  it("lists the registry's kinds in the CLI help", () => {
    const help = execFileSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', '--help'], {
      encoding: 'utf8',
    })
    expect(help).toContain(`--engine <kind>     ${engineKinds.join(' | ')}`)
  })
})
