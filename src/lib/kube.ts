/**
 * kubectl, always against one named context: a kind cluster's (`kind-<cluster>`), or a deploy
 * target's (the user's own context, named in devkube.yaml `targets:`). Every call names `--context`
 * explicitly, so devkube never reads, depends on or changes the user's current context.
 */
import {UserError} from './errors.js'
import {run, start, type BackgroundProcess, type RunOptions, type RunResult} from './runner.js'

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by'
export const NAME_LABEL = 'app.kubernetes.io/name'
export const INSTANCE_LABEL = 'app.kubernetes.io/instance'
export const MANAGED_BY = 'devkube'

export function appSelector(appName: string): string {
  return `${NAME_LABEL}=${appName},${MANAGED_BY_LABEL}=${MANAGED_BY}`
}

export interface KubeObject {
  apiVersion: string
  kind: string
  metadata: {name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [key: string]: unknown}
  [key: string]: unknown
}

export interface ContainerState {
  running?: {startedAt?: string}
  waiting?: {reason?: string; message?: string}
  terminated?: {reason?: string; exitCode?: number; message?: string; finishedAt?: string}
}

export interface Pod extends KubeObject {
  spec: {
    containers: Array<{
      name: string
      image: string
      ports?: Array<{name?: string; containerPort: number}>
      resources?: {limits?: {memory?: string; cpu?: string}}
      readinessProbe?: {httpGet?: {path?: string; port?: number | string}}
      livenessProbe?: {httpGet?: {path?: string; port?: number | string}}
    }>
    nodeName?: string
  }
  status: {
    phase?: string
    conditions?: Array<{type: string; status: string; reason?: string; message?: string}>
    containerStatuses?: Array<{name: string; ready: boolean; restartCount: number; image: string; imageID?: string; state?: ContainerState; lastState?: ContainerState}>
    startTime?: string
  }
}

export interface Deployment extends KubeObject {
  spec: {replicas?: number; template: {metadata?: {annotations?: Record<string, string>}; spec: {containers: Array<{name: string; image: string}>}}}
  status?: {replicas?: number; readyReplicas?: number; updatedReplicas?: number; availableReplicas?: number; observedGeneration?: number; conditions?: Array<{type: string; status: string; reason?: string; message?: string}>}
}

export class Kube {
  readonly context: string
  /** The deploy target this Kube reaches (its context is the user's, not kind's); undefined for kind. */
  readonly target?: string

  /** With `target`, its context is used as named, and never checked as a kind context. */
  constructor(
    readonly cluster: string,
    target?: {name: string; context: string},
  ) {
    this.context = target?.context ?? `kind-${cluster}`
    this.target = target?.name
  }

  /** kubectl with the context (and namespace when given) always set. */
  async kubectl(args: string[], options: RunOptions & {namespace?: string} = {}): Promise<RunResult> {
    const scope = options.namespace ? ['--namespace', options.namespace] : []
    return run(['kubectl', '--context', this.context, ...scope, ...args], options)
  }

  startKubectl(args: string[], options: {namespace?: string; onLine?: (line: string, stream: 'stdout' | 'stderr') => void} = {}): BackgroundProcess {
    const scope = options.namespace ? ['--namespace', options.namespace] : []
    return start(['kubectl', '--context', this.context, ...scope, ...args], {onLine: options.onLine})
  }

  /** `signal`: an aborted read ends its kubectl at once (and throws). */
  async getJson<T>(args: string[], namespace?: string, quiet = false, signal?: AbortSignal): Promise<T | undefined> {
    const result = await this.kubectl(['get', ...args, '-o', 'json'], {namespace, allowFailure: true, quiet, signal})
    if (result.exitCode !== 0) {
      if (/\(NotFound\)/.test(result.stderr)) return undefined
      throw kubectlError(result, this.cluster, this.target ? this.context : undefined)
    }
    return JSON.parse(result.stdout) as T
  }

  async list<T extends KubeObject>(kinds: string, namespace: string, selector?: string, quiet = false, signal?: AbortSignal): Promise<T[]> {
    const list = await this.getJson<{items: T[]}>([kinds, ...(selector ? ['-l', selector] : [])], namespace, quiet, signal)
    return list?.items ?? []
  }

  /** `kubectl apply -f -` with the manifests on stdin (Secret values never appear in argv). */
  async apply(manifests: string): Promise<string[]> {
    const result = await this.kubectl(['apply', '-f', '-'], {input: manifests, allowFailure: true})
    if (result.exitCode !== 0) throw kubectlError(result, this.cluster, this.target ? this.context : undefined)
    return result.stdout.split('\n').map((line) => line.trim()).filter(Boolean)
  }
}

/** Turns kubectl's failures into what a user can act on. */
export function kubectlError(result: RunResult, cluster: string, targetContext?: string): UserError {
  const output = `${result.stderr}\n${result.stdout}`.trim()
  if (targetContext && /context was not found for specified context|connection to the server .* was refused|Unable to connect to the server|dial tcp .* connect: connection refused/.test(output)) {
    return new UserError(`The cluster of the context "${targetContext}" is not reachable: ${output.split('\n').at(-1)}`, {
      hint: `Check the context with \`kubectl --context ${targetContext} get namespaces\` (credentials, VPN, the cluster itself).`,
    })
  }
  if (/context was not found for specified context/.test(output)) {
    return missingContextError(cluster)
  }
  if (/connection to the server .* was refused|Unable to connect to the server|dial tcp .* connect: connection refused/.test(output)) {
    return new UserError(`The kind cluster "${cluster}" is not answering (its API server refused the connection).`, {
      hint: `Check that Docker is running and the cluster's node container is up (\`docker ps --filter label=io.x-k8s.kind.cluster=${cluster}\`); \`devkube down --cluster\` then \`devkube up\` recreates it.`,
    })
  }
  // kubectl says why on stderr; stdout holds what went well before it (`apply`: "secret/x unchanged"), so a
  // reason without kubectl's usual prefix (`The Job "migrate" is invalid: …`) is stderr's first line that is not
  // a warning, not output's last.
  const reason = /^(Error from server.*|error: .*)$/m.exec(output)?.[1] ?? result.stderr.split('\n').find((line) => line.trim() !== '' && !line.startsWith('Warning:')) ?? result.stdout.trim().split('\n').at(-1)
  const message = (reason || 'kubectl failed').trim()
  return new UserError(`kubectl failed: ${message}`, {hint: `The command was: ${result.argv.join(' ')}`})
}

export function missingContextError(cluster: string): UserError {
  return new UserError(`The kubeconfig has no context "kind-${cluster}" for the kind cluster "${cluster}".`, {
    hint: `Run \`kind export kubeconfig --name ${cluster}\` to restore it (devkube never uses any other context).`,
  })
}

/** kubectl's own version (no cluster involved), e.g. "1.32.4". */
export async function kubectlClientVersion(): Promise<string> {
  const result = await run(['kubectl', 'version', '--client', '-o', 'json'], {timeoutMs: 20_000})
  const parsed = JSON.parse(result.stdout) as {clientVersion?: {gitVersion?: string}}
  return parsed.clientVersion?.gitVersion?.replace(/^v/, '') ?? 'unknown'
}
