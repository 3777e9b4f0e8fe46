import {defineConfig} from 'vitest/config'

// The real-cluster suite: `DEVKUBE_E2E=1 npm run test:e2e` where kind and Docker exist.
export default defineConfig({
  test: {include: ['test/e2e/**/*.e2e.test.ts'], testTimeout: 900_000, hookTimeout: 300_000},
})
