/**
 * Finding a deployed app from the day-2 commands (logs, status, down): its cluster must exist and its
 * context must really be that kind cluster; its pods are the ones its Deployment selects.
 */
import type {AppConfig} from './config.js'
import {verifyKindContext} from './context-guard.js'
import {UserError} from './errors.js'
import {clusterExists} from './kind.js'
import {appSelector, NAME_LABEL, type Deployment, type Kube, type Pod} from './kube.js'

export function noClusterError(config: AppConfig): UserError {
  return new UserError(`${config.name} is not running: the kind cluster "${config.cluster}" does not exist.`, {
    hint: '`devkube up` creates the cluster and starts the app.',
  })
}

/** Throws a plain sentence when the cluster is missing or its context is not that cluster. */
export async function requireCluster(config: AppConfig): Promise<void> {
  if (!(await clusterExists(config.cluster))) throw noClusterError(config)
  await verifyKindContext(config.cluster)
}

/** The app's Deployment: the one labelled with its name and managed by devkube. */
export async function findDeployment(kube: Kube, config: AppConfig): Promise<Deployment | undefined> {
  const deployments = await kube.list<Deployment>('deployments', config.namespace, appSelector(config.name), true)
  return deployments.find((deployment) => deployment.metadata.name === config.name) ?? deployments[0]
}

/**
 * The label selector of the app's pods: the Deployment's own selector when there is one (a user's
 * manifests may label pods differently), else the name label every devkube app carries.
 */
export function podSelector(config: AppConfig, deployment?: Deployment): string {
  const matchLabels = (deployment?.spec as {selector?: {matchLabels?: Record<string, string>}} | undefined)?.selector?.matchLabels
  if (matchLabels && Object.keys(matchLabels).length > 0) {
    return Object.entries(matchLabels)
      .map(([key, value]) => `${key}=${value}`)
      .join(',')
  }
  return `${NAME_LABEL}=${config.name}`
}

export async function listAppPods(kube: Kube, config: AppConfig, selector: string): Promise<Pod[]> {
  const pods = await kube.list<Pod>('pods', config.namespace, selector, true)
  return pods.sort((a, b) => creationTime(a) - creationTime(b) || a.metadata.name.localeCompare(b.metadata.name))
}

export function creationTime(pod: Pod): number {
  const created = pod.metadata.creationTimestamp
  return typeof created === 'string' ? Date.parse(created) || 0 : 0
}

export function notRunningError(config: AppConfig, kube: Kube): UserError {
  return new UserError(`${config.name} is not running: it has no pods in namespace ${config.namespace} of ${kube.context}.`, {
    hint: '`devkube up` starts it.',
  })
}

/**
 * A pod's name without what every pod of the app shares: `hello-7d9f8b6c4-x2k4z` becomes
 * `7d9f-x2k4z` (the first characters of its ReplicaSet's hash, which tell one rollout from the
 * next, and the pod's own suffix).
 */
export function shortPodName(pod: Pod): string {
  const name = pod.metadata.name
  const hash = pod.metadata.labels?.['pod-template-hash']
  if (hash) {
    const marker = `-${hash}-`
    const index = name.lastIndexOf(marker)
    if (index > 0) return `${hash.slice(0, 4)}-${name.slice(index + marker.length)}`
  }
  const parts = name.split('-')
  return parts.length >= 3 ? parts.slice(-2).join('-') : name
}
