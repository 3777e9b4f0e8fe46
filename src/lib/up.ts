/**
 * The steps of `devkube up` as data, and `deploy()`, which runs them and returns what is running.
 * Each step observes the world first and acts only on the difference, so a re-run with nothing
 * changed builds, loads and applies nothing. Steps hand typed results forward (images → load →
 * apply → rollout), as Skaffold's Build → Render → Deploy do; the input they share is read-only.
 */
import {existsSync, readFileSync} from 'node:fs'
import {stringify} from 'yaml'
import os from 'node:os'
import path from 'node:path'
import {listNewestPods, PART_OF_LABEL, serviceSelector, workloadRef, type WorkloadKind} from './app-pods.js'
import {checkBuildPaths, type AppConfig, type ServiceConfig} from './config.js'
import {explainRolloutFailure, diagnosePod, diagnosisError, podEvents, type DiagnosisContext} from './diagnose.js'
import {GENERATED_MARKER} from './detect.js'
import {buildImage, dockerVersion, imageId, imageUser, pushImage, type ImageUser} from './docker.js'
import {HOSTS_MOUNTED_LABEL, resolveLocalRegistry, wireRegistry, type LocalRegistry} from './registry.js'
import {waitForRegistry} from './registry-api.js'
import {readEnvFiles} from './dotenv.js'
import {UserError} from './errors.js'
import {forwardProbePath} from './forward.js'
import {serviceImageTag} from './image-tag.js'
import {checkClusterName, clusterExists, createCluster, deleteCluster, kindVersion, loadImages, MIN_KIND_VERSION, nodeContainers, startNodes, stoppedNodes} from './kind.js'
import {kubectlClientVersion, MANAGED_BY, MANAGED_BY_LABEL, type Deployment, type Kube, type KubeObject, type Pod} from './kube.js'
import {desiredState, inSync, readManifests, renderApp, resourceName} from './manifests.js'
import {backingImage, backingSpec, resolveCredentials} from './backing.js'
import {verifyKindContext} from './context-guard.js'
import {deleteJobs, jobsToReplace, jobState, waitForJob, type Job} from './jobs.js'
import {runPlan, StepOutputs, type PlanItem, type ProgressMode, type Step, type StepHandle, type StepResult} from './pipeline.js'
import type {Project} from './project.js'
import type {RunResult} from './runner.js'
import {abortableSleep} from './sleep.js'
import {checkContextExists, targetRepository} from './targets.js'
import {versionAtLeast} from './versions.js'

export interface DeployOptions {
  rebuild: boolean
  timeoutSeconds: number
  /** Scaffolds what the project lacks, as `devkube init --yes` would; returns what it wrote. */
  scaffold: () => Promise<string[]>
  /** `up --watch`: per service, the command its container runs instead of the image's (a reloading dev server). */
  devCommands?: Record<string, string[]>
  /** How many images build at once (default: one per core, as docker build keeps about one busy). */
  buildConcurrency?: number
}

/** The plan's input: read by every step, written by none. */
export interface UpInput {
  project: Project
  options: DeployOptions
}

/** What changed in this run, for the summary, --json and the benchmarks. */
export interface UpActions {
  scaffolded: string[]
  clusterCreated: boolean
  imageBuilt: boolean
  imageLoaded: boolean
  /** Whether an image was pushed to a registry (a target's, or the local one). */
  imagePushed: boolean
  applied: string[]
  rolledOut: boolean
  /** The services whose image was built, and those rolled out, by name. */
  builtServices: string[]
  rolledOutServices: string[]
}

/** One service as deployed: what the forwarder, status and the JSON result need, found once. */
export interface DeployedService {
  name: string
  /** The image built from source (built services only). */
  image?: string
  workload: {kind: WorkloadKind; name: string}
  /** The Kubernetes Service in front of it and its port, when it has one. */
  service?: {name: string; port: number}
  /** The label selector of its pods. */
  selector: string
  /** The local port it is forwarded on, once forwarding is planned. */
  localPort?: number
  /** Whether it serves HTTP (a service built from source): its URL is checked with a GET. */
  http: boolean
  /** The health endpoint the forwarder may poll through the forward (forwardProbePath). */
  probePath?: string
  /** The local port devkube.yaml declares (`forward:`); undefined: the next free one. */
  declaredLocalPort?: number
}

export interface Deployed {
  app: string
  projectDir: string
  cluster: string
  context: string
  /** The deploy target it went to (`up --target`); undefined for the local kind cluster. */
  target?: {name: string; context: string}
  namespace: string
  environment: string
  services: DeployedService[]
  actions: UpActions
  versions: Record<string, string>
}

/**
 * Input errors found before anything is written or started, so a bad devkube.yaml or .env never
 * leaves a half-scaffolded project or a built image behind.
 */
export function checkInputsBeforeChanges(config: AppConfig): void {
  for (const service of config.services) {
    if (service.source.kind !== 'build') continue
    checkBuildPaths(config, service.source)
    const defaultDockerfile = path.join(service.source.context, 'Dockerfile')
    const single = config.services.length === 1
    // A missing <context>/Dockerfile is scaffolded (a single app's, and each built service's); a named one must exist.
    if (service.source.dockerfile !== defaultDockerfile && !existsSync(service.source.dockerfile)) {
      throw new UserError(
        single
          ? `The Dockerfile ${service.source.dockerfile} named by \`build.dockerfile\` does not exist.`
          : `The Dockerfile ${path.relative(config.projectDir, service.source.dockerfile)} of the service ${service.name} does not exist.`,
        {hint: single ? 'Fix `build.dockerfile` in devkube.yaml, or remove it to let devkube scaffold ./Dockerfile.' : `Fix \`services.${service.name}.build\` in devkube.yaml.`},
      )
    }
  }
  for (const service of config.services) readEnvFiles(service.envFiles, config.projectDir)
}

