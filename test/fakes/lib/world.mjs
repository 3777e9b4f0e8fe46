// The fake cluster: objects in the state file plus real Docker containers for pods. There is no daemon: every
// kubectl call (and each poll of rollout status / port-forward / logs -f) reconciles the world lazily, the way
// the controllers and the kubelet would have in the meantime.
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {
  applyDefaults,
  defaultPodSpec,
  matchLabelSelector,
  parseQuantity,
  resolveIntOrPercent,
  TYPES,
} from './resources.mjs'
import {bindClaims, collectVolumes, hasStorageWork, syncStatefulSet, updateStatefulSetStatus, volumeArgs} from './statefulsets.mjs'
import {syncJob, updateJobStatus} from './jobs.mjs'
import {clone, docker, latencyMs, nowIso, randomSuffix, scaledMs, stateDir, stateLabel, templateHash, uid} from './util.mjs'

export const K8S_VERSION = 'v1.32.2'
export const NODE_IMAGE = `kindest/node:${K8S_VERSION}`
const NODE_CPU_MILLI = 2000
const NODE_MEMORY = 8 * 2 ** 30
// What kind's control-plane pods (apiserver, etcd, coredns x2, kindnet, ...) request on a real kind node.
const SYSTEM_CPU_MILLI = 950
const SYSTEM_MEMORY = 290 * 2 ** 20

export const key = (kind, namespace, name) => `${kind}/${namespace ?? ''}/${name}`

export function newClusterState(name, port) {
  const state = {name, port, nodeImage: NODE_IMAGE, createdAt: Date.now(), images: {}, objects: {}, rv: 1}
  for (const ns of ['default', 'kube-node-lease', 'kube-public', 'kube-system', 'local-path-storage']) {
    putObject(state, {apiVersion: 'v1', kind: 'Namespace', metadata: {name: ns}})
  }
  return state
}

export function getObject(state, kind, namespace, name) {
  return state.objects[key(kind, TYPES[kind].namespaced ? namespace : '', name)]
}

