/**
 * `devkube down`: stop the forwarder, remove what devkube created for the app — its namespace when
 * devkube created it and nothing else lives there, else only the app's own labelled objects — and,
 * with --cluster, the kind cluster itself. Backing services' volumes (and the credentials they were
 * set up with) are kept, and the namespace with them, unless --volumes. Everything is observed first, so running it twice is
 * safe and the second run says there is nothing to remove.
 */
import type {AppConfig} from './config.js'
import {ProjectState, recordsKey} from './project-state.js'
import {verifyKindContext} from './context-guard.js'
import {UserError} from './errors.js'
import {stopForwarder} from './forward-session.js'
import {clusterExists, deleteCluster} from './kind.js'
import {checkContextExists} from './targets.js'
import {kubectlError, MANAGED_BY, MANAGED_BY_LABEL, NAME_LABEL, type Kube, type KubeObject} from './kube.js'
import {findDeployment, PART_OF_LABEL, podSelector} from './app-pods.js'

/** The label kind/cluster.yaml puts on the nodes of clusters devkube creates. */
export const CLUSTER_NODE_LABEL = 'devkube.dev/managed-by'

/** Namespace-scoped kinds an app's manifests commonly hold; every one kubectl and the fakes know. */
const APP_KINDS = [
  'deployments.apps',
  'services',
  'configmaps',
  'secrets',
  'ingresses.networking.k8s.io',
  'persistentvolumeclaims',
  'serviceaccounts',
  'horizontalpodautoscalers.autoscaling',
  'poddisruptionbudgets.policy',
  'networkpolicies.networking.k8s.io',
  'roles.rbac.authorization.k8s.io',
  'rolebindings.rbac.authorization.k8s.io',
]
/** Workloads a user may have added by hand; listed separately because not every API server serves them. */
const OTHER_WORKLOAD_KINDS = ['statefulsets.apps', 'daemonsets.apps', 'jobs.batch', 'cronjobs.batch']

/** Namespaces every kind cluster has: not worth naming before deleting one. */
const SYSTEM_NAMESPACES = new Set(['default', 'kube-system', 'kube-public', 'kube-node-lease', 'local-path-storage'])

const DELETE_TIMEOUT_SECONDS = 120

export interface DownResult {
  app: string
  environment: string
  cluster: string
  context: string
  namespace: string
  /** The forwarder that was stopped. */
  forwarder?: {pid: number; url: string}
  removed: {namespace?: string; objects: string[]; cluster: boolean}
  /** Why something was left in place, one sentence each. */
  kept: string[]
  nothingToRemove: boolean
}

export interface DownOptions {
  cluster: boolean
  /** Also delete the backing services' volumes (their data) and credentials; kept otherwise. */
  volumes?: boolean
  yes: boolean
  /** Whether a person can be asked (a TTY, not CI, not --json). */
  interactive: boolean
  confirm: (message: string) => Promise<boolean>
  /** Progress for people (not with --json). */
  log: (line: string) => void
}

