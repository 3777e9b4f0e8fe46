// Kubernetes resource types the fake API server knows: names, aliases, groups, scope, and API-style defaults.
import {ExitError, clone} from './util.mjs'

/** kind -> {resource (plural), group, version, namespaced, aliases} */
export const TYPES = {
  Namespace: {resource: 'namespaces', group: '', version: 'v1', namespaced: false, aliases: ['ns', 'namespace']},
  Node: {resource: 'nodes', group: '', version: 'v1', namespaced: false, aliases: ['no', 'node']},
  Pod: {resource: 'pods', group: '', version: 'v1', namespaced: true, aliases: ['po', 'pod']},
  Service: {resource: 'services', group: '', version: 'v1', namespaced: true, aliases: ['svc', 'service']},
  ConfigMap: {resource: 'configmaps', group: '', version: 'v1', namespaced: true, aliases: ['cm', 'configmap']},
  Secret: {resource: 'secrets', group: '', version: 'v1', namespaced: true, aliases: ['secret']},
  ServiceAccount: {resource: 'serviceaccounts', group: '', version: 'v1', namespaced: true, aliases: ['sa', 'serviceaccount']},
  Event: {resource: 'events', group: '', version: 'v1', namespaced: true, aliases: ['ev', 'event']},
  Endpoints: {resource: 'endpoints', group: '', version: 'v1', namespaced: true, aliases: ['ep']},
  LimitRange: {resource: 'limitranges', group: '', version: 'v1', namespaced: true, aliases: ['limits', 'limitrange']},
  ResourceQuota: {resource: 'resourcequotas', group: '', version: 'v1', namespaced: true, aliases: ['quota', 'resourcequota']},
  EndpointSlice: {resource: 'endpointslices', group: 'discovery.k8s.io', version: 'v1', namespaced: true, aliases: ['endpointslice']},
  PersistentVolumeClaim: {resource: 'persistentvolumeclaims', group: '', version: 'v1', namespaced: true, aliases: ['pvc', 'persistentvolumeclaim']},
  Deployment: {resource: 'deployments', group: 'apps', version: 'v1', namespaced: true, aliases: ['deploy', 'deployment']},
  ReplicaSet: {resource: 'replicasets', group: 'apps', version: 'v1', namespaced: true, aliases: ['rs', 'replicaset']},
  StatefulSet: {resource: 'statefulsets', group: 'apps', version: 'v1', namespaced: true, aliases: ['sts', 'statefulset']},
  DaemonSet: {resource: 'daemonsets', group: 'apps', version: 'v1', namespaced: true, aliases: ['ds', 'daemonset']},
  Job: {resource: 'jobs', group: 'batch', version: 'v1', namespaced: true, aliases: ['job']},
  CronJob: {resource: 'cronjobs', group: 'batch', version: 'v1', namespaced: true, aliases: ['cj', 'cronjob']},
  Ingress: {resource: 'ingresses', group: 'networking.k8s.io', version: 'v1', namespaced: true, aliases: ['ing', 'ingress']},
  IngressClass: {resource: 'ingressclasses', group: 'networking.k8s.io', version: 'v1', namespaced: false, aliases: ['ingressclass']},
  NetworkPolicy: {resource: 'networkpolicies', group: 'networking.k8s.io', version: 'v1', namespaced: true, aliases: ['netpol', 'networkpolicy']},
  HorizontalPodAutoscaler: {resource: 'horizontalpodautoscalers', group: 'autoscaling', version: 'v2', namespaced: true, aliases: ['hpa', 'horizontalpodautoscaler']},
  PodDisruptionBudget: {resource: 'poddisruptionbudgets', group: 'policy', version: 'v1', namespaced: true, aliases: ['pdb', 'poddisruptionbudget']},
  Role: {resource: 'roles', group: 'rbac.authorization.k8s.io', version: 'v1', namespaced: true, aliases: ['role']},
  RoleBinding: {resource: 'rolebindings', group: 'rbac.authorization.k8s.io', version: 'v1', namespaced: true, aliases: ['rolebinding']},
}