const preflight: Step<UpInput, Record<string, string>> = {
  id: 'preflight',
  title: 'Check docker, kind and kubectl',
  async run({project}, handle) {
    if (project.target) {
      // A target is a real cluster: kind plays no part.
      const [docker, kubectl] = await Promise.all([dockerVersion(), kubectlClientVersion()])
      handle.detail(`docker ${docker.server}, kubectl ${kubectl}`)
      const versions: Record<string, string> = {docker: docker.server, kubectl}
      return versions
    }
    checkClusterName(project.config.cluster)
    const [docker, kind, kubectl] = await Promise.all([dockerVersion(), kindVersion(), kubectlClientVersion()])
    if (!versionAtLeast(kind, MIN_KIND_VERSION)) {
      throw new UserError(`kind ${kind} is too old: devkube needs kind ${MIN_KIND_VERSION} or newer.`, {
        hint: 'Upgrade kind: https://kind.sigs.k8s.io/docs/user/quick-start/#installation',
      })
    }
    handle.detail(`docker ${docker.server}, kind ${kind}, kubectl ${kubectl}`)
    return {docker: docker.server, kind, kubectl}
  },
}

const scaffold: Step<UpInput, string[]> = {
  id: 'scaffold',
  title: 'Scaffold missing files',
  async run({options}, handle) {
    const written = await options.scaffold()
    if (written.length === 0) handle.skip('nothing missing')
    else handle.detail(`wrote ${written.join(', ')}`)
    return written
  },
}

const cluster: Step<UpInput, {created: boolean}> = {
  id: 'cluster',
  title: 'Ensure kind cluster',
  async run({project}, handle, outputs) {
    const name = project.config.cluster
    if (await clusterExists(name)) {
      // Listed is not running: a stopped node container (docker stop, a reboot) answers nothing until started.
      const stopped = stoppedNodes(await nodeContainers(name))
      if (stopped.length > 0) {
        handle.progress(`starting the stopped node container ${stopped.map((node) => node.name).join(', ')}`)
        await startNodes(name, stopped, handle.signal)
        handle.detail(`started the stopped node of "${name}"`)
        return {created: false}
      }
      handle.skip(`reusing "${name}"`)
      return {created: false}
    }
    try {
      const certsDir = outputs.has(registry) ? outputs.of(registry).certsDir : undefined
      await createCluster(name, {signal: handle.signal, onLine: (line) => handle.progress(line.trim()), registry: certsDir ? {certsDir} : undefined})
    } finally {
      // A create cut short leaves a half-made cluster that a later `up` would wrongly reuse.
      if (handle.signal.aborted) await deleteCluster(name).catch(() => {})
    }
    if (handle.signal.aborted) return {created: false}
    handle.detail(`created "${name}"`)
    return {created: true}
  },
}

/**
 * The local registry (`registry:` on kind), found or started before the cluster so that the
 * cluster's create and the image's build and push can run at once. An existing cluster is asked
 * first (its KEP-1755 ConfigMap); a stopped one is started here, since its API is needed to ask.
 */
const registry: Step<UpInput, LocalRegistry> = {
  id: 'registry',
  title: 'Ensure local registry',
  async run({project}, handle) {
    const name = project.config.cluster
    const exists = await clusterExists(name)
    let hostsMounted = false
    if (exists) {
      const stopped = stoppedNodes(await nodeContainers(name))
      if (stopped.length > 0) await startNodes(name, stopped, handle.signal)
      const nodes = await project.kube.getJson<{items: KubeObject[]}>(['nodes'], undefined, true)
      hostsMounted = (nodes?.items ?? []).some((node) => node.metadata.labels?.[HOSTS_MOUNTED_LABEL] === 'mounted')
    }
    const found = await resolveLocalRegistry(project.kube, project.config.registry!, {exists, hostsMounted}, handle.signal)
    const how = {cluster: `the cluster's registry`, running: `reusing ${found.container}`, created: `started ${found.container}`}[found.origin]
    handle.detail(`${found.host} (${how})`)
    return found
  },
}

export interface ServiceImage {
  service: string
  tag: string
  /** Built in this run (so new to the nodes). */
  built: boolean
  /** The image's USER: decides runAsNonRoot in the manifests and the "cannot write" sentence. */
  user?: ImageUser
}

/** Runs `work` over `items`, at most `limit` at a time; the first failure stops starting new ones. */
async function boundedAll<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length)
  let next = 0
  let failed = false
  const worker = async () => {
    while (!failed && next < items.length) {
      const index = next++
      try {
        results[index] = await work(items[index])
      } catch (error) {
        failed = true
        throw error
      }
    }
  }
  await Promise.all(Array.from({length: Math.min(limit, items.length)}, worker))
  return results
}

