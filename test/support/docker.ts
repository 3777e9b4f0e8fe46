/**
 * What the real-Docker tests share: whether Docker can be used at all (and saying so when it cannot), the offline
 * stand-in base images, free loopback ports, waiting for HTTP, and removing what a test created.
 *
 * Everything a test creates carries the label devkube.test=1, so a run that was killed half-way can still be
 * cleaned up with `docker rm -f $(docker ps -aq --filter label=devkube.test=1)`.
 */
import {execa} from 'execa'
import {createServer} from 'node:net'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {inject} from 'vitest'
import type {BackingEngine} from '../../src/lib/backing.js'

export const REPO_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

export const TEST_LABEL = 'devkube.test=1'

export const DOCKER_SKIP_MESSAGE = 'Docker is not available: skipping real-Docker tests (start dockerd to run them)'

export type BaseImageArg = 'NODE_IMAGE' | 'PYTHON_IMAGE' | 'GO_IMAGE' | 'RUNTIME_IMAGE' | 'NGINX_IMAGE'

/** The offline stand-ins scripts/standin-images.sh builds, by the build arg each one replaces. */
export const STANDIN_IMAGES: Record<BaseImageArg, string> = {
  NODE_IMAGE: 'devkube-standin/node:22',
  PYTHON_IMAGE: 'devkube-standin/python:3.12',
  GO_IMAGE: 'devkube-standin/golang:1.19',
  RUNTIME_IMAGE: 'devkube-standin/runtime:latest',
  NGINX_IMAGE: 'devkube-standin/nginx:latest',
}

/** The Dockerfiles' own defaults: used instead of the stand-ins with DEVKUBE_TEST_BASE_IMAGES=official. */
export const OFFICIAL_IMAGES: Record<BaseImageArg, string> = {
  NODE_IMAGE: 'node:22-slim',
  PYTHON_IMAGE: 'python:3.12-slim',
  GO_IMAGE: 'golang:1.23',
  RUNTIME_IMAGE: 'gcr.io/distroless/static-debian12:nonroot',
  NGINX_IMAGE: 'nginxinc/nginx-unprivileged:1.27-alpine',
}

/**
 * Backing services that have a stand-in (scripts/standin-images.sh): a test sets `image:` to this so the fake
 * cluster runs it offline; with DEVKUBE_TEST_BASE_IMAGES=official the official image (devkube's default) is used.
 */
export const STANDIN_BACKING_IMAGES = {
  postgres: 'devkube-standin/postgres:16',
  redis: 'devkube-standin/redis:7',
  mariadb: 'devkube-standin/mariadb:11',
} as const satisfies Partial<Record<BackingEngine, string>>

/** The stand-in of `registry:2` (Debian's docker-registry), for `registry: {image: ...}` in devkube.yaml. */
export const STANDIN_REGISTRY_IMAGE = 'devkube-standin/registry:2'

export function backingImageForTests(engine: keyof typeof STANDIN_BACKING_IMAGES): string | undefined {
  return process.env.DEVKUBE_TEST_BASE_IMAGES === 'official' ? undefined : STANDIN_BACKING_IMAGES[engine]
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** Set by test/support/global-setup.ts: whether the Docker daemon answered. */
    dockerAvailable?: boolean
    /** Set by global setup once the base images are there: the build args to pass to `docker build`. */
    baseImages?: Record<BaseImageArg, string>
    /** Set by global setup when building the stand-in images failed: the reason, for the tests to report. */
    standinImagesError?: string
  }
}

function provided<K extends 'dockerAvailable' | 'baseImages' | 'standinImagesError'>(key: K) {
  try {
    return inject(key)
  } catch {
    // Outside a vitest worker (e.g. in global setup itself) there is nothing provided.
    return undefined
  }
}

let dockerProbe: Promise<boolean> | undefined

/** The docker CLI is on PATH and its daemon answers. DEVKUBE_TEST_DOCKER=0 turns the real-Docker tests off. */
export function dockerAvailable(): Promise<boolean> {
  dockerProbe ??= (async () => {
    if (process.env.DEVKUBE_TEST_DOCKER === '0') return false
    return provided('dockerAvailable') ?? dockerDaemonAnswers()
  })()
  return dockerProbe
}

/** Asks the daemon itself: a docker CLI alone (with no daemon behind it) is not enough. */
export async function dockerDaemonAnswers(): Promise<boolean> {
  const result = await execa('docker', ['info', '--format', '{{.ServerVersion}}'], {reject: false, timeout: 20_000})
  return result.exitCode === 0 && result.stdout.trim() !== ''
}

let skipAnnounced = false

