import { defineConfig } from 'vitest/config'

/**
 * Suites that start containers or network namespaces. Each adds and removes network interfaces,
 * and Chromium aborts whatever it is loading when the host's interfaces change
 * (net::ERR_NETWORK_CHANGED): these run first, on their own, and the browser suites after them.
 */
const CHANGE_INTERFACES = [
  'test/docker-*.test.ts',
  'test/reliability-docker.test.ts',
  'test/reliability-restarts.test.ts',
  'test/resolve.test.ts',
  'test/cli-lifecycle.test.ts',
  'test/network-peer.test.ts',
]

export default defineConfig({
  test: {
    // Fixture apps carry their own suites, which the tests run as those apps' users would.
    exclude: ['test/fixtures/**', '**/node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Docker and browser suites share one engine and one machine: keep files from trampling
    // each other's containers and ports.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: { name: 'interfaces', include: CHANGE_INTERFACES, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: {
          name: 'rest',
          include: ['test/**/*.test.ts', 'e2e/**/*.test.ts'],
          exclude: ['test/fixtures/**', '**/node_modules/**', ...CHANGE_INTERFACES],
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
})
