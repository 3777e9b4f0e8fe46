/**
 * `up --watch` around the watch loop: what the first deploy changes (the dev command), and after it,
 * the services to watch, a log stream of the app in the same terminal, and the rebuild path (the
 * same idempotent steps as `up`, under the project lock) until Ctrl-C.
 */
import {readFileSync} from 'node:fs'
import type {AppConfig} from './config.js'
import type {Detection} from './detect.js'
import {devCommand} from './dev-command.js'
import {UserError} from './errors.js'
import {imageRepository} from './image-tag.js'
import {appSelector, type Deployment, type Kube} from './kube.js'
import {acquireLock} from './lock.js'
import {LogFollower} from './logs.js'
import {chalk} from './output.js'
import {runPlan} from './pipeline.js'
import {syncRules} from './sync.js'
import {newUpContext, redeployPlan, type UpOptions} from './up.js'
import {watchLoop, type WatchedDeployable} from './watch-loop.js'

export interface WatchSettings {
  /** The command pods run while watching; undefined keeps the image's. */
  devCommand?: string[]
  /** Why changes rebuild instead of syncing, when they do. */
  syncOff?: string
}

/**
 * Decided before the first deploy, because the dev command is part of the applied Deployment.
 * Sync is on for Node and Python apps with a reloading command, or wherever `sync: true` says so.
 */
export function watchSettings(config: AppConfig, detection: Detection | undefined): WatchSettings {
  if (config.sync === false) return {syncOff: 'sync: false in devkube.yaml'}
  const dev = devCommand(config, detection)
  if ('command' in dev) return {devCommand: dev.command}
  if (config.sync === true) return {}
  return {syncOff: dev.none}
}

export interface WatchModeInput {
  config: AppConfig
  kube: Kube
  settings: WatchSettings
  upOptions: UpOptions
  deploymentName: string
  imageTag: string
  signal: AbortSignal
  log: (line: string) => void
  /** Moves the port forward to the new pods after a rollout. */
  reconnectForward?: () => void
}

/** Watches, syncs or rebuilds, and streams the app's logs until the signal aborts. */
export async function runWatchMode(input: WatchModeInput): Promise<void> {
  const {config, kube} = input
  const service = await watchedService(input)
  const selector = appSelector(config.name)
  const logs = new LogFollower(kube, config, selector, {follow: true, previous: false, tail: 0}, {line: input.log, notice: (text) => input.log(chalk.dim(text))})
  const following = logs.run(await kube.list('pods', config.namespace, selector, true))
  input.log(
    `Watching ${config.build.context} for changes (${'rules' in service.sync ? 'live sync into the pods' : `rebuild on every change: ${service.sync.off}`}). Ctrl-C stops watching (the app keeps running).`,
  )
  try {
    await watchLoop({
      services: [service],
      kube,
      signal: input.signal,
      log: input.log,
      rebuild: async (_name, signal) => {
        // Another `devkube up` in this project may be running: the lock keeps the two apart.
        const lock = acquireLock(config.projectDir, 'up')
        try {
          const context = newUpContext(config, {...input.upOptions, rebuild: false})
          await runPlan(redeployPlan(), context, {mode: 'silent', signal})
          if (context.actions.rolledOut) input.reconnectForward?.()
          return context.actions.imageBuilt ? `to ${context.imageTag}` : `(${context.imageTag} was built before)`
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

async function watchedService(input: WatchModeInput): Promise<WatchedDeployable> {
  const {config, kube} = input
  const deployment = await kube.getJson<Deployment>(['deployment', input.deploymentName], config.namespace, true)
  const containers = deployment?.spec.template.spec.containers ?? []
  const container = containers.find((candidate) => candidate.image === input.imageTag || candidate.image.startsWith(`${imageRepository(config.name)}:`)) ?? containers[0]
  if (!container) throw new UserError(`The Deployment ${input.deploymentName} has no container to watch.`, {hint: 'Check the manifests, then run `devkube up --watch` again.'})
  let sync: WatchedDeployable['sync'] = {off: input.settings.syncOff ?? ''}
  if (!input.settings.syncOff) {
    const rules = syncRules(readFileSync(config.build.dockerfile, 'utf8'))
    sync = 'rules' in rules ? {rules: rules.rules} : {off: rules.unsyncable}
  }
  return {
    name: config.name,
    context: config.build.context,
    dockerfile: config.build.dockerfile,
    namespace: config.namespace,
    selector: appSelector(config.name),
    container: container.name,
    sync,
  }
}
