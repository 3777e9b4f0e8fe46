/**
 * `devkube doctor`: every prerequisite of `devkube up`, checked before `up` trips on it, each with a
 * one-line fix. Independent checks run at once and each has a time limit, so a hung Docker daemon
 * makes one check fail instead of doctor hanging.
 */
import {statfs} from 'node:fs/promises'
import os from 'node:os'
import type {AppConfig} from './config.js'
import {verifyKindContext} from './context-guard.js'
import {dockerVersion, imageTool} from './docker.js'
import {isUserError} from './errors.js'
import {ensurePortFree} from './forward.js'
import {ProjectState} from './project-state.js'
import {clusterExists, kindVersion, MIN_KIND_VERSION, nodeContainers, stoppedClusterProblem, stoppedNodes} from './kind.js'
import {Kube, kubectlClientVersion} from './kube.js'
import {clusterRegistry, DEFAULT_REGISTRY, inspectContainers, kindNetwork, KNOWN_REGISTRY_CONTAINERS} from './registry.js'
import {waitForRegistry} from './registry-api.js'
import {chalk} from './output.js'
import {installHint, run, ToolNotFoundError} from './runner.js'
import {versionAtLeast} from './versions.js'

export const MIN_NODE_VERSION = '22.0.0'
/** A kind node image is about 1 GB on disk. */
export const MIN_FREE_DISK_BYTES = 1024 ** 3
export const CHECK_TIMEOUT_MS = 25_000
const KIND_PROVIDERS = ['docker', 'podman', 'nerdctl']

export type CheckStatus = 'ok' | 'fail' | 'warn' | 'skip'

export interface CheckResult {
  id: string
  title: string
  status: CheckStatus
  /** What was found, e.g. "kind 0.27.0". */
  detail: string
  /** One line on how to fix it; only when not ok. */
  fix?: string
  /** A failed required check makes `up` fail, and doctor exit non-zero. */
  required: boolean
}

export interface DoctorReport {
  ok: boolean
  cluster: string
  forwardPort: number
  checks: CheckResult[]
}

export interface DoctorInput {
  /** Undefined when devkube.yaml could not be read: the defaults are used, and that is a failed check. */
  config?: AppConfig
  configError?: {message: string; hint?: string}
  cluster: string
  forwardPort: number
  projectDir: string
  nodeVersion?: string
  env?: NodeJS.ProcessEnv
  timeoutMs?: number
}

type Outcome = Omit<CheckResult, 'id' | 'title' | 'required'>

function ok(detail: string): Outcome {
  return {status: 'ok', detail}
}

function fail(detail: string, fix?: string): Outcome {
  return {status: 'fail', detail, fix}
}

/** A user error's sentence and hint become the detail and the fix. */
function failed(error: unknown, fallbackFix?: string): Outcome {
  if (error instanceof ToolNotFoundError) return fail('not installed (not on PATH)', installHint(error.tool))
  if (isUserError(error)) return fail(error.message.replace(/\.$/, ''), error.hint?.split('\n')[0] ?? fallbackFix)
  return fail((error as Error).message, fallbackFix)
}

async function withTimeout(work: Promise<Outcome>, ms: number, what: string): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => resolve(fail(`${what} did not answer within ${seconds(ms)} s`, 'Something is hanging: check that Docker is healthy (`docker info`), then run `devkube doctor` again.')), ms)
    timer.unref()
  })
  try {
    return await Promise.race([work.catch((error: unknown) => failed(error)), timeout])
  } finally {
    clearTimeout(timer)
  }
}

function seconds(ms: number): string {
  return ms < 10_000 ? String(Math.round(ms / 100) / 10) : String(Math.round(ms / 1000))
}

function skipped(detail: string): Outcome {
  return {status: 'skip', detail}
}

function minorOf(version: string): number | undefined {
  const match = /^v?(\d+)\.(\d+)/.exec(version)
  return match ? Number(match[1]) * 1000 + Number(match[2]) : undefined
}