const images: Step<UpInput, ServiceImage[]> = {
  id: 'image',
  title: 'Build image',
  async run({project, options}, handle) {
    const {config} = project
    project.state.ensure()
    const built = config.services.filter((service) => service.source.kind === 'build')
    // Builds run side by side up to one per core: docker build is mostly one busy core each.
    const results = await boundedAll(built, options.buildConcurrency ?? Math.max(1, os.cpus().length), async (service) => {
      if (service.source.kind !== 'build') throw new Error('unreachable')
      checkBuildPaths(config, service.source)
      const tag = await serviceImageTag(config, service)
      if (!options.rebuild && (await imageId(tag))) return {service: service.name, tag, built: false, user: await imageUser(tag)}
      await buildImage({
        tag,
        context: service.source.context,
        dockerfile: service.source.dockerfile,
        buildArgs: service.source.args,
        target: service.source.target,
        labels: {[MANAGED_BY_LABEL]: MANAGED_BY, 'app.kubernetes.io/name': service.name},
        signal: handle.signal,
        onLine: (line) => {
          if (line.trim()) handle.progress(built.length > 1 ? `${service.name}: ${line.trim()}` : line.trim())
        },
      })
      return {service: service.name, tag, built: true, user: await imageUser(tag)}
    })
    const fresh = results.filter((result) => result.built)
    if (fresh.length === 0) handle.skip(results.length === 1 ? `${results[0].tag} is up to date` : 'every image is up to date')
    else handle.detail(fresh.map((result) => result.tag).join(', '))
    return results
  },
}

const contextGuard: Step<UpInput, void> = {
  id: 'context',
  title: 'Check kube context',
  async run({project}, handle) {
    // A target's context is the user's own: it must exist, and is never checked as a kind context.
    if (project.target) await checkContextExists(project.target)
    else await verifyKindContext(project.config.cluster)
    handle.detail(project.kube.context)
  },
}

/**
 * The built images pushed to the registry the cluster pulls from: a target's registry, or the local
 * registry on kind. Under their content tag, referred to by digest; an image the registry already
 * holds is not pushed again.
 */
const push: Step<UpInput, {images: Array<{service: string; reference: string}>; pushed: string[]}> = {
  id: 'push',
  title: 'Push image to the registry',
  async run({project}, handle, outputs) {
    const local = outputs.has(registry) ? outputs.of(registry) : undefined
    // A registry container started by this run may still be starting (its start overlaps the build).
    if (local) await waitForRegistry(local.host, handle.signal)
    const repositoryFor = (name: string) => (local ? `${local.host}/${name}` : targetRepository(project.target!, name))
    const results = await Promise.all(
      outputs.of(images).map(async (image) => {
        // devkube.local/<name>:<content hash> → <registry>/<name>:<content hash>, never :latest.
        const [repository, tag] = [image.tag.slice(0, image.tag.lastIndexOf(':')), image.tag.slice(image.tag.lastIndexOf(':') + 1)]
        const {reference, pushed} = await pushImage(image.tag, repositoryFor(repository.split('/').at(-1)!), tag, handle.signal)
        return {service: image.service, reference, pushed}
      }),
    )
    const sent = results.filter((result) => result.pushed)
    if (sent.length === 0) handle.skip(`the registry has ${results.length === 1 ? 'it' : 'every image'}`)
    else handle.detail(sent.map((entry) => entry.reference).join(', '))
    return {images: results.map(({service, reference}) => ({service, reference})), pushed: sent.map((entry) => entry.service)}
  },
}

/** After the cluster is up: the local registry joined to the kind network and named in the ConfigMap. */
const wire: Step<UpInput, void> = {
  id: 'wire',
  title: 'Wire the registry into the cluster',
  async run({project}, handle, outputs) {
    const done = await wireRegistry(project.kube, outputs.of(registry))
    if (done.length === 0) handle.skip('already wired')
    else handle.detail(done.join(', '))
  },
}

/** The tags among `tags` that some node lacks (a node lists what kind loaded and what it pulled). */
async function missingOnNodes(project: Project, tags: string[]): Promise<string[]> {
  if (tags.length === 0) return []
  const nodes = await project.kube.getJson<{items: Array<{status?: {images?: Array<{names?: string[]}>}}>}>(['nodes'], undefined, true)
  const onEveryNode = (tag: string) => (nodes?.items.length ?? 0) > 0 && nodes!.items.every((node) => node.status?.images?.some((entry) => entry.names?.some((name) => imageNames(tag).includes(name))))
  return tags.filter((tag) => !onEveryNode(tag))
}

/**
 * Stock and backing images are loaded from the local Docker when they are there (offline, and faster
 * than a pull); one that is not is pulled by the node itself.
 */
async function localStockImages(project: Project): Promise<string[]> {
  const stock = await Promise.all(stockImages(project).map(async (image) => ((await imageId(image)) ? image : undefined)))
  return stock.filter((image): image is string => image !== undefined)
}

/** Loads what the nodes lack in one kind call (one archive, one import per node). */
async function loadMissing(project: Project, fresh: string[], known: string[], handle: StepHandle): Promise<{loaded: string[]}> {
  // A tag just built is new to the nodes: it is loaded without asking them first.
  const missing = [...fresh, ...(await missingOnNodes(project, known))]
  const loaded = missing.length > 0 ? await loadImages(project.config.cluster, missing, handle.signal) : []
  if (loaded.length === 0) handle.skip('every node has it')
  return {loaded}
}

