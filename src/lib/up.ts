/**
 * The steps of `devkube up` as data. Each step observes the world first and acts only on the
 * difference, so a re-run with nothing changed builds, loads and applies nothing.
 */
import {existsSync} from 'node:fs'
import path from 'node:path'
import {checkBuildPaths, type AppConfig} from './config.js'
import {explainRolloutFailure, diagnosePod, diagnosisError} from './diagnose.js'
import {buildImage, dockerVersion, imageId} from './docker.js'
import {readEnvFile} from './dotenv.js'
import {UserError} from './errors.js'
import {sourceImageTag} from './image-tag.js'
import {checkClusterName, clusterExists, createCluster, deleteCluster, kindVersion, loadImage, MIN_KIND_VERSION} from './kind.js'
import {appSelector, Kube, kubectlClientVersion, MANAGED_BY, MANAGED_BY_LABEL, type Deployment, type KubeObject, type Pod} from './kube.js'
import {desiredState, inSync, readManifests, resourceName} from './manifests.js'
import {verifyKindContext} from './context-guard.js'
import type {PlanItem, Step} from './pipeline.js'
import {ensureStateDir} from './project-state.js'
import type {RunResult} from './runner.js'
import {versionAtLeast} from './versions.js'

export interface UpOptions {
  rebuild: boolean
  timeoutSeconds: number
  /** Scaffolds what the project lacks, as `devkube init --yes` would; returns what it wrote. */
  scaffold: () => Promise<string[]>
  /** `up --watch`: the command the app container runs instead of the image's (a reloading dev server). */
  devCommand?: string[]
}

export interface UpContext {
  config: AppConfig
  options: UpOptions
  kube: Kube
  imageTag?: string
  /** What changed in this run, for the summary, --json and the benchmarks. */
  actions: {scaffolded: string[]; clusterCreated: boolean; imageBuilt: boolean; imageLoaded: boolean; applied: string[]; rolledOut: boolean}
  deploymentName?: string
  service?: {name: string; port: number}
  versions: Record<string, string>
}

/**
 * Input errors found before anything is written or started, so a bad devkube.yaml or .env never
 * leaves a half-scaffolded project or a built image behind.
 */
export function checkInputsBeforeChanges(config: AppConfig): void {
  checkBuildPaths(config)
  const defaultDockerfile = path.join(config.build.context, 'Dockerfile')
  if (config.build.dockerfile !== defaultDockerfile && !existsSync(config.build.dockerfile)) {
    throw new UserError(`The Dockerfile ${config.build.dockerfile} named by \`build.dockerfile\` does not exist.`, {
      hint: 'Fix `build.dockerfile` in devkube.yaml, or remove it to let devkube scaffold ./Dockerfile.',
    })
  }
  if (config.envFile) readEnvFile(config.envFile, config.projectDir)
}

export function newUpContext(config: AppConfig, options: UpOptions): UpContext {
  return {
    config,
    options,
    kube: new Kube(config.cluster),
    actions: {scaffolded: [], clusterCreated: false, imageBuilt: false, imageLoaded: false, applied: [], rolledOut: false},
    versions: {},
  }
}

const preflight: Step<UpContext> = {
  id: 'preflight',
  title: 'Check docker, kind and kubectl',
  async run(context, handle) {
    checkClusterName(context.config.cluster)
    const [docker, kind, kubectl] = await Promise.all([dockerVersion(), kindVersion(), kubectlClientVersion()])
    if (!versionAtLeast(kind, MIN_KIND_VERSION)) {
      throw new UserError(`kind ${kind} is too old: devkube needs kind ${MIN_KIND_VERSION} or newer.`, {
        hint: 'Upgrade kind: https://kind.sigs.k8s.io/docs/user/quick-start/#installation',
      })
    }
    context.versions = {docker: docker.server, kind, kubectl}
    handle.detail(`docker ${docker.server}, kind ${kind}, kubectl ${kubectl}`)
  },
}


const scaffold: Step<UpContext> = {
  id: 'scaffold',
  title: 'Scaffold missing files',
  async run(context, handle) {
    const written = await context.options.scaffold()
    context.actions.scaffolded = written
    if (written.length === 0) handle.skip('nothing missing')
    else handle.detail(`wrote ${written.join(', ')}`)
  },
}