export async function runDoctor(input: DoctorInput): Promise<DoctorReport> {
  const env = input.env ?? process.env
  const timeoutMs = input.timeoutMs ?? CHECK_TIMEOUT_MS
  const guard = (work: Promise<Outcome>, what: string) => withTimeout(work, timeoutMs, what)
  const checks: CheckResult[] = []
  const add = (id: string, title: string, required: boolean, outcome: Outcome) => checks.push({id, title, required, ...outcome})

  const nodeVersion = input.nodeVersion ?? process.versions.node
  const provider = env.KIND_EXPERIMENTAL_PROVIDER?.trim() || 'docker'

  // With kind's Podman provider devkube builds, saves and loads with podman: no docker CLI is needed.
  const usesPodman = imageTool(env) === 'podman'
  const dockerInfo = usesPodman ? Promise.resolve(undefined) : dockerVersion().catch((error: unknown) => error as Error)
  const kind = guard(
    kindVersion().then((version) =>
      versionAtLeast(version, MIN_KIND_VERSION) ? ok(`kind ${version}`) : fail(`kind ${version} is older than ${MIN_KIND_VERSION}, the oldest devkube supports`, 'Upgrade kind: https://kind.sigs.k8s.io/docs/user/quick-start/#installation'),
    ),
    'kind version',
  )
  const kubectl = kubectlClientVersion().then(
    (version) => ({version}),
    (error: unknown) => ({error}),
  )
  const podman = provider === 'podman' ? guard(run(['podman', 'version', '--format', '{{.Client.Version}}'], {timeoutMs}).then((result) => ok(`podman ${result.stdout.trim()}`)), 'podman') : undefined
  const port = guard(checkPort(input), 'port check')
  const disk = guard(checkDisk(), 'disk check')

  // Node
  add('node', 'Node.js', true, versionAtLeast(nodeVersion, MIN_NODE_VERSION) ? ok(`Node.js ${nodeVersion}`) : fail(`Node.js ${nodeVersion} is older than ${MIN_NODE_VERSION}`, 'Install Node.js 22 or newer (https://nodejs.org, or `nvm install 22`).'))

  // devkube.yaml
  if (input.configError) add('config', 'devkube.yaml', true, fail(input.configError.message.replace(/\.$/, ''), input.configError.hint))
  else add('config', 'devkube.yaml', true, ok(input.config?.configPath ? `valid (cluster "${input.cluster}", forward port ${input.forwardPort})` : `none; using defaults (cluster "${input.cluster}", forward port ${input.forwardPort})`))

  // docker CLI and daemon: one `docker version` tells both.
  const dockerResult = await Promise.race([dockerInfo, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), timeoutMs).unref())])
  let daemonUp = false
  if (dockerResult === undefined) {
    daemonUp = (await podman)?.status === 'ok'
    add('docker', 'docker CLI', false, skipped('not needed: kind\'s provider is Podman (KIND_EXPERIMENTAL_PROVIDER=podman), so devkube builds and loads images with podman'))
    add('daemon', 'Docker daemon', false, skipped('not needed with Podman'))
  } else if (dockerResult === 'timeout') {
    add('docker', 'docker CLI', true, ok('present'))
    add('daemon', 'Docker daemon', true, fail(`docker did not answer within ${seconds(timeoutMs)} s`, 'Restart Docker (Docker Desktop, or `sudo systemctl restart docker`), then run `devkube doctor` again.'))
  } else if (dockerResult instanceof ToolNotFoundError) {
    add('docker', 'docker CLI', true, fail('not installed (not on PATH)', installHint('docker')))
    add('daemon', 'Docker daemon', true, skipped('no docker CLI to ask'))
  } else if (dockerResult instanceof Error) {
    add('docker', 'docker CLI', true, ok('present'))
    add('daemon', 'Docker daemon', true, failed(dockerResult))
  } else {
    daemonUp = true
    add('docker', 'docker CLI', true, ok(`docker ${dockerResult.client}`))
    add('daemon', 'Docker daemon', true, ok(`reachable (Docker ${dockerResult.server}; kind provider: ${provider}${env.KIND_EXPERIMENTAL_PROVIDER ? ' via KIND_EXPERIMENTAL_PROVIDER' : ''})`))
  }
  if (!KIND_PROVIDERS.includes(provider)) {
    add('provider', 'kind provider', true, fail(`KIND_EXPERIMENTAL_PROVIDER=${provider} is not a provider kind knows`, `Set it to one of ${KIND_PROVIDERS.join(', ')}, or unset it to use Docker.`))
  } else if (podman) {
    add('provider', 'Podman (kind provider)', true, await podman)
  }

  // kind
  const kindOutcome = await kind
  add('kind', 'kind', true, kindOutcome)

  // kubectl, and its skew against the cluster
  const kubectlOutcome = await Promise.race([kubectl, new Promise<{error: unknown}>((resolve) => setTimeout(() => resolve({error: new Error(`kubectl did not answer within ${seconds(timeoutMs)} s`)}), timeoutMs).unref())])
  const kubectlVersion = 'version' in kubectlOutcome ? kubectlOutcome.version : undefined
  add('kubectl', 'kubectl', true, 'version' in kubectlOutcome ? ok(`kubectl ${kubectlOutcome.version}`) : failed(kubectlOutcome.error, installHint('kubectl')))

  // The cluster: only when kind and Docker work.
  let clusterThere = false
  let clusterStopped = false
  if (daemonUp && kindOutcome.status === 'ok') {
    const outcome = await guard(
      clusterExists(input.cluster).then(async (exists) => {
        if (!exists) return ok(`"${input.cluster}" does not exist yet (\`devkube up\` creates it)`)
        const stopped = stoppedNodes(await nodeContainers(input.cluster, imageTool(env)))
        if (stopped.length > 0) {
          clusterStopped = true
          const problem = stoppedClusterProblem(input.cluster, stopped)
          return fail(problem.message, problem.hint)
        }
        clusterThere = true
        return ok(`"${input.cluster}" exists`)
      }),
      'kind get clusters',
    )
    add('cluster', 'kind cluster', false, outcome)
  } else {
    add('cluster', 'kind cluster', false, skipped('needs Docker and kind'))
  }

  if (clusterThere && kubectlVersion) {
    const [context, skew] = await Promise.all([
      guard(verifyKindContext(input.cluster).then(() => ok(`kind-${input.cluster} points at the kind cluster "${input.cluster}"`)), 'kubectl config'),
      guard(checkSkew(input.cluster, kubectlVersion, timeoutMs), 'kubectl version'),
    ])
    add('context', 'kube context', true, context)
    add('skew', 'kubectl version skew', false, skew)
  } else {
    const why = clusterThere ? 'needs kubectl' : clusterStopped ? 'the cluster is not running' : 'no cluster yet'
    add('context', 'kube context', true, skipped(why))
    add('skew', 'kubectl version skew', false, skipped(why))
  }

  add('registry', 'Local registry', false, daemonUp ? await guard(checkRegistry(input, clusterThere), 'registry check') : skipped('needs Docker'))

  add('port', `Forward port ${input.forwardPort}`, true, await port)
  add('disk', 'Free disk', !clusterThere, await disk)
  if (clusterThere) {
    // An existing cluster already has its node image: low disk only slows image loads down.
    const diskCheck = checks.find((check) => check.id === 'disk')!
    if (diskCheck.status === 'fail') diskCheck.status = 'warn'
  }

  return {ok: checks.every((check) => !check.required || check.status !== 'fail'), cluster: input.cluster, forwardPort: input.forwardPort, checks}
}

