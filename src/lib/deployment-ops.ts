/** `devkube scale` and `devkube rollback`: change a running service's workload now, without a rebuild. */
import {findWorkload, requireCluster, workloadRef, type Workload} from './app-pods.js'
import type {AppConfig, ConfigOverrides, ServiceConfig} from './config.js'
import {UserError} from './errors.js'
import {Kube, kubectlError, type Deployment} from './kube.js'
import {resolveProject, serviceNamed} from './project.js'

export interface AppDeployment {
  config: AppConfig
  service: ServiceConfig
  kube: Kube
  deployment: Deployment
  workload: Workload
}

/**
 * The workload of the service named (or of a one-service app's only service), or a sentence saying
 * which service to name or that it is not deployed.
 */
export async function findAppDeployment(overrides: ConfigOverrides, serviceName: string | undefined, command: string): Promise<AppDeployment> {
  const project = resolveProject(process.cwd(), overrides, {requireApp: false})
  const {config, kube} = project
  let service: ServiceConfig
  if (serviceName) service = serviceNamed(project, serviceName)
  else if (project.services.length === 1) service = project.services[0]
  else {
    throw new UserError(`${config.name} has several services: name the one to ${command}.`, {
      hint: `For example \`devkube ${command} ${project.services[0].name}${command === 'scale' ? ' 2' : ''}\`; its services: ${project.services.map((entry) => entry.name).join(', ')}.`,
    })
  }
  await requireCluster(config)
  const workload = await findWorkload(kube, config.namespace, service.name)
  if (!workload) {
    const what = project.services.length === 1 ? config.name : `The service ${service.name} of ${config.name}`
    throw new UserError(`${what} is not deployed in namespace ${config.namespace} of ${kube.context}.`, {hint: 'Run `devkube up` to deploy it.'})
  }
  if (workload.kind === 'Job') {
    throw new UserError(`The service ${service.name} is a job: it runs once to completion, so there is nothing to ${command === 'rollback' ? 'roll back' : command}.`, {
      hint: `Change it in devkube.yaml and run \`devkube up\`: devkube runs a changed job again.`,
    })
  }
  return {config, service, kube, deployment: workload.object, workload}
}

async function waitForRollout(app: AppDeployment, timeoutSeconds: number): Promise<void> {
  const result = await app.kube.kubectl(['rollout', 'status', workloadRef(app.workload), `--timeout=${timeoutSeconds}s`], {
    namespace: app.config.namespace,
    allowFailure: true,
  })
  if (result.exitCode !== 0) {
    throw new UserError(`${app.deployment.metadata.name} did not become ready within ${timeoutSeconds} s.`, {hint: 'Run `devkube status` to see why.'})
  }
}

export interface ScaleResult {
  deployment: string
  namespace: string
  replicas: number
  previousReplicas: number
  configuredReplicas: number
}

export async function scaleApp(overrides: ConfigOverrides, service: string | undefined, replicas: number, options: {wait: boolean; timeoutSeconds: number}): Promise<ScaleResult> {
  const app = await findAppDeployment(overrides, service, 'scale')
  const name = app.deployment.metadata.name
  const result = await app.kube.kubectl(['scale', workloadRef(app.workload), `--replicas=${replicas}`], {namespace: app.config.namespace, allowFailure: true})
  if (result.exitCode !== 0) throw kubectlError(result, app.config.cluster)
  if (options.wait && replicas > 0) await waitForRollout(app, options.timeoutSeconds)
  return {deployment: name, namespace: app.config.namespace, replicas, previousReplicas: app.deployment.spec.replicas ?? 1, configuredReplicas: app.service.replicas}
}

export interface RollbackResult {
  deployment: string
  namespace: string
  fromRevision: number
  toRevision: number
  image?: string
}

/** Revisions listed by `kubectl rollout history` (a header, then "REVISION  CHANGE-CAUSE" rows). */
export function parseRevisions(history: string): number[] {
  return history
    .split('\n')
    .map((line) => /^\s*(\d+)\s/.exec(`${line} `)?.[1])
    .filter((revision): revision is string => revision !== undefined)
    .map(Number)
    .sort((a, b) => a - b)
}

export async function rollbackApp(overrides: ConfigOverrides, service: string | undefined, options: {timeoutSeconds: number}): Promise<RollbackResult> {
  const app = await findAppDeployment(overrides, service, 'rollback')
  const name = app.deployment.metadata.name
  const history = await app.kube.kubectl(['rollout', 'history', workloadRef(app.workload)], {namespace: app.config.namespace, allowFailure: true})
  if (history.exitCode !== 0) throw kubectlError(history, app.config.cluster)
  const revisions = parseRevisions(history.stdout)
  if (revisions.length < 2) {
    throw new UserError(`${name} has no earlier revision to roll back to (it has been deployed only once).`, {
      hint: 'A rollback needs an earlier `devkube up` with other code or settings.',
    })
  }
  const undo = await app.kube.kubectl(['rollout', 'undo', workloadRef(app.workload)], {namespace: app.config.namespace, allowFailure: true})
  if (undo.exitCode !== 0) throw kubectlError(undo, app.config.cluster)
  await waitForRollout(app, options.timeoutSeconds)
  const after = await app.kube.getJson<Deployment>([app.workload.kind.toLowerCase(), name], app.config.namespace, true)
  return {
    deployment: name,
    namespace: app.config.namespace,
    fromRevision: revisions.at(-1)!,
    toRevision: revisions.at(-2)!,
    image: after?.spec.template.spec.containers[0]?.image,
  }
}
