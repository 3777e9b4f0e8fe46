/** Typed wrappers of the docker CLI calls devkube makes. */
import {UserError} from './errors.js'
import {readDockerfile} from './detect-dockerfile.js'
import {CommandError, run} from './runner.js'

export const DOCKER_NOT_RUNNING = /Cannot connect to the Docker daemon|Is the docker daemon running|error during connect|connect: no such file or directory|docker\.sock: connect/i

export function dockerNotRunningError(): UserError {
  return new UserError('Docker is not running (the docker CLI cannot reach the Docker daemon).', {
    hint: 'Start Docker Desktop, or run `sudo systemctl start docker` (Linux), then run the command again.',
  })
}

export interface DockerVersion {
  client: string
  server: string
}

/** Fails with a plain sentence when the CLI is missing or the daemon is down. */
export async function dockerVersion(): Promise<DockerVersion> {
  const result = await run(['docker', 'version', '--format', '{{.Client.Version}} {{.Server.Version}}'], {allowFailure: true, timeoutMs: 20_000})
  if (result.exitCode !== 0) {
    if (DOCKER_NOT_RUNNING.test(result.stderr) || DOCKER_NOT_RUNNING.test(result.stdout)) throw dockerNotRunningError()
    throw new CommandError(result)
  }
  const [client = '', server = ''] = result.stdout.trim().split(/\s+/)
  return {client, server}
}

export async function imageId(tag: string): Promise<string | undefined> {
  const result = await run(['docker', 'image', 'inspect', '--format', '{{.Id}}', tag], {allowFailure: true, quiet: true})
  if (result.exitCode === 0) return result.stdout.trim()
  if (DOCKER_NOT_RUNNING.test(result.stderr)) throw dockerNotRunningError()
  return undefined
}

export interface BuildRequest {
  tag: string
  context: string
  dockerfile: string
  buildArgs: Record<string, string>
  /** A stage of a multi-stage Dockerfile (`build.target`). */
  target?: string
  labels: Record<string, string>
  signal?: AbortSignal
  onLine?: (line: string) => void
}

const PULL_FAILED = /pull access denied|registry-1\.docker\.io|no such host|manifest unknown|manifest for .* not found|failed to resolve source metadata|TLS handshake timeout|i\/o timeout/i

/** Build output kept for the error message: the failing step is near the end. */
const BUILD_ERROR_LINES = 25

export async function buildImage(request: BuildRequest): Promise<void> {
  const argv = ['docker', 'build', '-t', request.tag, '-f', request.dockerfile]
  if (request.target) argv.push('--target', request.target)
  for (const [key, value] of Object.entries(request.buildArgs)) argv.push('--build-arg', `${key}=${value}`)
  for (const [key, value] of Object.entries(request.labels)) argv.push('--label', `${key}=${value}`)
  argv.push(request.context)
  const buildKit = await buildKitFor(request.dockerfile)
  const output: string[] = []
  const result = await run(argv, {
    allowFailure: true,
    signal: request.signal,
    // A Dockerfile that needs BuildKit gets it; others build as the user's Docker builds them by default.
    env: buildKit ? {DOCKER_BUILDKIT: '1'} : undefined,
    onLine(line) {
      output.push(line)
      request.onLine?.(line)
    },
  })
  if (result.exitCode === 0 || request.signal?.aborted) return
  const text = output.join('\n') || `${result.stdout}\n${result.stderr}`
  if (DOCKER_NOT_RUNNING.test(text)) throw dockerNotRunningError()
  const failedStep = step(text)
  if (failedStep && /\bFROM\b/.test(failedStep) && PULL_FAILED.test(text)) {
    // The base image could not be pulled: say so, and how to point the build at an image the user can get.
    const imageArg = /ARG (\w+_IMAGE)=(\S+)/.exec(text)
    const fromImage = failedStep.replace(/^.*FROM\s+/, '').split(/\s+/)[0]
    const image = imageArg && fromImage.includes(imageArg[1]) ? (request.buildArgs[imageArg[1]] ?? imageArg[2]) : fromImage
    throw new UserError(`The image build could not pull its base image ${image}: the registry is unreachable or the image does not exist.`, {
      hint: imageArg
        ? `Check the network, or build from an image you have or a mirror: \`devkube up --build-arg ${imageArg[1]}=<image>\` (or \`build.args\` in devkube.yaml).`
        : 'Check the network and the FROM line of the Dockerfile, then run `devkube up` again.',
    })
  }
  throw new UserError(`The image build failed${failedStep ? ` at "${failedStep}"` : ''}.`, {
    hint: `${text.trimEnd().split('\n').slice(-BUILD_ERROR_LINES).join('\n')}\nFix the Dockerfile or the code it builds, then run \`devkube up\` again.`,
  })
}