/**
 * The local registry (`registry:`): the one the cluster's KEP-1755 ConfigMap names, else a registry
 * container devkube would reuse. Reported also when devkube.yaml does not turn it on, since `down`
 * leaves it running and it holds port and disk.
 */
async function checkRegistry(input: DoctorInput, clusterThere: boolean): Promise<Outcome> {
  const settings = input.config?.registry
  const named = clusterThere ? await clusterRegistry(new Kube(input.cluster)).catch(() => undefined) : undefined
  if (named) {
    const answers = await waitForRegistry(named.host, undefined, 2000).then(() => true, () => false)
    return answers
      ? ok(`${named.host}, named by the cluster's local-registry-hosting ConfigMap${settings ? '' : ' (unused: `registry:` is off, images are loaded with kind load)'}`)
      : fail(`${named.host}, named by the cluster's local-registry-hosting ConfigMap, does not answer`, `Start its container (\`docker ps -a\` shows it; \`docker start ${named.hostFromContainerRuntime?.replace(/:\d+$/, '') ?? '<name>'}\`).`)
  }
  const candidates = [settings?.name ?? DEFAULT_REGISTRY.name, ...KNOWN_REGISTRY_CONTAINERS]
  const found = (await inspectContainers([...new Set(candidates)])).find(Boolean)
  if (!found) return settings ? ok(`none yet (\`devkube up\` starts ${settings.name} on localhost:${settings.port})`) : skipped('off (`registry: true` in devkube.yaml, or `up --registry`, pushes instead of kind load)')
  if (!found.running) return {status: 'warn', detail: `the container ${found.name} exists but is stopped`, fix: `\`docker start ${found.name}\` (\`devkube up\` starts devkube's own).`}
  const network = kindNetwork()
  return ok(`${found.name} on localhost:${found.port}${found.networks.includes(network) ? `, on the "${network}" network` : ''}${settings ? '' : ' (unused: `registry:` is off)'}`)
}