export async function runDown(config: AppConfig, kube: Kube, options: DownOptions): Promise<DownResult> {
  const result: DownResult = {
    app: config.name,
    environment: config.environment,
    cluster: config.cluster,
    context: kube.context,
    namespace: config.namespace,
    removed: {objects: [], cluster: false},
    kept: [],
    nothingToRemove: false,
  }
  if (kube.target && options.cluster) {
    throw new UserError(`devkube never deletes the cluster of a deploy target (${kube.target}, context "${kube.context}").`, {
      hint: `\`devkube down --target ${kube.target}\` without --cluster removes only devkube's objects of ${config.name} from it.`,
    })
  }
  // A target's cluster is the user's: its context must exist; kind is not asked about it.
  if (kube.target) await checkContextExists({name: kube.target, context: kube.context})
  const exists = kube.target ? true : await clusterExists(config.cluster)
  if (options.cluster && exists) await confirmClusterDeletion(config, kube, options)

  result.forwarder = await stopOwnForwarder(config, kube)
  if (result.forwarder) options.log(`Stopped the port forwarder (pid ${result.forwarder.pid}, ${result.forwarder.url}).`)

  if (!exists) {
    result.nothingToRemove = !result.forwarder
    options.log(`Nothing ${result.forwarder ? 'else ' : ''}to remove: the kind cluster "${config.cluster}" does not exist.`)
    return result
  }
  if (options.cluster) {
    options.log(`Deleting the kind cluster "${config.cluster}"…`)
    await deleteCluster(config.cluster)
    result.removed.cluster = true
    options.log(`Deleted the kind cluster "${config.cluster}" and everything in it.`)
    return result
  }

  if (!kube.target) await verifyKindContext(config.cluster)
  await removeApp(config, kube, result, options.log, options.volumes ?? false)
  if (!result.removed.namespace && result.removed.objects.length === 0) {
    result.nothingToRemove = !result.forwarder
    options.log(`Nothing ${result.forwarder ? 'else ' : ''}to remove: ${config.name} is not deployed in namespace ${config.namespace} of ${kube.context}.`)
  }
  for (const reason of result.kept) options.log(reason)
  return result
}

/** Only the forwarder of this app's cluster and namespace: another environment's keeps running. */
async function stopOwnForwarder(config: AppConfig, kube: Kube): Promise<{pid: number; url: string} | undefined> {
  const stopped = await stopForwarder(new ProjectState(config.projectDir, recordsKey(config.environment, kube.target)), config)
  return stopped ? {pid: stopped.pid, url: stopped.url} : undefined
}

function objectName(object: KubeObject): string {
  return `${object.kind.toLowerCase()}/${object.metadata.name}`
}

/** Objects a namespace holds by itself (kube-root-ca.crt, the default service account): not the user's. */
function isBuiltIn(object: KubeObject): boolean {
  if (object.kind === 'ConfigMap' && object.metadata.name === 'kube-root-ca.crt') return true
  if (object.kind === 'ServiceAccount' && object.metadata.name === 'default') return true
  return object.kind === 'Secret' && (object as {type?: string}).type === 'kubernetes.io/service-account-token'
}

/**
 * A StatefulSet's volumes are named <claim>-<statefulset>-<ordinal> and carry no labels of ours, so
 * they are the app's when their StatefulSet (live, or a backing service of devkube.yaml) is.
 */
function isAppVolume(object: KubeObject, statefulSets: string[]): boolean {
  return object.kind === 'PersistentVolumeClaim' && statefulSets.some((name) => new RegExp(`^[a-z0-9-]+-${name}-\\d+$`).test(object.metadata.name))
}