const cluster: Step<UpContext> = {
  id: 'cluster',
  title: 'Ensure kind cluster',
  async run(context, handle) {
    const name = context.config.cluster
    if (await clusterExists(name)) {
      handle.skip(`reusing "${name}"`)
      return
    }
    try {
      await createCluster(name, {signal: handle.signal, onLine: (line) => handle.progress(line.trim())})
    } finally {
      // A create cut short leaves a half-made cluster that a later `up` would wrongly reuse.
      if (handle.signal.aborted) await deleteCluster(name).catch(() => {})
    }
    if (handle.signal.aborted) return
    context.actions.clusterCreated = true
    handle.detail(`created "${name}"`)
  },
}

const image: Step<UpContext> = {
  id: 'image',
  title: 'Build image',
  async run(context, handle) {
    const {config} = context
    checkBuildPaths(config)
    ensureStateDir(config.projectDir)
    const tag = await sourceImageTag(config)
    context.imageTag = tag
    if (!context.options.rebuild && (await imageId(tag))) {
      handle.skip(`${tag} is up to date`)
      return
    }
    await buildImage({
      tag,
      context: config.build.context,
      dockerfile: config.build.dockerfile,
      buildArgs: config.build.args,
      labels: {[MANAGED_BY_LABEL]: MANAGED_BY, 'app.kubernetes.io/name': config.name},
      signal: handle.signal,
      onLine: (line) => {
        if (line.trim()) handle.progress(line.trim())
      },
    })
    context.actions.imageBuilt = true
    handle.detail(tag)
  },
}

const contextGuard: Step<UpContext> = {
  id: 'context',
  title: 'Check kube context',
  async run(context, handle) {
    await verifyKindContext(context.config.cluster)
    handle.detail(context.kube.context)
  },
}

const load: Step<UpContext> = {
  id: 'load',
  title: 'Load image into kind',
  async run(context, handle) {
    const tag = context.imageTag!
    // A tag just built is new to the nodes: load it without asking them first.
    if (!context.actions.imageBuilt) {
      const nodes = await context.kube.getJson<{items: Array<{status?: {images?: Array<{names?: string[]}>}}>}>(['nodes'], undefined, true)
      const everyNodeHasIt = (nodes?.items.length ?? 0) > 0 && nodes!.items.every((node) => node.status?.images?.some((entry) => entry.names?.some((name) => name === tag || name === `docker.io/${tag}`)))
      if (everyNodeHasIt) {
        handle.skip('every node has it')
        return
      }
    }
    const outcome = await loadImage(context.config.cluster, tag, handle.signal)
    context.actions.imageLoaded = outcome === 'loaded'
    if (outcome === 'present') handle.skip('every node has it')
  },
}

