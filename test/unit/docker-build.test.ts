import {afterEach, describe, expect, it} from 'vitest'
import {buildImage} from '../../src/lib/docker.js'
import {setRunner} from '../../src/lib/runner.js'
import {FakeRunner} from '../support/fake-runner.js'
import type {UserError} from '../../src/lib/errors.js'

/** What the classic builder prints, line by line, for a build that fails where given. */
function classicBuild(lines: string[]) {
  return new FakeRunner().when('docker build', (_, options) => {
    for (const line of lines) options.onLine?.(line, 'stdout')
    return {exitCode: 1}
  })
}

const request = {tag: 'devkube.local/hello:abc', context: '/app', dockerfile: '/app/Dockerfile', labels: {}}

describe('image build failures', () => {
  let restore = () => {}
  afterEach(() => restore())

  it('names the base image that could not be pulled, and the build arg that points elsewhere', async () => {
    restore = setRunner(
      classicBuild([
        'Sending build context to Docker daemon  5.632kB',
        'Step 1/12 : ARG PYTHON_IMAGE=python:3.12-slim',
        'Step 2/12 : FROM ${PYTHON_IMAGE}',
        'Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on 10.0.0.53:53: no such host',
      ]),
    )
    const error = (await buildImage({...request, buildArgs: {}}).catch((caught: unknown) => caught)) as UserError
    expect(error.message).toBe('The image build could not pull its base image python:3.12-slim: the registry is unreachable or the image does not exist.')
    expect(error.hint).toContain('devkube up --build-arg PYTHON_IMAGE=<image>')
  })

  it('names the overriding image when a build arg replaced the default', async () => {
    restore = setRunner(classicBuild(['Step 1/3 : ARG NODE_IMAGE=node:22-slim', 'Step 2/3 : FROM ${NODE_IMAGE}', 'pull access denied for mirror.local/node, repository does not exist']))
    const error = (await buildImage({...request, buildArgs: {NODE_IMAGE: 'mirror.local/node:22'}}).catch((caught: unknown) => caught)) as UserError
    expect(error.message).toContain('could not pull its base image mirror.local/node:22')
  })

  it('shows the failing step and the end of the build log for any other failure', async () => {
    restore = setRunner(classicBuild(['Step 1/4 : FROM devkube-standin/python:3.12', 'Step 2/4 : COPY . /app', 'Step 3/4 : RUN pip install -r requirements.txt', 'ERROR: No matching distribution found for flask==99']))
    const error = (await buildImage({...request, buildArgs: {}}).catch((caught: unknown) => caught)) as UserError
    expect(error.message).toBe('The image build failed at "Step 3/4 : RUN pip install -r requirements.txt".')
    expect(error.hint).toContain('No matching distribution found for flask==99')
  })

  it('reads BuildKit output too', async () => {
    restore = setRunner(classicBuild(['#7 [2/4] COPY . /app', '#8 [3/4] RUN npm ci', '#8 ERROR: process "/bin/sh -c npm ci" did not complete successfully: exit code: 1']))
    const error = (await buildImage({...request, buildArgs: {}}).catch((caught: unknown) => caught)) as UserError
    expect(error.message).toBe('The image build failed at "#8 [3/4] RUN npm ci".')
  })

  it('a failing build script is named, with the error it printed and its last lines', async () => {
    restore = setRunner(
      classicBuild([
        'Step 7/16 : RUN npm ci --no-audit --no-fund',
        'added 16 packages in 4s',
        'Step 9/16 : RUN npm run build',
        ' ---> Running in 1f0cbf476f63',
        '> vite-react@0.0.0 build',
        '> vite build',
        'vite v7.3.8 building client environment for production...',
        '\u001B[91m✗ Build failed in 192ms',
        'error during build:',
        '[vite:esbuild] Transform failed with 1 error:',
        '/app/src/App.jsx:2:0: ERROR: Expected ">" but found end of file',
        '    at failureErrorWithLog (/app/node_modules/esbuild/lib/main.js:1752:15)',
        '\u001B[0m✓ 3 modules transformed.',
        "The command '/bin/sh -c npm run build' returned a non-zero code: 1",
      ]),
    )
    const error = (await buildImage({...request, buildArgs: {}}).catch((caught: unknown) => caught)) as UserError
    expect(error.message).toBe('The app\'s "build" script failed while building the image (npm run build): /app/src/App.jsx:2:0: ERROR: Expected ">" but found end of file.')
    expect(error.hint).toContain('error during build:')
    expect(error.hint).not.toMatch(/at failureErrorWithLog|returned a non-zero code|\u001B/)
  })

  it('a failing build script in a BuildKit log, from a workspace package', async () => {
    restore = setRunner(
      classicBuild([
        '#9 [build 6/7] RUN cd packages/api && pnpm run build',
        '#9 0.812 > tsc',
        '#9 2.113 src/index.ts(6,3): error TS2322: Type \'string\' is not assignable to type \'number\'.',
        '#9 2.200  ELIFECYCLE  Command failed with exit code 2.',
        '#9 ERROR: process "/bin/sh -c cd packages/api && pnpm run build" did not complete successfully: exit code: 2',
      ]),
    )
    const error = (await buildImage({...request, buildArgs: {}}).catch((caught: unknown) => caught)) as UserError
    expect(error.message).toBe('The app\'s "build" script failed while building the image (pnpm run build): src/index.ts(6,3): error TS2322: Type \'string\' is not assignable to type \'number\'.')
    expect(error.hint).toContain('> tsc')
    expect(error.hint).not.toContain('ELIFECYCLE')
  })
})
