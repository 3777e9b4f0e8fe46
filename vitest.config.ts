import {defineConfig} from 'vitest/config'

/**
 * Two groups, one after the other: the fast tests in parallel, then the tests that run real
 * containers under the fake cluster one file at a time. Run side by side on two cores, several
 * clusters' worth of containers starved each other and probe timings (not devkube) decided results.
 */
const CLUSTER_TESTS = ['test/integration/**/*.test.ts', 'test/fakes/**/*.test.ts', 'test/cli/{logs,status,down,doctor}.test.ts']

export default defineConfig({
  test: {
    exclude: ['test/e2e/**', 'node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 600_000,
    globalSetup: ['test/support/global-setup.ts'],
    projects: [
      {
        extends: true,
        test: {name: 'fast', include: ['test/**/*.test.ts'], exclude: ['test/e2e/**', 'node_modules/**', ...CLUSTER_TESTS], sequence: {groupOrder: 0}},
      },
      {
        extends: true,
        test: {name: 'cluster', include: CLUSTER_TESTS, fileParallelism: false, maxConcurrency: 3, sequence: {groupOrder: 1}},
      },
    ],
  },
})
