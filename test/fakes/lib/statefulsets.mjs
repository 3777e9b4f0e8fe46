// StatefulSets and their volumes, as the statefulset controller, kind's local-path provisioner and the kubelet
// handle them: pods `<name>-<ordinal>` created one at a time in order (OrderedReady), each with its claims
// `<template>-<name>-<ordinal>` made from volumeClaimTemplates; a claim waits for its first pod (kind's default
// class binds WaitForFirstConsumer), is then Bound to a volume that outlives pods and re-applies, and is deleted with
// its data when the claim is deleted (reclaimPolicy Delete). A claim's volume is a Docker volume.
import {DEFAULT_STORAGE_CLASS} from './resources.mjs'
import {clone, docker, nowIso, stateLabel, templateHash} from './util.mjs'
import {addEvent, getObject, initPod, isPodAvailable, isPodReady, key, putObject} from './world.mjs'

const PROVISIONER = 'rancher.io/local-path'

/** The API server's cause when an update changes more of a StatefulSet's spec than it allows, else undefined. */
export function forbiddenStatefulSetUpdate(live, next) {
  const fixed = (spec) => {
    const rest = clone(spec ?? {})
    for (const field of ['replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy', 'minReadySeconds']) delete rest[field]
    return JSON.stringify(rest)
  }
  if (fixed(live.spec) === fixed(next.spec)) return undefined
  return `spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden`
}

const ownedPods = (state, sts) =>
  Object.values(state.objects).filter((o) => o.kind === 'Pod' && o.metadata.ownerReferences?.[0]?.uid === sts.metadata.uid)

const ordinalOf = (sts, pod) => Number(pod.metadata.name.slice(sts.metadata.name.length + 1))

/** controller-revision-hash: the ControllerRevision's name, `<set>-<hash of the pod template>`. */
const revisionOf = (sts) => `${sts.metadata.name}-${templateHash(sts.spec.template)}`

const claimName = (template, sts, ordinal) => `${template.metadata.name}-${sts.metadata.name}-${ordinal}`

function createClaims(state, sts, ordinal) {
  for (const template of sts.spec.volumeClaimTemplates ?? []) {
    const name = claimName(template, sts, ordinal)
    if (getObject(state, 'PersistentVolumeClaim', sts.metadata.namespace, name)) continue
    // The controller labels claims with the set's selector; with whenDeleted: Retain they have no owner.
    const claim = {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: {
        name,
        namespace: sts.metadata.namespace,
        labels: {...(template.metadata.labels ?? {}), ...(sts.spec.selector?.matchLabels ?? {})},
        ...(template.metadata.annotations ? {annotations: {...template.metadata.annotations}} : {}),
      },
      spec: clone(template.spec),
    }
    putObject(state, claim)
    addEvent(state, sts, 'Normal', 'SuccessfulCreate', `create Claim ${name} Pod ${sts.metadata.name}-${ordinal} in StatefulSet ${sts.metadata.name} success`)
  }
}

// Pods are always made from the current template: the fake keeps no ControllerRevisions, so a partitioned
// rollout's older pods are not recreated at their old revision.
function createPod(state, sts, ordinal, revision) {
  const template = clone(sts.spec.template)
  const name = `${sts.metadata.name}-${ordinal}`
  const spec = template.spec
  spec.hostname = name
  if (sts.spec.serviceName) spec.subdomain = sts.spec.serviceName
  spec.tolerations ??= [
    {effect: 'NoExecute', key: 'node.kubernetes.io/not-ready', operator: 'Exists', tolerationSeconds: 300},
    {effect: 'NoExecute', key: 'node.kubernetes.io/unreachable', operator: 'Exists', tolerationSeconds: 300},
  ]
  const claims = (sts.spec.volumeClaimTemplates ?? []).map((claim) => ({name: claim.metadata.name, persistentVolumeClaim: {claimName: claimName(claim, sts, ordinal)}}))
  spec.volumes = [...claims, ...(spec.volumes ?? []).filter((volume) => !claims.some((claim) => claim.name === volume.name))]
  if (!spec.volumes.length) delete spec.volumes
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      generateName: `${sts.metadata.name}-`,
      namespace: sts.metadata.namespace,
      labels: {
        ...(template.metadata?.labels ?? {}),
        'apps.kubernetes.io/pod-index': String(ordinal),
        'controller-revision-hash': revision,
        'statefulset.kubernetes.io/pod-name': name,
      },
      ...(template.metadata?.annotations ? {annotations: {...template.metadata.annotations}} : {}),
      ownerReferences: [{apiVersion: 'apps/v1', kind: 'StatefulSet', name: sts.metadata.name, uid: sts.metadata.uid, controller: true, blockOwnerDeletion: true}],
    },
    spec,
  }
  initPod(state, pod)
  putObject(state, pod)
  addEvent(state, sts, 'Normal', 'SuccessfulCreate', `create Pod ${name} in StatefulSet ${sts.metadata.name} successful`)
  return pod
}

