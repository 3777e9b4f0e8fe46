/** `devkube scale` and `devkube rollback`: change the running Deployment now, without a rebuild. */
import {findDeployment, requireCluster} from './app-pods.js'
import type {AppConfig, ConfigOverrides} from './config.js'
import {UserError} from './errors.js'
import {Kube, kubectlError, type Deployment} from './kube.js'
import {resolveProject} from './project.js'

export interface AppDeployment {
  config: AppConfig
  kube: Kube
  deployment: Deployment
}

/** The app's Deployment, or a sentence saying the app is not deployed. */
export async function findAppDeployment(overrides: ConfigOverrides): Promise<AppDeployment> {
  const {config, kube} = resolveProject(process.cwd(), overrides, {requireApp: false})
  await requireCluster(config)
  const deployment = await findDeployment(kube, config)
  if (!deployment) {
    throw new UserError(`${config.name} is not deployed in namespace ${config.namespace} of ${kube.context}.`, {hint: 'Run `devkube up` to deploy it.'})
  }
  return {config, kube, deployment}
}

async function waitForRollout(app: AppDeployment, timeoutSeconds: number): Promise<void> {
  const result = await app.kube.kubectl(['rollout', 'status', `deployment/${app.deployment.metadata.name}`, `--timeout=${timeoutSeconds}s`], {
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

export async function scaleApp(overrides: ConfigOverrides, replicas: number, options: {wait: boolean; timeoutSeconds: number}): Promise<ScaleResult> {
  const app = await findAppDeployment(overrides)
  const name = app.deployment.metadata.name
  const result = await app.kube.kubectl(['scale', `deployment/${name}`, `--replicas=${replicas}`], {namespace: app.config.namespace, allowFailure: true})
  if (result.exitCode !== 0) throw kubectlError(result, app.config.cluster)
  if (options.wait && replicas > 0) await waitForRollout(app, options.timeoutSeconds)
  return {deployment: name, namespace: app.config.namespace, replicas, previousReplicas: app.deployment.spec.replicas ?? 1, configuredReplicas: app.config.replicas}
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

export async function rollbackApp(overrides: ConfigOverrides, options: {timeoutSeconds: number}): Promise<RollbackResult> {
  const app = await findAppDeployment(overrides)
  const name = app.deployment.metadata.name
  const history = await app.kube.kubectl(['rollout', 'history', `deployment/${name}`], {namespace: app.config.namespace, allowFailure: true})
  if (history.exitCode !== 0) throw kubectlError(history, app.config.cluster)
  const revisions = parseRevisions(history.stdout)
  if (revisions.length < 2) {
    throw new UserError(`${name} has no earlier revision to roll back to (it has been deployed only once).`, {
      hint: 'A rollback needs an earlier `devkube up` with other code or settings.',
    })
  }
  const undo = await app.kube.kubectl(['rollout', 'undo', `deployment/${name}`], {namespace: app.config.namespace, allowFailure: true})
  if (undo.exitCode !== 0) throw kubectlError(undo, app.config.cluster)
  await waitForRollout(app, options.timeoutSeconds)
  const after = await app.kube.getJson<Deployment>(['deployment', name], app.config.namespace, true)
  return {
    deployment: name,
    namespace: app.config.namespace,
    fromRevision: revisions.at(-1)!,
    toRevision: revisions.at(-2)!,
    image: after?.spec.template.spec.containers[0]?.image,
  }
}
