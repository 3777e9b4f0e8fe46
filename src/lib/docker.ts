/** Typed wrappers of the docker CLI calls devkube makes. */
import {UserError} from './errors.js'
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
  labels: Record<string, string>
  signal?: AbortSignal
  onLine?: (line: string) => void
}

/** Build output kept for the error message: the failing step is near the end. */
const BUILD_ERROR_LINES = 25

export async function buildImage(request: BuildRequest): Promise<void> {
  const argv = ['docker', 'build', '-t', request.tag, '-f', request.dockerfile]
  for (const [key, value] of Object.entries(request.buildArgs)) argv.push('--build-arg', `${key}=${value}`)
  for (const [key, value] of Object.entries(request.labels)) argv.push('--label', `${key}=${value}`)
  argv.push(request.context)
  const output: string[] = []
  const result = await run(argv, {
    allowFailure: true,
    signal: request.signal,
    onLine(line) {
      output.push(line)
      request.onLine?.(line)
    },
  })
  if (result.exitCode === 0 || request.signal?.aborted) return
  const text = output.join('\n') || `${result.stdout}\n${result.stderr}`
  if (DOCKER_NOT_RUNNING.test(text)) throw dockerNotRunningError()
  // The classic builder prints "Step 3/8 : RUN …"; BuildKit prints "#9 [3/8] RUN …".
  const step = [...text.matchAll(/^(Step \d+\/\d+ : .*|#\d+ \[[^\]]*\d+\/\d+\] .*)$/gm)].at(-1)?.[0]
  throw new UserError(`The image build failed${step ? ` at "${step}"` : ''}.`, {
    hint: `${text.trimEnd().split('\n').slice(-BUILD_ERROR_LINES).join('\n')}\nFix the Dockerfile or the code it builds, then run \`devkube up\` again.`,
  })
}

export async function saveImage(tag: string, tarPath: string, signal?: AbortSignal): Promise<void> {
  await run(['docker', 'save', '-o', tarPath, tag], {signal})
}
