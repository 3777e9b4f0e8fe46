/**
 * `devkube status`: what a developer asks first — is the cluster there, is the app running, where
 * is it. Read from the world (cluster, pods, the forwarder's process), never from a state file alone,
 * and reduced to one verdict (healthy or not) that scripts can wait on.
 */
import {existsSync} from 'node:fs'
import type {AppConfig, ServiceConfig} from './config.js'
import {verifyKindContext} from './context-guard.js'
import {diagnosePod, podEvents, type PodEvent} from './diagnose.js'
import {checkUrl} from './forward.js'
import {serviceImageTag, sourceImageTag} from './image-tag.js'
import {imageTool} from './docker.js'
import {clusterExists, nodeContainers, stoppedClusterProblem, stoppedNodes} from './kind.js'
import {checkContextExists} from './targets.js'
import {ProjectState, recordsKey} from './project-state.js'
import {MANAGED_BY, MANAGED_BY_LABEL, type Kube, type KubeObject, type Pod} from './kube.js'
import {chalk} from './output.js'
import {run} from './runner.js'
import {redact} from './secrets.js'
import {jobState, type Job, type JobState} from './jobs.js'
import {creationTime, findDeployment, findWorkload, listAppPods, newestReplicaSetPods, podSelector, shortPodName} from './app-pods.js'

/** How long status waits for the forwarded URL to answer: a quick look, not a wait. */
export const URL_CHECK_TIMEOUT_MS = 1500

export interface NodeStatus {
  name: string
  ready: boolean
  kubernetesVersion?: string
  /** The kind node image, e.g. kindest/node:v1.32.2, when Docker can tell. */
  image?: string
}

export interface PodStatus {
  name: string
  shortName: string
  phase: string
  /** What kubectl's STATUS column would say: Running, CrashLoopBackOff, Terminating … */
  status: string
  ready: string
  restarts: number
  ageSeconds?: number
  image?: string
  problem?: {reason: string; message: string; hint: string}
}

export interface StatusReport {
  app: string
  environment: string
  healthy: boolean
  /** Why it is not healthy, one sentence each; empty when healthy. */
  problems: string[]
  /** What to do about the first problem. */
  hint?: string
  cluster: {name: string; context: string; exists: boolean; nodes: NodeStatus[]}
  namespace: {name: string; exists: boolean; createdByDevkube: boolean}
  deployment?: {name: string; desired: number; ready: number; updated: number; available: number}
  pods: PodStatus[]
  image?: {running: string; source?: string; matchesSource?: boolean; sourceError?: string}
  forward: {running: boolean; pid?: number; url?: string; answers?: boolean; httpStatus?: number; error?: string}
  /** An app with several services: a row per service. */
  services?: ServiceStatus[]
}

export interface ServiceStatus {
  name: string
  workload?: {kind: string; name: string}
  desired: number
  ready: number
  /** The built image running, and whether it is what the source would build now (as the one-app `image`). */
  image?: string
  source?: string
  matchesSource?: boolean
  sourceError?: string
  /** Its forwarded URL (or localhost:port for a service that is not HTTP). */
  url?: string
  pods: PodStatus[]
  /** A `kind: job` service: whether its run completed, failed or is still going (READY shows this instead). */
  job?: JobState
}

interface NodeObject extends KubeObject {
  status?: {conditions?: Array<{type: string; status: string}>; nodeInfo?: {kubeletVersion?: string}}
}

