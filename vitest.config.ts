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
        // A test's time limit is a safety net for a hang, not a budget: on a busy machine (CI runners, a
        // laptop building something else) each step of a real-container test takes several times longer,
        // and the tests wait on conditions (pods ready, URLs answering) rather than on the clock.
        test: {name: 'cluster', include: CLUSTER_TESTS, testTimeout: 300_000, fileParallelism: false, maxConcurrency: 3, sequence: {groupOrder: 1}},
      },
    ],
  },
})
