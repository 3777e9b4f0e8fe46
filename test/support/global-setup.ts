/**
 * Runs once per `vitest run`, before any test file: builds the CLI (the tests run the built dist/, as users do),
 * and, when Docker answers, builds the offline stand-in base images, so test files running side by side never
 * build them at the same time. What it learns reaches the tests through `inject` (see test/support/docker.ts).
 */
import {execa} from 'execa'
import {join} from 'node:path'
import type {TestProject} from 'vitest/node'
import {
  buildStandinImages,
  DOCKER_SKIP_MESSAGE,
  dockerDaemonAnswers,
  OFFICIAL_IMAGES,
  REPO_DIR,
  STANDIN_IMAGES,
} from './docker.js'

async function buildCli(): Promise<void> {
  const tsc = join(REPO_DIR, 'node_modules', '.bin', 'tsc')
  // No `rm -rf dist` (as `npm run build` does): another vitest run may be using dist/ right now.
  const result = await execa(tsc, ['-p', 'tsconfig.json'], {cwd: REPO_DIR, all: true, reject: false, stdin: 'ignore'})
  if (result.exitCode !== 0) {
    throw new Error(`Building the CLI failed (tsc -p tsconfig.json exited ${result.exitCode}):\n${result.all ?? ''}`)
  }
  // The command manifest must match the commands just built, or oclif would show stale flags.
  const manifest = await execa(process.execPath, ['scripts/manifest.mjs'], {cwd: REPO_DIR, all: true, reject: false, stdin: 'ignore'})
  if (manifest.exitCode !== 0) throw new Error(`Writing oclif.manifest.json failed:\n${manifest.all ?? ''}`)
}

export default async function setup(project: TestProject): Promise<void> {
  const prepareDocker = async () => {
    const docker = process.env.DEVKUBE_TEST_DOCKER !== '0' && (await dockerDaemonAnswers())
    project.provide('dockerAvailable', docker)
    if (!docker) {
      console.warn(DOCKER_SKIP_MESSAGE)
      return
    }

    if (process.env.DEVKUBE_TEST_BASE_IMAGES === 'official') {
      project.provide('baseImages', OFFICIAL_IMAGES)
      return
    }

    try {
      await buildStandinImages()
      project.provide('baseImages', STANDIN_IMAGES)
    } catch (error) {
      // Not thrown: the other tests can still run; each real-Docker test fails with this reason.
      const reason = error instanceof Error ? error.message : String(error)
      project.provide('standinImagesError', reason)
      console.warn(reason)
    }
  }

  await Promise.all([buildCli(), prepareDocker()])
}
