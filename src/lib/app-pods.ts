/**
 * THE answer to "which objects and pods are service X's", for up, forward, status, logs, down, scale
 * and rollback: the workload (Deployment, or StatefulSet for a backing service) labelled with the
 * service's name and managed by devkube, the pods its own selector picks, and the cluster/context
 * check the day-2 commands start with.
 */
import type {AppConfig} from './config.js'
import {verifyKindContext} from './context-guard.js'
import {UserError} from './errors.js'
import {clusterExists} from './kind.js'
import {MANAGED_BY, MANAGED_BY_LABEL, NAME_LABEL, type Deployment, type Kube, type KubeObject, type Pod} from './kube.js'

export const PART_OF_LABEL = 'app.kubernetes.io/part-of'

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'Job'

export interface Workload {
  kind: WorkloadKind
  name: string
  object: Deployment
}

/** The labels every object of service `service` of app `app` carries. */
export function serviceLabels(app: string, service: string): Record<string, string> {
  return {[PART_OF_LABEL]: app, [NAME_LABEL]: service, [MANAGED_BY_LABEL]: MANAGED_BY}
}

/**
 * The selector of a service's objects. The name label alone (with managed-by), not part-of: the
 * objects of a one-service app deployed before part-of existed must still be found.
 */
export function serviceSelector(service: string): string {
  return `${NAME_LABEL}=${service},${MANAGED_BY_LABEL}=${MANAGED_BY}`
}

/** `kubectl rollout`'s name of a workload: deployment/web, statefulset/db. */
export function workloadRef(workload: {kind: WorkloadKind; name: string}): string {
  return `${workload.kind.toLowerCase()}/${workload.name}`
}

export function noClusterError(config: AppConfig): UserError {
  return new UserError(`${config.name} is not running: the kind cluster "${config.cluster}" does not exist.`, {
    hint: '`devkube up` creates the cluster and starts the app.',
  })
}

/** Throws a plain sentence when the cluster is missing or its context is not that cluster. */
export async function requireCluster(config: AppConfig): Promise<void> {
  if (!(await clusterExists(config.cluster))) throw noClusterError(config)
  await verifyKindContext(config.cluster)
}

/** The service's workload: a Deployment, else a StatefulSet, else a Job (`kind: job`), labelled with its name; the one named after it first. */
export async function findWorkload(kube: Kube, namespace: string, service: string): Promise<Workload | undefined> {
  const selector = serviceSelector(service)
  const [deployments, statefulSets, jobs] = await Promise.all([
    kube.list<Deployment>('deployments.apps', namespace, selector, true),
    // Listed on their own: a cluster (or fake) without StatefulSets or Jobs must not fail the Deployment lookup.
    kube.list<Deployment>('statefulsets.apps', namespace, selector, true).catch(() => []),
    kube.list<Deployment>('jobs.batch', namespace, selector, true).catch(() => []),
  ])
  const pick = (objects: Deployment[]) => objects.find((object) => object.metadata.name === service) ?? objects[0]
  const deployment = pick(deployments)
  if (deployment) return {kind: 'Deployment', name: deployment.metadata.name, object: deployment}
  const statefulSet = pick(statefulSets)
  if (statefulSet) return {kind: 'StatefulSet', name: statefulSet.metadata.name, object: statefulSet}
  const job = pick(jobs)
  return job ? {kind: 'Job', name: job.metadata.name, object: job} : undefined
}

/** The app's (one-service app's) Deployment. */
export async function findDeployment(kube: Kube, config: AppConfig): Promise<Deployment | undefined> {
  return (await findWorkload(kube, config.namespace, config.name))?.object
}

/**
 * The label selector of a workload's pods: its own selector when there is one (a user's manifests
 * may label pods differently), else the name label every devkube service carries.
 */
export function podSelector(service: string | AppConfig, workload?: Deployment): string {
  const matchLabels = workload && ownSelector(workload)
  return matchLabels ? labelSelector(matchLabels) : `${NAME_LABEL}=${typeof service === 'string' ? service : service.name}`
}

/** A workload's own `spec.selector.matchLabels`, when it has any. */
function ownSelector(workload: Deployment): Record<string, string> | undefined {
  const matchLabels = (workload.spec as {selector?: {matchLabels?: Record<string, string>}}).selector?.matchLabels
  return matchLabels && Object.keys(matchLabels).length > 0 ? matchLabels : undefined
}

function labelSelector(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([key, value]) => `${key}=${value}`)
    .join(',')
}

