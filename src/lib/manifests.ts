/**
 * What `up` applies: the project's manifests (a kustomize overlay for the environment when there is
 * one, else the folder), with devkube's values laid over them — namespace, labels, the built image,
 * replicas/resources/strategy from devkube.yaml, and the env ConfigMap and .env Secret wired in with a
 * content hash in the pod template so a changed value rolls the pods. Every object carries a hash of
 * itself, so a re-run can tell from the cluster alone that nothing needs applying.
 */
import {createHash} from 'node:crypto'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {parseAllDocuments, stringify} from 'yaml'
import type {AppConfig, ServiceConfig} from './config.js'
import {backingImage, backingObjects, backingSpec, connectionEnv, connectionRef, type BackingCredentials, type BackingSpec, type ConnectionEnvVar} from './backing.js'
import {PART_OF_LABEL} from './app-pods.js'
import {renderTemplate} from './templates.js'
import {UserError} from './errors.js'
import type {ImageUser} from './docker.js'
import {imageRepository} from './image-tag.js'
import {INSTANCE_LABEL, MANAGED_BY, MANAGED_BY_LABEL, NAME_LABEL, type KubeObject} from './kube.js'
import {run} from './runner.js'

export const APPLIED_HASH_ANNOTATION = 'devkube.dev/applied-hash'
export const CONFIG_HASH_ANNOTATION = 'devkube.dev/config-hash'
export const ENVIRONMENT_LABEL = 'devkube.dev/environment'

/** Kinds that live outside namespaces: devkube must not give them one. */
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PersistentVolume', 'StorageClass', 'PriorityClass', 'IngressClass'])

/** The workloads whose pod template devkube lays its values over (image, env, resources, security). */
const POD_WORKLOADS = new Set(['Deployment', 'Job'])

export interface DesiredState {
  /** Everything to apply, Namespace first. */
  objects: KubeObject[]
  yaml: string
}

/**
 * Settings and secrets get a name with a hash of their content (as kustomize's generators do): each
 * revision of the Deployment refers to its own copy, so `devkube rollback` brings the old values
 * back with the old pods, and a changed value rolls the pods by changing the name they refer to.
 */
export function configMapName(config: AppConfig, data: Record<string, string>): string {
  return `${config.name}-env-${shortHash(JSON.stringify(data)).slice(0, 8)}`
}

export function secretName(config: AppConfig, data: Record<string, string>): string {
  return `${config.name}-secret-${shortHash(JSON.stringify(data)).slice(0, 8)}`
}

/** Which folder holds the environment's manifests: an overlay for it, else the folder itself. */
export function manifestSource(config: AppConfig): {dir: string; kustomize: boolean} {
  const overlay = path.join(config.manifests, 'overlays', config.environment)
  if (existsSync(path.join(overlay, 'kustomization.yaml'))) return {dir: overlay, kustomize: true}
  if (existsSync(path.join(config.manifests, 'kustomization.yaml'))) return {dir: config.manifests, kustomize: true}
  const base = path.join(config.manifests, 'base')
  if (existsSync(path.join(base, 'kustomization.yaml'))) return {dir: base, kustomize: true}
  return {dir: config.manifests, kustomize: false}
}

export async function readManifests(config: AppConfig): Promise<KubeObject[]> {
  if (!existsSync(config.manifests)) {
    throw new UserError(`The manifests folder ${path.relative(config.projectDir, config.manifests) || config.manifests} does not exist.`, {
      hint: 'Run `devkube init` to scaffold it, or set `manifests:` in devkube.yaml to the folder that holds your Kubernetes YAML.',
    })
  }
  const source = manifestSource(config)
  let text: string
  if (source.kustomize) {
    const result = await run(['kubectl', 'kustomize', source.dir], {allowFailure: true, quiet: true})
    if (result.exitCode !== 0) {
      throw new UserError(`kustomize could not build ${path.relative(config.projectDir, source.dir)}: ${result.stderr.trim().split('\n').at(-1)}`, {
        hint: 'Fix the kustomization.yaml there (`kubectl kustomize <dir>` shows the same error).',
      })
    }
    text = result.stdout
  } else {
    const files = readdirSync(source.dir).filter((file) => /\.ya?ml$/.test(file)).sort()
    text = files.map((file) => readFileSync(path.join(source.dir, file), 'utf8')).join('\n---\n')
  }
  return parseObjects(text, source.dir)
}