const load: Step<UpInput, {loaded: string[]}> = {
  id: 'load',
  title: 'Load image into kind',
  async run({project}, handle, outputs) {
    // With a registry the built images were pushed: only stock images are loaded here.
    const serviceImages = outputs.has(push) ? [] : outputs.of(images)
    // Stock and backing images went in early when the plan has the backing lane (backingLoad).
    const stock = outputs.has(backingLoad) ? [] : await localStockImages(project)
    return loadMissing(project, serviceImages.filter((image) => image.built).map((image) => image.tag), [...serviceImages.filter((image) => !image.built).map((image) => image.tag), ...stock], handle)
  },
}

/**
 * The backing lane: once the cluster is there, the backing services' images are loaded and their objects
 * applied while the app's images still build, so a database is starting (initdb, its readiness probe)
 * instead of waiting for the builds. Stock images go with them: they need nothing built either.
 */
const backingLoad: Step<UpInput, {loaded: string[]}> = {
  id: 'backing-load',
  title: 'Load backing and stock images',
  async run({project}, handle) {
    return loadMissing(project, [], await localStockImages(project), handle)
  },
}

const backingApply: Step<UpInput, {applied: string[]}> = {
  id: 'backing-apply',
  title: 'Apply backing services',
  async run({project}, handle) {
    const {config, kube} = project
    const backing = earlyBacking(project)
    const namespace = await kube.getJson<KubeObject>(['namespace', config.namespace], undefined, true)
    const manageNamespace = !namespace || namespace.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY
    const desired = await renderApp({
      config,
      services: backing,
      manageNamespace,
      image: () => ({reference: ''}),
      credentials: (spec) => resolveCredentials(kube, config.namespace, spec),
      secretEnv: () => undefined,
    })
    const rendered = backing.map((service) => renderedService(config, service, desired.objects))
    const {applied} = await applyWhenChanged(kube, config.namespace, Boolean(namespace), desired, `${PART_OF_LABEL}=${config.name},${MANAGED_BY_LABEL}=${MANAGED_BY}`, handle, rendered)
    return {applied}
  },
}

/** The backing services the lane starts early: those that wait for nothing (a dependsOn, e.g. a Job, keeps one in order). */
function earlyBacking(project: Project): ServiceConfig[] {
  return project.services.filter((service) => service.source.kind === 'backing' && service.dependsOn.length === 0)
}

/** The images of the services that are not built: stock images and backing services' images. */
function stockImages(project: Project): string[] {
  const names = project.services.map((service) => {
    if (service.source.kind === 'image') return service.source.image
    if (service.source.kind === 'backing') return backingImage(backingSpec(service))
    return undefined
  })
  return [...new Set(names.filter((name): name is string => name !== undefined))]
}

/** The names a node may list an image under: as given, and as containerd spells Docker Hub's. */
function imageNames(image: string): string[] {
  const names = [image, `docker.io/${image}`]
  if (!image.includes('/')) names.push(`docker.io/library/${image}`)
  if (!/:[^/]+$/.test(image)) names.push(...names.map((name) => `${name}:latest`))
  return names
}

/** A service's objects as rendered: what rollout waits on and what the forwarder serves. */
export interface RenderedService {
  config: ServiceConfig
  /** The built image's USER, for the diagnosis of a pod that cannot write. */
  imageUser?: ImageUser
  workload: {kind: WorkloadKind; name: string; images: string[]}
  service?: {name: string; port: number}
  selector: string
}

/**
 * What the apply step did: kubectl's lines, and the workloads it held back (deferredWorkloads): Jobs that wait for
 * their dependencies, and what depends on a Job that has not completed yet. The rollout applies each in its wave
 * (compose's `service_healthy` and `service_completed_successfully`): a web server never starts against a database
 * its migration has not run on, and the migration never runs against a database that is not up.
 */
interface Applied {
  services: RenderedService[]
  applied: string[]
  deferred: Map<string, KubeObject[]>
}

const apply: Step<UpInput, Applied> = {
  id: 'apply',
  title: 'Apply manifests',
  async run({project, options}, handle, outputs) {
    const {config, kube} = project
    const built = new Map(outputs.of(images).map((image) => [image.service, image]))
    // On a target the cluster pulls the pushed images by digest; on kind it runs the loaded tags.
    const pushed = new Map(outputs.has(push) ? outputs.of(push).images.map((entry) => [entry.service, entry.reference]) : [])
    if (!isSingleApp(project)) {
      const result = await applyServices(project, built, pushed, handle, options.devCommands)
      // What the backing lane applied earlier in this run changed too (its rollout is still to be waited on).
      return outputs.has(backingApply) ? {...result, applied: [...outputs.of(backingApply).applied, ...result.applied]} : result
    }
    // Independent reads, at once: each is a process and, on a real cluster, an API round trip.
    const service = config.services[0]
    const [namespace, manifests] = await Promise.all([kube.getJson<KubeObject>(['namespace', config.namespace], undefined, true), readManifests(config)])
    const manageNamespace = !namespace || namespace.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY
    const secretEnv = readEnvFiles(service.envFiles, config.projectDir)
    const image = built.get(service.name)!
    const desired = desiredState({config, imageTag: pushed.get(service.name) ?? image.tag, manifests, secretEnv, manageNamespace, imageUser: image.user, command: options.devCommands?.[service.name]})
    const rendered = [{...renderedService(config, service, desired.objects), imageUser: image.user}]

    const {applied} = await applyWhenChanged(kube, config.namespace, Boolean(namespace), desired, serviceSelector(config.name), handle, [])
    return {services: rendered, applied, deferred: new Map()}
  },
}