// A Terminating pod is not healthy: OrderedReady waits until it is gone (its successor has the same name).
const healthy = (pod) => !pod.metadata.deletionTimestamp && pod.status?.phase === 'Running' && isPodReady(pod)

/**
 * One pass of the statefulset controller with podManagementPolicy OrderedReady: create the first missing pod
 * (after its claims) only when every pod before it is Running and Ready; scale down from the highest ordinal; roll
 * an update by deleting the highest out-of-date pod, one at a time, once the others are healthy. Returns the pods to
 * delete; pods it creates are pushed to `created`.
 */
export function syncStatefulSet(state, sts, created) {
  const updateRevision = revisionOf(sts)
  sts.fake ??= {}
  sts.fake.currentRevision ??= updateRevision
  const replicas = sts.spec.replicas ?? 1
  const parallel = sts.spec.podManagementPolicy === 'Parallel'
  const pods = new Map(ownedPods(state, sts).map((pod) => [ordinalOf(sts, pod), pod]))
  const victims = []
  let blocked = false
  for (let ordinal = 0; ordinal < replicas; ordinal++) {
    const pod = pods.get(ordinal)
    if (!pod) {
      if (blocked) break
      createClaims(state, sts, ordinal)
      created.push(createPod(state, sts, ordinal, updateRevision))
      if (!parallel) blocked = true
      continue
    }
    if (!parallel && !healthy(pod)) blocked = true
  }
  const allHealthy = [...pods.values()].every(healthy)
  const surplus = [...pods.entries()].filter(([ordinal]) => ordinal >= replicas).sort((a, b) => b[0] - a[0])
  if (surplus.length) {
    if (parallel) victims.push(...surplus.map(([, pod]) => pod))
    else if (allHealthy) victims.push(surplus[0][1])
  } else if (sts.spec.updateStrategy?.type === 'RollingUpdate' && allHealthy && pods.size === replicas) {
    const partition = sts.spec.updateStrategy.rollingUpdate?.partition ?? 0
    const outdated = [...pods.entries()]
      .filter(([ordinal, pod]) => ordinal >= partition && pod.metadata.labels?.['controller-revision-hash'] !== updateRevision)
      .sort((a, b) => b[0] - a[0])
    if (outdated.length) victims.push(outdated[0][1])
  }
  return victims
}

/** status as the controller writes it (the integer fields kubectl's rollout status reads). */
export function updateStatefulSetStatus(state, sts) {
  const updateRevision = revisionOf(sts)
  const pods = ownedPods(state, sts)
  const minReady = sts.spec.minReadySeconds ?? 0
  const at = (revision) => pods.filter((pod) => pod.metadata.labels?.['controller-revision-hash'] === revision)
  const replicas = sts.spec.replicas ?? 1
  const updated = at(updateRevision)
  const readyReplicas = pods.filter(isPodReady).length
  // The rollout is complete when every pod runs the update revision and is ready: it becomes the current one.
  if (updated.length === replicas && pods.length === replicas && readyReplicas === replicas) sts.fake.currentRevision = updateRevision
  const status = {
    availableReplicas: pods.filter((pod) => isPodAvailable(pod, minReady)).length,
    collisionCount: 0,
    currentReplicas: at(sts.fake.currentRevision).length,
    currentRevision: sts.fake.currentRevision,
    observedGeneration: sts.metadata.generation,
    readyReplicas,
    replicas: pods.length,
    updateRevision,
    updatedReplicas: updated.length,
  }
  // omitempty in the Go type.
  for (const field of ['currentReplicas', 'readyReplicas', 'updatedReplicas']) if (!status[field]) delete status[field]
  sts.status = status
}

// ---------- claims and their volumes ----------