async function removeApp(config: AppConfig, kube: Kube, result: DownResult, log: (line: string) => void, deleteVolumes: boolean): Promise<void> {
  const namespace = await kube.getJson<KubeObject>(['namespace', config.namespace], undefined, true)
  if (!namespace) return
  const [objects, workloads, deployment] = await Promise.all([
    kube.list(APP_KINDS.join(','), config.namespace, undefined, true),
    kube.kubectl(['get', OTHER_WORKLOAD_KINDS.join(','), '-o', 'json'], {namespace: config.namespace, allowFailure: true, quiet: true}),
    findDeployment(kube, config),
  ])
  if (workloads.exitCode === 0) objects.push(...((JSON.parse(workloads.stdout) as {items?: KubeObject[]}).items ?? []))
  const devkubes = (object: KubeObject) => object.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY
  const serviceNames = new Set(config.services.map((service) => service.name))
  const ours = (object: KubeObject) => devkubes(object) && (object.metadata.labels?.[PART_OF_LABEL] === config.name || serviceNames.has(object.metadata.labels?.[NAME_LABEL] ?? ''))
  const statefulSets = [...new Set([...objects.filter((object) => object.kind === 'StatefulSet' && ours(object)).map((object) => object.metadata.name), ...config.services.filter((service) => service.source.kind === 'backing').map((service) => service.name)])]
  // The named volumes of services (`volumes:`) carry the service's labels; their data is kept just the same.
  const serviceVolumes = objects.filter((object) => object.kind === 'PersistentVolumeClaim' && ours(object) && !isAppVolume(object, statefulSets))
  const volumes = [...objects.filter((object) => isAppVolume(object, statefulSets)), ...serviceVolumes]
  const keepVolumes = volumes.length > 0 && !deleteVolumes
  // A volume kept without its credentials could never be opened again: they stay together.
  const credentials = objects.filter((object) => object.kind === 'Secret' && ours(object) && statefulSets.some((name) => object.metadata.name === `${name}-credentials`))
  const kept = keepVolumes ? [...volumes, ...credentials] : []
  const appObjects = [...objects.filter((object) => ours(object) && !kept.includes(object)), ...(keepVolumes ? [] : volumes)]
  const otherApps = [...new Set(objects.filter((object) => devkubes(object) && !ours(object)).map((object) => object.metadata.labels?.[PART_OF_LABEL] ?? object.metadata.labels?.[NAME_LABEL] ?? '?'))]
  const foreign = objects.filter((object) => !devkubes(object) && !isBuiltIn(object) && !volumes.includes(object))
  if (keepVolumes) {
    const owners = [...new Set([...statefulSets.filter((name) => volumes.some((volume) => isAppVolume(volume, [name]))), ...serviceVolumes.map((volume) => volume.metadata.labels?.[NAME_LABEL] ?? volume.metadata.name)])]
    result.kept.push(`Kept the data of ${owners.join(', ')} (${volumes.map(objectName).join(', ')})${credentials.length > 0 ? ' and its credentials' : ''}; \`devkube down --volumes\` deletes ${credentials.length > 0 ? 'them' : volumes.length === 1 ? 'it' : 'them'}.`)
  }
  const namespaceIsOurs = namespace.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY

  if (namespaceIsOurs && otherApps.length === 0 && foreign.length === 0 && !keepVolumes) {
    log(`Deleting namespace ${config.namespace}${appObjects.length > 0 ? ` (${appObjects.map(objectName).join(', ')})` : ''}…`)
    await deleteObjects(kube, ['namespace', config.namespace])
    result.removed.namespace = config.namespace
    result.removed.objects = appObjects.map(objectName)
    log(`Removed ${config.name}: deleted namespace ${config.namespace}${appObjects.length > 0 ? ` with ${appObjects.map(objectName).join(', ')}` : ''}.`)
    return
  }

  if (appObjects.length === 0) return
  if (!namespaceIsOurs) {
    result.kept.push(`Kept namespace ${config.namespace}: devkube did not create it.`)
  } else if (otherApps.length > 0 || foreign.length > 0) {
    const others = [...otherApps.map((app) => `devkube app ${app}`), ...foreign.slice(0, 5).map(objectName)]
    const more = foreign.length > 5 ? ` and ${foreign.length - 5} more` : ''
    result.kept.push(`Kept namespace ${config.namespace}: it also holds ${others.join(', ')}${more}.`)
  }
  log(`Deleting ${appObjects.map(objectName).join(', ')} from namespace ${config.namespace}…`)
  await deleteObjects(kube, appObjects.map(objectName), config.namespace)
  await waitForPodsGone(kube, config, config.services.length === 1 ? podSelector(config, deployment) : `${NAME_LABEL} in (${[...serviceNames].join(',')})`)
  result.removed.objects = appObjects.map(objectName)
  log(`Removed ${config.name} from namespace ${config.namespace}: ${result.removed.objects.join(', ')}.`)
}

/** `kubectl delete` that waits until the objects are gone; already gone is fine. */
async function deleteObjects(kube: Kube, names: string[], namespace?: string): Promise<void> {
  const result = await kube.kubectl(['delete', ...names, '--ignore-not-found', '--wait=true', `--timeout=${DELETE_TIMEOUT_SECONDS}s`], {namespace, allowFailure: true})
  if (result.exitCode !== 0) throw kubectlError(result, kube.cluster)
}

