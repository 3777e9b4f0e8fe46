/**
 * `up --watch` around the watch loop: what the first deploy changes (the dev command), and after it,
 * the services to watch, a log stream of the app in the same terminal, and the rebuild path (the
 * same idempotent steps as `up`, under the project lock) until Ctrl-C.
 */
import {readFileSync} from 'node:fs'
import type {ServiceConfig} from './config.js'
import type {Detection} from './detect.js'
import {devCommand} from './dev-command.js'
import {UserError} from './errors.js'
import {detectApp} from './detect.js'
import {MANAGED_BY, MANAGED_BY_LABEL, NAME_LABEL, type Deployment, type Pod} from './kube.js'
import {acquireLock} from './lock.js'
import {LogFollower} from './logs.js'
import {chalk} from './output.js'
import type {Project} from './project.js'
import {syncRules} from './sync.js'
import {deploy, isSingleApp, redeployPlan, type Deployed, type DeployedService, type DeployOptions} from './up.js'
import {watchLoop, type WatchedDeployable} from './watch-loop.js'

/** How one built service is watched. */
export interface ServiceWatch {
  /** The command its pods run while watching; undefined keeps the image's. */
  devCommand?: string[]
  /** Sent to the container's PID 1 after each sync (a server that reloads on a signal). */
  reloadSignal?: 'HUP'
  /** Why its changes rebuild instead of syncing, when they do. */
  syncOff?: string
}

export interface WatchSettings {
  /** Per built service, by name. */
  services: Record<string, ServiceWatch>
}

/**
 * Decided before the first deploy, because the dev commands are part of the applied Deployments.
 * Per built service: sync is on for Node and Python with a reloading command, or wherever
 * `sync: true` says so. A single app uses the project's detection; each service of a `services:`
 * app is detected in its own build context.
 */
export function watchSettings(project: Pick<Project, 'services'>, detection: Detection | undefined): WatchSettings {
  const single = isSingleApp(project)
  const services: Record<string, ServiceWatch> = {}
  for (const service of project.services) {
    if (service.source.kind !== 'build') continue
    services[service.name] = serviceWatch(service, single ? detection : detectContext(service))
  }
  return {services}
}

function detectContext(service: ServiceConfig): Detection | undefined {
  if (service.source.kind !== 'build') return undefined
  try {
    return detectApp(service.source.context, {lang: service.lang, target: service.source.target})
  } catch {
    return undefined
  }
}

function serviceWatch(service: ServiceConfig, detection: Detection | undefined): ServiceWatch {
  if (service.source.kind !== 'build') return {syncOff: 'it is not built from source'}
  if (service.sync === false) return {syncOff: 'sync: false in devkube.yaml'}
  const dev = devCommand({devCommand: service.devCommand, port: service.port, context: service.source.context}, detection)
  if ('command' in dev) return {devCommand: dev.command, reloadSignal: dev.reloadSignal}
  if (service.sync === true) return {}
  return {syncOff: dev.none}
}

/** The dev command of each service that has one: what the first deploy puts into the Deployments. */
export function devCommandsOf(settings: WatchSettings): Record<string, string[]> {
  return Object.fromEntries(Object.entries(settings.services).flatMap(([name, watch]) => (watch.devCommand ? [[name, watch.devCommand]] : [])))
}

export interface WatchModeInput {
  project: Project
  deployed: Deployed
  settings: WatchSettings
  deployOptions: DeployOptions
  signal: AbortSignal
  log: (line: string) => void
  /** Moves the port forward to the new pods after a rollout. */
  reconnectForward?: () => void
}

/** Watches, syncs or rebuilds, and streams the app's logs until the signal aborts. */
export async function runWatchMode(input: WatchModeInput): Promise<void> {
  const {project, deployed} = input
  const {config, kube} = project
  const built = deployed.services.filter((service) => service.image && input.settings.services[service.name])
  const services = await Promise.all(built.map((service) => watchedService(input, service)))
  // One service: its own selector; several: every built service's pods, each line prefixed service/pod.
  const names = built.map((service) => service.name)
  const selector = built.length === 1 ? built[0].selector : `${NAME_LABEL} in (${names.join(',')}),${MANAGED_BY_LABEL}=${MANAGED_BY}`
  const logs = new LogFollower(kube, config, selector, {follow: true, previous: false, tail: 0, services: names}, {line: input.log, notice: (text) => input.log(chalk.dim(text))})
  const pods = await kube.list<Pod>('pods', config.namespace, selector, true)
  const following = logs.run(pods)
  try {
    await watchLoop({
      services,
      kube,
      pods,
      onPods: (listener) => (logs.onPods = listener),
      signal: input.signal,
      log: input.log,
      // Said once the watcher is watching: a save made after this line is never missed.
      onReady() {
        for (const service of services) {
          input.log(`Watching ${service.context} for changes of ${service.name} (${'rules' in service.sync ? 'live sync into the pods' : `rebuild on every change: ${service.sync.off}`}).`)
        }
        input.log('Ctrl-C stops watching (the app keeps running).')
      },
      rebuild: async (name, signal) => {
        // Another `devkube up` in this project may be running: the lock keeps the two apart.
        const lock = acquireLock(project.dir, 'up')
        try {
          const {deployed: redeployed} = await deploy(project, {...input.deployOptions, rebuild: false}, {mode: 'silent', signal}, redeployPlan(project))
          if (redeployed.actions.rolledOut) input.reconnectForward?.()
          const image = redeployed.services.find((service) => service.name === name)?.image
          return redeployed.actions.builtServices.includes(name) ? `to ${image}` : `(${image} was built before)`
        } finally {
          lock.release()
        }
      },
    })
  } finally {
    await logs.stop()
    await following.catch(() => {})
  }
}

async function watchedService(input: WatchModeInput, deployed: DeployedService): Promise<WatchedDeployable> {
  const {project} = input
  const config = project.services.find((service) => service.name === deployed.name)
  if (!config || config.source.kind !== 'build') throw new Error(`unreachable: ${deployed.name} is not built`)
  const workload = await project.kube.getJson<Deployment>([deployed.workload.kind.toLowerCase(), deployed.workload.name], project.config.namespace, true)
  const containers = workload?.spec.template.spec.containers ?? []
  const container = containers.find((candidate) => candidate.image === deployed.image) ?? containers[0]
  if (!container) throw new UserError(`The ${deployed.workload.kind} ${deployed.workload.name} has no container to watch.`, {hint: 'Check the manifests, then run `devkube up --watch` again.'})
  const watch = input.settings.services[deployed.name]
  let sync: WatchedDeployable['sync'] = {off: watch.syncOff ?? ''}
  if (!watch.syncOff) {
    const rules = syncRules(readFileSync(config.source.dockerfile, 'utf8'), config.source.target)
    sync = 'rules' in rules ? {rules: rules.rules} : {off: rules.unsyncable}
  }
  return {
    name: deployed.name,
    context: config.source.context,
    dockerfile: config.source.dockerfile,
    namespace: project.config.namespace,
    selector: deployed.selector,
    container: container.name,
    sync,
    reloadSignal: watch.reloadSignal,
  }
}
