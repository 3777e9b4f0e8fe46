/**
 * A Dockerfile that only BuildKit builds: devkube gives it BuildKit where this Docker has it (the buildx plugin, or
 * a CLI older than 23 with BuildKit built in), and says what is missing where it does not.
 */
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {buildImage} from '../../src/lib/docker.js'
import type {UserError} from '../../src/lib/errors.js'
import {setRunner} from '../../src/lib/runner.js'
import {FakeRunner} from '../support/fake-runner.js'

function projectWith(dockerfile: string) {
  const dir = mkdtempSync(path.join(tmpdir(), 'devkube-buildkit-'))
  writeFileSync(path.join(dir, 'Dockerfile'), dockerfile)
  return {tag: 'devkube.local/app:abc', context: dir, dockerfile: path.join(dir, 'Dockerfile'), buildArgs: {}, labels: {}}
}

const NEEDS_BUILDKIT = 'FROM python:3.12-slim\nRUN --mount=type=cache,target=/root/.cache pip install flask\n'

function docker(options: {buildx: boolean; client: string}) {
  const builds: Array<Record<string, string | undefined> | undefined> = []
  const runner = new FakeRunner()
    .when('docker buildx version', options.buildx ? {stdout: 'github.com/docker/buildx v0.14.0\n'} : {exitCode: 1, stderr: "docker: 'buildx' is not a docker command.\n"})
    .when('docker version', {stdout: `${options.client}\n`})
    .when('docker build', (_, runOptions) => {
      builds.push(runOptions.env)
      return {exitCode: 0}
    })
  return {runner, builds}
}

describe('Dockerfiles that need BuildKit', () => {
  let restore = () => {}
  afterEach(() => restore())

  it('a CLI 23+ without buildx: one sentence naming the feature and how to get buildx, and no build', async () => {
    const {runner, builds} = docker({buildx: false, client: '28.2.2'})
    restore = setRunner(runner)
    const error = (await buildImage(projectWith(NEEDS_BUILDKIT)).catch((caught: unknown) => caught)) as UserError
    expect(error.message).toBe('The Dockerfile needs BuildKit (it uses RUN --mount), but this Docker has no buildx plugin, so `docker build` would use the legacy builder, which cannot build it.')
    expect(error.hint).toContain('docker-buildx-plugin')
    expect(builds).toEqual([])
  })

  it('docker 20.10 (BuildKit built in): builds with DOCKER_BUILDKIT=1', async () => {
    const {runner, builds} = docker({buildx: false, client: '20.10.24+dfsg1'})
    restore = setRunner(runner)
    await buildImage(projectWith(NEEDS_BUILDKIT))
    expect(builds).toEqual([{DOCKER_BUILDKIT: '1'}])
  })

  it('with buildx: builds with DOCKER_BUILDKIT=1; a plain Dockerfile builds as Docker does by default', async () => {
    const {runner, builds} = docker({buildx: true, client: '28.2.2'})
    restore = setRunner(runner)
    await buildImage(projectWith(NEEDS_BUILDKIT))
    await buildImage(projectWith('FROM python:3.12-slim\nRUN pip install flask\n'))
    expect(builds).toEqual([{DOCKER_BUILDKIT: '1'}, undefined])
  })
})
