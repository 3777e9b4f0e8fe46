/**
 * The loop of `up --watch`: file events → change sets (watch.ts) → per service, sync into the
 * running containers (sync.ts) or rebuild through the same idempotent steps as `up`. One line per
 * iteration says what changed, what was done and how long it took. A failed build or sync ends
 * nothing: the last good version keeps serving, and the next save tries again.
 */
import {performance} from 'node:perf_hooks'
import {chalk} from './output.js'
import {isUserError} from './errors.js'
import type {Kube, Pod} from './kube.js'
import {planSync, SyncError, syncIntoContainers, type SyncRules, type SyncTarget} from './sync.js'
import {ChangeBatcher, classifyChanges, ContextFilters, watchServices, type FileEvent, type ServiceChange, type WatchedService} from './watch.js'

export interface WatchedDeployable extends WatchedService {
  namespace: string
  /** Label selector of the service's pods. */
  selector: string
  /** The container that runs the built image (synced files go there). */
  container: string
  /** How files map into the container, or why this service always rebuilds. */
  sync: {rules: SyncRules} | {off: string}
  /** Sent to the container's PID 1 after each sync (gunicorn reloads its workers on HUP). */
  reloadSignal?: 'HUP'
}

export interface WatchLoopOptions {
  services: WatchedDeployable[]
  kube: Kube
  /** Builds, loads, applies and rolls out the service's source as it is now; returns a short detail (the tag). */
  rebuild(service: string, signal: AbortSignal): Promise<string>
  log(line: string): void
  signal: AbortSignal
  /** Quiet time after the last save before a change set is handled. */
  quietMs?: number
  /** Called once the watcher is watching (tests wait for it). */
  onReady?: () => void
  /** The app's pods as listed before watching began: the first sync goes straight into them. */
  pods?: Pod[]
}

/** What one iteration did for one service: the line printed, and whether it succeeded. */
export interface IterationReport {
  service: string
  action: 'synced' | 'rebuilt' | 'failed'
  line: string
  ms: number
}

export const DEFAULT_QUIET_MS = 100

/** Per service: why the next change must rebuild (a failed rebuild, a container that lost synced files). */
interface ServiceState {
  pendingRebuild?: string
  syncOff?: string
  syncHintShown?: boolean
  /** Container instances (pod/restarts) that hold the files synced since the last image. */
  syncedInstances?: Set<string>
  /** The running containers as last listed (cleared by a rebuild, which replaces the pods). */
  known?: Targets
}

export async function watchLoop(options: WatchLoopOptions): Promise<void> {
  const filters = new ContextFilters()
  const states = new Map(
    options.services.map((service) => {
      const pods = options.pods?.filter((pod) => matchesSelector(pod.metadata.labels ?? {}, service.selector))
      return [service.name, {syncOff: 'off' in service.sync ? service.sync.off : undefined, known: pods ? targetsOf(service, pods) : undefined} as ServiceState]
    }),
  )
  const batcher = new ChangeBatcher(options.quietMs ?? DEFAULT_QUIET_MS, async (events: FileEvent[]) => {
    for (const change of classifyChanges(events, options.services, filters)) {
      if (options.signal.aborted) return
      const service = options.services.find((candidate) => candidate.name === change.service)!
      const report = await handleChange(service, change, states.get(service.name)!, options)
      if (report && !options.signal.aborted) options.log(report.line)
    }
  })
  const watcher = watchServices(options.services, filters, (event) => batcher.add(event))
  try {
    await watcher.ready
    options.onReady?.()
    if (!options.signal.aborted) await new Promise((resolve) => options.signal.addEventListener('abort', resolve, {once: true}))
  } finally {
    batcher.stop()
    await watcher.close()
    // The step in flight sees the aborted signal and stops; wait for it so no child outlives the loop.
    await batcher.idle()
  }
}