/** Today's single app: one built service with its own manifests folder (k8s/). */
export function isSingleApp(project: Pick<Project, 'services'>): boolean {
  return project.services.length === 1 && project.services[0].manifests !== undefined
}

/**
 * The apply of an app with `services:`: a Deployment (+ Service) per built or stock service from
 * the templates, backing services from backing.ts with their credentials (the live Secret's, else
 * new), and each dependent wired to its backing services' connection env.
 */
async function applyServices(project: Project, built: Map<string, ServiceImage>, pushed: Map<string, string>, handle: StepHandle, devCommands: Record<string, string[]> = {}): Promise<Applied> {
  const {config, kube} = project
  const namespace = await kube.getJson<KubeObject>(['namespace', config.namespace], undefined, true)
  const manageNamespace = !namespace || namespace.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY
  const desired = await renderApp({
    config,
    services: project.services,
    manageNamespace,
    image: (service) => {
      const image = built.get(service.name)
      return {reference: pushed.get(service.name) ?? image?.tag ?? '', user: image?.user}
    },
    credentials: (spec) => resolveCredentials(kube, config.namespace, spec),
    secretEnv: (service) => readEnvFiles(service.envFiles, config.projectDir),
    command: (service) => devCommands[service.name],
  })
  const rendered = project.services.map((service) => ({...renderedService(config, service, desired.objects), imageUser: built.get(service.name)?.user}))
  return applyWhenChanged(kube, config.namespace, Boolean(namespace), desired, `${PART_OF_LABEL}=${config.name},${MANAGED_BY_LABEL}=${MANAGED_BY}`, handle, rendered)
}

/**
 * Applies what is desired unless every object is already in the cluster with the same applied hash
 * (and the drift-prone fields match); returns kubectl's lines for what it created or changed. Jobs
 * that changed or failed are deleted first (their pod template cannot be changed in place), and the
 * workloads waiting on a Job that has not completed are held back for the rollout to apply.
 */
async function applyWhenChanged(kube: Kube, namespace: string, namespaceExists: boolean, desired: {objects: KubeObject[]; yaml: string}, selector: string, handle: StepHandle, services: RenderedService[]): Promise<Applied> {
  const namespaced = desired.objects.filter((object) => object.kind !== 'Namespace')
  const kinds = [...new Set(namespaced.map((object) => resourceName(object.kind, object.apiVersion)))].join(',')
  const live = namespaceExists ? await kube.list(kinds, namespace, selector, true) : []
  const replaced = jobsToReplace(namespaced, live)
  const deferred = deferredWorkloads(services, desired.objects, replaced, live)
  if (namespaceExists && replaced.length === 0 && inSync(namespaced, live)) {
    handle.skip('unchanged')
    return {services, applied: [], deferred}
  }
  if (replaced.length > 0) {
    handle.progress(`deleting the previous run of ${replaced.map((name) => `job/${name}`).join(', ')} to run it again`)
    await deleteJobs(kube, namespace, replaced, JOB_DELETE_TIMEOUT_SECONDS)
  }
  const held = new Set([...deferred.values()].flat())
  const lines = await kube.apply(held.size === 0 ? desired.yaml : objectsYaml(desired.objects.filter((object) => !held.has(object))))
  handle.detail(summarizeApply(lines) + (held.size > 0 ? `; ${[...deferred.keys()].join(', ')} once what ${held.size === 1 ? 'it waits for is' : 'they wait for are'} ready` : ''))
  return {services, applied: lines.filter((line) => !line.endsWith(' unchanged')), deferred}
}

/** How long deleting a changed or failed Job (and its pods) may take before `up` gives up. */
const JOB_DELETE_TIMEOUT_SECONDS = 60

function objectsYaml(objects: KubeObject[]): string {
  return objects.map((object) => stringify(object)).join('---\n')
}

/**
 * What the rollout applies in its wave instead of the apply step, by service: a Job yet to run (new, changed, failed)
 * that depends on other services, which starts only once they are ready (a migration has a retry or two, not the
 * minute a database may take to initialise); and the workloads of services that depend, directly or through
 * others, on a Job yet to complete. A no-change `up` (every Job completed and unchanged) holds nothing back.
 */
function deferredWorkloads(services: RenderedService[], objects: KubeObject[], replaced: string[], live: KubeObject[]): Map<string, KubeObject[]> {
  const done = new Set(live.filter((object) => object.kind === 'Job' && jobState(object as Job) === 'Complete' && !replaced.includes(object.metadata.name)).map((object) => object.metadata.name))
  const byName = new Map(services.map((service) => [service.config.name, service]))
  const pendingJobs = new Set(services.filter((service) => service.workload.kind === 'Job' && !done.has(service.workload.name)).map((service) => service.config.name))
  const waits = (name: string, seen = new Set<string>()): boolean => {
    if (seen.has(name)) return false
    seen.add(name)
    return (byName.get(name)?.config.dependsOn ?? []).some((dependency) => pendingJobs.has(dependency) || waits(dependency, seen))
  }
  const deferred = new Map<string, KubeObject[]>()
  for (const service of services) {
    const jobWithDependencies = pendingJobs.has(service.config.name) && service.config.dependsOn.length > 0
    if (!jobWithDependencies && !waits(service.config.name)) continue
    deferred.set(service.config.name, objects.filter((object) => object.kind === service.workload.kind && object.metadata.name === service.workload.name))
  }
  return deferred
}