/** Kinds that would run pods on a real cluster: accepting them without running anything would mislead a test. */
export const UNMODELLED_WORKLOADS = new Set(['DaemonSet', 'CronJob'])

export function apiVersionOf(kind) {
  const t = TYPES[kind]
  return t.group ? `${t.group}/${t.version}` : t.version
}

/** `deployments` -> `deployments.apps` as in NotFound errors. */
export const qualifiedResource = (kind) => (TYPES[kind].group ? `${TYPES[kind].resource}.${TYPES[kind].group}` : TYPES[kind].resource)

/** `deployment.apps/x` as in apply/scale output. */
export const objectRef = (kind, name) => `${kind.toLowerCase()}${TYPES[kind].group ? '.' + TYPES[kind].group : ''}/${name}`

/** `deployment.apps "x"` as in delete output. */
export const quotedRef = (kind, name) => `${kind.toLowerCase()}${TYPES[kind].group ? '.' + TYPES[kind].group : ''} "${name}"`

/** Resolves what a user types (`deploy`, `deployments.apps`, `svc`) to a kind. */
export function kindForResource(word) {
  const lower = word.toLowerCase()
  for (const [kind, t] of Object.entries(TYPES)) {
    const names = [t.resource, kind.toLowerCase(), ...t.aliases]
    if (names.includes(lower)) return kind
    if (t.group && names.map((n) => `${n}.${t.group}`).includes(lower)) return kind
  }
  throw new ExitError(1, `error: the server doesn't have a resource type "${word}"\n`)
}

