/** Typed wrappers of the kind CLI calls devkube makes. */
import {mkdtemp, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {parse} from 'yaml'
import {DOCKER_NOT_RUNNING, dockerNotRunningError, enginePlatform, imageTool, saveImage, type ImageTool} from './docker.js'
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

/**
 * The cluster's kind config; with a local registry, containerd's certs.d is enabled and is devkube's
 * folder of host entries for the cluster (`certsDir`, see registry.ts).
 */
export function renderClusterConfig(cluster: string, registry?: {certsDir: string}): string {
  if (!registry) return renderTemplate('kind/cluster.yaml', {clusterName: cluster})
  // A JSON string is a YAML double-quoted scalar: any path reads back as written.
  return renderTemplate('kind/cluster-registry.yaml', {clusterName: cluster, certsDir: JSON.stringify(registry.certsDir)})
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
export interface CreateClusterOptions {
  signal?: AbortSignal
  onLine?: (line: string) => void
  /** Create it wired to the local registry whose host entries are in this folder. */
  registry?: {certsDir: string}
}

export async function createCluster(cluster: string, options: CreateClusterOptions = {}): Promise<void> {
  const previousContext = await currentContext()
  try {
    await createClusterAsKindDoes(cluster, options)
  } finally {
    await restoreCurrentContext(previousContext)
  }
}

async function createClusterAsKindDoes(cluster: string, options: CreateClusterOptions): Promise<void> {
  const result = await run(['kind', 'create', 'cluster', '--name', cluster, '--config', '-', '--wait', '60s'], {
    input: renderClusterConfig(cluster, options.registry),
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

/** What `ctr images import` says when an archive names blobs it does not hold (kind #3795). */
const CONTAINERD_DIGEST_ERROR = /ctr: content digest \S+:? not found|content digest .* not found/i

/**
 * `kind load docker-image`; with Docker's containerd image store that fails with a digest error (kind
 * saves the whole index, the node imports all platforms), and the working path is `docker save
 * --platform <the engine's platform>` + `kind load image-archive` (kind #3795, kind PR #4247). With
 * Podman there is no docker CLI for kind to save with, so the archive path is the only one.
 * There kind also never reports "already present" (kind #4236): the caller's check of the nodes' images
 * is what keeps an unchanged `up` from copying the image again.
 */
export async function loadImage(cluster: string, tag: string, signal?: AbortSignal): Promise<'loaded' | 'present'> {
  if (imageTool() === 'podman') return loadImageArchive(cluster, tag, signal)
  const result = await run(['kind', 'load', 'docker-image', tag, '--name', cluster], {allowFailure: true, signal})
  const output = `${result.stderr}\n${result.stdout}`
  if (result.exitCode === 0) return /already present on all nodes/.test(output) ? 'present' : 'loaded'
  if (signal?.aborted) return 'loaded'
  if (CONTAINERD_DIGEST_ERROR.test(output)) return loadImageArchive(cluster, tag, signal)
  throw kindFailure(result, `load the image ${tag} into "${cluster}"`, 'Run `devkube up --rebuild` to build and load the image again.')
}

/**
 * Several images in ONE `kind load docker-image a b c`: kind saves them into one archive and imports it
 * once per node, instead of a save, copy and import per image. Returns the images it copied (kind says
 * "found to be already present" per image for the others). The archive fallbacks (containerd store,
 * Podman) stay one image at a time.
 */
export async function loadImages(cluster: string, tags: string[], signal?: AbortSignal): Promise<string[]> {
  const oneByOne = async () => {
    const loaded: string[] = []
    for (const tag of tags) if ((await loadImage(cluster, tag, signal)) === 'loaded') loaded.push(tag)
    return loaded
  }
  if (tags.length <= 1 || imageTool() === 'podman') return oneByOne()
  const result = await run(['kind', 'load', 'docker-image', ...tags, '--name', cluster], {allowFailure: true, signal})
  const output = `${result.stderr}\n${result.stdout}`
  if (result.exitCode === 0) return tags.filter((tag) => !new RegExp(`Image: "${escapeRegExp(tag)}" .*already present on all nodes`).test(output))
  if (signal?.aborted) return tags
  if (CONTAINERD_DIGEST_ERROR.test(output)) return oneByOne()
  throw kindFailure(result, `load the images ${tags.join(', ')} into "${cluster}"`, 'Run `devkube up --rebuild` to build and load the images again.')
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

async function loadImageArchive(cluster: string, tag: string, signal?: AbortSignal): Promise<'loaded'> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'devkube-image-'))
  const archive = path.join(directory, 'image.tar')
  try {
    await saveImage(tag, archive, {platform: await enginePlatform(), signal})
    const result = await run(['kind', 'load', 'image-archive', archive, '--name', cluster], {allowFailure: true, signal})
    if (result.exitCode === 0 || signal?.aborted) return 'loaded'
    const output = `${result.stderr}\n${result.stdout}`
    if (CONTAINERD_DIGEST_ERROR.test(output)) {
      throw new UserError(`kind could not import the image ${tag} into "${cluster}": the node's containerd misses some of its layers (a multi-platform image from Docker's containerd image store).`, {
        hint: 'Update Docker to 28 or newer (its `docker save --platform` writes one platform), or turn off the containerd image store in Docker\'s settings, then run `devkube up --rebuild`.',
      })
    }
    throw kindFailure(result, `load the image ${tag} into "${cluster}"`, 'Run `devkube up --rebuild` to build and load the image again.')
  } finally {
    await rm(directory, {recursive: true, force: true})
  }
}

/** kind's label on every node container of a cluster (the provider's `ps -a` finds stopped ones too). */
export const KIND_CLUSTER_LABEL = 'io.x-k8s.kind.cluster'

export interface NodeContainer {
  name: string
  /** The engine's word: running, exited, created, paused, restarting, dead. */
  state: string
}

/**
 * The cluster's node containers as the engine sees them. `kind get clusters` lists a cluster whose node
 * is stopped (`docker stop`, or a reboot: kind uses `--restart=on-failure:1`), and then every kind and
 * kubectl call against it fails: this is how to tell that apart from a cluster that is not there.
 */
export async function nodeContainers(cluster: string, tool: ImageTool = imageTool()): Promise<NodeContainer[]> {
  const result = await run([tool, 'ps', '-a', '--filter', `label=${KIND_CLUSTER_LABEL}=${cluster}`, '--format', '{{.Names}}\t{{.State}}'], {allowFailure: true, quiet: true, timeoutMs: 20_000})
  if (result.exitCode !== 0) return []
  return result.stdout
    .split('\n')
    .map((line) => line.trim().split('\t'))
    .filter(([name]) => Boolean(name))
    .map(([name, state = 'unknown']) => ({name, state: state.toLowerCase()}))
}

export function stoppedNodes(nodes: NodeContainer[]): NodeContainer[] {
  return nodes.filter((node) => node.state !== 'running')
}

/** One sentence for a cluster whose node containers are not running, for status and doctor (which change nothing). */
export function stoppedClusterProblem(cluster: string, stopped: NodeContainer[]): {message: string; hint: string} {
  const names = stopped.map((node) => node.name)
  return {
    message: `The kind cluster "${cluster}" exists but its node container${names.length === 1 ? ' ' : 's '}${names.join(', ')} ${names.length === 1 ? 'is' : 'are'} not running (${stopped[0].state}), so its API server does not answer.`,
    hint: `\`devkube up\` starts ${names.length === 1 ? 'it' : 'them'} again (or \`${imageTool()} start ${names.join(' ')}\`).`,
  }
}

const NODE_START_TIMEOUT_MS = 90_000
const NODE_POLL_MS = 1000

/**
 * Starts stopped node containers and waits until the API server answers through the cluster's
 * context (kind publishes the API server on a fixed host port, so the kubeconfig stays right).
 */
export async function startNodes(cluster: string, stopped: NodeContainer[], signal?: AbortSignal): Promise<void> {
  const result = await run([imageTool(), 'start', ...stopped.map((node) => node.name)], {allowFailure: true, signal})
  if (result.exitCode !== 0 && !signal?.aborted) {
    const problem = stoppedClusterProblem(cluster, stopped)
    throw new UserError(`${problem.message} Starting it failed: ${(result.stderr.trim().split('\n').at(-1) ?? '').trim()}`, {
      hint: `\`devkube down --cluster\` then \`devkube up\` recreates the cluster.`,
    })
  }
  const deadline = Date.now() + NODE_START_TIMEOUT_MS
  while (!signal?.aborted) {
    const ready = await run(['kubectl', '--context', contextName(cluster), 'get', '--raw', '/readyz'], {allowFailure: true, quiet: true, timeoutMs: 10_000, signal})
    if (ready.exitCode === 0) return
    if (Date.now() > deadline) {
      throw new UserError(`The node container of the kind cluster "${cluster}" was started, but its API server did not answer within ${NODE_START_TIMEOUT_MS / 1000} s.`, {
        hint: `Check \`${imageTool()} logs ${stopped[0].name}\`; \`devkube down --cluster\` then \`devkube up\` recreates the cluster.`,
      })
    }
    await new Promise((resolve) => setTimeout(resolve, NODE_POLL_MS))
  }
}