export function parseObjects(text: string, where: string): KubeObject[] {
  const objects: KubeObject[] = []
  for (const document of parseAllDocuments(text)) {
    if (document.errors.length > 0) {
      throw new UserError(`The manifests in ${where} are not valid YAML: ${document.errors[0].message.split('\n')[0]}`, {
        hint: 'Fix the YAML (`kubectl kustomize` or a YAML linter shows where).',
      })
    }
    const value = document.toJS() as KubeObject | null
    if (value === null) continue
    if (typeof value !== 'object' || !value.kind || !value.metadata?.name) {
      throw new UserError(`A document in ${where} is not a Kubernetes object (it needs kind and metadata.name).`, {
        hint: 'Every YAML document in the manifests folder must be a Kubernetes object.',
      })
    }
    objects.push(value)
  }
  return objects
}

export interface DesiredInput {
  config: AppConfig
  imageTag: string
  manifests: KubeObject[]
  /** Values of the .env file; become a Secret. */
  secretEnv?: Record<string, string>
  /** False when the namespace exists and devkube did not create it: then it is left as it is. */
  manageNamespace: boolean
  /** The built image's USER: decides runAsNonRoot (left as the manifests say when unknown). */
  imageUser?: ImageUser
  /**
   * `up --watch`: the app container runs this instead of the image's command. It is part of the
   * applied object, so the next plain `up` sees the difference and puts the production command back.
   */
  command?: string[]
}

/** What `up` applies for a one-service app with its own manifests (today's single app). */
export function desiredState(input: DesiredInput): DesiredState {
  const {config} = input
  const objects = settingsAndManifests(input)
  const labels = {[NAME_LABEL]: config.name, [INSTANCE_LABEL]: config.name, [MANAGED_BY_LABEL]: MANAGED_BY, [ENVIRONMENT_LABEL]: config.environment}
  return finish(config, input.manageNamespace, objects.map((object) => ({object, labels})))
}

/** One service of several, as `up` renders it. */
export interface ServiceDesiredInput {
  service: ServiceConfig
  /** The image to run: the built tag, or the stock image. */
  image: string
  /** Its manifests (serviceManifests()); a backing service's come from backing.ts in `objects` instead. */
  manifests: KubeObject[]
  /** Objects laid over as they are (a backing service's StatefulSet, Service and credentials Secret). */
  objects?: KubeObject[]
  secretEnv?: Record<string, string>
  imageUser?: ImageUser
  /** Connection env of the backing services it depends on (secretKeyRefs, never values). */
  connectionEnv?: Array<{name: string; valueFrom?: unknown; value?: string}>
  /** `up --watch`: the dev command its container runs instead of its own (see DesiredInput.command). */
  command?: string[]
}

/** Where rendering an app with `services:` gets what is not in devkube.yaml. */
export interface AppRenderInput {
  config: AppConfig
  services: ServiceConfig[]
  manageNamespace: boolean
  /** A built or stock service's image to run (the content tag, or a pushed reference) and the built image's USER. */
  image: (service: ServiceConfig) => {reference: string; user?: ImageUser}
  /** A backing service's credentials (up: the live Secret's, else new ones). */
  credentials: (spec: BackingSpec) => Promise<BackingCredentials>
  /** A service's env-file values, undefined when it has none. */
  secretEnv: (service: ServiceConfig) => Record<string, string> | undefined
  /** `up --watch`: the dev command a built service runs instead of its own; undefined keeps it. */
  command?: (service: ServiceConfig) => string[] | undefined
}