/** The last build step started: the classic builder prints "Step 3/8 : RUN …", BuildKit "#9 [3/8] RUN …". */
function step(text: string): string | undefined {
  return [...text.matchAll(/^(Step \d+\/\d+ : .*|#\d+ \[[^\]]*\d+\/\d+\] .*)$/gm)].at(-1)?.[0]
}

export async function saveImage(tag: string, tarPath: string, signal?: AbortSignal): Promise<void> {
  await run(['docker', 'save', '-o', tarPath, tag], {signal})
}

/** The user an image runs as: its `USER` as written, and the numeric uid when it can be known (undefined: a name not in its /etc/passwd). */
export interface ImageUser {
  user: string
  uid?: number
}

/**
 * Reads the image's USER. A name is looked up in the image's own /etc/passwd (copied out of a
 * container that is created, never started), because Kubernetes can only verify runAsNonRoot
 * against a number.
 */
export async function imageUser(tag: string): Promise<ImageUser> {
  const inspected = await run(['docker', 'image', 'inspect', '--format', '{{.Config.User}}', tag], {quiet: true})
  const user = inspected.stdout.trim()
  const name = user.split(':')[0]
  if (name === '') return {user, uid: 0}
  if (/^\d+$/.test(name)) return {user, uid: Number(name)}
  const created = await run(['docker', 'create', tag], {allowFailure: true, quiet: true})
  if (created.exitCode !== 0) return {user}
  const container = created.stdout.trim()
  try {
    const copied = await run(['docker', 'cp', `${container}:/etc/passwd`, '-'], {allowFailure: true, quiet: true})
    // `docker cp … -` writes a tar stream; the file's lines are in it verbatim.
    const entry = new RegExp(`^${name.replaceAll(/[.*+?^${}()|[\]\\]/g, '\\$&')}:[^:\n]*:(\\d+):`, 'm').exec(copied.stdout)
    return entry ? {user, uid: Number(entry[1])} : {user}
  } finally {
    await run(['docker', 'rm', '-f', container], {allowFailure: true, quiet: true})
  }
}

/**
 * Whether the Dockerfile needs BuildKit (RUN --mount, heredocs, a `# syntax=` line), and if so that
 * this Docker can give it: with the buildx plugin, or a CLI older than 23 that has BuildKit built in
 * (DOCKER_BUILDKIT=1 then uses the daemon's). A newer CLI without buildx falls back to the legacy
 * builder, which fails on such a Dockerfile with a message about a flag: say what is missing instead.
 */
async function buildKitFor(dockerfile: string): Promise<boolean> {
  let features: string[]
  try {
    features = readDockerfile(dockerfile).buildKitFeatures
  } catch {
    return false
  }
  if (features.length === 0) return false
  const buildx = await run(['docker', 'buildx', 'version'], {allowFailure: true, quiet: true})
  if (buildx.exitCode === 0) return true
  const client = await run(['docker', 'version', '--format', '{{.Client.Version}}'], {allowFailure: true, quiet: true})
  const major = Number.parseInt(client.stdout.trim(), 10)
  if (Number.isFinite(major) && major > 0 && major < 23) return true
  throw new UserError(`The Dockerfile needs BuildKit (it uses ${features.join(', ')}), but this Docker has no buildx plugin, so \`docker build\` would use the legacy builder, which cannot build it.`, {
    hint: 'Install the buildx plugin (Docker Desktop has it; on Linux `apt-get install docker-buildx-plugin`, or see https://docs.docker.com/go/buildx/), then run `devkube up` again.',
  })
}