// What was just deployed: a rollout keeps the previous ReplicaSet's pods around (crashing ones too) until the new
// ones are available, so judging every pod of the app would report the last version's crash after it was fixed.

export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision'
const TEMPLATE_HASH_LABEL = 'pod-template-hash'

interface OwnedObject extends KubeObject {
  metadata: KubeObject['metadata'] & {uid?: string; ownerReferences?: Array<{kind?: string; uid?: string; name?: string}>; generation?: number}
}

/**
 * The pods of the Deployment's newest ReplicaSet (highest revision) that are not Terminating, or none while the Deployment
 * controller has not yet seen the latest change (its observedGeneration lags the generation): then
 * the newest ReplicaSet is still the previous version's.
 */
export function newestReplicaSetPods(deployment: Deployment, replicaSets: KubeObject[], pods: Pod[]): Pod[] {
  const owner = deployment as OwnedObject
  const generation = owner.metadata.generation
  const observed = deployment.status?.observedGeneration
  if (generation !== undefined && (observed === undefined || observed < generation)) return []
  const owned = (replicaSets as OwnedObject[]).filter((replicaSet) =>
    replicaSet.metadata.ownerReferences?.some((reference) => reference.kind === 'Deployment' && (owner.metadata.uid ? reference.uid === owner.metadata.uid : reference.name === owner.metadata.name)),
  )
  const newest = owned.sort((a, b) => revision(b) - revision(a))[0]
  if (!newest) return []
  const hash = newest.metadata.labels?.[TEMPLATE_HASH_LABEL]
  const uid = newest.metadata.uid
  return pods.filter((pod) => {
    // A Terminating pod is no replica of it any more (a rollback to this ReplicaSet may find its old pods still going).
    if (pod.metadata.deletionTimestamp) return false
    const references = (pod as OwnedObject).metadata.ownerReferences
    if (uid && references?.length) return references.some((reference) => reference.uid === uid)
    return hash !== undefined && pod.metadata.labels?.[TEMPLATE_HASH_LABEL] === hash
  })
}

function revision(object: KubeObject): number {
  return Number(object.metadata.annotations?.[REVISION_ANNOTATION] ?? 0)
}

/** Reads the Deployment, then its ReplicaSets and pods (by its own selector), and returns the newest ReplicaSet's pods. */
export async function listNewestPods(kube: Kube, namespace: string, deploymentName: string, signal?: AbortSignal): Promise<Pod[]> {
  const deployment = await kube.getJson<Deployment>(['deployment', deploymentName], namespace, true, signal)
  const matchLabels = deployment && ownSelector(deployment)
  if (!matchLabels) return []
  const selector = labelSelector(matchLabels)
  const objects = await kube.list<KubeObject>('replicasets.apps,pods', namespace, selector, true, signal)
  const replicaSets = objects.filter((object) => object.kind === 'ReplicaSet')
  const pods = objects.filter((object): object is Pod => object.kind === 'Pod')
  return newestReplicaSetPods(deployment, replicaSets, pods)
}

/** The pods a selector picks, oldest first. */
export async function listPods(kube: Kube, namespace: string, selector: string): Promise<Pod[]> {
  const pods = await kube.list<Pod>('pods', namespace, selector, true)
  return pods.sort((a, b) => creationTime(a) - creationTime(b) || a.metadata.name.localeCompare(b.metadata.name))
}

export async function listAppPods(kube: Kube, config: AppConfig, selector: string): Promise<Pod[]> {
  return listPods(kube, config.namespace, selector)
}

export function creationTime(pod: Pod): number {
  const created = pod.metadata.creationTimestamp
  return typeof created === 'string' ? Date.parse(created) || 0 : 0
}

export function notRunningError(config: AppConfig, kube: Kube): UserError {
  return new UserError(`${config.name} is not running: it has no pods in namespace ${config.namespace} of ${kube.context}.`, {
    hint: '`devkube up` starts it.',
  })
}

/**
 * A pod's name without what every pod of the app shares: `hello-7d9f8b6c4-x2k4z` becomes
 * `7d9f-x2k4z` (the first characters of its ReplicaSet's hash, which tell one rollout from the
 * next, and the pod's own suffix).
 */
export function shortPodName(pod: Pod): string {
  const name = pod.metadata.name
  const hash = pod.metadata.labels?.['pod-template-hash']
  if (hash) {
    const marker = `-${hash}-`
    const index = name.lastIndexOf(marker)
    if (index > 0) return `${hash.slice(0, 4)}-${name.slice(index + marker.length)}`
  }
  const parts = name.split('-')
  return parts.length >= 3 ? parts.slice(-2).join('-') : name
}
