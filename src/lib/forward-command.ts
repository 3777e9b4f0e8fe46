/**
 * `devkube forward`: forward the running app's services again, in the foreground or the background.
 * The background child `up --detach` starts is given the Deployed record to serve instead.
 */
import {findWorkload, podSelector, requireCluster, serviceSelector} from './app-pods.js'
import type {ConfigOverrides} from './config.js'
import {UserError} from './errors.js'
import {forwardProbePath} from './forward.js'
import {assignLocalPorts, forwardPlanOf, reconnectNotices, reusedOutcome, runBackgroundForwarder, runningForwarder, startDetachedForward, startForegroundForward, type ForwardOutcome} from './forward-session.js'
import type {Kube, KubeObject} from './kube.js'
import {resolveProject, type Project} from './project.js'
import type {Deployed, DeployedService} from './up.js'

/** A service's Kubernetes Service (the one labelled with its name that has a port). */
export async function findServiceObject(kube: Kube, namespace: string, service: string): Promise<{name: string; port: number} | undefined> {
  const services = await kube.list<KubeObject & {spec?: {ports?: Array<{port: number}>}}>('services', namespace, serviceSelector(service), true)
  const found = services.find((candidate) => candidate.metadata.name === service && candidate.spec?.ports?.length) ?? services.find((candidate) => candidate.spec?.ports?.length)
  return found ? {name: found.metadata.name, port: found.spec!.ports![0].port} : undefined
}

/** What is running of the project, found in the cluster (for `devkube forward` after an `up` elsewhere). */
export async function findDeployed(project: Project): Promise<Deployed> {
  const {config, kube} = project
  const services: DeployedService[] = []
  for (const service of project.services) {
    const [workload, serviceObject] = await Promise.all([findWorkload(kube, config.namespace, service.name), findServiceObject(kube, config.namespace, service.name)])
    if (!workload) continue
    services.push({
      name: service.name,
      workload: {kind: workload.kind, name: workload.name},
      service: serviceObject,
      selector: podSelector(service.name, workload.object),
      http: service.source.kind === 'build',
      probePath: forwardProbePath(service),
      // A one-service app's --forward / `forward:` (default: its port) is always its local port, as before services existed.
      declaredLocalPort: service.forward,
    })
  }
  return {
    app: config.name,
    projectDir: project.dir,
    cluster: config.cluster,
    context: kube.context,
    namespace: config.namespace,
    environment: config.environment,
    services,
    actions: {scaffolded: [], clusterCreated: false, imageBuilt: false, imageLoaded: false, imagePushed: false, applied: [], rolledOut: false, builtServices: [], rolledOutServices: []},
    versions: {},
  }
}

export interface ForwardRunOptions {
  detach: boolean
  /** The detached process `up --detach` started, with the Deployed record it is to serve. */
  backgroundChild?: {deployedFile: string}
  log: (line: string) => void
}

export async function runForward(overrides: ConfigOverrides, options: ForwardRunOptions): Promise<ForwardOutcome | undefined> {
  if (options.backgroundChild) {
    // Forward until `devkube down` sends SIGTERM; nothing is resolved again here.
    await runBackgroundForwarder(options.backgroundChild.deployedFile)
    return undefined
  }
  const project = resolveProject(process.cwd(), overrides, {requireApp: false})
  const {config, kube} = project
  await requireCluster(config)
  const deployed = await assignLocalPorts(await findDeployed(project))
  const plan = forwardPlanOf(deployed)
  if (plan.forwards.length === 0) {
    throw new UserError(`${config.name} has no Service in namespace ${config.namespace} of ${kube.context}, so there is nothing to forward.`, {
      hint: 'Run `devkube up` to deploy the app first.',
    })
  }
  const existing = runningForwarder(project.state, plan)
  if (existing) {
    options.log(`Already forwarding ${existing.forwards.map((forward) => forward.url).join(', ')} (pid ${existing.pid}).`)
    return reusedOutcome(existing)
  }
  if (options.detach) {
    const outcome = await startDetachedForward(deployed, plan)
    options.log(`Forwarding ${outcome.forwards.map((forward) => forward.url).join(', ')} in the background (pid ${outcome.pid}); \`devkube down\` stops it.`)
    return outcome
  }
  const {outcome, stop} = await startForegroundForward(project.state, plan, reconnectNotices(options.log))
  const lines = outcome.forwards.map((forward) => `Forwarding ${forward.url} → service/${forward.serviceName}:${forward.remotePort}.`)
  if (lines.length === 1) options.log(`${lines[0]} Press Ctrl-C to stop.`)
  else for (const line of [...lines, 'Press Ctrl-C to stop.']) options.log(line)
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve())
    process.once('SIGTERM', () => resolve())
  })
  await stop()
  options.log('Stopped forwarding.')
  return outcome
}
