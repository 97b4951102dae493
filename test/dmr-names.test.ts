// Model names between the app's spelling and Docker Model Runner's, both ways. The simulator's
// copy of DMR's own rule (src/simulator/dmr.ts, after model-runner's normalizeModelName) is the
// referee: the plugin must file every name where DMR would.
import { describe, expect, it } from 'vitest'
import { fromDmrName, toDmrName } from '../src/engines/dmr/names.js'
import { dmrModelName } from '../src/simulator/dmr.js'

describe('Docker Model Runner names', () => {
  it('adds the ai/ org and the latest tag to a bare name', () => {
    expect(toDmrName('llama3.2')).toBe('ai/llama3.2:latest')
    expect(toDmrName('smollm2')).toBe('ai/smollm2:latest')
    expect(toDmrName('  gemma3  ')).toBe('ai/gemma3:latest')
  })

  it('keeps tags as DMR writes them and lower-cases only the name', () => {
    expect(toDmrName('llama3.2:1B-Q8_0')).toBe('ai/llama3.2:1B-Q8_0')
    expect(toDmrName('MyModel:Q4_K_M')).toBe('ai/mymodel:Q4_K_M')
    expect(toDmrName('qwen2.5:')).toBe('ai/qwen2.5:latest')
  })

  it('leaves other orgs and registries where they are', () => {
    expect(toDmrName('ai/llama3.2')).toBe('ai/llama3.2:latest')
    expect(toDmrName('myorg/model')).toBe('myorg/model:latest')
    expect(toDmrName('registry.example.com/org/model:v1')).toBe('registry.example.com/org/model:v1')
    expect(toDmrName('localhost:5000/model')).toBe('localhost:5000/model:latest')
    expect(toDmrName('hf.co/bartowski/Llama-3.2-1B-GGUF:Q4_K_M')).toBe(
      'huggingface.co/bartowski/llama-3.2-1b-gguf:Q4_K_M',
    )
  })

  it("reads Ollama's spellings of its library as DMR's ai/ org", () => {
    expect(toDmrName('library/llama3.2')).toBe('ai/llama3.2:latest')
    expect(toDmrName('registry.ollama.ai/library/llama3.2:3b')).toBe('ai/llama3.2:3b')
  })

  it('files every name where DMR itself would', () => {
    const names = [
      'llama3.2',
      'llama3.2:latest',
      'ai/llama3.2',
      'Gemma3:4B-Q4_K_M',
      'myorg/model:v2',
      'registry.example.com/model',
      'hf.co/org/model:Q4_K_M',
      'huggingface.co/org/model',
      'model:',
    ]
    for (const name of names) expect(toDmrName(name), name).toBe(dmrModelName(name))
  })

  it("gives DMR's names back in the app's spelling", () => {
    expect(fromDmrName('ai/llama3.2:latest')).toBe('llama3.2:latest')
    expect(fromDmrName('ai/llama3.2:1B-Q8_0')).toBe('llama3.2:1B-Q8_0')
    expect(fromDmrName('huggingface.co/org/model:Q4_K_M')).toBe('hf.co/org/model:Q4_K_M')
    expect(fromDmrName('myorg/model:latest')).toBe('myorg/model:latest')
    expect(fromDmrName('docker.io/ai/model:latest')).toBe('docker.io/ai/model:latest')
    expect(fromDmrName('sha256:0123456789ab')).toBe('sha256:0123456789ab')
  })

  it('goes both ways without losing the model', () => {
    const dmrNames = [
      'ai/llama3.2:latest',
      'ai/qwen2.5:0.5B-F16',
      'huggingface.co/org/model:Q4_K_M',
      'myorg/model:latest',
      'registry.example.com/org/model:v1',
    ]
    for (const name of dmrNames) expect(toDmrName(fromDmrName(name)), name).toBe(name)
    // Two spellings of one model meet at one name: the model manager's key.
    expect(toDmrName(fromDmrName(toDmrName('llama3.2')))).toBe(toDmrName('ai/llama3.2:latest'))
  })
})