function describeChange(change: ServiceChange): string {
  const files = [...change.changed, ...change.deleted.map((file) => `-${file}`)]
  if (change.rebuildReason && !files.includes(change.rebuildReason)) files.unshift(change.rebuildReason)
  const shown = files.slice(0, 3).join(', ')
  return files.length > 3 ? `${shown} and ${files.length - 3} more` : shown
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`

export async function handleChange(service: WatchedDeployable, change: ServiceChange, state: ServiceState, options: Pick<WatchLoopOptions, 'kube' | 'rebuild' | 'signal'>): Promise<IterationReport | undefined> {
  const started = performance.now()
  const what = describeChange(change)
  let rebuildWhy = change.rebuildReason ? `${change.rebuildReason} changed` : (state.pendingRebuild ?? state.syncOff)
  let notice = ''
  if (!rebuildWhy && 'rules' in service.sync) {
    const planned = planSync(change, service.sync.rules)
    if ('rebuild' in planned) {
      rebuildWhy = planned.rebuild
    } else {
      try {
        const synced = await syncIntoService(service, planned.plan, state, options)
        if (synced === undefined) return undefined
        const ms = performance.now() - started
        return {service: service.name, action: 'synced', ms, line: `${chalk.green('↻')} ${service.name}: ${what} changed → synced ${synced} [${seconds(ms)}]`}
      } catch (error) {
        if (options.signal.aborted) return undefined
        if (!(error instanceof SyncError) && !(error instanceof NeedsRebuild)) throw error
        rebuildWhy = error.message
        // Said once: a folder the container user cannot write (e.g. a new file at the top of a
        // root-owned WORKDIR) rebuilds each time, which is correct, only slower.
        if (error instanceof SyncError && !state.syncHintShown) {
          state.syncHintShown = true
          notice = `\n  ${chalk.dim(error.hint ?? '')}`
        }
      }
    }
  }
  try {
    const detail = await options.rebuild(service.name, options.signal)
    if (options.signal.aborted) return undefined
    state.pendingRebuild = undefined
    state.syncedInstances = undefined
    state.known = undefined
    const ms = performance.now() - started
    return {service: service.name, action: 'rebuilt', ms, line: `${chalk.green('↻')} ${service.name}: ${what} changed → rebuilt (${rebuildWhy ?? 'changed'}) ${detail} [${seconds(ms)}]${notice}`}
  } catch (error) {
    if (options.signal.aborted) return undefined
    if (!isUserError(error)) throw error
    state.pendingRebuild = state.pendingRebuild ?? rebuildWhy ?? 'the last rebuild failed'
    const ms = performance.now() - started
    // The sentence first, then its detail (a build's failing step, the hint) indented below it.
    const [sentence, ...detail] = error.message.split('\n')
    const below = [...detail, ...(error.hint ? error.hint.split('\n').slice(-8) : [])].filter((line) => line.trim())
    return {
      service: service.name,
      action: 'failed',
      ms,
      line: `${chalk.red('✗')} ${service.name}: ${what} changed → ${sentence} [${seconds(ms)}] The previous version keeps serving; save again to retry.${below.length > 0 ? `\n  ${chalk.dim(below.join('\n  '))}` : ''}${notice}`,
    }
  }
}

class NeedsRebuild extends Error {}

/** The service's running containers as one listing of its pods shows them. */
interface Targets {
  targets: SyncTarget[]
  /** pod/restartCount of each: a restart (or a new pod) gives a new one. */
  instances: Set<string>
}

async function runningTargets(service: WatchedDeployable, kube: Kube): Promise<Targets> {
  return targetsOf(service, await kube.list<Pod>('pods', service.namespace, service.selector, true))
}

export function targetsOf(service: Pick<WatchedDeployable, 'container'>, pods: Pod[]): Targets {
  const targets: SyncTarget[] = []
  const instances = new Set<string>()
  for (const pod of pods) {
    if (pod.metadata.deletionTimestamp || pod.status.phase !== 'Running') continue
    const status = pod.status.containerStatuses?.find((candidate) => candidate.name === service.container)
    if (!status?.state?.running) continue
    targets.push({pod: pod.metadata.name, container: service.container})
    instances.add(`${pod.metadata.name}/${status.restartCount}`)
  }
  return {targets, instances}
}

/** An equality-based label selector (`k=v,k2=v2`, what devkube's selectors are) against a pod's labels. */
function matchesSelector(labels: Record<string, string>, selector: string): boolean {
  return selector.split(',').every((term) => {
    const [key, value] = term.split('=')
    return labels[key.trim()] === value?.trim()
  })
}

const sameSet = (a: Set<string>, b: Set<string>) => a.size === b.size && [...a].every((item) => b.has(item))

/**
 * Syncs into every running container of the service; returns "N files" (or undefined when aborted).
 * The containers synced into last time are synced into at once, while the pods are listed again
 * beside it (one kubectl call's time instead of two in a row); the listing then confirms them, or
 * shows a pod or container that is new and lacks the earlier synced files (a rebuild), or one that
 * went away (synced again into the ones listed).
 */
async function syncIntoService(service: WatchedDeployable, plan: Parameters<typeof syncIntoContainers>[4], state: ServiceState, options: Pick<WatchLoopOptions, 'kube' | 'signal'>): Promise<string | undefined> {
  const sync = (targets: SyncTarget[]) => syncIntoContainers(options.kube, service.namespace, service.context, targets, plan, {signal: options.signal, reloadSignal: service.reloadSignal})
  const known = state.known
  let current: Targets
  if (known) {
    const [listed, synced] = await Promise.allSettled([runningTargets(service, options.kube), sync(known.targets)])
    if (listed.status === 'rejected') throw listed.reason
    current = listed.value
    checkInstances(current, state)
    if (!sameSet(current.instances, known.instances)) await sync(current.targets)
    else if (synced.status === 'rejected') throw synced.reason
  } else {
    current = await runningTargets(service, options.kube)
    checkInstances(current, state)
    await sync(current.targets)
  }
  if (options.signal.aborted) return undefined
  state.known = current
  state.syncedInstances = current.instances
  const count = plan.copy.length + plan.remove.length
  return `${count} file${count === 1 ? '' : 's'}${current.targets.length > 1 ? ` into ${current.targets.length} pods` : ''}`
}

function checkInstances(current: Targets, state: ServiceState): void {
  if (current.targets.length === 0) throw new NeedsRebuild('no running container to sync into')
  // A container that restarted (or a new pod) starts from the image and lacks what was synced before.
  if (state.syncedInstances && [...current.instances].some((instance) => !state.syncedInstances!.has(instance))) {
    throw new NeedsRebuild('a container restarted and lost the files synced earlier')
  }
}