export function listObjects(state, kind, namespace) {
  return Object.values(state.objects)
    .filter((o) => o.kind === kind && (namespace === undefined || !TYPES[kind].namespaced || o.metadata.namespace === namespace))
    .sort((a, b) => (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') || a.metadata.name.localeCompare(b.metadata.name))
}

export function putObject(state, obj) {
  const meta = obj.metadata
  const namespaced = TYPES[obj.kind].namespaced
  meta.uid ??= uid()
  meta.creationTimestamp ??= nowIso()
  meta.resourceVersion = String(++state.rv)
  if (!namespaced) delete meta.namespace
  applyDefaults(obj)
  state.objects[key(obj.kind, namespaced ? meta.namespace : '', meta.name)] = obj
  return obj
}

export function deleteObjectKey(state, objectKey) {
  delete state.objects[objectKey]
}

// ---------- images ----------

/** The name containerd shows for an image reference (`foo:1` -> `docker.io/library/foo:1`). */
export function normalizeImage(ref) {
  let name = String(ref)
  let digest = ''
  if (name.includes('@')) [name, digest] = name.split('@')
  const firstSlash = name.indexOf('/')
  const first = firstSlash === -1 ? '' : name.slice(0, firstSlash)
  const hasRegistry = first.includes('.') || first.includes(':') || first === 'localhost'
  if (!hasRegistry) name = firstSlash === -1 ? `docker.io/library/${name}` : `docker.io/${name}`
  const lastSlash = name.lastIndexOf('/')
  if (!digest && name.lastIndexOf(':') < lastSlash) name += ':latest'
  return digest ? `${name}@${digest}` : name
}

export function isValidImageName(image) {
  return /^[a-z0-9]+(?:[._-][a-z0-9]+|__)*(?:(?::\d+)?\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/.test(
    image.replace(/^([a-zA-Z0-9.-]+(?::\d+)?)\//, (m, host) => (host.includes('.') || host.includes(':') || host === 'localhost' ? host.toLowerCase() + '/' : m)),
  )
}

export function nodeImage(state, ref) {
  return state.images[normalizeImage(ref)]
}

// ---------- events (minimal) ----------

export function addEvent(state, obj, type, reason, message) {
  const ns = obj.metadata.namespace ?? 'default'
  const existing = Object.values(state.objects).find(
    (e) => e.kind === 'Event' && e.involvedObject.uid === obj.metadata.uid && e.reason === reason && e.message === message,
  )
  if (existing) {
    existing.count += 1
    existing.lastTimestamp = nowIso()
    return
  }
  const name = `${obj.metadata.name}.${Date.now().toString(16)}${randomSuffix(3)}`
  putObject(state, {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: {name, namespace: ns},
    involvedObject: {apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name, namespace: ns, uid: obj.metadata.uid},
    reason,
    message,
    type,
    count: 1,
    firstTimestamp: nowIso(),
    lastTimestamp: nowIso(),
    source: {component: obj.kind === 'Pod' ? 'kubelet' : 'deployment-controller'},
  })
}

// ---------- nodes ----------

export function nodeObject(state) {
  const nodeName = `${state.name}-control-plane`
  const ready = Date.now() >= (state.nodeReadyAt ?? state.createdAt)
  const images = [
    'docker.io/kindest/kindnetd:v20250214-acbabc1a',
    'docker.io/kindest/local-path-provisioner:v20250214-acbabc1a',
    'registry.k8s.io/coredns/coredns:v1.11.3',
    'registry.k8s.io/etcd:3.5.16-0',
    `registry.k8s.io/kube-apiserver-amd64:${K8S_VERSION}`,
    `registry.k8s.io/kube-controller-manager-amd64:${K8S_VERSION}`,
    `registry.k8s.io/kube-proxy-amd64:${K8S_VERSION}`,
    `registry.k8s.io/kube-scheduler-amd64:${K8S_VERSION}`,
    'registry.k8s.io/pause:3.10',
  ].map((n) => ({names: [n], sizeBytes: 30_000_000}))
  const byId = new Map()
  for (const [name, info] of Object.entries(state.images)) {
    if (!byId.has(info.id)) byId.set(info.id, {names: [], sizeBytes: info.size ?? 0})
    byId.get(info.id).names.push(name)
  }
  const condition = (type, status, reason, message) => ({
    lastHeartbeatTime: nowIso(),
    lastTransitionTime: new Date(state.createdAt).toISOString().replace(/\.\d+Z$/, 'Z'),
    message,
    reason,
    status,
    type,
  })
  const capacity = {cpu: '2', 'ephemeral-storage': '102626232Ki', 'hugepages-2Mi': '0', memory: '8388608Ki', pods: '110'}
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: nodeName,
      uid: state.nodeUid ?? (state.nodeUid = uid()),
      creationTimestamp: new Date(state.createdAt).toISOString().replace(/\.\d+Z$/, 'Z'),
      labels: {
        'beta.kubernetes.io/arch': 'amd64',
        'beta.kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/hostname': nodeName,
        'kubernetes.io/os': 'linux',
        'node-role.kubernetes.io/control-plane': '',
        'node.kubernetes.io/exclude-from-external-load-balancers': '',
        // kind puts the config's per-node `labels` on the node (devkube marks its clusters this way).
        ...(state.config?.nodes?.find((node) => (node.role ?? 'control-plane') === 'control-plane')?.labels ?? {}),
      },
      resourceVersion: String(state.rv),
    },
    spec: {podCIDR: '10.244.0.0/24', podCIDRs: ['10.244.0.0/24'], providerID: `kind://docker/${state.name}/${nodeName}`},
    status: {
      addresses: [
        {address: '172.18.0.2', type: 'InternalIP'},
        {address: nodeName, type: 'Hostname'},
      ],
      allocatable: capacity,
      capacity,
      conditions: [
        condition('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
        condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
        condition('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
        ready
          ? condition('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status')
          : condition('Ready', 'False', 'KubeletNotReady', 'container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized'),
      ],
      images: [...byId.values(), ...images],
      nodeInfo: {
        architecture: 'amd64',
        bootID: '00000000-0000-0000-0000-000000000000',
        containerRuntimeVersion: 'containerd://2.0.2',
        kernelVersion: '6.1.0',
        kubeProxyVersion: K8S_VERSION,
        kubeletVersion: K8S_VERSION,
        machineID: '00000000000000000000000000000000',
        operatingSystem: 'linux',
        osImage: 'Debian GNU/Linux 12 (bookworm)',
        systemUUID: '00000000-0000-0000-0000-000000000000',
      },
    },
  }
}

// ---------- deployments and replica sets ----------

/** A pod being deleted: it keeps running (and may stay Ready) until its containers are gone, but no controller counts it. */
export const isTerminating = (pod) => Boolean(pod.metadata.deletionTimestamp)

const allPodsOf = (state, rs) =>
  Object.values(state.objects).filter((o) => o.kind === 'Pod' && o.metadata.ownerReferences?.[0]?.uid === rs.metadata.uid)

/** The ReplicaSet's active pods (controller.FilterActivePods): Terminating ones are not replicas any more. */
const podsOf = (state, rs) => allPodsOf(state, rs).filter((pod) => !isTerminating(pod))

export const replicaSetsOf = (state, dep) =>
  Object.values(state.objects).filter((o) => o.kind === 'ReplicaSet' && o.metadata.ownerReferences?.[0]?.uid === dep.metadata.uid)

export const revisionOf = (obj) => Number(obj.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? 0)

export function isPodReady(pod) {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false
}

export function isPodAvailable(pod, minReadySeconds) {
  if (!isPodReady(pod)) return false
  const since = pod.fake?.readySince ?? Date.now()
  return Date.now() - since >= scaledMs(minReadySeconds ?? 0)
}

function templateForHash(dep) {
  const template = clone(dep.spec.template)
  if (template.metadata?.labels) delete template.metadata.labels['pod-template-hash']
  return template
}

function newReplicaSet(state, dep, hash, revision) {
  const template = clone(dep.spec.template)
  template.metadata ??= {}
  template.metadata.labels = {...(template.metadata.labels ?? {}), 'pod-template-hash': hash}
  const selector = clone(dep.spec.selector ?? {matchLabels: {}})
  selector.matchLabels = {...(selector.matchLabels ?? {}), 'pod-template-hash': hash}
  return putObject(state, {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name: `${dep.metadata.name}-${hash}`,
      namespace: dep.metadata.namespace,
      labels: {...(template.metadata.labels ?? {})},
      annotations: {
        'deployment.kubernetes.io/desired-replicas': String(dep.spec.replicas),
        'deployment.kubernetes.io/max-replicas': String(dep.spec.replicas),
        'deployment.kubernetes.io/revision': String(revision),
      },
      ownerReferences: [{apiVersion: 'apps/v1', kind: 'Deployment', name: dep.metadata.name, uid: dep.metadata.uid, controller: true, blockOwnerDeletion: true}],
      generation: 1,
    },
    spec: {replicas: 0, minReadySeconds: dep.spec.minReadySeconds ?? 0, selector, template},
    status: {replicas: 0},
    fake: {createdAt: Date.now()},
  })
}

function rolloutDeployment(state, dep) {
  const hash = templateHash(templateForHash(dep))
  const all = replicaSetsOf(state, dep)
  const maxRevision = Math.max(0, ...all.map(revisionOf))
  let newRS = all.find((rs) => rs.metadata.labels?.['pod-template-hash'] === hash)
  if (!newRS) {
    newRS = newReplicaSet(state, dep, hash, maxRevision + 1)
    dep.fake = {...(dep.fake ?? {}), lastProgressAt: Date.now()}
  } else if (revisionOf(newRS) < maxRevision) {
    // A rollback (or re-apply of an older template) makes the old ReplicaSet the newest revision again.
    newRS.metadata.annotations['deployment.kubernetes.io/revision'] = String(maxRevision + 1)
    dep.fake = {...(dep.fake ?? {}), lastProgressAt: Date.now()}
  }
  dep.metadata.annotations = {...(dep.metadata.annotations ?? {}), 'deployment.kubernetes.io/revision': newRS.metadata.annotations['deployment.kubernetes.io/revision']}
  const old = all.filter((rs) => rs !== newRS).sort((a, b) => revisionOf(a) - revisionOf(b))
  const replicas = dep.spec.replicas ?? 1
  const minReady = dep.spec.minReadySeconds ?? 0
  const pods = (rs) => podsOf(state, rs)
  const available = (rs) => pods(rs).filter((p) => isPodAvailable(p, minReady)).length

  if (dep.spec.paused) return {newRS, old}
  if (dep.spec.strategy?.type === 'Recreate') {
    for (const rs of old) rs.spec.replicas = 0
    // Recreate waits until the old pods are really gone, Terminating ones included (oldPodsRunning).
    if (old.every((rs) => allPodsOf(state, rs).length === 0)) newRS.spec.replicas = replicas
  } else {
    let surge = resolveIntOrPercent(dep.spec.strategy?.rollingUpdate?.maxSurge ?? '25%', replicas, true)
    let unavailable = resolveIntOrPercent(dep.spec.strategy?.rollingUpdate?.maxUnavailable ?? '25%', replicas, false)
    if (surge === 0 && unavailable === 0) unavailable = 1
    if (old.every((rs) => rs.spec.replicas === 0)) {
      newRS.spec.replicas = replicas
    } else {
      const total = [newRS, ...old].reduce((n, rs) => n + rs.spec.replicas, 0)
      if (newRS.spec.replicas < replicas) {
        const up = Math.min(replicas + surge - total, replicas - newRS.spec.replicas)
        if (up > 0) newRS.spec.replicas += up
      } else if (newRS.spec.replicas > replicas) newRS.spec.replicas = replicas
      const minAvailable = replicas - unavailable
      const allPods = [newRS, ...old].reduce((n, rs) => n + pods(rs).length, 0)
      const newUnavailable = newRS.spec.replicas - available(newRS)
      let maxScaleDown = allPods - minAvailable - newUnavailable
      // First drop old pods that are not available anyway, then available ones while availability allows.
      for (const rs of old) {
        if (maxScaleDown <= 0) break
        const unhealthy = Math.min(rs.spec.replicas - available(rs), maxScaleDown)
        if (unhealthy > 0) {
          rs.spec.replicas -= unhealthy
          maxScaleDown -= unhealthy
        }
      }
      const availableAll = [newRS, ...old].reduce((n, rs) => n + available(rs), 0)
      let scaleDown = Math.min(availableAll - minAvailable, maxScaleDown > 0 ? Infinity : 0)
      for (const rs of old) {
        if (scaleDown <= 0) break
        const n = Math.min(rs.spec.replicas, scaleDown)
        rs.spec.replicas -= n
        scaleDown -= n
      }
    }
  }
  for (const rs of [newRS, ...old]) {
    rs.metadata.annotations['deployment.kubernetes.io/desired-replicas'] = String(replicas)
  }
  // revisionHistoryLimit: drop the oldest empty ReplicaSets beyond the limit.
  const limit = dep.spec.revisionHistoryLimit ?? 10
  const empty = old.filter((rs) => rs.spec.replicas === 0 && pods(rs).length === 0)
  for (const rs of empty.slice(0, Math.max(0, empty.length - limit))) deleteObjectKey(state, key('ReplicaSet', rs.metadata.namespace, rs.metadata.name))
  return {newRS, old}
}

function updateDeploymentStatus(state, dep, newRS) {
  const rses = replicaSetsOf(state, dep)
  const minReady = dep.spec.minReadySeconds ?? 0
  const allPods = rses.flatMap((rs) => podsOf(state, rs))
  const newPods = newRS ? podsOf(state, newRS) : []
  const replicas = dep.spec.replicas ?? 1
  const status = {
    observedGeneration: dep.metadata.generation,
    replicas: allPods.length,
    updatedReplicas: newPods.length,
    readyReplicas: allPods.filter(isPodReady).length,
    availableReplicas: allPods.filter((p) => isPodAvailable(p, minReady)).length,
  }
  status.unavailableReplicas = Math.max(0, replicas - status.availableReplicas)
  for (const k of ['readyReplicas', 'availableReplicas', 'unavailableReplicas']) if (!status[k]) delete status[k]
  const previous = dep.status ?? {}
  dep.fake ??= {}
  const progressed = ['updatedReplicas', 'readyReplicas', 'availableReplicas'].some((k) => (status[k] ?? 0) > (previous[k] ?? 0))
  if (progressed || !dep.fake.lastProgressAt) dep.fake.lastProgressAt = Date.now()
  const complete =
    status.updatedReplicas === replicas && status.replicas === replicas && (status.availableReplicas ?? 0) === replicas
  let surgeUnavailable = 0
  if (dep.spec.strategy?.type !== 'Recreate') surgeUnavailable = resolveIntOrPercent(dep.spec.strategy?.rollingUpdate?.maxUnavailable ?? '25%', replicas, false)
  const minimumAvailable = (status.availableReplicas ?? 0) >= replicas - surgeUnavailable
  const now = nowIso()
  const keep = (type, next) => {
    const prev = previous.conditions?.find((c) => c.type === type)
    if (prev && prev.status === next.status && prev.reason === next.reason) return {...prev, lastUpdateTime: prev.lastUpdateTime, message: next.message}
    return {...next, lastTransitionTime: now, lastUpdateTime: now}
  }
  const rsName = newRS?.metadata.name ?? dep.metadata.name
  let progressing
  if (complete) progressing = {type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', message: `ReplicaSet "${rsName}" has successfully progressed.`}
  else if (Date.now() - dep.fake.lastProgressAt > scaledMs(dep.spec.progressDeadlineSeconds ?? 600))
    progressing = {type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: `ReplicaSet "${rsName}" has timed out progressing.`}
  else progressing = {type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', message: `ReplicaSet "${rsName}" is progressing.`}
  const availableCondition = minimumAvailable
    ? {type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.'}
    : {type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.'}
  status.conditions = [keep('Available', availableCondition), keep('Progressing', progressing)]
  dep.status = status
  for (const rs of rses) {
    const pods = podsOf(state, rs)
    rs.status = {
      replicas: pods.length,
      fullyLabeledReplicas: pods.length,
      readyReplicas: pods.filter(isPodReady).length,
      availableReplicas: pods.filter((p) => isPodAvailable(p, minReady)).length,
      observedGeneration: rs.metadata.generation,
    }
    for (const k of ['fullyLabeledReplicas', 'readyReplicas', 'availableReplicas']) if (!rs.status[k]) delete rs.status[k]
  }
}

/** What the scheduler and admission add to a pod; also for pods applied directly. */
export function initPod(state, pod) {
  const spec = pod.spec
  defaultPodSpec(spec)
  spec.nodeName ??= `${state.name}-control-plane`
  spec.serviceAccountName ??= 'default'
  spec.enableServiceLinks ??= true
  spec.preemptionPolicy ??= 'PreemptLowerPriority'
  spec.priority ??= 0
  pod.status = {phase: 'Pending', qosClass: qosClass(spec)}
  pod.fake ??= {createdAt: Date.now(), containers: {}, podIP: `10.244.0.${2 + (state.rv % 250)}`}
  return pod
}

function newPod(state, rs) {
  const template = clone(rs.spec.template)
  const spec = template.spec
  defaultPodSpec(spec)
  spec.nodeName = `${state.name}-control-plane`
  spec.serviceAccountName ??= 'default'
  spec.enableServiceLinks ??= true
  spec.preemptionPolicy ??= 'PreemptLowerPriority'
  spec.priority ??= 0
  spec.tolerations ??= [
    {effect: 'NoExecute', key: 'node.kubernetes.io/not-ready', operator: 'Exists', tolerationSeconds: 300},
    {effect: 'NoExecute', key: 'node.kubernetes.io/unreachable', operator: 'Exists', tolerationSeconds: 300},
  ]
  const pod = putObject(state, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${rs.metadata.name}-${randomSuffix()}`,
      generateName: `${rs.metadata.name}-`,
      namespace: rs.metadata.namespace,
      labels: {...(template.metadata?.labels ?? {})},
      annotations: template.metadata?.annotations ? {...template.metadata.annotations} : undefined,
      ownerReferences: [{apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs.metadata.name, uid: rs.metadata.uid, controller: true, blockOwnerDeletion: true}],
    },
    spec,
    status: {phase: 'Pending', qosClass: qosClass(spec)},
    fake: {createdAt: Date.now(), containers: {}, podIP: `10.244.0.${2 + (state.rv % 250)}`},
  })
  if (!pod.metadata.annotations) delete pod.metadata.annotations
  return pod
}

function qosClass(spec) {
  const containers = spec.containers ?? []
  const hasAny = containers.some((c) => Object.keys(c.resources?.requests ?? {}).length || Object.keys(c.resources?.limits ?? {}).length)
  if (!hasAny) return 'BestEffort'
  const guaranteed = containers.every((c) => {
    const limits = c.resources?.limits ?? {}
    const requests = c.resources?.requests ?? limits
    return limits.cpu && limits.memory && parseQuantity(requests.cpu ?? limits.cpu) === parseQuantity(limits.cpu) && parseQuantity(requests.memory ?? limits.memory) === parseQuantity(limits.memory)
  })
  return guaranteed ? 'Guaranteed' : 'Burstable'
}

function podRequests(pod) {
  let cpu = 0
  let memory = 0
  for (const c of pod.spec.containers ?? []) {
    const requests = {...(c.resources?.limits ?? {}), ...(c.resources?.requests ?? {})}
    cpu += parseQuantity(requests.cpu ?? 0) * 1000
    memory += parseQuantity(requests.memory ?? 0)
  }
  return {cpu, memory}
}

/** Scheduling: a pod whose requests do not fit next to the already-scheduled pods stays Pending. */
function schedule(state, pod) {
  if (pod.fake.scheduled) return undefined
  let cpu = SYSTEM_CPU_MILLI
  let memory = SYSTEM_MEMORY
  for (const other of Object.values(state.objects)) {
    if (other.kind !== 'Pod' || other === pod || !other.fake?.scheduled || other.status?.phase === 'Succeeded' || other.status?.phase === 'Failed') continue
    const r = podRequests(other)
    cpu += r.cpu
    memory += r.memory
  }
  const want = podRequests(pod)
  const reasons = []
  if (cpu + want.cpu > NODE_CPU_MILLI) reasons.push('1 Insufficient cpu')
  if (memory + want.memory > NODE_MEMORY) reasons.push('1 Insufficient memory')
  if (reasons.length) {
    return `0/1 nodes are available: ${reasons.join(', ')}. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.`
  }
  pod.fake.scheduled = Date.now()
  const ev = {apiVersion: 'v1', kind: 'Pod', metadata: pod.metadata}
  addEvent(state, ev, 'Normal', 'Scheduled', `Successfully assigned ${pod.metadata.namespace}/${pod.metadata.name} to ${pod.spec.nodeName}`)
  return undefined
}

function syncReplicaSet(state, rs, created) {
  const pods = podsOf(state, rs)
  const want = rs.spec.replicas ?? 0
  if (pods.length < want) {
    for (let i = pods.length; i < want; i++) created.push(newPod(state, rs))
  } else if (pods.length > want) {
    const rank = (p) => (!p.fake?.scheduled ? 0 : !isPodReady(p) ? 1 : 2)
    const victims = [...pods]
      .sort((a, b) => rank(a) - rank(b) || (b.fake?.createdAt ?? 0) - (a.fake?.createdAt ?? 0))
      .slice(0, pods.length - want)
    return victims
  }
  return []
}

// ---------- pods: containers, images, probes ----------

// Docker names are global: the state hash keeps two test runs with the same pod names apart.
export const containerName = (state, pod, container, restart) =>
  `fake-${state.name}-${pod.metadata.namespace}-${pod.metadata.name}-${container.name}-${restart}-${stateLabel().split('=')[1].slice(0, 6)}`.replace(/[^a-zA-Z0-9_.-]/g, '-')

function imageProblem(state, container) {
  const image = container.image
  if (!image || !isValidImageName(image)) {
    return {reason: 'InvalidImageName', message: `Failed to apply default image tag "${image}": couldn't parse image name "${image}": invalid reference format`}
  }
  const policy = container.imagePullPolicy ?? 'IfNotPresent'
  const present = nodeImage(state, image)
  if (policy === 'Never') return present ? undefined : {reason: 'ErrImageNeverPull', message: `Container image "${image}" is not present with pull policy of Never`}
  if (policy === 'IfNotPresent' && present) return undefined
  // Pulling: the fake cluster reaches no registry on the internet (nor has kind devkube's local
  // images), but it does reach a registry a test runs on this machine (127.0.0.1/localhost:PORT),
  // as a real cluster's nodes reach theirs: the image is pulled for real and the pod runs it.
  const ref = normalizeImage(image)
  const host = ref.split('/')[0]
  const repoPath = ref.slice(host.length + 1).split(/[:@]/)[0]
  const tag = ref.includes('@') ? ref.split('@')[1] : ref.slice(ref.lastIndexOf(':') + 1)
  if (/^(localhost|127\.0\.0\.1)(:\d+)?$/.test(host)) {
    const pulled = pullThroughHostsToml(state, image, ref, host, repoPath, tag) ?? pullFromLocalRegistry(state, image, ref)
    if (pulled.ok) return undefined
    return {pull: true, message: `failed to pull and unpack image "${ref}": failed to resolve reference "${ref}": ${pulled.reason}`}
  }
  const cause =
    host === 'docker.io'
      ? `failed to resolve reference "${ref}": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed`
      : `failed to resolve reference "${ref}": failed to do request: Head "https://${host}/v2/${repoPath}/manifests/${tag}": dial tcp: lookup ${host} on 10.96.0.10:53: no such host`
  return {pull: true, message: `failed to pull and unpack image "${ref}": ${cause}`}
}

/**
 * containerd's registry host config (certs.d/<host>/hosts.toml, https://github.com/containerd/containerd/blob/main/docs/hosts.md)
 * for a cluster whose node has a certs.d folder mounted: CRI reads it when `config_path` is set (the
 * containerdConfigPatches of kind's Local Registry guide; kind v0.27 node images set it themselves), at every pull.
 * Inside the node `localhost` is the node: a localhost:<port> image is reachable only through a `[host."http://NAME:PORT"]`
 * entry whose NAME is a running container on the kind network. The fake pulls through that container's published
 * port, as the node would through its name. Undefined: the cluster has no certs.d mount (the older shortcut applies).
 */
function pullThroughHostsToml(state, image, ref, host, repoPath, tag) {
  const config = state.config ?? {}
  const patched = (config.containerdConfigPatches ?? []).some((patch) => /config_path\s*=\s*"\/etc\/containerd\/certs\.d"/.test(patch))
  const configPath = patched || (state.nodeImage ?? NODE_IMAGE) === NODE_IMAGE
  const mounts = (config.nodes ?? []).flatMap((node) => node.extraMounts ?? []).filter((mount) => mount.containerPath?.replace(/\/+$/, '') === '/etc/containerd/certs.d')
  if (mounts.length === 0) return undefined
  const refused = `failed to do request: Head "https://${host}/v2/${repoPath}/manifests/${tag}": dial tcp 127.0.0.1:${host.split(':')[1] ?? 443}: connect: connection refused`
  if (!configPath) return {ok: false, reason: refused}
  let toml
  try {
    toml = fs.readFileSync(path.join(mounts[0].hostPath, host, 'hosts.toml'), 'utf8')
  } catch {
    return {ok: false, reason: refused}
  }
  const endpoints = [...toml.matchAll(/^\s*\[host\."(https?):\/\/([^":\/]+):?(\d+)?[^"]*"\]/gm)].map(([, scheme, name, port]) => ({scheme, name, port: Number(port ?? (scheme === 'http' ? 80 : 443))}))
  if (endpoints.length === 0) return {ok: false, reason: refused}
  const network = process.env.KIND_EXPERIMENTAL_DOCKER_NETWORK || 'kind'
  let reason = refused
  for (const endpoint of endpoints) {
    const request = `Head "${endpoint.scheme}://${endpoint.name}:${endpoint.port}/v2/${repoPath}/manifests/${tag}"`
    const inspect = spawnSync('docker', ['inspect', '--type', 'container', '--format', '{{.State.Running}}|{{json .NetworkSettings.Networks}}|{{json .NetworkSettings.Ports}}', endpoint.name], {encoding: 'utf8'})
    const [running, networks, ports] = inspect.status === 0 ? inspect.stdout.trim().split('|') : []
    if (inspect.status !== 0 || running !== 'true' || !(network in (JSON.parse(networks) ?? {}))) {
      reason = `failed to do request: ${request}: dial tcp: lookup ${endpoint.name} on 127.0.0.11:53: no such host`
      continue
    }
    const published = (JSON.parse(ports) ?? {})[`${endpoint.port}/tcp`]?.find((binding) => binding.HostIp === '127.0.0.1' || binding.HostIp === '0.0.0.0')
    if (!published) unsupportedPull(`a registry container (${endpoint.name}) that does not publish :${endpoint.port} on 127.0.0.1`)
    if (endpoint.scheme === 'https') unsupportedPull(`an https registry host entry (${endpoint.name})`)
    const viaHost = `127.0.0.1:${published.HostPort}/${ref.slice(host.length + 1)}`
    const pulled = pullFromLocalRegistry(state, viaHost, ref)
    if (pulled.ok) return pulled
    reason = pulled.reason
  }
  return {ok: false, reason}
}

function unsupportedPull(what) {
  process.stderr.write(`fake kubectl: unsupported: pulling through ${what}\n`)
  process.exit(2)
}

/** `docker pull` from a registry on this machine; the pulled image becomes the node's (under `ref`), by its ID. */
function pullFromLocalRegistry(state, image, ref) {
  const pull = spawnSync('docker', ['pull', '--quiet', image], {encoding: 'utf8', timeout: 120_000})
  if (pull.status !== 0) return {ok: false, reason: (pull.stderr || pull.stdout || 'pull failed').trim().split('\n').at(-1).replace(/^Error response from daemon: /, '')}
  // As kind load records it: the image's USER is kept for the kubelet's runAsNonRoot check.
  const inspect = spawnSync('docker', ['image', 'inspect', '--format', '{{.Id}}|{{.Size}}|{{.Config.User}}', image], {encoding: 'utf8'})
  if (inspect.status !== 0) return {ok: false, reason: inspect.stderr.trim()}
  const [id, size, user] = inspect.stdout.trim().split('|')
  state.images[ref] = {id, size: Number(size), user: user ?? ''}
  return {ok: true}
}

function configProblem(state, pod, container) {
  const ns = pod.metadata.namespace
  const nonRoot = nonRootProblem(state, pod, container)
  if (nonRoot) return nonRoot
  for (const source of container.envFrom ?? []) {
    if (source.configMapRef && !source.configMapRef.optional && !getObject(state, 'ConfigMap', ns, source.configMapRef.name)) return `configmap "${source.configMapRef.name}" not found`
    if (source.secretRef && !source.secretRef.optional && !getObject(state, 'Secret', ns, source.secretRef.name)) return `secret "${source.secretRef.name}" not found`
  }
  for (const env of container.env ?? []) {
    const ref = env.valueFrom?.configMapKeyRef ?? env.valueFrom?.secretKeyRef
    if (!ref || ref.optional) continue
    const kind = env.valueFrom.configMapKeyRef ? 'ConfigMap' : 'Secret'
    const obj = getObject(state, kind, ns, ref.name)
    if (!obj) return `${kind.toLowerCase()} "${ref.name}" not found`
    if (!(ref.key in (obj.data ?? {}))) return `couldn't find key ${ref.key} in ${kind} ${ns}/${ref.name}`
  }
  return undefined
}

/** The kubelet's verifyRunAsNonRoot: runAsNonRoot needs a uid it can see is not 0 (runAsUser, else the image's numeric USER). */
function nonRootProblem(state, pod, container) {
  const security = {...(pod.spec.securityContext ?? {}), ...(container.securityContext ?? {})}
  if (security.runAsNonRoot !== true) return undefined
  const where = `(pod: "${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})", container: ${container.name})`
  if (security.runAsUser !== undefined) return Number(security.runAsUser) === 0 ? `container's runAsUser breaks non-root policy ${where}` : undefined
  const user = String(nodeImage(state, container.image)?.user ?? '').split(':')[0]
  if (user === '' || /^0+$/.test(user)) return `container has runAsNonRoot and image will run as root ${where}`
  if (!/^\d+$/.test(user)) return `container has runAsNonRoot and image has non-numeric user (${user}), cannot verify user is non-root ${where}`
  return undefined
}

function containerEnv(state, pod, container) {
  const ns = pod.metadata.namespace
  const env = {
    KUBERNETES_SERVICE_HOST: '10.96.0.1',
    KUBERNETES_SERVICE_PORT: '443',
    KUBERNETES_SERVICE_PORT_HTTPS: '443',
    KUBERNETES_PORT: 'tcp://10.96.0.1:443',
  }
  const decode = (kind, value) => (kind === 'Secret' ? Buffer.from(value, 'base64').toString('utf8') : value)
  for (const source of container.envFrom ?? []) {
    const kind = source.configMapRef ? 'ConfigMap' : 'Secret'
    const obj = getObject(state, kind, ns, (source.configMapRef ?? source.secretRef).name)
    for (const [k, v] of Object.entries(obj?.data ?? {})) env[(source.prefix ?? '') + k] = decode(kind, v)
  }
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = String(e.value).replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name) => env[name] ?? m)
    else if (e.valueFrom?.configMapKeyRef || e.valueFrom?.secretKeyRef) {
      const ref = e.valueFrom.configMapKeyRef ?? e.valueFrom.secretKeyRef
      const kind = e.valueFrom.configMapKeyRef ? 'ConfigMap' : 'Secret'
      const value = getObject(state, kind, ns, ref.name)?.data?.[ref.key]
      if (value !== undefined) env[e.name] = decode(kind, value)
    } else if (e.valueFrom?.fieldRef) {
      const field = e.valueFrom.fieldRef.fieldPath
      const values = {'metadata.name': pod.metadata.name, 'metadata.namespace': ns, 'status.podIP': pod.fake.podIP, 'spec.nodeName': pod.spec.nodeName}
      if (field in values) env[e.name] = values[field]
    } else env[e.name] = ''
  }
  return env
}

function probePorts(container) {
  const ports = new Set((container.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => p.containerPort))
  for (const probe of [container.readinessProbe, container.livenessProbe, container.startupProbe]) {
    const port = probe?.httpGet?.port ?? probe?.tcpSocket?.port
    if (typeof port === 'number') ports.add(port)
  }
  return [...ports]
}

/** Kubernetes' $(VAR) expansion: a defined variable is replaced, an undefined one left as written, $$ is a $. */
function expandVars(text, env) {
  return String(text).replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (match, name) => (match === '$$' ? '$' : env[name] ?? match))
}

/**
 * Cluster DNS, as CoreDNS gives it to pods: a fake cluster's pods share a Docker network, on which a pod's container
 * answers to the names of the Services that select it (`db`, `db.shop`, `db.shop.svc`, `db.shop.svc.cluster.local`).
 * The Services are looked up when the container starts (devkube applies Services with their workloads). The names
 * reach the pod directly, so a client must use the target port (Service and target ports are the same in devkube's
 * manifests).
 */
async function clusterNetworkArgs(state, pod) {
  const network = await ensureClusterNetwork(state)
  if (!network) return []
  const labels = pod.metadata.labels ?? {}
  const namespace = pod.metadata.namespace
  const aliases = listObjects(state, 'Service', namespace)
    .filter((service) => {
      const selector = service.spec?.selector ?? {}
      return Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v)
    })
    .flatMap(({metadata: {name}}) => [name, `${name}.${namespace}`, `${name}.${namespace}.svc`, `${name}.${namespace}.svc.cluster.local`])
  return ['--network', network, ...aliases.flatMap((alias) => ['--network-alias', alias])]
}

/**
 * The cluster's pod network, by id. `kind create cluster` makes it (one process, before any pod); Docker lets two
 * networks share a name when two creates race, and then refuses `--network NAME` as ambiguous, so pods always join
 * by id, and the oldest by id should a race ever have made two.
 */
export async function ensureClusterNetwork(state) {
  const filter = ['--filter', `label=${stateLabel()}`, '--filter', `label=devkube.fake.cluster=${state.name}`]
  const list = async () => (await docker(['network', 'ls', '-q', '--no-trunc', ...filter])).stdout.split('\n').filter(Boolean).sort()
  let ids = await list()
  if (ids.length === 0) {
    const created = await docker(['network', 'create', '--label', stateLabel(), '--label', `devkube.fake.cluster=${state.name}`, `devkube-fake-${stateLabel().split('=')[1]}-${state.name}`])
    if (created.code !== 0 && !/already exists/.test(created.stderr)) return undefined
    ids = await list()
  }
  return ids[0]
}

async function startContainer(state, pod, container, restart) {
  const name = containerName(state, pod, container, restart)
  const envDir = path.join(stateDir(), 'env')
  fs.mkdirSync(envDir, {recursive: true, mode: 0o700})
  const envFile = path.join(envDir, `${name}.env`)
  const env = containerEnv(state, pod, container)
  // Values travel in a file (or, when multi-line, in docker's own environment): never in argv.
  const fileLines = []
  const passEnv = {}
  const args = ['run', '-d', '--name', name, '--hostname', pod.metadata.name.slice(0, 63)]
  for (const [k, v] of Object.entries(env)) {
    if (v.includes('\n')) {
      passEnv[k] = v
      args.push('-e', k)
    } else fileLines.push(`${k}=${v}`)
  }
  fs.writeFileSync(envFile, fileLines.join('\n') + '\n', {mode: 0o600})
  args.push('--env-file', envFile)
  args.push('--label', stateLabel(), '--label', `devkube.fake.cluster=${state.name}`, '--label', `devkube.fake.pod=${pod.metadata.namespace}/${pod.metadata.name}`, '--label', `devkube.fake.container=${container.name}`)
  args.push(...(await clusterNetworkArgs(state, pod)))
  for (const port of probePorts(container)) args.push('-p', `127.0.0.1::${port}`)
  const memory = container.resources?.limits?.memory
  if (memory) args.push('--memory', String(Math.round(parseQuantity(memory))), '--memory-swap', String(Math.round(parseQuantity(memory))))
  const security = {...(pod.spec.securityContext ?? {}), ...(container.securityContext ?? {})}
  if (security.runAsUser !== undefined) args.push('--user', security.runAsGroup !== undefined ? `${security.runAsUser}:${security.runAsGroup}` : String(security.runAsUser))
  if (container.workingDir) args.push('-w', container.workingDir)
  args.push(...volumeArgs(state, pod, container))
  // The kubelet expands $(VAR) in command and args from the container's env (a Secret's value among them).
  const command = (container.command ?? []).map((word) => expandVars(word, env))
  if (command.length) args.push('--entrypoint', command[0])
  args.push(container.image.includes('@') ? container.image : nodeImage(state, container.image)?.id ?? container.image)
  args.push(...command.slice(1), ...(container.args ?? []).map((word) => expandVars(word, env)))
  const result = await new Promise((resolve) => {
    import('node:child_process').then(({execFile}) => {
      execFile('docker', args, {env: {...process.env, ...passEnv}, encoding: 'utf8'}, (error, stdout, stderr) =>
        resolve({code: error ? (typeof error.code === 'number' ? error.code : 127) : 0, stdout, stderr}),
      )
    })
  })
  fs.rmSync(envFile, {force: true})
  if (result.code !== 0 && /Conflict\. The container name .* is already in use/.test(result.stderr)) {
    // Two kubectl calls reconciled at once and both started this same container (same pod, same
    // restart): the other one won. Adopt its container, as the kubelet has only one.
    const existing = await new Promise((resolve) => {
      import('node:child_process').then(({execFile}) => {
        execFile('docker', ['inspect', '--format', '{{.Id}}', name], {encoding: 'utf8'}, (error, stdout) => resolve(error ? '' : stdout.trim()))
      })
    })
    if (existing) return {name, ok: true, id: existing, error: ''}
  }
  return {name, ok: result.code === 0, id: result.stdout.trim(), error: result.stderr.trim()}
}

async function httpProbe(port, probePath, timeoutMs) {
  // node:http costs 20 ms to load: only calls that probe pay for it.
  const {default: http} = await import('node:http')
  return new Promise((resolve) => {
    const request = http.get({host: '127.0.0.1', port, path: probePath, timeout: timeoutMs, agent: false}, (response) => {
      response.resume()
      resolve(response.statusCode >= 200 && response.statusCode < 400 ? {ok: true} : {ok: false, message: `HTTP probe failed with statuscode: ${response.statusCode}`})
    })
    request.on('timeout', () => {
      request.destroy()
      resolve({ok: false, message: 'context deadline exceeded (Client.Timeout exceeded while awaiting headers)'})
    })
    request.on('error', (error) => resolve({ok: false, message: error.code === 'ECONNREFUSED' || error.code === 'ECONNRESET' ? 'connect: connection refused' : error.message}))
  })
}

function tcpProbe(port, timeoutMs) {
  return new Promise((resolve) => {
    const socket = net.connect({host: '127.0.0.1', port, timeout: timeoutMs})
    socket.on('connect', () => {
      socket.destroy()
      resolve({ok: true})
    })
    socket.on('timeout', () => {
      socket.destroy()
      resolve({ok: false, message: 'i/o timeout'})
    })
    socket.on('error', () => resolve({ok: false, message: 'connect: connection refused'}))
  })
}

function resolvePort(container, port) {
  if (typeof port === 'number') return port
  return container.ports?.find((p) => p.name === port)?.containerPort ?? Number(port)
}

async function runProbe(probe, container, runtime, podIP) {
  const port = resolvePort(container, probe.httpGet?.port ?? probe.tcpSocket?.port)
  const hostPort = runtime.hostPorts?.[port]
  // Docker publishes the port a moment after start: a dead proxy looks like "connection refused", as on a pod.
  const timeoutMs = Math.min(probe.timeoutSeconds ?? 1, 2) * 1000
  let result
  if (probe.httpGet) {
    result = hostPort ? await httpProbe(hostPort, probe.httpGet.path ?? '/', timeoutMs) : {ok: false, message: 'connect: connection refused'}
    if (!result.ok && !result.message.startsWith('HTTP probe'))
      result.message = `Get "http://${podIP}:${port}${probe.httpGet.path ?? '/'}": dial tcp ${podIP}:${port}: ${result.message}`
  } else if (probe.tcpSocket) {
    result = hostPort ? await tcpProbe(hostPort, timeoutMs) : {ok: false, message: 'connect: connection refused'}
    if (!result.ok) result.message = `dial tcp ${podIP}:${port}: ${result.message}`
  } else if (probe.exec) {
    result = await execProbe(probe.exec.command ?? [], runtime.id, Math.min(probe.timeoutSeconds ?? 1, 10) * 1000)
  } else result = {ok: true} // grpc probes are not modelled: they pass.
  return result
}

/** An exec probe: the command runs in the container (its user, its env); exit 0 is success, anything else failure. */
function execProbe(command, containerId, timeoutMs) {
  return new Promise((resolve) => {
    import('node:child_process').then(({execFile}) => {
      execFile('docker', ['exec', containerId, ...command], {encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL'}, (error, stdout, stderr) => {
        if (!error) return resolve({ok: true})
        // The kubelet reports the command's output, or that it ran out of time.
        if (error.killed) return resolve({ok: false, message: `command ${JSON.stringify(command.join(' '))} timed out`})
        resolve({ok: false, message: `${stdout ?? ''}${stderr ?? ''}`.trim()})
      })
    })
  })
}

/** The restart back-off of the kubelet: the first restart is immediate, then 10s, 20s, 40s ... 300s. */
function backoffSeconds(restartCount) {
  if (restartCount <= 1) return 0
  return Math.min(10 * 2 ** (restartCount - 2), 300)
}

const iso = (ms) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z')

async function inspectAll(ids) {
  if (!ids.length) return new Map()
  const format = '{{.Id}}|{{.State.Status}}|{{.State.ExitCode}}|{{.State.OOMKilled}}|{{.State.StartedAt}}|{{.State.FinishedAt}}|{{json .NetworkSettings.Ports}}|{{.State.Error}}'
  const result = await docker(['inspect', '--format', format, ...ids])
  const map = new Map()
  for (const line of result.stdout.split('\n')) {
    if (!line.trim()) continue
    const [id, status, exitCode, oom, startedAt, finishedAt, ports, error] = line.split('|')
    const hostPorts = {}
    try {
      for (const [portProto, bindings] of Object.entries(JSON.parse(ports) ?? {})) {
        const binding = bindings?.find((b) => b.HostIp === '127.0.0.1') ?? bindings?.[0]
        if (binding) hostPorts[Number(portProto.split('/')[0])] = Number(binding.HostPort)
      }
    } catch {
      // no ports
    }
    map.set(id, {status, exitCode: Number(exitCode), oomKilled: oom === 'true', startedAt, finishedAt, hostPorts, error})
  }
  if (result.code !== 0 && !/No such (object|container)/i.test(result.stderr)) {
    const err = new Error(result.stderr.trim())
    err.dockerDown = /Cannot connect to the Docker daemon/.test(result.stderr)
    throw err
  }
  return map
}

async function syncPods(state) {
  const pods = Object.values(state.objects).filter((o) => o.kind === 'Pod')
  const ids = pods.flatMap((p) => Object.values(p.fake.containers).map((c) => c.id).filter(Boolean))
  const inspected = await inspectAll(ids)
  const now = Date.now()
  const starts = []
  const probes = []
  const removals = []
  const finished = []
  for (const pod of pods) {
    if (isTerminating(pod)) {
      if (await syncTerminatingPod(pod, inspected, now)) finished.push(pod)
      continue
    }
    // Volume binding comes first: a pod whose claims cannot be bound is never placed on the node.
    const unschedulable = (pod.fake.scheduled ? undefined : await bindClaims(state, pod)) ?? schedule(state, pod)
    pod.fake.unschedulable = unschedulable
    if (unschedulable) {
      addEvent(state, pod, 'Warning', 'FailedScheduling', unschedulable)
      continue
    }
    for (const container of pod.spec.containers) {
      const rt = (pod.fake.containers[container.name] ??= {restartCount: 0})
      // Ended for good (restartPolicy Never, or OnFailure after exit 0): the kubelet leaves it as it is.
      if (rt.terminated) continue
      if (rt.id) {
        const info = inspected.get(rt.id) ?? [...inspected.entries()].find(([id]) => id.startsWith(rt.id))?.[1]
        if (info && (info.status === 'running' || info.status === 'paused' || info.status === 'restarting')) {
          rt.hostPorts = info.hostPorts
          rt.startedAt ??= Date.parse(info.startedAt) || now
          // A container that ignored the kubelet's SIGTERM is killed when its grace period is over.
          if (rt.killAt !== undefined && now >= rt.killAt) {
            rt.killAt = undefined
            await docker(['kill', rt.id])
          }
          continue
        }
        rt.killAt = undefined
        if (info && info.status === 'created' && !info.error) continue
        // The container ended (or vanished): the kubelet records it and restarts it after the back-off.
        const terminated = info
          ? {
              containerID: `containerd://${rt.id}`,
              exitCode: info.error && info.exitCode === 0 ? 128 : info.exitCode,
              reason: info.oomKilled ? 'OOMKilled' : info.error ? 'StartError' : info.exitCode === 0 ? 'Completed' : 'Error',
              ...(info.error ? {message: info.error} : {}),
              startedAt: info.startedAt && !info.startedAt.startsWith('0001') ? iso(Date.parse(info.startedAt)) : iso(rt.startedAt ?? now),
              finishedAt: info.finishedAt && !info.finishedAt.startsWith('0001') ? iso(Date.parse(info.finishedAt)) : iso(now),
            }
          : {
              containerID: `containerd://${rt.id}`,
              exitCode: 137,
              reason: 'ContainerStatusUnknown',
              message: 'The container could not be located when the pod was terminated',
              startedAt: iso(rt.startedAt ?? now),
              finishedAt: iso(now),
            }
        const policy = pod.spec.restartPolicy ?? 'Always'
        if (policy === 'Never' || (policy === 'OnFailure' && terminated.exitCode === 0)) {
          // Not restarted: the container stays (its log with it) and the pod ends Succeeded or Failed.
          rt.terminated = terminated
          rt.ready = false
          rt.hostPorts = undefined
          continue
        }
        if (rt.previousId) removals.push(rt.previousId)
        rt.previousId = info ? rt.id : undefined
        rt.previousName = info ? rt.name : undefined
        rt.lastTerminated = terminated
        rt.restartCount += 1
        rt.id = undefined
        rt.hostPorts = undefined
        rt.startedAt = undefined
        rt.ready = false
        rt.probe = {}
        rt.nextStartAt = now + scaledMs(backoffSeconds(rt.restartCount))
        rt.backoff = backoffSeconds(rt.restartCount)
        if (rt.backoff) addEvent(state, pod, 'Warning', 'BackOff', 'Back-off restarting failed container ' + container.name + ' in pod ' + pod.metadata.name + '_' + pod.metadata.namespace + '(' + pod.metadata.uid + ')')
      }
      // Not running: can it start?
      const image = imageProblem(state, container)
      if (image && !image.pull) {
        rt.waiting = {reason: image.reason, message: image.message}
        addEvent(state, pod, 'Warning', image.reason === 'ErrImageNeverPull' ? 'ErrImageNeverPull' : 'InspectFailed', image.message)
        continue
      }
      if (image?.pull) {
        rt.pullAttempts = (rt.pullAttempts ?? 0) + 1
        rt.firstPullAt ??= now
        const inBackoff = now - rt.firstPullAt > scaledMs(2)
        rt.waiting = inBackoff
          ? {reason: 'ImagePullBackOff', message: `Back-off pulling image "${container.image}"`}
          : {reason: 'ErrImagePull', message: image.message}
        addEvent(state, pod, 'Warning', 'Failed', `Failed to pull image "${container.image}": ${image.message}`)
        continue
      }
      const config = configProblem(state, pod, container)
      if (config) {
        rt.waiting = {reason: 'CreateContainerConfigError', message: config}
        continue
      }
      const startAt = rt.restartCount === 0 ? pod.fake.createdAt + latencyMs('rollout') : rt.nextStartAt ?? now
      if (now < startAt) {
        rt.waiting =
          rt.restartCount === 0
            ? {reason: 'ContainerCreating'}
            : {reason: 'CrashLoopBackOff', message: `back-off ${rt.backoff}s restarting failed container=${container.name} pod=${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})`}
        continue
      }
      rt.waiting = rt.restartCount === 0 ? {reason: 'ContainerCreating'} : rt.waiting
      starts.push(
        startContainer(state, pod, container, rt.restartCount).then((started) => {
          rt.name = started.name
          if (started.ok) {
            rt.id = started.id
            rt.fresh = true
            addEvent(state, pod, 'Normal', 'Pulled', `Container image "${container.image}" already present on machine`)
            addEvent(state, pod, 'Normal', 'Created', `Created container: ${container.name}`)
            addEvent(state, pod, 'Normal', 'Started', `Started container ${container.name}`)
            return
          }
          // docker run failed: a container may exist in "created" state (bad entrypoint): a StartError.
          rt.id = started.id || undefined
          if (!rt.id) {
            rt.waiting = {reason: 'RunContainerError', message: started.error}
            rt.nextStartAt = Date.now() + scaledMs(10)
          }
        }),
      )
    }
  }
  await Promise.all(starts)
  if (removals.length) await docker(['rm', '-f', ...removals])
  if (finished.length) await deletePods(state, finished)
  // What the runtime says about the containers just started (a process that died at once is not "running").
  const fresh = pods.flatMap((p) => Object.values(p.fake.containers).filter((rt) => rt.fresh))
  if (fresh.length) {
    const states = await inspectAll(fresh.map((rt) => rt.id))
    for (const rt of fresh) {
      delete rt.fresh
      const info = states.get(rt.id)
      if (info?.status === 'running') {
        rt.startedAt = Date.parse(info.startedAt) || Date.now()
        rt.hostPorts = info.hostPorts
        rt.waiting = undefined
      }
    }
  }

  // Probes, in parallel: readiness gates Ready, liveness failures kill the container.
  for (const pod of pods) {
    if (pod.fake.unschedulable) continue
    for (const container of pod.spec.containers) {
      const rt = pod.fake.containers[container.name]
      if (!rt?.id || !rt.startedAt || rt.terminated) continue
      rt.probe ??= {}
      const runningFor = now - rt.startedAt
      const due = (probe, which) => {
        if (!probe) return false
        if (runningFor < scaledMs(probe.initialDelaySeconds ?? 0)) return false
        const last = rt.probe[which + 'At'] ?? 0
        return now - last >= Math.min(scaledMs(probe.periodSeconds ?? 10), 1000)
      }
      if (!container.readinessProbe) rt.ready = true
      else if (due(container.readinessProbe, 'readiness')) {
        probes.push(
          runProbe(container.readinessProbe, container, rt, pod.fake.podIP).then((result) => {
            rt.probe.readinessAt = Date.now()
            if (result.ok) {
              rt.probe.readinessFailures = 0
              rt.ready = true
            } else {
              rt.probe.readinessFailures = (rt.probe.readinessFailures ?? 0) + 1
              if (!rt.ready || rt.probe.readinessFailures >= (container.readinessProbe.failureThreshold ?? 3)) rt.ready = false
              addEvent(state, pod, 'Warning', 'Unhealthy', `Readiness probe failed: ${result.message}`)
            }
          }),
        )
      }
      // The kubelet stops liveness probes of a pod being deleted; readiness probes go on (an endpoint's `serving`).
      if (!isTerminating(pod) && due(container.livenessProbe, 'liveness')) {
        probes.push(
          runProbe(container.livenessProbe, container, rt, pod.fake.podIP).then(async (result) => {
            rt.probe.livenessAt = Date.now()
            if (result.ok) rt.probe.livenessFailures = 0
            else {
              rt.probe.livenessFailures = (rt.probe.livenessFailures ?? 0) + 1
              addEvent(state, pod, 'Warning', 'Unhealthy', `Liveness probe failed: ${result.message}`)
              if (rt.probe.livenessFailures >= (container.livenessProbe.failureThreshold ?? 3) && rt.killAt === undefined) {
                // As the kubelet does: SIGTERM now, SIGKILL once terminationGracePeriodSeconds (default 30) are over.
                // An app that exits on SIGTERM ends with 143 (or 0), not 137.
                addEvent(state, pod, 'Normal', 'Killing', `Container ${container.name} failed liveness probe, will be restarted`)
                rt.killAt = Date.now() + scaledMs(pod.spec.terminationGracePeriodSeconds ?? 30)
                await docker(['kill', '--signal', 'SIGTERM', rt.id])
                rt.probe.livenessFailures = 0
              }
            }
          }),
        )
      }
    }
  }
  await Promise.all(probes)
  for (const pod of pods) if (!finished.includes(pod)) pod.status = podStatus(state, pod)
}

/**
 * The kubelet's side of a graceful deletion: containers that exited stay exited (no restart), one still running
 * when the grace period is over gets SIGKILL. True once no container runs: the pod object can go.
 */
async function syncTerminatingPod(pod, inspected, now) {
  let running = 0
  for (const rt of Object.values(pod.fake.containers)) {
    if (!rt.id) continue
    const info = inspected.get(rt.id) ?? [...inspected.entries()].find(([id]) => id.startsWith(rt.id))?.[1]
    if (info && (info.status === 'running' || info.status === 'paused' || info.status === 'restarting')) {
      if (now < pod.fake.killAt) {
        running++
        continue
      }
      await docker(['kill', rt.id])
    }
    rt.stopped = {containerID: `containerd://${rt.id}`, exitCode: info && info.status !== 'running' ? info.exitCode : 137, reason: info?.status === 'running' || !info || info.exitCode !== 0 ? 'Error' : 'Completed', startedAt: iso(rt.startedAt ?? now), finishedAt: iso(now)}
    rt.exitedId = rt.id
    rt.id = undefined
    rt.ready = false
  }
  return running === 0
}

/**
 * Graceful deletion (what `kubectl delete pod`, a rollout's scale-down and the garbage collector do): the pod gets
 * deletionTimestamp (now + its grace period) and deletionGracePeriodSeconds, its containers SIGTERM; it stays
 * listed, STATUS Terminating, until they have exited or the grace period (terminationGracePeriodSeconds, default
 * 30, scaled) is over and the kubelet kills them. A pod with no running container goes at once.
 */
export async function terminatePods(state, pods, gracePeriodSeconds) {
  const now = Date.now()
  const signals = []
  const gone = []
  for (const pod of pods) {
    if (isTerminating(pod)) continue
    const grace = gracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30
    const running = Object.entries(pod.fake?.containers ?? {}).filter(([, rt]) => rt.id)
    if (grace === 0 || !running.length) {
      gone.push(pod)
      continue
    }
    pod.metadata.deletionTimestamp = iso(now + grace * 1000)
    pod.metadata.deletionGracePeriodSeconds = grace
    pod.fake.killAt = now + scaledMs(grace)
    for (const [name, rt] of running) {
      addEvent(state, pod, 'Normal', 'Killing', `Stopping container ${name}`)
      rt.killAt = undefined
      signals.push(docker(['kill', '--signal', 'SIGTERM', rt.id]))
    }
  }
  await Promise.all(signals)
  if (gone.length) await deletePods(state, gone)
}

/** The pod's status as the kubelet reports it. */
export function podStatus(state, pod) {
  const now = Date.now()
  const created = iso(pod.fake.createdAt)
  const scheduled = !pod.fake.unschedulable
  const conditions = []
  if (!scheduled) {
    return {
      conditions: [{lastProbeTime: null, lastTransitionTime: created, message: pod.fake.unschedulable, reason: 'Unschedulable', status: 'False', type: 'PodScheduled'}],
      phase: 'Pending',
      qosClass: qosClass(pod.spec),
    }
  }
  const statuses = pod.spec.containers.map((container) => {
    const rt = pod.fake.containers[container.name] ?? {restartCount: 0}
    const imageInfo = nodeImage(state, container.image)
    const status = {
      image: imageInfo ? normalizeImage(container.image) : container.image,
      imageID: imageInfo?.id ?? '',
      lastState: rt.lastTerminated ? {terminated: rt.lastTerminated} : {},
      name: container.name,
      ready: Boolean(rt.id && rt.startedAt && rt.ready),
      restartCount: rt.restartCount,
      started: Boolean(rt.id && rt.startedAt),
      state: {},
    }
    if (rt.terminated) {
      status.containerID = `containerd://${rt.id}`
      status.ready = false
      status.started = false
      status.state = {terminated: rt.terminated}
    } else if (rt.id && rt.startedAt) {
      status.containerID = `containerd://${rt.id}`
      status.state = {running: {startedAt: iso(rt.startedAt)}}
    } else if (rt.stopped) {
      status.containerID = rt.stopped.containerID
      status.state = {terminated: rt.stopped}
    } else {
      status.state = {waiting: rt.waiting ?? {reason: 'ContainerCreating'}}
    }
    return status
  })
  const everStarted = statuses.some((s) => s.state.running || s.state.terminated || s.restartCount > 0)
  // Every container ended and none will restart: the pod's phase is final.
  const ended = statuses.length > 0 && statuses.every((s) => s.state.terminated)
  const endedPhase = ended ? (statuses.every((s) => s.state.terminated.exitCode === 0) ? 'Succeeded' : 'Failed') : undefined
  const allReady = statuses.every((s) => s.ready)
  const wasReady = pod.fake.readySince !== undefined
  if (allReady && !wasReady) pod.fake.readySince = now
  if (!allReady) pod.fake.readySince = undefined
  const notReady = statuses.filter((s) => !s.ready).map((s) => s.name)
  const readyCondition = (type) =>
    ended
      ? {lastProbeTime: null, lastTransitionTime: iso(pod.fake.endedAt ??= now), reason: 'PodCompleted', status: 'False', type}
      : allReady
      ? {lastProbeTime: null, lastTransitionTime: iso(pod.fake.readySince), status: 'True', type}
      : {lastProbeTime: null, lastTransitionTime: created, message: `containers with unready status: [${notReady.join(' ')}]`, reason: 'ContainersNotReady', status: 'False', type}
  conditions.push({lastProbeTime: null, lastTransitionTime: created, status: everStarted ? 'True' : 'False', type: 'PodReadyToStartContainers'})
  conditions.push({lastProbeTime: null, lastTransitionTime: created, status: 'True', type: 'Initialized'})
  conditions.push(readyCondition('Ready'))
  conditions.push(readyCondition('ContainersReady'))
  conditions.push({lastProbeTime: null, lastTransitionTime: iso(pod.fake.scheduled ?? pod.fake.createdAt), status: 'True', type: 'PodScheduled'})
  return {
    conditions,
    containerStatuses: statuses,
    hostIP: '172.18.0.2',
    hostIPs: [{ip: '172.18.0.2'}],
    phase: endedPhase ?? (everStarted ? 'Running' : 'Pending'),
    podIP: everStarted ? pod.fake.podIP : undefined,
    podIPs: everStarted ? [{ip: pod.fake.podIP}] : undefined,
    qosClass: qosClass(pod.spec),
    startTime: created,
  }
}

/** Removes pods (and their containers, current and previous). */
export async function deletePods(state, pods) {
  const ids = []
  for (const pod of pods) {
    for (const rt of Object.values(pod.fake?.containers ?? {})) {
      if (rt.id) ids.push(rt.id)
      if (rt.exitedId) ids.push(rt.exitedId)
      if (rt.previousId) ids.push(rt.previousId)
    }
    deleteObjectKey(state, key('Pod', pod.metadata.namespace, pod.metadata.name))
  }
  if (ids.length) await docker(['rm', '-f', ...ids])
}

/** One pass of every controller and the kubelet. */
export async function reconcile(state, {kubelet = true} = {}) {
  if (!state) return
  const hasWork = Object.values(state.objects).some((o) => o.kind === 'Pod' || o.kind === 'Deployment' || o.kind === 'ReplicaSet' || o.kind === 'Job') || hasStorageWork(state)
  if (!hasWork) return
  // Garbage collection: ReplicaSets whose Deployment is gone, pods whose ReplicaSet or StatefulSet is gone.
  const uids = new Set(Object.values(state.objects).map((o) => o.metadata.uid))
  for (const [k, o] of Object.entries(state.objects)) {
    if (o.kind === 'ReplicaSet' && o.metadata.ownerReferences?.length && !uids.has(o.metadata.ownerReferences[0].uid)) delete state.objects[k]
  }
  const orphans = Object.values(state.objects).filter((o) => {
    const owner = o.metadata.ownerReferences?.[0]
    return o.kind === 'Pod' && owner && TYPES[owner.kind] && state.objects[key(owner.kind, o.metadata.namespace, owner.name)]?.metadata.uid !== owner.uid
  })
  if (orphans.length) await terminatePods(state, orphans)

  if (kubelet) await syncPods(state)
  const deployments = Object.values(state.objects).filter((o) => o.kind === 'Deployment')
  const newRSes = new Map()
  for (const dep of deployments) newRSes.set(dep, rolloutDeployment(state, dep).newRS)
  const created = []
  const victims = []
  for (const rs of Object.values(state.objects).filter((o) => o.kind === 'ReplicaSet')) victims.push(...syncReplicaSet(state, rs, created))
  const statefulSets = Object.values(state.objects).filter((o) => o.kind === 'StatefulSet')
  for (const sts of statefulSets) victims.push(...syncStatefulSet(state, sts, created))
  if (victims.length) await terminatePods(state, victims)
  const jobs = Object.values(state.objects).filter((o) => o.kind === 'Job')
  // The Job controller's pods go at once here (jobs.mjs counts what is left, not what is terminating).
  const jobVictims = jobs.flatMap((job) => syncJob(state, job, created))
  if (jobVictims.length) await deletePods(state, jobVictims)
  if (created.length && kubelet) {
    // Start the new pods' containers right away (the kubelet would), so a fresh rollout makes progress.
    await syncPods(state)
  }
  for (const dep of deployments) updateDeploymentStatus(state, dep, newRSes.get(dep))
  for (const sts of statefulSets) updateStatefulSetStatus(state, sts)
  for (const job of jobs) updateJobStatus(state, job)
  await collectVolumes(state)
}

export function containersOfCluster(state) {
  return Object.values(state.objects)
    .filter((o) => o.kind === 'Pod')
    .flatMap((p) => Object.values(p.fake.containers).flatMap((c) => [c.id, c.exitedId, c.previousId].filter(Boolean)))
}
