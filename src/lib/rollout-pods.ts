/**
 * Which pods belong to what was just deployed: those of the Deployment's newest ReplicaSet. A rollout
 * keeps the previous ReplicaSet's pods around (crashing ones too) until the new ones are available,
 * so judging every pod of the app would report the last version's crash after it was fixed.
 */
import type {Deployment, Kube, KubeObject, Pod} from './kube.js'

export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision'
const TEMPLATE_HASH_LABEL = 'pod-template-hash'

interface OwnedObject extends KubeObject {
  metadata: KubeObject['metadata'] & {uid?: string; ownerReferences?: Array<{kind?: string; uid?: string; name?: string}>; generation?: number}
}

/**
 * The pods of the Deployment's newest ReplicaSet (highest revision), or none while the Deployment
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
    const references = (pod as OwnedObject).metadata.ownerReferences
    if (uid && references?.length) return references.some((reference) => reference.uid === uid)
    return hash !== undefined && pod.metadata.labels?.[TEMPLATE_HASH_LABEL] === hash
  })
}

function revision(object: KubeObject): number {
  return Number(object.metadata.annotations?.[REVISION_ANNOTATION] ?? 0)
}

/** Reads the Deployment, then its ReplicaSets and pods (by its own selector), and returns the newest ReplicaSet's pods. */
export async function listNewestPods(kube: Kube, namespace: string, deploymentName: string): Promise<Pod[]> {
  const deployment = await kube.getJson<Deployment>(['deployment', deploymentName], namespace, true)
  const matchLabels = (deployment?.spec as {selector?: {matchLabels?: Record<string, string>}} | undefined)?.selector?.matchLabels
  if (!deployment || !matchLabels || Object.keys(matchLabels).length === 0) return []
  const selector = Object.entries(matchLabels).map(([key, value]) => `${key}=${value}`).join(',')
  const objects = await kube.list<KubeObject>('replicasets.apps,pods', namespace, selector, true)
  const replicaSets = objects.filter((object) => object.kind === 'ReplicaSet')
  const pods = objects.filter((object): object is Pod => object.kind === 'Pod')
  return newestReplicaSetPods(deployment, replicaSets, pods)
}