/** Finds a service's workload and Service among its rendered objects. */
function renderedService(config: AppConfig, service: ServiceConfig, objects: KubeObject[]): RenderedService {
  const own = objects.filter((object) => object.metadata.labels?.['app.kubernetes.io/name'] === service.name)
  const workload = own.find((object) => object.kind === 'Deployment') ?? own.find((object) => object.kind === 'StatefulSet') ?? own.find((object) => object.kind === 'Job')
  if (!workload) {
    const where = service.manifests ? path.relative(config.projectDir, service.manifests) : `the manifests of ${service.name}`
    throw new UserError(`The manifests in ${where} have no Deployment.`, {
      hint: 'devkube runs the app as a Deployment: run `devkube init --force` to scaffold one, or add it.',
    })
  }
  const spec = workload.spec as {selector?: {matchLabels?: Record<string, string>}; template?: {spec?: {containers?: Array<{image?: string}>}}}
  const serviceObject = own.find((object) => object.kind === 'Service')
  const port = (serviceObject?.spec as {ports?: Array<{port: number}>} | undefined)?.ports?.[0]?.port
  const matchLabels = spec.selector?.matchLabels ?? {'app.kubernetes.io/name': service.name}
  return {
    config: service,
    imageUser: undefined,
    workload: {kind: workload.kind as WorkloadKind, name: workload.metadata.name, images: (spec.template?.spec?.containers ?? []).map((container) => String(container.image ?? ''))},
    service: serviceObject && port ? {name: serviceObject.metadata.name, port} : undefined,
    selector: Object.entries(matchLabels).map(([key, value]) => `${key}=${value}`).join(','),
  }
}

function summarizeApply(lines: string[]): string {
  const counts = new Map<string, number>()
  for (const line of lines) {
    const verb = line.split(' ').at(-1) ?? 'applied'
    counts.set(verb, (counts.get(verb) ?? 0) + 1)
  }
  return [...counts].map(([verb, count]) => `${count} ${verb}`).join(', ')
}

type RolloutOutcome = {kind: 'rollout'; result: RunResult} | {kind: 'fatal'; pods: Pod[]}

/** How often the rollout wait looks at the pods for a failure that waiting will not cure. */
const POD_CHECK_INTERVAL_MS = 2000
/** Restarts after which a crashing container is reported instead of waited on. */
const CRASH_RESTARTS = 2

/**
 * The services in waves: each wave's services depend only on services of earlier waves, so a wave
 * rolls out together once the one before it is ready.
 */
export function rolloutWaves<T extends {config: {name: string; dependsOn: string[]}}>(services: T[]): T[][] {
  const waves: T[][] = []
  const placed = new Set<string>()
  const names = new Set(services.map((service) => service.config.name))
  let remaining = services
  while (remaining.length > 0) {
    const wave = remaining.filter((service) => service.config.dependsOn.every((dependency) => placed.has(dependency) || !names.has(dependency)))
    // config.ts rejects cycles; this only guards against looping forever on one.
    if (wave.length === 0) throw new Error(`dependsOn cycle among ${remaining.map((service) => service.config.name).join(', ')}`)
    waves.push(wave)
    for (const service of wave) placed.add(service.config.name)
    remaining = remaining.filter((service) => !wave.includes(service))
  }
  return waves
}

/** `applied`: kubectl's lines for the workloads the apply step held back and the rollout applied in their wave. */
const rollout: Step<UpInput, {rolledOut: string[]; applied: string[]}> = {
  id: 'rollout',
  title: 'Wait for rollout',
  async run(input, handle, outputs) {
    const {services, deferred} = outputs.of(apply)
    const applied = [...outputs.of(apply).applied]
    const appliedHere: string[] = []
    const rolledOut: string[] = []
    for (const wave of rolloutWaves(services)) {
      // What waited for a Job goes in now: every service of the waves before this one is ready (each Job completed).
      const held = wave.flatMap((service) => deferred.get(service.config.name) ?? [])
      if (held.length > 0) {
        const lines = (await input.project.kube.apply(objectsYaml(held))).filter((line) => !line.endsWith(' unchanged'))
        applied.push(...lines)
        appliedHere.push(...lines)
      }
      // One failing service stops the others of its wave at once: its diagnosis is what the user needs.
      const controller = new AbortController()
      const abort = () => controller.abort()
      handle.signal.addEventListener('abort', abort)
      try {
        const results = await Promise.all(
          wave.map((service) =>
            rolloutService(input, service, !workloadChanged(applied, service.workload), controller.signal, (line) => handle.progress(services.length > 1 ? `${service.config.name}: ${line}` : line)).catch((error: unknown) => {
              controller.abort()
              throw error
            }),
          ),
        )
        wave.forEach((service, index) => results[index] && rolledOut.push(service.config.name))
      } finally {
        handle.signal.removeEventListener('abort', abort)
      }
      if (handle.signal.aborted) return {rolledOut, applied: appliedHere}
    }
    if (rolledOut.length === 0) handle.skip('already rolled out')
    else handle.detail(`${rolledOut.length === 1 ? services.find((service) => service.config.name === rolledOut[0])!.workload.name : rolledOut.join(', ')} ready`)
    return {rolledOut, applied: appliedHere}
  },
}

