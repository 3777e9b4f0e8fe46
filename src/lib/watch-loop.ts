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
  /**
   * Registers for the app's pods as listed from then on (the log follower's poll): syncs go into the
   * containers listed last, without a listing of their own, and a container that restarted since a
   * sync (it starts from the image, without the synced files) gets its service rebuilt.
   */
  onPods?: (listener: (pods: Pod[]) => void) => void
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
export interface ServiceState {
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
  /** Services whose container restarted since a sync: rebuilt in the next batch, with or without a save. */
  const restarted = new Set<string>()
  const batcher = new ChangeBatcher(options.quietMs ?? DEFAULT_QUIET_MS, async (events: FileEvent[]) => {
    const changes = classifyChanges(events, options.services, filters)
    for (const name of restarted) if (!changes.some((change) => change.service === name)) changes.push({service: name, changed: [], deleted: []})
    restarted.clear()
    for (const change of changes) {
      if (options.signal.aborted) return
      const service = options.services.find((candidate) => candidate.name === change.service)!
      const report = await handleChange(service, change, states.get(service.name)!, options)
      if (report && !options.signal.aborted) options.log(report.line)
    }
  })
  options.onPods?.((pods) => {
    for (const service of options.services) {
      const state = states.get(service.name)!
      if (podsListed(service, state, pods)) {
        restarted.add(service.name)
        // Not a file: a key of its own, so the batch runs and sees `restarted`.
        batcher.add({path: `\0restarted:${service.name}`, kind: 'change'})
      }
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
  if (files.length === 0) return 'a container restarted'
  const shown = files.slice(0, 3).join(', ')
  return `${files.length > 3 ? `${shown} and ${files.length - 3} more` : shown} changed`
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
        return {service: service.name, action: 'synced', ms, line: `${chalk.green('↻')} ${service.name}: ${what} → synced ${synced} [${seconds(ms)}]`}
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
    return {service: service.name, action: 'rebuilt', ms, line: `${chalk.green('↻')} ${service.name}: ${what} → rebuilt (${rebuildWhy ?? 'changed'}) ${detail} [${seconds(ms)}]${notice}`}
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
      line: `${chalk.red('✗')} ${service.name}: ${what} → ${sentence} [${seconds(ms)}] The previous version keeps serving; save again to retry.${below.length > 0 ? `\n  ${chalk.dim(below.join('\n  '))}` : ''}${notice}`,
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
 * What a listing of the app's pods means for one service: its running containers become the ones
 * the next sync goes into; true when one of them is new since the last sync (a restart, a replaced
 * pod), which lacks the synced files, so the service needs a rebuild.
 */
export function podsListed(service: Pick<WatchedDeployable, 'container' | 'selector'>, state: ServiceState, pods: Pod[]): boolean {
  const current = targetsOf(service, pods.filter((pod) => matchesSelector(pod.metadata.labels ?? {}, service.selector)))
  state.known = current
  if (!state.syncedInstances || state.pendingRebuild) return false
  if (![...current.instances].some((instance) => !state.syncedInstances!.has(instance))) return false
  state.pendingRebuild = 'a container restarted and lost the files synced earlier'
  return true
}

/**
 * Syncs into every running container of the service; returns "N files" (or undefined when aborted).
 * The containers are the ones listed last (the log follower lists the pods every few seconds anyway),
 * so a sync is one `kubectl exec`; only when that fails (a pod gone) are the pods listed again.
 */
async function syncIntoService(service: WatchedDeployable, plan: Parameters<typeof syncIntoContainers>[4], state: ServiceState, options: Pick<WatchLoopOptions, 'kube' | 'signal'>): Promise<string | undefined> {
  const sync = (targets: SyncTarget[]) => syncIntoContainers(options.kube, service.namespace, service.context, targets, plan, {signal: options.signal, reloadSignal: service.reloadSignal})
  let current = state.known ?? (await runningTargets(service, options.kube))
  checkInstances(current, state)
  try {
    await sync(current.targets)
  } catch (error) {
    if (options.signal.aborted) return undefined
    const listed = await runningTargets(service, options.kube)
    if (sameSet(listed.instances, current.instances)) throw error
    current = listed
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