/**
 * THE rendering of an app with `services:`, for `up` and `export` alike: a Deployment (+ Service) per
 * built or stock service from the templates, backing services from backing.ts with their credentials,
 * and each dependent wired to its backing services' connection env.
 */
export async function renderApp(input: AppRenderInput): Promise<DesiredState> {
  const backing = new Map(input.services.filter((service) => service.source.kind === 'backing').map((service) => [service.name, backingSpec(service)]))
  const entries = await Promise.all(
    input.services.map(async (service): Promise<ServiceDesiredInput> => {
      const spec = backing.get(service.name)
      if (spec) return {service, image: backingImage(spec), manifests: [], objects: backingObjects(spec, await input.credentials(spec))}
      const connection = serviceConnectionEnv(service, backing)
      const image = service.source.kind === 'image' ? {reference: service.source.image} : input.image(service)
      return {service, image: image.reference, manifests: serviceManifests(service), secretEnv: input.secretEnv(service), imageUser: image.user, connectionEnv: connection, command: input.command?.(service)}
    }),
  )
  return desiredAppState({config: input.config, manageNamespace: input.manageNamespace, services: entries})
}

/**
 * The env a service reads from backing services' credentials: every connection setting of the backing services it
 * depends on, then its own `{from, key}` values, which win for the same variable name (one entry per name).
 */
export function serviceConnectionEnv(service: ServiceConfig, backing: Map<string, BackingSpec>): ConnectionEnvVar[] {
  const variables = new Map<string, ConnectionEnvVar>()
  for (const dependency of service.dependsOn) {
    const spec = backing.get(dependency)
    if (spec) for (const variable of connectionEnv(spec)) variables.set(variable.name, variable)
  }
  for (const ref of service.connectionRefs) {
    const spec = backing.get(ref.from)
    // config.ts has checked that `from` is a backing service and `key` one of its variables.
    if (!spec) throw new Error(`${service.name}'s env ${ref.name} names ${ref.from}, which is not a backing service`)
    variables.delete(ref.name)
    variables.set(ref.name, connectionRef(spec, ref.key, ref.name))
  }
  return [...variables.values()]
}

/** What `up` applies for an app with `services:`: every service's objects, labelled part-of the app. */
export function desiredAppState(input: {config: AppConfig; manageNamespace: boolean; services: ServiceDesiredInput[]}): DesiredState {
  const {config} = input
  const labelled: Array<{object: KubeObject; labels: Record<string, string>}> = []
  for (const entry of input.services) {
    const labels = {[PART_OF_LABEL]: config.name, [NAME_LABEL]: entry.service.name, [MANAGED_BY_LABEL]: MANAGED_BY, [ENVIRONMENT_LABEL]: config.environment}
    const objects = entry.objects
      ? entry.objects.map((object) => structuredClone(object))
      : settingsAndManifests({config: serviceView(config, entry.service), imageTag: entry.image, manifests: entry.manifests, secretEnv: entry.secretEnv, imageUser: entry.imageUser, manageNamespace: false, command: entry.command})
    if (entry.connectionEnv?.length) addEnv(objects, entry.service.name, entry.connectionEnv)
    for (const object of objects) {
      // Services naming the same volume share one claim, as compose services share a named volume: the first owns it.
      if (object.kind === 'PersistentVolumeClaim' && labelled.some((other) => other.object.kind === object.kind && other.object.metadata.name === object.metadata.name)) continue
      labelled.push({object, labels})
    }
  }
  return finish(config, input.manageNamespace, labelled)
}

/** The app-wide config seen from one service: its name, port, replicas and settings in place of the app's. */
function serviceView(config: AppConfig, service: ServiceConfig): AppConfig {
  return {...config, name: service.name, port: service.port ?? config.port, replicas: service.replicas, env: service.env, envFile: undefined, healthPath: service.healthPath, resources: service.resources, strategy: service.strategy}
}

