/** Typed wrappers of the kind CLI calls devkube makes. */
import {mkdtemp, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {parse} from 'yaml'
import {DOCKER_NOT_RUNNING, dockerNotRunningError, saveImage} from './docker.js'
import {UserError} from './errors.js'
import {KIND_CLUSTER_NAME} from './names.js'
import {CommandError, run, type RunResult} from './runner.js'
import {renderTemplate} from './templates.js'

export const MIN_KIND_VERSION = '0.20.0'

export function contextName(cluster: string): string {
  return `kind-${cluster}`
}

export function checkClusterName(cluster: string): void {
  if (!KIND_CLUSTER_NAME.test(cluster)) {
    throw new UserError(`"${cluster}" is not a valid kind cluster name.`, {
      hint: 'Use lowercase letters, digits, "." and "-" (set `cluster:` in devkube.yaml or pass --cluster).',
    })
  }
}

/** kind reports its own failures as "ERROR: …"; a stopped Docker shows up as a failed `docker ps`. */
function kindFailure(result: RunResult, doing: string, hint: string): UserError {
  const output = `${result.stderr}\n${result.stdout}`
  if (DOCKER_NOT_RUNNING.test(output)) return dockerNotRunningError()
  const reason = /ERROR: (.*)/.exec(output)?.[1]
  if (!reason) return new CommandError(result)
  return new UserError(`kind could not ${doing}: ${reason}`, {hint})
}

export async function kindVersion(): Promise<string> {
  const result = await run(['kind', 'version'], {timeoutMs: 20_000})
  return /v(\d+\.\d+\.\d+)/.exec(result.stdout)?.[1] ?? result.stdout.trim()
}

export async function listClusters(): Promise<string[]> {
  const result = await run(['kind', 'get', 'clusters'], {allowFailure: true})
  if (result.exitCode !== 0) throw kindFailure(result, 'list clusters', 'Run `devkube doctor` to check Docker and kind.')
  return result.stdout.split('\n').map((line) => line.trim()).filter(Boolean)
}

export async function clusterExists(cluster: string): Promise<boolean> {
  return (await listClusters()).includes(cluster)
}

export function renderClusterConfig(cluster: string): string {
  return renderTemplate('kind/cluster.yaml', {clusterName: cluster})
}

/** The kubeconfig's current-context as kubectl resolves it (KUBECONFIG included), read only to put it back. */
async function currentContext(): Promise<string | undefined> {
  const result = await run(['kubectl', 'config', 'view', '-o', 'json'], {allowFailure: true, quiet: true})
  if (result.exitCode !== 0) return undefined
  return (JSON.parse(result.stdout || '{}') as {'current-context'?: string})['current-context'] || undefined
}

async function restoreCurrentContext(previous: string | undefined): Promise<void> {
  if ((await currentContext()) === previous) return
  await run(previous ? ['kubectl', 'config', 'use-context', previous] : ['kubectl', 'config', 'unset', 'current-context'], {allowFailure: true, quiet: true})
}

/**
 * kind makes the new cluster the kubeconfig's current context. devkube never changes which cluster
 * the user's own kubectl talks to, so the previous current-context (or its absence) is put back.
 */
export async function createCluster(cluster: string, options: {signal?: AbortSignal; onLine?: (line: string) => void} = {}): Promise<void> {
  const previousContext = await currentContext()
  try {
    await createClusterAsKindDoes(cluster, options)
  } finally {
    await restoreCurrentContext(previousContext)
  }
}

async function createClusterAsKindDoes(cluster: string, options: {signal?: AbortSignal; onLine?: (line: string) => void}): Promise<void> {
  const result = await run(['kind', 'create', 'cluster', '--name', cluster, '--config', '-', '--wait', '60s'], {
    input: renderClusterConfig(cluster),
    allowFailure: true,
    signal: options.signal,
    onLine: options.onLine,
  })
  if (result.exitCode === 0 || options.signal?.aborted) return
  throw kindFailure(result, `create the cluster "${cluster}"`, 'Run `devkube doctor`; `kind create cluster` needs Docker running and about 1 GB of free disk.')
}

export async function deleteCluster(cluster: string): Promise<void> {
  const result = await run(['kind', 'delete', 'cluster', '--name', cluster], {allowFailure: true})
  if (result.exitCode !== 0) throw kindFailure(result, `delete the cluster "${cluster}"`, 'Run `devkube doctor` to check Docker and kind.')
}

/** The API server address kind itself recorded for the cluster: what the kind-X context must point at. */
export async function clusterServer(cluster: string): Promise<string | undefined> {
  const result = await run(['kind', 'get', 'kubeconfig', '--name', cluster], {allowFailure: true, quiet: true})
  if (result.exitCode !== 0) return undefined
  const config = parse(result.stdout) as {clusters?: Array<{cluster?: {server?: string}}>}
  return config.clusters?.[0]?.cluster?.server
}

/**
 * `kind load docker-image`, falling back to `docker save` + `kind load image-archive` when the
 * containerd image store gives kind a digest error (kind #3795).
 */
export async function loadImage(cluster: string, tag: string, signal?: AbortSignal): Promise<'loaded' | 'present'> {
  const result = await run(['kind', 'load', 'docker-image', tag, '--name', cluster], {allowFailure: true, signal})
  const output = `${result.stderr}\n${result.stdout}`
  if (result.exitCode === 0) return /already present on all nodes/.test(output) ? 'present' : 'loaded'
  if (signal?.aborted) return 'loaded'
  if (/content digest .* not found|ctr: content digest/i.test(output)) {
    const directory = await mkdtemp(path.join(os.tmpdir(), 'devkube-image-'))
    const archive = path.join(directory, 'image.tar')
    try {
      await saveImage(tag, archive, signal)
      const fallback = await run(['kind', 'load', 'image-archive', archive, '--name', cluster], {allowFailure: true, signal})
      if (fallback.exitCode === 0) return 'loaded'
      throw kindFailure(fallback, `load the image ${tag} into "${cluster}"`, 'Run `devkube up --rebuild` to build and load the image again.')
    } finally {
      await rm(directory, {recursive: true, force: true})
    }
  }
  throw kindFailure(result, `load the image ${tag} into "${cluster}"`, 'Run `devkube up --rebuild` to build and load the image again.')
}
