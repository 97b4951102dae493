import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'e2e/**/*.test.ts'],
    // Fixture apps carry their own suites, which the tests run as those apps' users would.
    exclude: ['test/fixtures/**', '**/node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Docker and browser suites share one engine and one machine: keep files from trampling
    // each other's containers and ports.
    maxWorkers: 2,
  },
})
