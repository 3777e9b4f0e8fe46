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
    expect(error.message).toBe('The image build could not pull its base image python:3.12-slim: the registry is unreachable or the image does not exist.\n  Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on 10.0.0.53:53: no such host')
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
    expect(error.message).toBe('The image build failed at "Step 3/4 : RUN pip install -r requirements.txt".\n  ERROR: No matching distribution found for flask==99')
    expect(error.hint).toBe('Fix the Dockerfile or the code it builds, then run `devkube up` again.')
  })

  it('reads BuildKit output too', async () => {
    restore = setRunner(classicBuild(['#7 [2/4] COPY . /app', '#8 [3/4] RUN npm ci', '#8 ERROR: process "/bin/sh -c npm ci" did not complete successfully: exit code: 1']))
    const error = (await buildImage({...request, buildArgs: {}}).catch((caught: unknown) => caught)) as UserError
    expect(error.message).toBe('The image build failed at "[3/4] RUN npm ci".\n  ERROR: process "/bin/sh -c npm ci" did not complete successfully: exit code: 1')
  })

  it('drops the colour codes and the legacy-builder banner of the classic builder, and never makes a tool line the hint', async () => {
    // As docker 28's CLI without buildx prints it (the step's stderr in ESC[91m even off a TTY).
    restore = setRunner(
      classicBuild([
        'DEPRECATED: The legacy builder is deprecated and will be removed in a future release.',
        '            Install the buildx component to build images with BuildKit:',
        '            https://docs.docker.com/go/buildx/',
        '',
        'Sending build context to Docker daemon  2.048kB',
        'Step 4/5 : RUN echo "bad thing" >&2 && exit 3',
        ' ---> Running in ef4520474f84',
        '\u001B[91mbad thing',
        '\u001B[0mThe command \'/bin/sh -c echo "bad thing" >&2 && exit 3\' returned a non-zero code: 3',
      ]),
    )
    const error = (await buildImage({...request, buildArgs: {}}).catch((caught: unknown) => caught)) as UserError
    expect(error.message).toBe('The image build failed at "Step 4/5 : RUN echo "bad thing" >&2 && exit 3".\n  bad thing\n  The command \'/bin/sh -c echo "bad thing" >&2 && exit 3\' returned a non-zero code: 3')
    expect(`${error.message}${error.hint}`).not.toMatch(/\u001B|DEPRECATED|buildx/)
  })

  it('reads a base image BuildKit could not pull at "load metadata", before any FROM step', async () => {
    // Debian's docker 20.10 with DOCKER_BUILDKIT=1 (the daemon's BuildKit).
    restore = setRunner(
      classicBuild([
        '#1 [internal] load build definition from Dockerfile',
        '#1 sha256:042bbca728367564bc55d7ebf8d055887ae065d0960e1e0d362d233852c4597e',
        '#1 transferring dockerfile: 104B done',
        '#1 DONE 0.0s',
        '',
        '#3 [internal] load metadata for docker.io/library/python:3.12-slim',
        '#3 sha256:282c60c0cd524c3474d0420c244e3d5df8cc4a2d2881ca24f552a4fde5d61527',
        '#3 ERROR: failed to do request: Head "https://registry-1.docker.io/v2/library/python/manifests/3.12-slim": dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: no such host',
        '------',
        ' > [internal] load metadata for docker.io/library/python:3.12-slim:',
        '------',
        'failed to solve with frontend dockerfile.v0: failed to create LLB definition: failed to do request: Head "https://registry-1.docker.io/v2/library/python/manifests/3.12-slim": dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: no such host',
      ]),
    )
    const error = (await buildImage({...request, buildArgs: {}}).catch((caught: unknown) => caught)) as UserError
    expect(error.message).toMatch(/^The image build could not pull its base image python:3\.12-slim: the registry is unreachable or the image does not exist\./)
  })

  it("reads buildx's format: stage names in the step and its summary", async () => {
    restore = setRunner(
      classicBuild([
        '#9 [builder 3/5] RUN go build -o /server ./cmd/server',
        '#9 0.412 main.go:3:8: undefined: foo',
        '#9 ERROR: process "/bin/sh -c go build -o /server ./cmd/server" did not complete successfully: exit code: 1',
        '------',
        ' > [builder 3/5] RUN go build -o /server ./cmd/server:',
        '0.412 main.go:3:8: undefined: foo',
        '------',
        'ERROR: failed to solve: process "/bin/sh -c go build -o /server ./cmd/server" did not complete successfully: exit code: 1',
      ]),
    )
    const error = (await buildImage({...request, buildArgs: {}}).catch((caught: unknown) => caught)) as UserError
    expect(error.message).toBe('The image build failed at "[builder 3/5] RUN go build -o /server ./cmd/server".\n  main.go:3:8: undefined: foo\n  ERROR: process "/bin/sh -c go build -o /server ./cmd/server" did not complete successfully: exit code: 1')
  })

  it('reads a buildx pull failure at the FROM step', async () => {
    restore = setRunner(
      classicBuild([
        '#2 [internal] load metadata for docker.io/library/node:22-slim',
        '#2 DONE 0.1s',
        '#4 [1/3] FROM docker.io/library/node:22-slim@sha256:0123abcd',
        '#4 ERROR: failed to resolve source metadata for docker.io/library/node:22-slim: pull access denied',
        'ERROR: failed to solve: node:22-slim: failed to resolve source metadata for docker.io/library/node:22-slim: pull access denied',
      ]),
    )
    const error = (await buildImage({...request, buildArgs: {}}).catch((caught: unknown) => caught)) as UserError
    expect(error.message).toMatch(/^The image build could not pull its base image node:22-slim:/)
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
    const [sentence, ...quoted] = error.message.split('\n')
    expect(sentence).toBe('The app\'s "build" script failed while building the image (npm run build): /app/src/App.jsx:2:0: ERROR: Expected ">" but found end of file.')
    expect(quoted).toContain('  error during build:')
    expect(error.message).not.toMatch(/at failureErrorWithLog|returned a non-zero code|\u001B/)
    expect(error.hint).toMatch(/^Fix the script/)
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
    const [sentence, ...quoted] = error.message.split('\n')
    expect(sentence).toBe('The app\'s "build" script failed while building the image (pnpm run build): src/index.ts(6,3): error TS2322: Type \'string\' is not assignable to type \'number\'.')
    expect(quoted).toContain('  > tsc')
    expect(error.message).not.toContain('ELIFECYCLE')
  })
})