/** Dependents get their backing services' connection env on their own container. */
function addEnv(objects: KubeObject[], container: string, variables: Array<{name: string; valueFrom?: unknown; value?: string}>): void {
  for (const object of objects) {
    if (!POD_WORKLOADS.has(object.kind)) continue
    const containers = (object.spec as {template: {spec: {containers: Array<{name: string; env?: Array<{name: string}>}>}}}).template.spec.containers
    const target = containers.find((entry) => entry.name === container) ?? containers[0]
    const names = new Set(variables.map((variable) => variable.name))
    target.env = [...(target.env ?? []).filter((variable) => !names.has(variable.name)), ...variables]
  }
}

/** Namespace first, then the objects with their labels, namespace and applied hash. */
function finish(config: AppConfig, manageNamespace: boolean, labelled: Array<{object: KubeObject; labels: Record<string, string>}>): DesiredState {
  const objects: KubeObject[] = []
  if (manageNamespace) {
    objects.push({apiVersion: 'v1', kind: 'Namespace', metadata: {name: config.namespace, labels: {[MANAGED_BY_LABEL]: MANAGED_BY}}})
  }
  for (const {object, labels} of labelled) {
    object.metadata.labels = {...object.metadata.labels, ...labels}
    objects.push(object)
  }
  for (const object of objects) {
    if (!CLUSTER_SCOPED.has(object.kind)) object.metadata.namespace = config.namespace
    const annotations = {...object.metadata.annotations}
    delete annotations[APPLIED_HASH_ANNOTATION]
    object.metadata.annotations = annotations
    object.metadata.annotations[APPLIED_HASH_ANNOTATION] = shortHash(JSON.stringify(object))
  }
  return {objects, yaml: objects.map((object) => stringify(object)).join('---\n')}
}

/** The settings ConfigMap, the .env Secret, and the manifests with devkube's values laid over them. */
function settingsAndManifests(input: DesiredInput): KubeObject[] {
  const {config} = input
  const objects: KubeObject[] = []
  const configMapData = sortedRecord(config.env)
  const configMap: KubeObject = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {name: configMapName(config, configMapData)},
    data: configMapData,
  }
  objects.push(configMap)
  const secretData = input.secretEnv ? Object.fromEntries(Object.entries(sortedRecord(input.secretEnv)).map(([key, value]) => [key, Buffer.from(value).toString('base64')])) : undefined
  const secret: KubeObject | undefined = secretData
    ? {apiVersion: 'v1', kind: 'Secret', metadata: {name: secretName(config, secretData)}, type: 'Opaque', data: secretData}
    : undefined
  if (secret) objects.push(secret)
  const settingsHash = shortHash(JSON.stringify([configMap.data, secret?.data ?? {}]))

  for (const manifest of input.manifests) {
    const object = structuredClone(manifest)
    if (object.kind === 'Namespace') continue
    if (POD_WORKLOADS.has(object.kind)) applyDeploymentSettings(object, input, settingsHash, {configMap: configMap.metadata.name, secret: secret?.metadata.name})
    objects.push(object)
  }
  return objects
}

/**
 * The objects of a service without manifests of its own, from templates/: a Deployment (a Job for `kind: job`), a
 * Service when it has a port, and a PersistentVolumeClaim per named volume. Probes: the service's exec probe when it
 * has one, else HTTP probes on `healthPath` for a built service with a port; none for a stock image, which may not
 * speak HTTP at all.
 */