export function parseQuantity(value) {
  if (value === undefined || value === null) return 0
  const text = String(value).trim()
  const match = /^([+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.exec(text)
  if (!match) return Number.NaN
  const n = Number(match[1])
  const factors = {m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60}
  return n * (match[2] ? factors[match[2]] : 1)
}

/** intstr percentage/absolute against a total (maxSurge rounds up, maxUnavailable rounds down). */
export function resolveIntOrPercent(value, total, roundUp) {
  if (value === undefined || value === null) return undefined
  if (typeof value === 'number') return value
  const text = String(value)
  if (text.endsWith('%')) {
    const raw = (Number(text.slice(0, -1)) * total) / 100
    return roundUp ? Math.ceil(raw) : Math.floor(raw)
  }
  return Number(text)
}

function defaultProbe(probe) {
  if (!probe) return
  probe.timeoutSeconds ??= 1
  probe.periodSeconds ??= 10
  probe.successThreshold ??= 1
  probe.failureThreshold ??= 3
  if (probe.httpGet) probe.httpGet.scheme ??= 'HTTP'
  if (probe.httpGet) probe.httpGet.path ??= '/'
}

export function imageTagOf(image) {
  const withoutDigest = image.split('@')[0]
  const lastSlash = withoutDigest.lastIndexOf('/')
  const lastColon = withoutDigest.lastIndexOf(':')
  return lastColon > lastSlash ? withoutDigest.slice(lastColon + 1) : undefined
}

/** The pull policy the API server defaults: Always for `:latest` or untagged images, else IfNotPresent. */
export function defaultPullPolicy(image) {
  if (String(image).includes('@')) return 'IfNotPresent'
  const tag = imageTagOf(String(image))
  return tag === undefined || tag === 'latest' ? 'Always' : 'IfNotPresent'
}

export function defaultPodSpec(spec) {
  if (!spec) return
  spec.restartPolicy ??= 'Always'
  spec.terminationGracePeriodSeconds ??= 30
  spec.dnsPolicy ??= 'ClusterFirst'
  spec.securityContext ??= {}
  spec.schedulerName ??= 'default-scheduler'
  for (const container of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
    if (container.image !== undefined) container.imagePullPolicy ??= defaultPullPolicy(container.image)
    container.terminationMessagePath ??= '/dev/termination-log'
    container.terminationMessagePolicy ??= 'File'
    container.resources ??= {}
    for (const port of container.ports ?? []) port.protocol ??= 'TCP'
    defaultProbe(container.readinessProbe)
    defaultProbe(container.livenessProbe)
    defaultProbe(container.startupProbe)
  }
}

/** kind's only StorageClass, marked default: `standard`, provisioner rancher.io/local-path, WaitForFirstConsumer. */
export const DEFAULT_STORAGE_CLASS = 'standard'

/** The API server's defaults for a StatefulSet (what `get -o yaml` shows after an apply). */
export function defaultStatefulSet(obj) {
  const spec = (obj.spec ??= {})
  spec.replicas ??= 1
  spec.podManagementPolicy ??= 'OrderedReady'
  spec.revisionHistoryLimit ??= 10
  spec.updateStrategy ??= {}
  spec.updateStrategy.type ??= 'RollingUpdate'
  if (spec.updateStrategy.type === 'RollingUpdate') {
    spec.updateStrategy.rollingUpdate ??= {}
    spec.updateStrategy.rollingUpdate.partition ??= 0
  }
  spec.persistentVolumeClaimRetentionPolicy ??= {}
  spec.persistentVolumeClaimRetentionPolicy.whenDeleted ??= 'Retain'
  spec.persistentVolumeClaimRetentionPolicy.whenScaled ??= 'Retain'
  spec.template ??= {}
  spec.template.metadata ??= {}
  spec.template.metadata.creationTimestamp ??= null
  defaultPodSpec(spec.template.spec)
  for (const claim of spec.volumeClaimTemplates ?? []) {
    claim.apiVersion ??= 'v1'
    claim.kind ??= 'PersistentVolumeClaim'
    claim.metadata ??= {}
    claim.metadata.creationTimestamp ??= null
    claim.spec ??= {}
    claim.spec.volumeMode ??= 'Filesystem'
    claim.status ??= {phase: 'Pending'}
  }
}

/**
 * The API server's defaults for a Job: the counts, and (manualSelector unset) a selector on the controller's uid
 * label, which the pod template's labels get too, with the job-name labels, old and new spellings.
 */
export function defaultJob(obj) {
  const spec = (obj.spec ??= {})
  spec.backoffLimit ??= 6
  spec.completionMode ??= 'NonIndexed'
  spec.completions ??= 1
  spec.parallelism ??= 1
  spec.podReplacementPolicy ??= 'TerminatingOrFailed'
  spec.suspend ??= false
  spec.manualSelector ??= undefined
  if (spec.manualSelector === undefined) delete spec.manualSelector
  const uid = obj.metadata.uid
  spec.selector ??= {matchLabels: {'batch.kubernetes.io/controller-uid': uid}}
  spec.template ??= {}
  spec.template.metadata ??= {}
  spec.template.metadata.creationTimestamp ??= null
  spec.template.metadata.labels = {
    ...(spec.template.metadata.labels ?? {}),
    'batch.kubernetes.io/controller-uid': uid,
    'batch.kubernetes.io/job-name': obj.metadata.name,
    'controller-uid': uid,
    'job-name': obj.metadata.name,
  }
  defaultPodSpec(spec.template.spec)
}

/** The DefaultStorageClass admission plugin and the API defaults of a claim. */
export function defaultClaim(obj) {
  const spec = (obj.spec ??= {})
  if (spec.storageClassName === undefined) spec.storageClassName = DEFAULT_STORAGE_CLASS
  spec.volumeMode ??= 'Filesystem'
  obj.status ??= {phase: 'Pending'}
}

/** Fills in what the real API server would (so that a second apply of the same file is `unchanged`). */
export function applyDefaults(obj) {
  const {kind} = obj
  if (kind === 'Namespace') {
    obj.metadata.labels = {...(obj.metadata.labels ?? {}), 'kubernetes.io/metadata.name': obj.metadata.name}
    obj.spec = {finalizers: ['kubernetes'], ...(obj.spec ?? {})}
    obj.status = {phase: 'Active'}
  }
  if (kind === 'Deployment') {
    const spec = (obj.spec ??= {})
    spec.replicas ??= 1
    spec.revisionHistoryLimit ??= 10
    spec.progressDeadlineSeconds ??= 600
    spec.strategy ??= {}
    spec.strategy.type ??= 'RollingUpdate'
    if (spec.strategy.type === 'RollingUpdate') {
      spec.strategy.rollingUpdate ??= {}
      spec.strategy.rollingUpdate.maxSurge ??= '25%'
      spec.strategy.rollingUpdate.maxUnavailable ??= '25%'
    }
    spec.template ??= {}
    spec.template.metadata ??= {}
    spec.template.metadata.creationTimestamp ??= null
    defaultPodSpec(spec.template.spec)
  }
  if (kind === 'StatefulSet') defaultStatefulSet(obj)
  if (kind === 'Job' && obj.metadata.uid) defaultJob(obj)
  if (kind === 'PersistentVolumeClaim') defaultClaim(obj)
  if (kind === 'Service') {
    const spec = (obj.spec ??= {})
    spec.type ??= 'ClusterIP'
    spec.sessionAffinity ??= 'None'
    spec.internalTrafficPolicy ??= 'Cluster'
    spec.ipFamilies ??= ['IPv4']
    spec.ipFamilyPolicy ??= 'SingleStack'
    for (const port of spec.ports ?? []) {
      port.protocol ??= 'TCP'
      port.targetPort ??= port.port
    }
  }
  if (kind === 'Secret') {
    obj.type ??= 'Opaque'
    if (obj.stringData) {
      obj.data = {...(obj.data ?? {})}
      for (const [key, value] of Object.entries(obj.stringData)) obj.data[key] = Buffer.from(String(value)).toString('base64')
      delete obj.stringData
    }
  }
  return obj
}

/** Only the fields a user may set: the fake's private state (`fake`) never leaves the store. */
export function publicView(obj) {
  const out = clone(obj)
  delete out.fake
  return out
}

export function parseSelector(text) {
  // Returns a predicate over a labels object; syntax: a=b, a==b, a!=b, a, !a, a in (x,y), a notin (x).
  const requirements = []
  let rest = String(text ?? '').trim()
  while (rest) {
    let match
    if ((match = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*(,|$)/.exec(rest))) {
      const values = match[3].split(',').map((v) => v.trim())
      const [key, op] = [match[1], match[2]]
      requirements.push((labels) => (op === 'in' ? values.includes(labels[key]) : !values.includes(labels[key])))
    } else if ((match = /^!([\w./-]+)\s*(,|$)/.exec(rest))) {
      const key = match[1]
      requirements.push((labels) => !(key in labels))
    } else if ((match = /^([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)\s*(,|$)/.exec(rest))) {
      const [key, op, value] = [match[1], match[2], match[3]]
      requirements.push((labels) => (op === '!=' ? labels[key] !== value : labels[key] === value))
    } else if ((match = /^([\w./-]+)\s*(,|$)/.exec(rest))) {
      const key = match[1]
      requirements.push((labels) => key in labels)
    } else {
      throw new ExitError(1, `error: unable to parse requirement: found '${rest[0]}', expected: identifier\n`)
    }
    rest = rest.slice(match[0].length).trim()
  }
  return (labels) => requirements.every((r) => r(labels ?? {}))
}

export function matchLabelSelector(selector, labels) {
  if (!selector) return false
  const l = labels ?? {}
  for (const [key, value] of Object.entries(selector.matchLabels ?? selector)) {
    if (key === 'matchExpressions' || key === 'matchLabels') continue
    if (l[key] !== value) return false
  }
  for (const expr of selector.matchExpressions ?? []) {
    const has = expr.key in l
    if (expr.operator === 'In' && !(has && expr.values.includes(l[expr.key]))) return false
    if (expr.operator === 'NotIn' && has && expr.values.includes(l[expr.key])) return false
    if (expr.operator === 'Exists' && !has) return false
    if (expr.operator === 'DoesNotExist' && has) return false
  }
  return true
}