/** Whether `kubectl apply` created or changed this workload ("deployment.apps/web configured"). */
function workloadChanged(applied: string[], workload: {kind: string; name: string}): boolean {
  const kind = workload.kind.toLowerCase()
  return applied.some((line) => {
    const [ref] = line.split(' ')
    return ref === `${kind}/${workload.name}` || ref === `${kind}.apps/${workload.name}` || ref === `${kind}.batch/${workload.name}`
  })
}

/** Waits until one service is rolled out; false when it already was (nothing applied, all ready). */
async function rolloutService({project, options}: UpInput, service: RenderedService, nothingApplied: boolean, signal: AbortSignal, progress: (line: string) => void): Promise<boolean> {
  const {config, kube} = project
  const {workload} = service
  if (workload.kind === 'Job') {
    // A Job left alone by this run (unchanged, completed) has nothing to wait for.
    if (nothingApplied) {
      const live = await kube.getJson<Job>(['job', workload.name], config.namespace, true)
      if (live && jobState(live) === 'Complete') return false
    }
    await waitForJob(kube, config.namespace, workload.name, {timeoutSeconds: options.timeoutSeconds, signal, progress})
    return !signal.aborted
  }
  if (nothingApplied) {
    const live = await kube.getJson<Deployment>([workload.kind.toLowerCase(), workload.name], config.namespace, true)
    const want = live?.spec.replicas ?? 1
    const status = live?.status
    const updated = workload.kind === 'StatefulSet' ? ((status as {updatedReplicas?: number; currentReplicas?: number} | undefined)?.updatedReplicas ?? (status as {currentReplicas?: number} | undefined)?.currentReplicas ?? 0) : (status?.updatedReplicas ?? 0)
    const available = workload.kind === 'StatefulSet' ? (status?.readyReplicas ?? 0) : (status?.availableReplicas ?? 0)
    if (status && updated >= want && available >= want && (status.replicas ?? 0) === want) return false
  }
  const controller = new AbortController()
  const abort = () => controller.abort()
  signal.addEventListener('abort', abort)
  const waiting = kube.kubectl(['rollout', 'status', workloadRef(workload), `--timeout=${options.timeoutSeconds}s`], {
    namespace: config.namespace,
    allowFailure: true,
    signal: controller.signal,
    onLine: progress,
  })
  const probe = diagnosisContext(service)
  const watchdog = watchForFatalPods(project, service, probe, controller.signal)
  try {
    // The watchdog settles early only with fatal pods; otherwise the rollout's own result decides.
    const rolloutOutcome: Promise<RolloutOutcome> = waiting.then((result) => ({kind: 'rollout', result}))
    const fatalOutcome: Promise<RolloutOutcome> = watchdog.then((pods) => (pods ? {kind: 'fatal', pods} : rolloutOutcome))
    const outcome = await Promise.race([rolloutOutcome, fatalOutcome])
    if (outcome.kind === 'rollout' && outcome.result.exitCode === 0) return true
    if (signal.aborted) return false
    const pods = outcome.kind === 'fatal' ? outcome.pods : await currentPods(project, service)
    const diagnosis = await explainRolloutFailure(kube, config.namespace, pods, probe)
    if (diagnosis) throw diagnosisError(diagnosis)
    const reason = outcome.kind === 'rollout' ? outcome.result.stderr.trim().split('\n').at(-1) : ''
    throw new UserError(`The rollout of ${workload.name} did not finish within ${options.timeoutSeconds} s${reason ? ` (${reason.replace(/^error: /, '')})` : ''}.`, {
      hint: 'Run `devkube status` to see the pods, or raise --timeout if the app is just slow to start.',
    })
  } finally {
    controller.abort()
    signal.removeEventListener('abort', abort)
    await Promise.allSettled([waiting, watchdog])
  }
}

/**
 * Resolves with the pods once one of the new revision is in a state that waiting will not fix (a
 * crash loop, a missing image); with undefined once the wait is over for another reason.
 */
async function watchForFatalPods(project: Project, service: RenderedService, probe: DiagnosisContext, signal: AbortSignal): Promise<Pod[] | undefined> {
  while (!signal.aborted) {
    await abortableSleep(POD_CHECK_INTERVAL_MS, signal)
    if (signal.aborted) break
    // Only what was just deployed counts: the previous version's pods (crashing or not) are on their way out.
    // The signal ends a read in flight once the rollout is over: the rollout step does not wait for it.
    const pods = await currentPods(project, service, signal).catch(() => [])
    // Liveness kills are only in the kubelet's events (the exit code cannot tell them): read them while a pod is not ready.
    const events = pods.some((pod) => pod.status.containerStatuses?.some((status) => !status.ready)) ? await podEvents(project.kube, project.config.namespace, signal) : []
    for (const pod of pods) {
      const diagnosis = diagnosePod(pod, {...probe, events})
      const restarts = Math.max(0, ...(pod.status.containerStatuses ?? []).map((status) => status.restartCount))
      if (!diagnosis || diagnosis.reason === 'ReadinessProbeFailing') continue
      // A liveness kill is final at once: with a 30 s grace period per kill, waiting for restarts would outlast the rollout timeout.
      if (diagnosis.reason === 'CrashLoopBackOff' && restarts < CRASH_RESTARTS) continue
      return pods
    }
  }
  return undefined
}