export function serviceManifests(service: ServiceConfig): KubeObject[] {
  const values = {
    name: service.name,
    replicas: service.replicas,
    maxSurge: service.strategy.maxSurge,
    maxUnavailable: service.strategy.maxUnavailable,
    port: service.port ?? 80,
    healthPath: service.healthPath,
    requestsCpu: service.resources.requests.cpu,
    requestsMemory: service.resources.requests.memory,
    limitsCpu: service.resources.limits.cpu,
    limitsMemory: service.resources.limits.memory,
  }
  const template = service.job ? 'services/job.yaml' : 'k8s/base/deployment.yaml'
  const [workload] = parseObjects(renderTemplate(template, values), `templates/${template}`)
  const podSpec = (workload.spec as {template: {spec: PodSpec}}).template.spec
  const container = podSpec.containers[0]
  if (service.job || service.source.kind !== 'build' || service.port === undefined) {
    delete container.readinessProbe
    delete container.livenessProbe
    delete container.env
  }
  if (service.port === undefined) delete container.ports
  if (service.command) container.command = service.command
  if (service.args) container.args = service.args
  // A one-shot Job is never "ready": a probe on it would only delay nothing.
  if (service.probe && !service.job) {
    // Readiness only, as compose's healthcheck: an unhealthy container is reported (and gets no traffic), never
    // restarted. A liveness kill of a container that is merely slow would be a restart compose never does.
    container.readinessProbe = execProbe(service.probe)
    delete container.livenessProbe
  }
  const claims: KubeObject[] = []
  if (service.volumes.length > 0) {
    container.volumeMounts = service.volumes.map((volume) => ({name: volume.name, mountPath: volume.path}))
    podSpec.volumes = service.volumes.map((volume) => ({name: volume.name, persistentVolumeClaim: {claimName: volume.name}}))
    for (const volume of service.volumes) claims.push(...parseObjects(renderTemplate('services/volume-claim.yaml', {name: volume.name, size: volume.size}), 'templates/services/volume-claim.yaml'))
    // Recreate, not RollingUpdate: the old pods let go of the claim before the new ones mount it. A ReadWriteOnce
    // claim attaches to one node, so on a cluster with several a rolling update's new pod would hang in
    // ContainerCreating; and two versions writing the same files at once (SQLite, uploads) is what a volume's
    // data must not see. replicas > 1 stay allowed: on kind's one node every replica mounts the claim, which is
    // what compose does with a named volume shared by a service's replicas.
    if (!service.job) (workload.spec as {strategy?: unknown}).strategy = {type: 'Recreate'}
  }
  if (service.port === undefined || service.job) return [workload, ...claims]
  return [workload, ...parseObjects(renderTemplate('k8s/base/service.yaml', values), 'templates/k8s/base/service.yaml'), ...claims]
}

type PodSpec = {containers: Array<Record<string, unknown>>; volumes?: Array<Record<string, unknown>>}

function execProbe(probe: NonNullable<ServiceConfig['probe']>): Record<string, unknown> {
  const {exec, ...timings} = probe
  return {exec: {command: exec}, ...timings}
}

