/**
 * Typed wrappers of the docker CLI calls devkube makes. With kind's Podman provider
 * (KIND_EXPERIMENTAL_PROVIDER=podman) the same calls go to podman, whose image commands take the same
 * arguments: the image must be built where kind's nodes can get it from.
 */
import {readFile} from 'node:fs/promises'
import {readBuildFailure, stripAnsi} from './build-output.js'
import {scriptFailure} from './dockerfile-node.js'
import {UserError} from './errors.js'
import {readDockerfile} from './detect-dockerfile.js'
import {isLoopbackRegistry, registryDigest} from './registry-api.js'
import {CommandError, run} from './runner.js'

export const DOCKER_NOT_RUNNING = /Cannot connect to the Docker daemon|Is the docker daemon running|error during connect|connect: no such file or directory|docker\.sock: connect/i

export function dockerNotRunningError(): UserError {
  return new UserError('Docker is not running (the docker CLI cannot reach the Docker daemon).', {
    hint: 'Start Docker Desktop, or run `sudo systemctl start docker` (Linux), then run the command again.',
  })
}

export type ImageTool = 'docker' | 'podman'

/** The CLI that builds and saves images: the one kind's provider runs its nodes with. */
export function imageTool(env: NodeJS.ProcessEnv = process.env): ImageTool {
  return env.KIND_EXPERIMENTAL_PROVIDER?.trim() === 'podman' ? 'podman' : 'docker'
}

export interface DockerVersion {
  client: string
  server: string
}

/** Fails with a plain sentence when the CLI is missing or the daemon is down. */
export async function dockerVersion(): Promise<DockerVersion> {
  if (imageTool() === 'podman') {
    // A local podman has no daemon: the client is the engine.
    const podman = await run(['podman', 'version', '--format', '{{.Client.Version}}'], {allowFailure: true, timeoutMs: 20_000})
    if (podman.exitCode !== 0) throw new CommandError(podman)
    return {client: podman.stdout.trim(), server: podman.stdout.trim()}
  }
  const result = await run(['docker', 'version', '--format', '{{.Client.Version}} {{.Server.Version}}'], {allowFailure: true, timeoutMs: 20_000})
  if (result.exitCode !== 0) {
    if (DOCKER_NOT_RUNNING.test(result.stderr) || DOCKER_NOT_RUNNING.test(result.stdout)) throw dockerNotRunningError()
    throw new CommandError(result)
  }
  const [client = '', server = ''] = result.stdout.trim().split(/\s+/)
  return {client, server}
}

export async function imageId(tag: string): Promise<string | undefined> {
  const result = await run([imageTool(), 'image', 'inspect', '--format', '{{.Id}}', tag], {allowFailure: true, quiet: true})
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

export async function buildImage(request: BuildRequest): Promise<void> {
  const argv = [imageTool(), 'build', '-t', request.tag, '-f', request.dockerfile]
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
      // The classic builder colours a step's stderr even off a TTY: nothing devkube shows keeps the codes.
      const plain = stripAnsi(line)
      output.push(plain)
      request.onLine?.(plain)
    },
  })
  if (result.exitCode === 0 || request.signal?.aborted) return
  const lines = output.length > 0 ? output : `${result.stdout}\n${result.stderr}`.split('\n')
  if (DOCKER_NOT_RUNNING.test(lines.join('\n'))) throw dockerNotRunningError()
  const failure = readBuildFailure(lines)
  if (failure.baseImage || failure.fromArgument) {
    // The base image could not be pulled: say so, and how to point the build at an image the user can get.
    const imageArg = await baseImageArg(request.dockerfile, lines)
    const image = failure.baseImage ?? (imageArg && failure.fromArgument?.includes(imageArg.name) ? (request.buildArgs[imageArg.name] ?? imageArg.value) : failure.fromArgument)
    throw new UserError(`The image build could not pull its base image ${image}: the registry is unreachable or the image does not exist.${quoted(failure.output)}`, {
      hint: imageArg
        ? `Check the network, or build from an image you have or a mirror: \`devkube up --build-arg ${imageArg.name}=<image>\` (or \`build.args\` in devkube.yaml).`
        : 'Check the network and the FROM line of the Dockerfile, then run `devkube up` again.',
    })
  }
  // A Node Dockerfile's `RUN npm run build` failing is the app's build script failing: say which, and what it printed.
  const script = failure.step ? scriptFailure(failure.step, failure.output) : undefined
  if (script) {
    throw new UserError(`${script.message}${quoted(script.lastLines)}`, {
      hint: 'Fix the script (running it locally shows all of its output), then run `devkube up` again.',
    })
  }
  throw new UserError(`The image build failed${failure.step ? ` at "${failure.step}"` : ''}.${quoted(failure.output)}`, {
    hint: 'Fix the Dockerfile or the code it builds, then run `devkube up` again.',
  })
}

/** The builder's own lines, set apart under devkube's sentence. */
function quoted(lines: string[]): string {
  return lines.length > 0 ? `\n${lines.map((line) => `  ${line}`).join('\n')}` : ''
}

/** The build arg a FROM line takes its image from (`ARG PYTHON_IMAGE=python:3.12-slim` … `FROM ${PYTHON_IMAGE}`). */
async function baseImageArg(dockerfile: string, buildOutput: string[]): Promise<{name: string; value?: string} | undefined> {
  // The classic builder echoes each instruction ("Step 1/9 : ARG …"): enough when the file cannot be read.
  const echoed = buildOutput.map((line) => /^Step \d+\/\d+ : (.*)$/.exec(line)?.[1]).filter(Boolean).join('\n')
  const text = (await readFile(dockerfile, 'utf8').catch(() => '')) || echoed
  for (const [, name, value] of text.matchAll(/^\s*ARG\s+(\w+)(?:=(\S+))?/gim)) {
    if (new RegExp(`^\\s*FROM\\s+(--\\S+\\s+)*\\S*\\$\\{?${name}\\b`, 'im').test(text)) return {name, value}
  }
  return undefined
}

