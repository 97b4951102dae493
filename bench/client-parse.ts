import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Ollama } from 'ollama'
import { OllamaClient } from '../src/ollama/index.js'
import { startSimulator } from '../src/simulator/index.js'
import { alternate, type Figure, goal, median, round } from './harness.js'

const TOKENS = 100_000
const MODEL = 'llama3.2'
const MESSAGES = [{ role: 'user', content: 'Tell me a long story.' }]

/**
 * `client-parse-ratio`: the official `ollama` client's time over ours to consume the same
 * 100,000-chunk streaming chat from the simulator (≥ 1 means ours is at least as fast). Both read
 * every chunk's content; the simulator runs in this process, so its cost is in both timings.
 */
export async function benchClientParse(rounds = 12): Promise<Figure[]> {
  const sim = await startSimulator({ models: [MODEL] })
  const ours = new OllamaClient(sim.url)
  const official = new Ollama({ host: sim.url })
  const request = { model: MODEL, messages: MESSAGES, options: { num_predict: TOKENS } }
  const gc = (globalThis as { gc?: () => void }).gc

  async function timeOurs(): Promise<number> {
    gc?.()
    const t0 = performance.now()
    let chunks = 0
    let characters = 0
    for await (const chunk of await ours.chat({ ...request, stream: true })) {
      chunks++
      characters += chunk.message.content.length
    }
    const elapsed = performance.now() - t0
    checkCount('ours', chunks, characters)
    return elapsed
  }

  async function timeOfficial(): Promise<number> {
    gc?.()
    const t0 = performance.now()
    let chunks = 0
    let characters = 0
    for await (const chunk of await official.chat({ ...request, stream: true })) {
      chunks++
      characters += chunk.message.content.length
    }
    const elapsed = performance.now() - t0
    checkCount('official', chunks, characters)
    return elapsed
  }

  let expectedCharacters: number | undefined
  function checkCount(who: string, chunks: number, characters: number): void {
    // 100,000 token chunks plus the final done chunk; both clients must see the same text.
    if (chunks !== TOKENS + 1)
      throw new Error(`${who} saw ${chunks} chunks, expected ${TOKENS + 1}`)
    expectedCharacters ??= characters
    if (characters !== expectedCharacters) throw new Error(`${who} saw ${characters} characters`)
  }

  try {
    // A warm-up of each, so JIT and connection setup are not counted against either side.
    await timeOurs()
    await timeOfficial()
    const { a, b } = await alternate(rounds, timeOurs, timeOfficial)
    const ratio = median(b) / median(a)
    return [
      {
        name: 'client-parse-ratio',
        value: round(ratio, 3),
        detail:
          `official ollama client time over ours consuming one ${TOKENS.toLocaleString('en')}-chunk ` +
          `streaming /api/chat from the in-process simulator; medians of ${rounds} alternated rounds: ` +
          `${round(median(b), 1)} ms vs ${round(median(a), 1)} ms`,
        ...goal(ratio, '≥', 1),
      },
    ]
  } finally {
    official.abort()
    await ours.close()
    await sim.close()
  }
}

// `npx tsx bench/client-parse.ts` runs it alone.
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [figure] = await benchClientParse()
  console.log(`client-parse-ratio: ${figure!.value}`)
  console.log(figure!.detail)
  process.exit()
}