function applyDeploymentSettings(deployment: KubeObject, input: DesiredInput, settingsHash: string, sources: {configMap: string; secret?: string}): void {
  const {config} = input
  const spec = deployment.spec as {
    replicas?: number
    strategy?: {type?: string; rollingUpdate?: Record<string, unknown>}
    template: {metadata?: {annotations?: Record<string, string>; labels?: Record<string, string>}; spec: {containers: Array<Record<string, unknown>>}}
  }
  if (deployment.kind === 'Deployment') {
    spec.replicas = config.replicas
    // Recreate is kept (a service with a volume, or the user's choice): it has no surge or unavailability to set.
    spec.strategy = spec.strategy?.type === 'Recreate' ? {type: 'Recreate'} : {type: 'RollingUpdate', rollingUpdate: {maxSurge: config.strategy.maxSurge, maxUnavailable: config.strategy.maxUnavailable}}
  }
  spec.template.metadata = {...spec.template.metadata}
  spec.template.metadata.annotations = {...spec.template.metadata.annotations, [CONFIG_HASH_ANNOTATION]: settingsHash}
  const podSpec = spec.template.spec as {securityContext?: SecurityContext; containers: Array<Record<string, unknown>>}
  for (const container of spec.template.spec.containers) {
    const image = String(container.image ?? '')
    const repository = image.replace(/:[^/:]+$/, '')
    if (image !== config.name && repository !== imageRepository(config.name)) continue
    if (input.imageUser) runAsImageUser(podSpec, container as {securityContext?: SecurityContext}, input.imageUser)
    container.image = input.imageTag
    container.imagePullPolicy = 'IfNotPresent'
    container.resources = {requests: {...config.resources.requests}, limits: {...config.resources.limits}}
    const envFrom = ((container.envFrom as Array<Record<string, unknown>> | undefined) ?? []).filter(
      (source) => !isOwnSource(source, config.name),
    )
    envFrom.push({configMapRef: {name: sources.configMap}})
    if (sources.secret) envFrom.push({secretRef: {name: sources.secret}})
    container.envFrom = envFrom
    if (input.command) {
      container.command = input.command
      delete container.args
    }
    // The port and health path live in devkube.yaml; the probes and container port follow them, so a
    // changed `port` or `healthPath` needs no hand edit of the manifests.
    for (const probeName of ['readinessProbe', 'livenessProbe']) {
      const httpGet = (container[probeName] as {httpGet?: {path?: string; port?: number | string}} | undefined)?.httpGet
      if (!httpGet) continue
      httpGet.path = config.healthPath
      if (typeof httpGet.port === 'number') httpGet.port = config.port
    }
    const ports = container.ports as Array<{containerPort?: number}> | undefined
    if (ports?.[0]) ports[0].containerPort = config.port
    for (const variable of (container.env as Array<{name: string; value?: string}> | undefined) ?? []) {
      if (variable.name === 'PORT' && variable.value !== undefined) variable.value = String(config.port)
    }
  }
}

interface SecurityContext {
  runAsNonRoot?: boolean
  runAsUser?: number
  runAsGroup?: number
  [key: string]: unknown
}

/** The uid and gid devkube's manifests used to force on every image; the image's own USER decides now. */
const FORMER_FORCED_ID = 10_001

/**
 * The container runs as the user its image names, as `docker run` would: devkube never overrides it.
 * runAsNonRoot is set (on the app's container) only where the image's user is known to be non-root
 * (Kubernetes refuses to start a root image under it; a pod-wide one is taken away then), with that uid as runAsUser when the image names its user, because the kubelet
 * can only verify a number. A root image, or a name devkube cannot resolve, runs without it.
 */
function runAsImageUser(podSpec: {securityContext?: SecurityContext}, container: {securityContext?: SecurityContext}, imageUser: ImageUser): void {
  const podSecurity: SecurityContext = {...podSpec.securityContext}
  const containerSecurity: SecurityContext = {...container.securityContext}
  // Manifests scaffolded by earlier versions forced uid/gid 10001 on any image: that is not the user's choice.
  for (const security of [podSecurity, containerSecurity]) {
    if (security.runAsUser === FORMER_FORCED_ID) delete security.runAsUser
    if (security.runAsGroup === FORMER_FORCED_ID) delete security.runAsGroup
  }
  const nonRoot = imageUser.uid !== undefined && imageUser.uid !== 0
  const dropsAll = JSON.stringify(containerSecurity.capabilities) === JSON.stringify({drop: ['ALL']})
  if (nonRoot) {
    // On the app's container only: a pod-wide setting would also bind sidecars built from other images.
    containerSecurity.runAsNonRoot = true
    // A non-root process has no capabilities to use; dropping them all costs it nothing.
    containerSecurity.capabilities ??= {drop: ['ALL']}
    const named = !/^\d+$/.test(imageUser.user.split(':')[0])
    if (named && containerSecurity.runAsUser === undefined && podSecurity.runAsUser === undefined) containerSecurity.runAsUser = imageUser.uid
  } else {
    delete podSecurity.runAsNonRoot
    delete containerSecurity.runAsNonRoot
    // A root image may need its capabilities (an entrypoint that chowns, or switches to a worker user as
    // nginx and postgres do): only devkube's former blanket drop is taken away, a user's own choice stays.
    if (dropsAll) delete containerSecurity.capabilities
  }
  podSpec.securityContext = podSecurity
  container.securityContext = containerSecurity
}

