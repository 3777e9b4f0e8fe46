/**
 * Build failures as real Docker prints them, with both builders this machine has: the docker CLI first on PATH
 * (no buildx: the classic builder, which colours a step's stderr and prints a deprecation banner) and Debian's
 * docker 20.10 CLI with DOCKER_BUILDKIT=1 (the daemon's BuildKit). What devkube says must read the same with both.
 */
import {existsSync} from 'node:fs'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {buildImage} from '../../src/lib/docker.js'
import type {UserError} from '../../src/lib/errors.js'
import {ensureStandinImages, useDocker} from '../support/docker.js'

const dockerReady = await useDocker()
const BUILDKIT_CLI = '/usr/bin/docker'

const builders = [
  {name: 'classic builder', env: {DOCKER_BUILDKIT: '0'}},
  {name: 'BuildKit', env: {DOCKER_BUILDKIT: '1', PATH: `/usr/bin:${process.env.PATH}`}, skip: !existsSync(BUILDKIT_CLI)},
]

describe.skipIf(!dockerReady)('build failures with real Docker', () => {
  let dir: string
  let pythonImage: string
  beforeAll(async () => {
    pythonImage = (await ensureStandinImages()).PYTHON_IMAGE
    dir = await mkdtemp(join(tmpdir(), 'devkube-build-output-'))
  })
  afterAll(async () => {
    if (dir) await rm(dir, {recursive: true, force: true})
  })

  for (const builder of builders) {
    describe.skipIf(builder.skip)(builder.name, () => {
      const saved: Record<string, string | undefined> = {}
      beforeAll(() => {
        for (const [key, value] of Object.entries(builder.env)) {
          saved[key] = process.env[key]
          process.env[key] = value
        }
      })
      afterAll(() => {
        for (const [key, value] of Object.entries(saved)) {
          if (value === undefined) delete process.env[key]
          else process.env[key] = value
        }
      })

      async function failedBuild(dockerfile: string, buildArgs: Record<string, string> = {}): Promise<UserError> {
        const file = join(dir, `Dockerfile.${builder.env.DOCKER_BUILDKIT}`)
        await writeFile(file, dockerfile)
        const request = {tag: 'devkube-test/build-output:never', context: dir, dockerfile: file, buildArgs, labels: {}}
        const error = await buildImage(request).then(
          () => undefined,
          (caught: unknown) => caught as UserError,
        )
        if (!error) throw new Error('the build was expected to fail')
        return error
      }

      it('names the failing step and shows its output without colour codes, banner or tool lines as the hint', async () => {
        const error = await failedBuild(`FROM ${pythonImage}\nRUN echo building\nRUN echo "the reason it failed" >&2 && exit 3\n`)
        expect(error.message).toMatch(/^The image build failed at "(Step 3\/3 : |\[3\/3\] )RUN echo "the reason it failed" >&2 && exit 3"\./)
        expect(error.message).toContain('  the reason it failed')
        expect(error.hint).toBe('Fix the Dockerfile or the code it builds, then run `devkube up` again.')
        expect(`${error.message}\n${error.hint}`).not.toMatch(/\u001B|DEPRECATED|buildx|sha256:/)
      })

      it('says which base image could not be pulled, and the build arg that replaces it', async () => {
        // Docker Hub is unreachable here, as behind a firewall: the pull fails at once.
        const error = await failedBuild('ARG PYTHON_IMAGE=python:3.12-slim\nFROM ${PYTHON_IMAGE}\nRUN true\n')
        expect(error.message).toMatch(/^The image build could not pull its base image python:3\.12-slim: the registry is unreachable or the image does not exist\./)
        expect(error.hint).toContain('devkube up --build-arg PYTHON_IMAGE=<image>')
        expect(error.message).not.toMatch(/\u001B|DEPRECATED/)
      })
    })
  }
})