export async function collectStatus(config: AppConfig, kube: Kube, options: {buildArgs?: Record<string, string>} = {}): Promise<StatusReport> {
  const report: StatusReport = {
    app: config.name,
    environment: config.environment,
    healthy: false,
    problems: [],
    cluster: {name: config.cluster, context: kube.context, exists: false, nodes: []},
    namespace: {name: config.namespace, exists: false, createdByDevkube: false},
    // Present from the start so --json always lists the keys in the same order.
    deployment: undefined,
    pods: [],
    image: undefined,
    forward: {running: false},
  }
  const forwardCheck = checkForward(config, kube, report)
  // The context check runs alongside; its verdict only counts when the cluster exists.
  // A deploy target's cluster is the user's: its context must exist; kind is not asked about it.
  const [exists, contextProblem] = kube.target
    ? [true, await checkContextExists({name: kube.target, context: kube.context}).then(() => undefined, (error: unknown) => error)]
    : await Promise.all([clusterExists(config.cluster), verifyKindContext(config.cluster).then(() => undefined, (error: unknown) => error)])
  if (!exists) {
    await forwardCheck
    report.problems.push(`The kind cluster "${config.cluster}" does not exist, so ${config.name} is not running.`)
    report.hint = '`devkube up` creates the cluster and starts the app.'
    return report
  }
  report.cluster.exists = true
  const stopped = kube.target ? [] : stoppedNodes(await nodeContainers(config.cluster))
  if (stopped.length > 0) {
    await forwardCheck
    const problem = stoppedClusterProblem(config.cluster, stopped)
    report.problems.push(problem.message)
    report.hint = problem.hint
    return report
  }
  if (contextProblem) throw contextProblem

  const [nodes, nodeImage, namespace, deployment] = await Promise.all([
    kube.getJson<{items: NodeObject[]}>(['nodes'], undefined, true),
    kube.target ? Promise.resolve(undefined) : kindNodeImage(config.cluster),
    kube.getJson<KubeObject>(['namespace', config.namespace], undefined, true),
    findDeployment(kube, config),
  ])
  const [pods, replicaSets, sourceTag, events] = await Promise.all([
    namespace ? listAppPods(kube, config, podSelector(config, deployment)) : Promise.resolve([]),
    deployment ? kube.list<KubeObject>('replicasets.apps', config.namespace, podSelector(config, deployment), true) : Promise.resolve([]),
    currentSourceTag(config, options.buildArgs),
    namespace ? podEvents(kube, config.namespace) : Promise.resolve([]),
  ])
  await forwardCheck

  report.cluster.nodes = (nodes?.items ?? []).map((node) => ({
    name: node.metadata.name,
    ready: node.status?.conditions?.some((condition) => condition.type === 'Ready' && condition.status === 'True') ?? false,
    kubernetesVersion: node.status?.nodeInfo?.kubeletVersion,
    image: nodeImage,
  }))
  for (const node of report.cluster.nodes) {
    if (!node.ready) report.problems.push(`The cluster's node ${node.name} is not ready.`)
  }
  report.namespace = {name: config.namespace, exists: Boolean(namespace), createdByDevkube: namespace?.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY}

  if (config.services.length > 1) {
    await collectServices(config, kube, report, Boolean(namespace), options.buildArgs ?? {})
    report.healthy = report.problems.length === 0
    return report
  }

  if (!deployment) {
    report.problems.push(`${config.name} is not deployed: there is no Deployment of it in namespace ${config.namespace} of ${kube.context}.`)
    report.hint = '`devkube up` deploys it.'
  } else {
    const desired = deployment.spec.replicas ?? 1
    const status = deployment.status ?? {}
    report.deployment = {name: deployment.metadata.name, desired, ready: status.readyReplicas ?? 0, updated: status.updatedReplicas ?? 0, available: status.availableReplicas ?? 0}
    const container = deployment.spec.template.spec.containers.find((entry) => entry.name === config.name) ?? deployment.spec.template.spec.containers[0]
    if (container) {
      report.image = {running: container.image}
      Object.assign(report.image, compareWithSource(container.image, sourceTag, Boolean(kube.target)))
    }
  }

  const now = Date.now()
  report.pods = pods.map((pod) => podStatus(pod, config, now, events))
  if (report.deployment) {
    const {desired, ready, updated} = report.deployment
    if (desired === 0) {
      report.problems.push(`${config.name} is scaled to 0 replicas, so no pod runs.`)
      report.hint = '`devkube up` sets the replicas from devkube.yaml again.'
    } else if (ready < desired) {
      // Only the newest ReplicaSet's pods say what is wrong with what was deployed last; an older
      // version's pods may still be crashing on their way out.
      const current = new Set(deployment ? newestReplicaSetPods(deployment, replicaSets, pods).map((pod) => pod.metadata.name) : [])
      const diagnosed = report.pods.find((pod) => pod.problem && current.has(pod.name))?.problem
      report.problems.push(`Only ${ready} of ${desired} pod${desired === 1 ? ' is' : 's are'} ready.`)
      if (diagnosed) {
        report.problems.push(diagnosed.message)
        // diagnose's crash hint speaks of log lines printed below it, as `up` does; status shows none.
        report.hint ??= diagnosed.reason === 'CrashLoopBackOff' ? '`devkube logs --previous` shows why it crashed; fix that and run `devkube up` again.' : diagnosed.hint
      } else {
        report.hint ??= 'The pods may still be starting; `devkube logs -f` shows what they do.'
      }
    } else if (updated < desired) {
      report.problems.push(`A rollout is in progress: ${updated} of ${desired} pods run the new version.`)
      report.hint ??= 'Run `devkube status` again in a moment.'
    }
  }
  if (report.forward.running && !report.forward.answers) {
    report.problems.push(`${report.forward.url} does not answer${report.forward.error ? ` (${report.forward.error})` : ''}.`)
    report.hint ??= '`devkube logs` shows what the app says; `devkube forward` restarts the forward.'
  }
  report.healthy = report.problems.length === 0
  return report
}