export const volumeName = (state, claim) =>
  `fake-${state.name}-${claim.metadata.namespace}-${claim.metadata.name}-${claim.metadata.uid.slice(0, 8)}`.replace(/[^a-zA-Z0-9_.-]/g, '-')

/**
 * The scheduler's volume binding for a pod about to start: every claim it mounts must exist; a Pending claim is
 * provisioned now (WaitForFirstConsumer) and Bound. Returns why the pod cannot be scheduled, or undefined.
 */
export async function bindClaims(state, pod) {
  for (const volume of pod.spec.volumes ?? []) {
    const name = volume.persistentVolumeClaim?.claimName
    if (!name) continue
    const claim = getObject(state, 'PersistentVolumeClaim', pod.metadata.namespace, name)
    if (!claim) return `0/1 nodes are available: persistentvolumeclaim "${name}" not found. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.`
    if (claim.status?.phase === 'Bound') continue
    if (claim.spec.storageClassName !== DEFAULT_STORAGE_CLASS) {
      return `0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.`
    }
    const dockerVolume = volumeName(state, claim)
    const made = await docker(['volume', 'create', '--label', stateLabel(), '--label', `devkube.fake.cluster=${state.name}`, '--label', `devkube.fake.claim=${claim.metadata.namespace}/${name}`, dockerVolume])
    if (made.code !== 0) return `0/1 nodes are available: failed to provision volume with StorageClass "${DEFAULT_STORAGE_CLASS}": ${made.stderr.trim()}`
    ;(state.volumes ??= {})[dockerVolume] = {claim: key('PersistentVolumeClaim', claim.metadata.namespace, name), uid: claim.metadata.uid}
    claim.metadata.annotations = {
      ...(claim.metadata.annotations ?? {}),
      'pv.kubernetes.io/bind-completed': 'yes',
      'pv.kubernetes.io/bound-by-controller': 'yes',
      'volume.beta.kubernetes.io/storage-provisioner': PROVISIONER,
      'volume.kubernetes.io/selected-node': pod.spec.nodeName,
      'volume.kubernetes.io/storage-provisioner': PROVISIONER,
    }
    claim.metadata.finalizers = ['kubernetes.io/pvc-protection']
    claim.spec.volumeName = `pvc-${claim.metadata.uid}`
    claim.status = {accessModes: claim.spec.accessModes ?? ['ReadWriteOnce'], capacity: {storage: claim.spec.resources?.requests?.storage ?? '1Gi'}, phase: 'Bound'}
    claim.fake = {volume: dockerVolume, boundAt: nowIso()}
    addEvent(state, claim, 'Normal', 'ProvisioningSucceeded', `Successfully provisioned volume pvc-${claim.metadata.uid}`)
  }
  return undefined
}

/** `-v volume:/path` for each mount of a claim (other volume types are not modelled). */
export function volumeArgs(state, pod, container) {
  const args = []
  for (const mount of container.volumeMounts ?? []) {
    const volume = pod.spec.volumes?.find((v) => v.name === mount.name)
    const claimName = volume?.persistentVolumeClaim?.claimName
    if (!claimName) continue
    const claim = getObject(state, 'PersistentVolumeClaim', pod.metadata.namespace, claimName)
    if (!claim?.fake?.volume) continue
    args.push('-v', `${claim.fake.volume}:${mount.mountPath}${mount.readOnly || volume.persistentVolumeClaim.readOnly ? ':ro' : ''}`)
  }
  return args
}

/**
 * The provisioner's reclaimPolicy Delete: a volume whose claim is gone is deleted with its data, once no container
 * uses it any more (until then the claim's pvc-protection would have kept it).
 */
export async function collectVolumes(state) {
  for (const [name, owner] of Object.entries(state.volumes ?? {})) {
    if (state.objects[owner.claim]?.metadata.uid === owner.uid) continue
    const removed = await docker(['volume', 'rm', name])
    if (removed.code === 0 || /no such volume/i.test(removed.stderr)) delete state.volumes[name]
  }
}

/** Whether the cluster has StatefulSet, claim or volume work for reconcile to do. */
export function hasStorageWork(state) {
  return Object.keys(state.volumes ?? {}).length > 0 || Object.values(state.objects).some((o) => o.kind === 'StatefulSet' || o.kind === 'PersistentVolumeClaim')
}