/** Deleting a Deployment returns before its pods are gone; "removed" should mean gone. */
async function waitForPodsGone(kube: Kube, config: AppConfig, selector: string): Promise<void> {
  const deadline = Date.now() + DELETE_TIMEOUT_SECONDS * 1000
  while (Date.now() < deadline) {
    const pods = await kube.list('pods', config.namespace, selector, true)
    if (pods.length === 0) return
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  throw new UserError(`The pods of ${config.name} in namespace ${config.namespace} were still there ${DELETE_TIMEOUT_SECONDS} s after their Deployment was deleted.`, {
    hint: `Run \`devkube down\` again, or look at them with \`kubectl --context ${kube.context} -n ${config.namespace} get pods\`.`,
  })
}

/** What else is in the cluster, to name before deleting it. */
export interface ClusterContents {
  createdByDevkube: boolean | undefined
  devkubeNamespaces: string[]
  otherNamespaces: string[]
  /** Why the contents could not be read (a broken context), when they could not. */
  unreadable?: string
}

export async function clusterContents(config: AppConfig, kube: Kube): Promise<ClusterContents> {
  try {
    await verifyKindContext(config.cluster)
    const [nodes, namespaces] = await Promise.all([kube.list('nodes', '', undefined, true), kube.list('namespaces', '', undefined, true)])
    const createdByDevkube = nodes.length === 0 ? undefined : nodes.some((node) => node.metadata.labels?.[CLUSTER_NODE_LABEL] === MANAGED_BY)
    const devkubeNamespaces: string[] = []
    const otherNamespaces: string[] = []
    for (const namespace of namespaces) {
      const name = namespace.metadata.name
      if (name === config.namespace || SYSTEM_NAMESPACES.has(name)) continue
      if (namespace.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY) devkubeNamespaces.push(name)
      else otherNamespaces.push(name)
    }
    return {createdByDevkube, devkubeNamespaces: devkubeNamespaces.sort(), otherNamespaces: otherNamespaces.sort()}
  } catch (error) {
    return {createdByDevkube: undefined, devkubeNamespaces: [], otherNamespaces: [], unreadable: (error as Error).message}
  }
}

export function describeContents(contents: ClusterContents): string {
  const parts: string[] = []
  if (contents.devkubeNamespaces.length > 0) parts.push(`the devkube namespaces of other projects: ${contents.devkubeNamespaces.join(', ')}`)
  if (contents.otherNamespaces.length > 0) parts.push(`namespaces devkube did not create: ${contents.otherNamespaces.join(', ')}`)
  if (contents.unreadable) return `(what else it holds could not be read: ${contents.unreadable})`
  return parts.length > 0 ? `It also holds ${parts.join('; and ')}.` : 'It holds nothing else devkube knows of.'
}

async function confirmClusterDeletion(config: AppConfig, kube: Kube, options: DownOptions): Promise<void> {
  const contents = await clusterContents(config, kube)
  if (contents.createdByDevkube === false) {
    throw new UserError(`The kind cluster "${config.cluster}" was not created by devkube (its nodes lack the ${CLUSTER_NODE_LABEL}=${MANAGED_BY} label), so devkube will not delete it.`, {
      hint: `\`devkube down\` without --cluster removes only the app; delete the cluster yourself with \`kind delete cluster --name ${config.cluster}\` if you are sure.`,
    })
  }
  const contentsText = describeContents(contents)
  if (options.yes) return
  if (!options.interactive) {
    throw new UserError(`Not deleting the kind cluster "${config.cluster}": that needs a confirmation, and there is no terminal to ask on. ${contentsText}`, {
      hint: 'Run `devkube down --cluster --yes` to delete it anyway, or `devkube down` to remove only this app.',
    })
  }
  options.log(`The kind cluster "${config.cluster}" is about to be deleted, with everything in it. ${contentsText}`)
  if (!(await options.confirm(`Delete the kind cluster "${config.cluster}"?`))) {
    throw new UserError('Cancelled: nothing was removed.', {hint: '`devkube down` without --cluster removes only this app.'})
  }
}