/** A row per service: its workload, ready pods, image against the source, and URL. */
async function collectServices(config: AppConfig, kube: Kube, report: StatusReport, namespaceExists: boolean, buildArgs: Record<string, string>): Promise<void> {
  const record = new ProjectState(config.projectDir, config.environment).liveForwarder(config)
  const now = Date.now()
  report.services = await Promise.all(
    config.services.map(async (service): Promise<ServiceStatus> => {
      const workload = namespaceExists ? await findWorkload(kube, config.namespace, service.name) : undefined
      const pods = workload ? await listAppPods(kube, config, podSelector(service.name, workload.object)) : []
      const containers = workload?.object.spec.template.spec.containers ?? []
      const running = (containers.find((container) => container.name === service.name) ?? containers[0])?.image
      const built = service.source.kind === 'build'
      const source = built && running ? compareWithSource(running, await serviceSourceTag(config, service, buildArgs), Boolean(kube.target)) : {}
      return {
        name: service.name,
        workload: workload ? {kind: workload.kind, name: workload.name} : undefined,
        desired: workload?.object.spec.replicas ?? 0,
        ready: workload?.object.status?.readyReplicas ?? 0,
        image: built ? running : undefined,
        ...source,
        url: record?.forwards.find((forward) => forward.service === service.name)?.url,
        pods: pods.map((pod) => podStatus(pod, {...config, port: service.port ?? config.port, healthPath: service.healthPath}, now)),
        ...(workload?.kind === 'Job' ? {job: jobState(workload.object as unknown as Job)} : {}),
      }
    }),
  )
  for (const service of report.services) {
    if (!service.workload) {
      report.problems.push(`The service ${service.name} is not deployed in namespace ${config.namespace} of ${kube.context}.`)
      report.hint ??= '`devkube up` deploys it.'
    } else if (service.job === 'Failed') {
      report.problems.push(`The job ${service.name} failed.`)
      report.hint ??= `\`devkube logs ${service.name}\` shows why; fix it and run \`devkube up\`, which runs it again.`
    } else if (service.job) {
      // A Job is never "ready": Complete is its healthy end, Running its way there.
    } else if (service.ready < service.desired) {
      const problem = service.pods.find((pod) => pod.problem)?.problem
      report.problems.push(`${service.name}: only ${service.ready} of ${service.desired} pods ready${problem ? ` (${problem.message})` : ''}.`)
      report.hint ??= problem?.hint ?? `\`devkube logs ${service.name}\` shows what it does.`
    }
  }
  if (report.forward.running && !report.forward.answers) {
    report.problems.push(`${report.forward.url} does not answer${report.forward.error ? ` (${report.forward.error})` : ''}.`)
    report.hint ??= '`devkube logs` shows what the app says; `devkube forward` restarts the forward.'
  }
}

/** The detached (or another terminal's) forwarder of this app, and whether its URL answers. */
async function checkForward(config: AppConfig, kube: Kube, report: StatusReport): Promise<void> {
  const record = new ProjectState(config.projectDir, recordsKey(config.environment, kube.target)).liveForwarder(config)
  if (!record) return
  // The first HTTP forward is checked; a database's port does not answer GET.
  const url = record.forwards.find((forward) => forward.url.startsWith('http'))?.url ?? record.url
  report.forward = {running: true, pid: record.pid, url}
  try {
    const {status} = await checkUrl(url, URL_CHECK_TIMEOUT_MS)
    report.forward.httpStatus = status
    report.forward.answers = status < 500
    if (status >= 500) report.forward.error = `HTTP ${status}`
  } catch (error) {
    report.forward.answers = false
    report.forward.error = /\((.*)\)\.$/.exec((error as Error).message)?.[1] ?? 'no answer'
  }
}

/** The tag `devkube up` would build from the source as it is now; only when there is a Dockerfile. */
async function currentSourceTag(config: AppConfig, buildArgs: Record<string, string> = {}): Promise<{tag?: string; error?: string}> {
  if (!existsSync(config.build.dockerfile)) return {}
  try {
    return {tag: await sourceImageTag(config, buildArgs, {writeCache: false})}
  } catch (error) {
    return {error: (error as Error).message}
  }
}