async function checkPort(input: DoctorInput): Promise<Outcome> {
  const record = input.config ? new ProjectState(input.projectDir, input.config.environment).liveForwarder(input.config) : undefined
  if (record?.forwards.some((forward) => forward.localPort === input.forwardPort)) return ok(`used by devkube's own forwarder (pid ${record.pid}, ${record.url})`)
  try {
    await ensurePortFree(input.forwardPort)
    return ok('free')
  } catch (error) {
    return failed(error)
  }
}

/** Free space where Docker keeps its images (when it is on this machine), else in the home folder. */
async function checkDisk(): Promise<Outcome> {
  let where = os.homedir()
  const root = await run(['docker', 'info', '--format', '{{.DockerRootDir}}'], {allowFailure: true, quiet: true, timeoutMs: 10_000}).catch(() => undefined)
  const dockerRoot = root?.exitCode === 0 ? root.stdout.trim() : ''
  let stats = dockerRoot ? await statfs(dockerRoot).catch(() => undefined) : undefined
  if (stats) where = dockerRoot
  else stats = await statfs(where)
  const free = Number(stats.bavail) * Number(stats.bsize)
  const text = `${formatBytes(free)} free in ${where}`
  return free >= MIN_FREE_DISK_BYTES ? ok(text) : fail(text, `A kind node image needs about ${formatBytes(MIN_FREE_DISK_BYTES)}: free some space (\`docker system prune\` removes unused images).`)
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GB`
  return `${Math.round(bytes / 1024 ** 2)} MB`
}

/** kubectl supports one minor version of skew either way against the API server. */
async function checkSkew(cluster: string, clientVersion: string, timeoutMs: number): Promise<Outcome> {
  const result = await new Kube(cluster).kubectl(['version', '-o', 'json'], {allowFailure: true, quiet: true, timeoutMs})
  const parsed = JSON.parse(result.stdout || '{}') as {serverVersion?: {gitVersion?: string}}
  const server = parsed.serverVersion?.gitVersion
  if (!server) return {status: 'warn', detail: 'the cluster did not say its version', fix: 'Run `devkube status` to see whether the cluster answers.'}
  const [client, api] = [minorOf(clientVersion), minorOf(server)]
  if (client === undefined || api === undefined) return ok(`kubectl ${clientVersion}, cluster ${server}`)
  if (Math.abs(client - api) <= 1) return ok(`kubectl ${clientVersion}, cluster Kubernetes ${server.replace(/^v/, '')}`)
  return {
    status: 'warn',
    detail: `kubectl ${clientVersion} is more than one minor version away from the cluster's Kubernetes ${server.replace(/^v/, '')}`,
    fix: `Install a kubectl within one minor version of ${server.replace(/^v/, '')} (https://kubernetes.io/docs/tasks/tools/).`,
  }
}

const SYMBOLS: Record<CheckStatus, string> = {ok: '✓', fail: '✗', warn: '!', skip: '-'}

export function renderDoctor(report: DoctorReport): string[] {
  const colour: Record<CheckStatus, (text: string) => string> = {ok: chalk.green, fail: chalk.red, warn: chalk.yellow, skip: chalk.dim}
  const width = Math.max(...report.checks.map((check) => check.title.length))
  const lines: string[] = []
  for (const check of report.checks) {
    const detail = check.status === 'skip' ? chalk.dim(`skipped: ${check.detail}`) : check.detail
    lines.push(`${colour[check.status](SYMBOLS[check.status])} ${check.title.padEnd(width)}  ${detail}`)
    if (check.fix && (check.status === 'fail' || check.status === 'warn')) lines.push(`  ${' '.repeat(width)}  ${chalk.dim('fix:')} ${check.fix}`)
  }
  const failures = report.checks.filter((check) => check.required && check.status === 'fail').length
  lines.push('')
  lines.push(failures === 0 ? `${chalk.green('✓')} Everything \`devkube up\` needs is in place.` : `${chalk.red('✗')} ${failures} required check${failures === 1 ? '' : 's'} failed: fix ${failures === 1 ? 'it' : 'them'} and run \`devkube doctor\` again.`)
  return lines
}