const apply: Step<UpContext> = {
  id: 'apply',
  title: 'Apply manifests',
  async run(context, handle) {
    const {config, kube} = context
    // Independent reads, at once: each is a process and, on a real cluster, an API round trip.
    const [namespace, manifests] = await Promise.all([kube.getJson<KubeObject>(['namespace', config.namespace], undefined, true), readManifests(config)])
    const manageNamespace = !namespace || namespace.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY
    const secretEnv = config.envFile ? readEnvFile(config.envFile, config.projectDir) : undefined
    const desired = desiredState({config, imageTag: context.imageTag!, manifests, secretEnv, manageNamespace, command: context.options.devCommand})
    const deployment = desired.objects.find((object) => object.kind === 'Deployment')
    const service = desired.objects.find((object) => object.kind === 'Service')
    if (!deployment) {
      throw new UserError(`The manifests in ${path.relative(config.projectDir, config.manifests)} have no Deployment.`, {
        hint: 'devkube runs the app as a Deployment: run `devkube init --force` to scaffold one, or add it.',
      })
    }
    context.deploymentName = deployment.metadata.name
    const servicePorts = (service?.spec as {ports?: Array<{port: number}>} | undefined)?.ports
    if (service && servicePorts?.[0]) context.service = {name: service.metadata.name, port: servicePorts[0].port}

    const namespaced = desired.objects.filter((object) => object.kind !== 'Namespace')
    const kinds = [...new Set(namespaced.map((object) => resourceName(object.kind)))].join(',')
    const live = namespace ? await kube.list(kinds, config.namespace, appSelector(config.name), true) : []
    if (namespace && inSync(namespaced, live)) {
      handle.skip('unchanged')
      return
    }
    const lines = await kube.apply(desired.yaml)
    context.actions.applied = lines.filter((line) => !line.endsWith(' unchanged'))
    handle.detail(summarizeApply(lines))
  },
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

const rollout: Step<UpContext> = {
  id: 'rollout',
  title: 'Wait for rollout',
  async run(context, handle) {
    const {config, kube} = context
    const name = context.deploymentName!
    if (context.actions.applied.length === 0) {
      const deployment = await kube.getJson<Deployment>(['deployment', name], config.namespace, true)
      const want = deployment?.spec.replicas ?? 1
      const status = deployment?.status
      if (status && (status.updatedReplicas ?? 0) >= want && (status.availableReplicas ?? 0) >= want && (status.replicas ?? 0) === want) {
        handle.skip('already rolled out')
        return
      }
    }
    const controller = new AbortController()
    const abort = () => controller.abort()
    handle.signal.addEventListener('abort', abort)
    const waiting = kube.kubectl(['rollout', 'status', `deployment/${name}`, `--timeout=${context.options.timeoutSeconds}s`], {
      namespace: config.namespace,
      allowFailure: true,
      signal: controller.signal,
      onLine: (line) => handle.progress(line),
    })
    const watchdog = watchForFatalPods(context, controller.signal)
    try {
      // The watchdog settles early only with fatal pods; otherwise the rollout's own result decides.
      const rolloutOutcome: Promise<RolloutOutcome> = waiting.then((result) => ({kind: 'rollout', result}))
      const fatalOutcome: Promise<RolloutOutcome> = watchdog.then((pods) => (pods ? {kind: 'fatal', pods} : rolloutOutcome))
      const outcome = await Promise.race([rolloutOutcome, fatalOutcome])
      if (outcome.kind === 'rollout' && outcome.result.exitCode === 0) {
        context.actions.rolledOut = true
        handle.detail(`${name} ready`)
        return
      }
      if (handle.signal.aborted) return
      const pods = outcome.kind === 'fatal' ? outcome.pods : await kube.list<Pod>('pods', config.namespace, appSelector(config.name), true)
      const diagnosis = await explainRolloutFailure(kube, config.namespace, pods, {port: config.port, healthPath: config.healthPath})
      if (diagnosis) throw diagnosisError(diagnosis)
      const reason = outcome.kind === 'rollout' ? outcome.result.stderr.trim().split('\n').at(-1) : ''
      throw new UserError(`The rollout of ${name} did not finish within ${context.options.timeoutSeconds} s${reason ? ` (${reason.replace(/^error: /, '')})` : ''}.`, {
        hint: 'Run `devkube status` to see the pods, or raise --timeout if the app is just slow to start.',
      })
    } finally {
      controller.abort()
      handle.signal.removeEventListener('abort', abort)
      await Promise.allSettled([waiting, watchdog])
    }
  },
}

/**
 * Resolves with the pods once one is in a state that waiting will not fix (a crash loop, a missing
 * image); with undefined once the wait is over for another reason.
 */
async function watchForFatalPods(context: UpContext, signal: AbortSignal): Promise<Pod[] | undefined> {
  const {config, kube} = context
  while (!signal.aborted) {
    await abortableSleep(POD_CHECK_INTERVAL_MS, signal)
    if (signal.aborted) break
    const pods = await kube.list<Pod>('pods', config.namespace, appSelector(config.name), true).catch(() => [])
    const current = pods.filter((pod) => pod.spec.containers.some((container) => container.image === context.imageTag))
    for (const pod of current) {
      const diagnosis = diagnosePod(pod, {port: config.port, healthPath: config.healthPath})
      const restarts = Math.max(0, ...(pod.status.containerStatuses ?? []).map((status) => status.restartCount))
      if (!diagnosis || diagnosis.reason === 'ReadinessProbeFailing') continue
      if ((diagnosis.reason === 'CrashLoopBackOff' || diagnosis.reason === 'LivenessProbeFailing') && restarts < CRASH_RESTARTS) continue
      return pods
    }
  }
  return undefined
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, {once: true})
    function done() {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
  })
}

/** `up --watch` after a change that needs a new image: the same idempotent steps, minus the set-up. */
export function redeployPlan(): PlanItem<UpContext>[] {
  return [image, load, apply, rollout]
}

export function upPlan(): PlanItem<UpContext>[] {
  return [
    preflight,
    scaffold,
    {id: 'prepare', title: 'Cluster and image', concurrent: [cluster, image]},
    contextGuard,
    load,
    apply,
    rollout,
  ]
}