/** The pods of what was just deployed: a Deployment's newest ReplicaSet's; a StatefulSet's running its images. */
async function currentPods(project: Project, service: RenderedService, signal?: AbortSignal): Promise<Pod[]> {
  const {config, kube} = project
  if (service.workload.kind === 'Deployment') return listNewestPods(kube, config.namespace, service.workload.name, signal)
  const pods = await kube.list<Pod>('pods', config.namespace, service.selector, true, signal)
  return pods.filter((pod) => pod.spec.containers.some((container) => service.workload.images.includes(container.image)))
}

/**
 * Where the app of a Dockerfile devkube wrote may write: its working directory (owned by the app's
 * user) and /tmp. For the project's own Dockerfile devkube cannot know, and says so in general terms.
 */
function writableDirs(dockerfile: string): string[] | undefined {
  let text: string
  try {
    text = readFileSync(dockerfile, 'utf8')
  } catch {
    return undefined
  }
  if (!text.startsWith(GENERATED_MARKER)) return undefined
  const finalStage = text.split(/^FROM\s/m).at(-1) ?? ''
  const workdir = [...finalStage.matchAll(/^WORKDIR\s+(\S+)/gm)].at(-1)?.[1]
  return [...(workdir ? [`its working directory ${workdir}`] : []), '/tmp']
}

function diagnosisContext(service: RenderedService): DiagnosisContext {
  const {config} = service
  return {
    port: config.port,
    healthPath: config.healthPath,
    imageUser: service.imageUser?.user,
    writableDirs: config.source.kind === 'build' ? writableDirs(config.source.dockerfile) : undefined,
  }
}

export function upPlan(project?: Project): PlanItem<UpInput>[] {
  // A target: no kind cluster to create and no load; the images go through its registry instead.
  if (project?.target) return [preflight, scaffold, images, contextGuard, push, apply, rollout]
  // Backing services start in a lane beside the builds, as soon as the cluster is there.
  const backingLane = project && !isSingleApp(project) && earlyBacking(project).length > 0 ? {id: 'backing', title: 'Cluster and backing services', steps: [cluster, contextGuard, backingLoad, backingApply]} : undefined
  if (project?.config.registry) {
    // The registry first (seconds at most), then the cluster's create beside the build and push:
    // rollout waits on both, and no image copy sits after the create (issue 12).
    const buildPush = {id: 'build-push', title: 'Build and push images', steps: [images, push]}
    return [preflight, scaffold, registry, {id: 'prepare', title: 'Cluster and images', concurrent: [backingLane ?? cluster, buildPush]}, ...(backingLane ? [] : [contextGuard]), wire, load, apply, rollout]
  }
  if (backingLane) return [preflight, scaffold, {id: 'prepare', title: 'Cluster, backing services and images', concurrent: [backingLane, images]}, load, apply, rollout]
  return [preflight, scaffold, {id: 'prepare', title: 'Cluster and image', concurrent: [cluster, images]}, contextGuard, load, apply, rollout]
}

/** `up --watch` after a change that needs a new image: the same idempotent steps, minus the set-up. */
export function redeployPlan(project?: Project): PlanItem<UpInput>[] {
  if (project?.config.registry) return [registry, images, push, load, apply, rollout]
  return [images, load, apply, rollout]
}

/** Runs the plan and returns what is deployed, with each step's outcome. */
export async function deploy(project: Project, options: DeployOptions, run: {mode: ProgressMode; signal: AbortSignal}, plan?: PlanItem<UpInput>[]): Promise<{deployed: Deployed; steps: StepResult[]}> {
  const outputs = new StepOutputs()
  const steps = await runPlan(plan ?? upPlan(project), {project, options}, {...run, outputs})
  const serviceImages = outputs.of(images)
  const {services, applied} = outputs.of(apply)
  const {rolledOut, applied: appliedInWaves} = outputs.of(rollout)
  const loaded = [load, backingLoad].flatMap((step) => (outputs.has(step) ? outputs.of(step).loaded : []))
  const tags = new Map(serviceImages.map((image) => [image.service, image.tag]))
  if (outputs.has(push)) for (const entry of outputs.of(push).images) tags.set(entry.service, entry.reference)
  const {config} = project
  const deployed: Deployed = {
    app: config.name,
    projectDir: project.dir,
    cluster: config.cluster,
    context: project.kube.context,
    target: project.target ? {name: project.target.name, context: project.target.context} : undefined,
    namespace: config.namespace,
    environment: config.environment,
    services: services.map((service) => ({
      name: service.config.name,
      image: tags.get(service.config.name),
      workload: {kind: service.workload.kind, name: service.workload.name},
      service: service.service,
      selector: service.selector,
      http: service.config.source.kind === 'build',
      probePath: forwardProbePath(service.config),
      declaredLocalPort: service.config.forward,
    })),
    actions: {
      scaffolded: outputs.has(scaffold) ? outputs.of(scaffold) : [],
      clusterCreated: outputs.has(cluster) && outputs.of(cluster).created,
      imageBuilt: serviceImages.some((image) => image.built),
      imageLoaded: loaded.length > 0,
      imagePushed: outputs.has(push) && outputs.of(push).pushed.length > 0,
      applied: [...applied, ...appliedInWaves],
      rolledOut: rolledOut.length > 0,
      builtServices: serviceImages.filter((image) => image.built).map((image) => image.service),
      rolledOutServices: rolledOut,
    },
    versions: outputs.has(preflight) ? outputs.of(preflight) : {},
  }
  return {deployed, steps}
}
