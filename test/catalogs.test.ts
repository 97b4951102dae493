import { describe, expect, it } from 'vitest'
import { MODEL_CATALOG } from '../src/gpu/catalog.js'
import { builtinCatalog } from '../src/simulator/catalog.js'

// Two tables on purpose: the simulator's registry (exact bytes, layers, capabilities, context
// lengths: what /api/pull and /api/show serve) must stay runnable with Node built-ins alone in a
// bare container, and the sizing catalog (rank, kind, what a model is good for) drives
// recommendations. Where they name the same model, they must agree on its size.
describe('model catalogs', () => {
  it('agree on the download size of every model both list', () => {
    const shared: string[] = []
    for (const [name, model] of builtinCatalog()) {
      const bare = name.replace(/:latest$/, '')
      const sized = MODEL_CATALOG.find(
        (m) => m.name === name || m.aliases.includes(name) || m.aliases.includes(bare),
      )
      if (!sized) continue
      shared.push(name)
      expect(Math.abs(model.size / sized.sizeBytes - 1), name).toBeLessThan(0.05)
    }
    expect(shared.length).toBeGreaterThan(30)
  })
})