/** The SOURCE cell of a service: whether its running image is what its source builds now ("-": not built here). */
function sourceCell(service: ServiceStatus): string {
  if (service.matchesSource === true) return 'matches'
  if (service.matchesSource === false) return 'changed'
  return service.image && service.sourceError ? 'unknown' : '-'
}

/** The tag `devkube up` would build for one built service from its source as it is now. */
async function serviceSourceTag(config: AppConfig, service: ServiceConfig, buildArgs: Record<string, string>): Promise<{tag?: string; error?: string}> {
  if (service.source.kind !== 'build' || !existsSync(service.source.dockerfile)) return {}
  try {
    return {tag: await serviceImageTag(config, service, buildArgs, {writeCache: false})}
  } catch (error) {
    return {error: (error as Error).message}
  }
}

/**
 * Is the running image the one the source would build now? On kind the tags are equal; a target runs
 * <registry>/<name>:<content tag>@<digest>, where the content tag says which source.
 */
function compareWithSource(running: string, source: {tag?: string; error?: string}, target: boolean): {source?: string; matchesSource?: boolean; sourceError?: string} {
  if (source.tag) return {source: source.tag, matchesSource: target ? contentTag(running) === contentTag(source.tag) : source.tag === running}
  return source.error ? {sourceError: source.error} : {}
}

/** The content tag of an image reference (what follows the last `:` before any `@digest`). */
function contentTag(image: string): string {
  const name = image.split('@')[0]
  return name.slice(name.lastIndexOf(':') + 1)
}

async function kindNodeImage(cluster: string): Promise<string | undefined> {
  try {
    const result = await run([imageTool(), 'ps', '--filter', `label=io.x-k8s.kind.cluster=${cluster}`, '--format', '{{.Image}}'], {allowFailure: true, quiet: true, timeoutMs: 5000})
    return result.exitCode === 0 ? result.stdout.split('\n').map((line) => line.trim()).find(Boolean) : undefined
  } catch {
    return undefined
  }
}

export function podStatus(pod: Pod, config: AppConfig, now = Date.now(), events: PodEvent[] = []): PodStatus {
  const statuses = pod.status.containerStatuses ?? []
  const created = creationTime(pod)
  const diagnosis = diagnosePod(pod, {port: config.port, healthPath: config.healthPath, events})
  return {
    name: pod.metadata.name,
    shortName: shortPodName(pod),
    phase: pod.status.phase ?? 'Unknown',
    status: podStatusWord(pod),
    ready: `${statuses.filter((status) => status.ready).length}/${pod.spec.containers.length}`,
    restarts: statuses.reduce((sum, status) => sum + status.restartCount, 0),
    ageSeconds: created ? Math.max(0, Math.round((now - created) / 1000)) : undefined,
    image: pod.spec.containers[0]?.image,
    problem: diagnosis ? {reason: diagnosis.reason, message: diagnosis.message, hint: diagnosis.hint} : undefined,
  }
}

/** Like kubectl's STATUS column: a waiting or terminated reason wins over the phase. */
function podStatusWord(pod: Pod): string {
  if (pod.metadata.deletionTimestamp) return 'Terminating'
  for (const status of pod.status.containerStatuses ?? []) {
    const reason = status.state?.waiting?.reason ?? status.state?.terminated?.reason
    if (reason) return reason
  }
  return pod.status.phase ?? 'Unknown'
}