/** devkube's own settings and secret references (any revision's), replaced on every up. */
function isOwnSource(source: Record<string, unknown>, appName: string): boolean {
  const configMapRef = source.configMapRef as {name?: string} | undefined
  const secretRef = source.secretRef as {name?: string} | undefined
  return Boolean(configMapRef?.name?.startsWith(`${appName}-env-`) || secretRef?.name?.startsWith(`${appName}-secret-`))
}

function sortedRecord(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)))
}

export function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16)
}

/**
 * What kubectl calls each kind devkube may apply, as `plural.group` (kubectl rejects guessed plurals
 * such as "networkpolicys" with "the server doesn't have a resource type").
 */
const RESOURCE_NAMES: Record<string, string> = {
  ConfigMap: 'configmaps',
  CronJob: 'cronjobs.batch',
  DaemonSet: 'daemonsets.apps',
  Deployment: 'deployments.apps',
  Endpoints: 'endpoints',
  EndpointSlice: 'endpointslices.discovery.k8s.io',
  HorizontalPodAutoscaler: 'horizontalpodautoscalers.autoscaling',
  Ingress: 'ingresses.networking.k8s.io',
  IngressClass: 'ingressclasses.networking.k8s.io',
  Job: 'jobs.batch',
  LimitRange: 'limitranges',
  NetworkPolicy: 'networkpolicies.networking.k8s.io',
  PersistentVolumeClaim: 'persistentvolumeclaims',
  Pod: 'pods',
  PodDisruptionBudget: 'poddisruptionbudgets.policy',
  ResourceQuota: 'resourcequotas',
  Role: 'roles.rbac.authorization.k8s.io',
  RoleBinding: 'rolebindings.rbac.authorization.k8s.io',
  Secret: 'secrets',
  Service: 'services',
  ServiceAccount: 'serviceaccounts',
  StatefulSet: 'statefulsets.apps',
}

/**
 * kubectl resource names for `get`: what a kind is called on the command line. A kind devkube does
 * not know (a custom resource) is named `kind.group`: kubectl's REST mapper resolves the singular
 * lowercase kind, which is also the default singular of a CRD, so no plural has to be guessed.
 */
export function resourceName(kind: string, apiVersion = ''): string {
  const known = RESOURCE_NAMES[kind]
  if (known) return known
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.lastIndexOf('/')) : ''
  return group ? `${kind.toLowerCase()}.${group}` : kind.toLowerCase()
}

/**
 * True when every desired object exists in the cluster with the same applied hash — and, for
 * Deployments, when what `kubectl scale`, `rollout undo` or a hand edit can change (replicas, images,
 * the settings hash) still matches, because those leave the annotation as it was.
 */
export function inSync(desired: KubeObject[], live: KubeObject[]): boolean {
  const liveByKey = new Map(live.map((object) => [`${object.kind}/${object.metadata.name}`, object]))
  return desired.every((object) => {
    const current = liveByKey.get(`${object.kind}/${object.metadata.name}`)
    if (current?.metadata.annotations?.[APPLIED_HASH_ANNOTATION] !== object.metadata.annotations?.[APPLIED_HASH_ANNOTATION]) return false
    return object.kind !== 'Deployment' || current !== undefined && JSON.stringify(driftProne(current)) === JSON.stringify(driftProne(object))
  })
}

function driftProne(deployment: KubeObject): unknown {
  const spec = deployment.spec as {replicas?: number; template?: {metadata?: {annotations?: Record<string, string>}; spec?: {containers?: Array<{image?: string}>}}} | undefined
  return [spec?.replicas ?? 1, spec?.template?.metadata?.annotations?.[CONFIG_HASH_ANNOTATION], spec?.template?.spec?.containers?.map((container) => container.image)]
}