/** The platform images run on here ("linux/amd64"): kind's nodes are containers of this engine. */
export async function enginePlatform(): Promise<string> {
  const argv = imageTool() === 'podman' ? ['podman', 'version', '--format', '{{.Client.OsArch}}'] : ['docker', 'version', '--format', '{{.Server.Os}}/{{.Server.Arch}}']
  return (await run(argv, {quiet: true, timeoutMs: 20_000})).stdout.trim()
}

/**
 * Writes the image to a tar for `kind load image-archive`. With a platform, only that platform's
 * manifest goes in: a whole index (Docker's containerd image store) names blobs that were never pulled.
 * A Docker too old for `save --platform` (API < 1.48) has no containerd store problem: it saves plainly.
 */
export async function saveImage(tag: string, tarPath: string, options: {platform?: string; signal?: AbortSignal} = {}): Promise<void> {
  const tool = imageTool()
  if (options.platform && tool === 'docker') {
    const result = await run(['docker', 'save', '--platform', options.platform, '-o', tarPath, tag], {signal: options.signal, allowFailure: true})
    if (result.exitCode === 0) return
    if (!/unknown flag: --platform|"--platform" requires API version/.test(result.stderr)) throw new CommandError(result)
  }
  await run([tool, 'save', '-o', tarPath, tag], {signal: options.signal})
}

/** What a push did: the reference to deploy (`repository:tag@sha256:…`) and whether anything was sent. */
export interface PushResult {
  reference: string
  /** False when the registry already had exactly this image under the tag: nothing was sent. */
  pushed: boolean
}

/**
 * Pushes a local image to a registry under `repository:tag` and returns `repository:tag@sha256:…`:
 * the digest pins exactly what was pushed however the tag moves later, the tag says which source
 * it was built from. The one push of devkube: deploy targets' registries and the local registry.
 * For a registry on this machine (plain HTTP, no login) its API is asked first: when it already
 * holds the digest this image was last pushed as, nothing is pushed (a no-change `up` sends nothing).
 */
export async function pushImage(localTag: string, repository: string, tag: string, signal?: AbortSignal): Promise<PushResult> {
  const remote = `${repository}:${tag}`
  await run(['docker', 'tag', localTag, remote], {signal})
  const host = repository.split('/')[0]
  if (isLoopbackRegistry(host)) {
    const [known, inRegistry] = await Promise.all([repoDigest(remote, repository), registryDigest(host, repository.slice(host.length + 1), tag)])
    if (known && inRegistry && known === inRegistry) return {reference: `${remote}@${known}`, pushed: false}
  }
  const result = await run(['docker', 'push', remote], {allowFailure: true, signal})
  if (result.exitCode !== 0 && !signal?.aborted) {
    const text = `${result.stderr}\n${result.stdout}`
    if (DOCKER_NOT_RUNNING.test(text)) throw dockerNotRunningError()
    const reason = text.trim().split('\n').filter(Boolean).at(-1) ?? 'docker push failed'
    throw new UserError(`Pushing ${remote} failed: ${reason}`, {
      hint: /denied|unauthorized|authentication required/i.test(text)
        ? `Log in to the registry first: \`docker login ${host}\`.`
        : isLoopbackRegistry(host)
          ? `Check that the local registry answers (\`curl http://${host}/v2/\`; \`devkube doctor\` shows its container), then run the command again.`
          : `Check that the registry ${host} is reachable from this machine (and that \`registry:\` in devkube.yaml names it), then run the command again.`,
    })
  }
  const digest = await repoDigest(remote, repository)
  if (!digest) throw new UserError(`The registry did not report a digest for ${remote}.`, {hint: 'Run the command again; if it persists, check the registry with `docker push` by hand.'})
  return {reference: `${remote}@${digest}`, pushed: true}
}

/** The digest Docker recorded when it last pushed (or pulled) the image to `repository`. */
async function repoDigest(reference: string, repository: string): Promise<string | undefined> {
  const inspected = await run(['docker', 'image', 'inspect', '--format', '{{json .RepoDigests}}', reference], {quiet: true, allowFailure: true})
  if (inspected.exitCode !== 0) return undefined
  const digests = JSON.parse(inspected.stdout.trim() || '[]') as string[]
  const entry = digests.find((candidate) => candidate.startsWith(`${repository}@`))
  return entry?.slice(entry.indexOf('@') + 1)
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
  const tool = imageTool()
  const inspected = await run([tool, 'image', 'inspect', '--format', '{{.Config.User}}', tag], {quiet: true})
  const user = inspected.stdout.trim()
  const name = user.split(':')[0]
  if (name === '') return {user, uid: 0}
  if (/^\d+$/.test(name)) return {user, uid: Number(name)}
  const created = await run([tool, 'create', tag], {allowFailure: true, quiet: true})
  if (created.exitCode !== 0) return {user}
  const container = created.stdout.trim()
  try {
    const copied = await run([tool, 'cp', `${container}:/etc/passwd`, '-'], {allowFailure: true, quiet: true})
    // `docker cp … -` writes a tar stream; the file's lines are in it verbatim.
    const entry = new RegExp(`^${name.replaceAll(/[.*+?^${}()|[\]\\]/g, '\\$&')}:[^:\n]*:(\\d+):`, 'm').exec(copied.stdout)
    return entry ? {user, uid: Number(entry[1])} : {user}
  } finally {
    await run([tool, 'rm', '-f', container], {allowFailure: true, quiet: true})
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