/** 45s, 12m, 5h, 3d: as kubectl's AGE column. */
export function formatAge(seconds: number | undefined): string {
  if (seconds === undefined) return '?'
  if (seconds < 120) return `${seconds}s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 120) return `${minutes}m`
  const hours = Math.floor(minutes / 60)
  if (hours < 48) return `${hours}h`
  return `${Math.floor(hours / 24)}d`
}

/** Compact, aligned text for people. */
export function renderStatus(report: StatusReport): string[] {
  const lines: string[] = []
  const row = (label: string, value: string) => lines.push(`${chalk.bold(label.padEnd(11))} ${value}`)
  const {cluster} = report
  if (!cluster.exists) {
    row('Cluster', `${cluster.name} ${chalk.red('does not exist')}`)
  } else {
    const node = cluster.nodes[0]
    const nodeText = cluster.nodes.length === 0 ? chalk.red('no nodes') : cluster.nodes.every((entry) => entry.ready) ? chalk.green(cluster.nodes.length === 1 ? 'node ready' : `${cluster.nodes.length} nodes ready`) : chalk.red('node not ready')
    const version = node?.image ?? (node?.kubernetesVersion ? `Kubernetes ${node.kubernetesVersion}` : undefined)
    row('Cluster', [`${cluster.name} (context ${cluster.context})`, nodeText, version].filter(Boolean).join(' · '))
    const namespace = report.namespace
    row('Namespace', namespace.exists ? `${namespace.name}${namespace.createdByDevkube ? ' (created by devkube)' : ''}` : `${namespace.name} ${chalk.yellow('does not exist')}`)
    if (report.deployment) {
      const {name, desired, ready, updated} = report.deployment
      const readyText = `${ready}/${desired} ready`
      row('Deployment', `${name} · ${ready >= desired && desired > 0 ? chalk.green(readyText) : chalk.red(readyText)} · ${updated}/${desired} updated`)
    } else if (!report.services) {
      row('Deployment', chalk.yellow('none'))
    }
  }
  if (report.services) {
    const header = ['SERVICE', 'KIND', 'READY', 'SOURCE', 'URL']
    const cells = report.services.map((service) => [service.name, service.workload?.kind ?? '-', service.job ?? (service.workload ? `${service.ready}/${service.desired}` : 'not deployed'), sourceCell(service), service.url ?? ''])
    const widths = header.map((title, index) => Math.max(title.length, ...cells.map((cell) => cell[index].length)))
    const format = (cell: string[]) => cell.map((value, index) => value.padEnd(widths[index])).join('  ').trimEnd()
    row('Services', chalk.dim(format(header)))
    report.services.forEach((service, index) => {
      const text = format(cells[index])
      const healthy = service.job ? service.job !== 'Failed' : service.workload && service.ready >= service.desired
      lines.push(`${' '.repeat(12)}${healthy ? text : chalk.red(text)}`)
      for (const pod of service.pods.filter((entry) => entry.problem)) lines.push(`${' '.repeat(14)}${pod.shortName}: ${redact(pod.problem!.message)}`)
      if (service.matchesSource === false) lines.push(`${' '.repeat(14)}${chalk.yellow(`the source of ${service.name} has changed since (it would build ${service.source?.split(':').at(-1)}; \`devkube up\` redeploys)`)}`)
      else if (service.sourceError) lines.push(`${' '.repeat(14)}${chalk.dim(`cannot compare ${service.name} with its source: ${service.sourceError}`)}`)
    })
  }
  if (report.pods.length > 0) {
    const header = ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE']
    const cells = report.pods.map((pod) => [pod.shortName, pod.ready, pod.status, String(pod.restarts), formatAge(pod.ageSeconds)])
    const widths = header.map((title, index) => Math.max(title.length, ...cells.map((cell) => cell[index].length)))
    const format = (cell: string[]) => cell.map((value, index) => value.padEnd(widths[index])).join('  ').trimEnd()
    row('Pods', chalk.dim(format(header)))
    report.pods.forEach((pod, index) => {
      const text = format(cells[index])
      lines.push(`${' '.repeat(12)}${pod.problem ? chalk.red(text) : text}`)
      if (pod.problem) lines.push(`${' '.repeat(14)}${redact(pod.problem.message)}`)
    })
  } else if (cluster.exists && report.deployment) {
    row('Pods', chalk.yellow('none'))
  }
  if (report.image) {
    const {running, source, matchesSource, sourceError} = report.image
    let note = ''
    if (matchesSource === true) note = chalk.green('matches the source')
    else if (matchesSource === false) note = chalk.yellow(`the source has changed since (it would build ${source?.split(':').at(-1)}; \`devkube up\` redeploys)`)
    else if (sourceError) note = chalk.dim(`cannot compare with the source: ${sourceError}`)
    row('Image', [running, note].filter(Boolean).join(' · '))
  }
  const {forward} = report
  if (forward.running) {
    const answer = forward.answers ? chalk.green(`answers (HTTP ${forward.httpStatus})`) : chalk.red(`does not answer${forward.error ? ` (${forward.error})` : ''}`)
    row('Forward', `${forward.url} · pid ${forward.pid} · ${answer}`)
  } else if (cluster.exists && (report.deployment || report.services)) {
    row('Forward', chalk.dim('not forwarding (`devkube forward` forwards a local port)'))
  }
  lines.push('')
  if (report.healthy) {
    lines.push(`${chalk.green('✓')} ${report.app} is running and healthy${forward.running ? `: ${forward.url}` : ''}.`)
  } else {
    lines.push(`${chalk.red('✗')} ${redact(report.problems.join(' '))}`)
    if (report.hint) lines.push(`  ${redact(report.hint)}`)
  }
  return lines
}
