import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'e2e/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Docker and browser suites share one engine and one machine: keep files from trampling
    // each other's containers and ports.
    maxWorkers: 2,
  },
})