/**
 * For `describe.skipIf(!(await useDocker()))`: whether the real-Docker tests can run, saying once why not when they
 * cannot, so a skipped suite is never mistaken for a passing one.
 */
export async function useDocker(): Promise<boolean> {
  const available = await dockerAvailable()
  // Global setup has said it already, at the top of the run.
  const announcedByGlobalSetup = provided('dockerAvailable') === false
  if (!available && !skipAnnounced && !announcedByGlobalSetup) {
    skipAnnounced = true
    console.warn(DOCKER_SKIP_MESSAGE)
  }

  return available
}

let standinBuild: Promise<Record<BaseImageArg, string>> | undefined

/**
 * The base-image build args for `docker build` of a generated Dockerfile: the offline stand-ins, built by
 * scripts/standin-images.sh if they are not there yet (a no-op when they are; safe from several processes at once).
 */
export function ensureStandinImages(): Promise<Record<BaseImageArg, string>> {
  standinBuild ??= (async () => {
    const failure = provided('standinImagesError')
    if (failure) throw new Error(failure)
    const fromGlobalSetup = provided('baseImages')
    if (fromGlobalSetup) return {...fromGlobalSetup}
    if (process.env.DEVKUBE_TEST_BASE_IMAGES === 'official') return {...OFFICIAL_IMAGES}
    await buildStandinImages()
    return {...STANDIN_IMAGES}
  })()
  return standinBuild
}

/** Runs scripts/standin-images.sh; its progress lines go to stderr as they come. Throws with the reason on failure. */
export async function buildStandinImages(): Promise<void> {
  const script = join(REPO_DIR, 'scripts', 'standin-images.sh')
  const result = await execa('bash', [script], {all: true, reject: false, stdin: 'ignore'})
  if (result.exitCode !== 0) {
    const tail = (result.all ?? '').split('\n').slice(-25).join('\n')
    throw new Error(
      `Building the stand-in base images failed (bash scripts/standin-images.sh exited ${result.exitCode}):\n${tail}\n` +
        'Run it by hand to see why; where Docker Hub is reachable, DEVKUBE_TEST_BASE_IMAGES=official uses the real base images instead.',
    )
  }

  if (result.all) process.stderr.write(result.all.endsWith('\n') ? result.all : `${result.all}\n`)
}

/** `--build-arg K=V` for each base image. */
export function buildArgFlags(args: Record<string, string>): string[] {
  return Object.entries(args).flatMap(([key, value]) => ['--build-arg', `${key}=${value}`])
}

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => (port ? resolve(port) : reject(new Error('no port was assigned'))))
    })
  })
}

/** Polls url until it answers 2xx, and returns the body. Throws with the last failure once timeoutMs has passed. */
export async function waitForHttp(url: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs
  let lastFailure = 'no attempt made'
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, {signal: AbortSignal.timeout(Math.min(5000, Math.max(1, deadline - Date.now())))})
      const body = await response.text()
      if (response.ok) return body
      lastFailure = `HTTP ${response.status}: ${body.slice(0, 200)}`
    } catch (error) {
      const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : ''
      lastFailure = `${error instanceof Error ? error.message : String(error)}${cause}`
    }

    await new Promise((resolve) => setTimeout(resolve, 250))
  }

  throw new Error(`${url} did not answer within ${timeoutMs} ms (last: ${lastFailure})`)
}

/** The host address Docker published a container port on, e.g. 127.0.0.1:49153. */
export async function publishedAddress(containerId: string, containerPort: number): Promise<string> {
  const {stdout} = await execa('docker', ['port', containerId, `${containerPort}/tcp`])
  const loopback = stdout.split('\n').find((line) => line.startsWith('127.0.0.1:'))
  if (!loopback) throw new Error(`container ${containerId} has no port ${containerPort} published on 127.0.0.1 (docker port said: ${stdout})`)
  return loopback.trim()
}

/** The last lines a container wrote, for a failure message. */
export async function containerLogs(containerId: string, lines = 40): Promise<string> {
  const result = await execa('docker', ['logs', '--tail', String(lines), containerId], {all: true, reject: false})
  return result.all ?? ''
}

/** Remembers the containers and images a test made, and removes them afterwards (also when the test failed). */
export class DockerLeftovers {
  private readonly containers = new Set<string>()
  private readonly images = new Set<string>()

  container(id: string): string {
    this.containers.add(id)
    return id
  }

  image(tag: string): string {
    this.images.add(tag)
    return tag
  }

  async remove(): Promise<void> {
    if (this.containers.size > 0) await execa('docker', ['rm', '-f', '-v', ...this.containers], {reject: false})
    if (this.images.size > 0) await execa('docker', ['image', 'rm', '-f', ...this.images], {reject: false})
    this.containers.clear()
    this.images.clear()
  }
}
