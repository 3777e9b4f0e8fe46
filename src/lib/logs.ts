/**
 * `devkube logs`: the logs of every pod of the app, each line prefixed with a short pod name.
 *
 * Following does not use `kubectl logs -l … -f`: that follows only the pods that existed when it
 * started, stops at 5 streams, and ends when a redeploy replaces the pods. Instead the pod list is
 * polled and each running container gets its own `kubectl logs -f`, so new pods (a redeploy, a
 * restart) are picked up from their first line and pods that go away are dropped.
 */
import type {AppConfig} from './config.js'
import type {Kube, Pod} from './kube.js'
import {chalk} from './output.js'
import type {BackgroundProcess} from './runner.js'
import {findWorkload, listAppPods, notRunningError, podSelector, requireCluster, shortPodName} from './app-pods.js'
import {MANAGED_BY, MANAGED_BY_LABEL, NAME_LABEL} from './kube.js'
import {UserError} from './errors.js'

/** Lines shown of each container's past output (kubectl's own default with a selector is 10). */
export const DEFAULT_TAIL = 20
export const POLL_INTERVAL_MS = 2000
/** A stream that fails without output (container just starting) is retried on later polls, this often. */
const MAX_STREAM_ATTEMPTS = 5

export interface LogsOptions {
  follow: boolean
  /** Lines of past output per container; -1 = all. Undefined: DEFAULT_TAIL, or all with --since. */
  tail?: number
  since?: string
  previous: boolean
  container?: string
  /** The services to show (default: all of the app's); with several, each line names its service. */
  services?: string[]
}

export interface LogsOutput {
  /** A log line, already prefixed: goes to stdout. */
  line(text: string): void
  /** What the follower is doing (pods picked up, dropped): goes to stderr. */
  notice(text: string): void
}

const PALETTE = [chalk.cyan, chalk.magenta, chalk.yellow, chalk.green, chalk.blue, chalk.cyanBright, chalk.magentaBright, chalk.yellowBright, chalk.greenBright, chalk.blueBright]

/** The prefix of each pod's lines: a short name, a stable colour per pod, padded so the lines align. */
export class Prefixer {
  private readonly colours = new Map<string, (text: string) => string>()
  private width = 0

  /** `showService`: an app with several services prefixes service/pod. */
  constructor(private readonly showService = false) {}

  label(pod: Pod, container: string, showContainer: boolean): string {
    const podLabel = this.showService ? `${pod.metadata.labels?.[NAME_LABEL] ?? '?'}/${shortPodName(pod)}` : shortPodName(pod)
    const label = showContainer ? `${podLabel}/${container}` : podLabel
    this.width = Math.max(this.width, label.length)
    let colour = this.colours.get(pod.metadata.name)
    if (!colour) {
      colour = PALETTE[this.colours.size % PALETTE.length]
      this.colours.set(pod.metadata.name, colour)
    }
    return label
  }

  format(pod: Pod, label: string, text: string): string {
    const colour = this.colours.get(pod.metadata.name) ?? ((value: string) => value)
    return `${colour(`${label.padEnd(this.width)} |`)} ${text}`
  }
}

/** The containers to show of a pod: --container, else all of them. */
export function containersOf(pod: Pod, container?: string): string[] {
  const names = pod.spec.containers.map((entry) => entry.name)
  return container ? names.filter((name) => name === container) : names
}

export function effectiveTail(options: Pick<LogsOptions, 'tail' | 'since'>): number {
  if (options.tail !== undefined) return options.tail
  return options.since ? -1 : DEFAULT_TAIL
}

function logArgs(pod: Pod, container: string, options: {tail: number; since?: string; previous?: boolean; follow?: boolean}): string[] {
  const args = ['logs', pod.metadata.name, '-c', container, `--tail=${options.tail}`]
  if (options.since) args.push(`--since=${options.since}`)
  if (options.previous) args.push('--previous')
  if (options.follow) args.push('-f')
  return args
}

/** kubectl's reason, without its "Error from server (BadRequest): " preamble. */
function kubectlReason(stderr: string): string {
  const line = stderr.trim().split('\n').filter(Boolean).at(-1) ?? ''
  return line.replace(/^Error from server \([^)]*\): /, '').replace(/^error: /, '')
}

/** Past logs of each pod, one pod after another (oldest pod first). */
export async function printLogs(kube: Kube, config: AppConfig, pods: Pod[], options: LogsOptions, output: LogsOutput): Promise<void> {
  const prefixer = new Prefixer((options.services?.length ?? 0) > 1)
  const tail = effectiveTail(options)
  const jobs = pods.flatMap((pod) => {
    const containers = containersOf(pod, options.container)
    return containers.map((container) => {
      const label = prefixer.label(pod, container, pod.spec.containers.length > 1 && !options.container)
      const result = kube.kubectl(logArgs(pod, container, {tail, since: options.since, previous: options.previous}), {namespace: config.namespace, allowFailure: true})
      return {pod, label, result}
    })
  })
  // Fetched at once, printed in order, so one pod's lines stay together.
  for (const job of jobs) {
    const result = await job.result
    if (result.exitCode !== 0) {
      output.notice(prefixer.format(job.pod, job.label, chalk.dim(`(${kubectlReason(result.stderr) || `kubectl logs exited with code ${result.exitCode}`})`)))
      continue
    }
    const text = result.stdout.replace(/\n$/, '')
    if (!text) continue
    for (const line of text.split('\n')) output.line(prefixer.format(job.pod, job.label, line))
  }
}

interface Stream {
  process: BackgroundProcess
  podName: string
  gotOutput: boolean
}

/**
 * Follows the app's pods until stop(): one `kubectl logs -f` per running container instance
 * (pod, container, restart count). An instance that appears after the start is shown from its
 * first line, so nothing it wrote between two polls is lost.
 */
export class LogFollower {
  private readonly prefixer: Prefixer
  private readonly streams = new Map<string, Stream>()
  /** Instances already streamed (or given up on): never streamed twice, so no line shows twice. */
  private readonly done = new Set<string>()
  private readonly attempts = new Map<string, number>()
  private readonly seenPods = new Map<string, Pod>()
  private stopped = false
  private wake?: () => void
  private waitingNoticeShown = false
  private pollFailureShown = false
  /** Told every listing of the pods (`up --watch` keeps its sync targets from them instead of listing again). */
  onPods?: (pods: Pod[]) => void

  constructor(
    private readonly kube: Kube,
    private readonly config: AppConfig,
    private readonly selector: string,
    private readonly options: LogsOptions,
    private readonly output: LogsOutput,
    private readonly pollIntervalMs = POLL_INTERVAL_MS,
  ) {
    this.prefixer = new Prefixer((options.services?.length ?? 0) > 1)
  }

  /** Runs until stop(); `initialPods` are the pods listed before following began. */
  async run(initialPods: Pod[]): Promise<void> {
    this.sync(initialPods, true)
    while (!this.stopped) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.pollIntervalMs)
        this.wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      if (this.stopped) break
      let pods: Pod[]
      try {
        pods = await listAppPods(this.kube, this.config, this.selector)
        this.pollFailureShown = false
        this.onPods?.(pods)
      } catch (error) {
        if (!this.pollFailureShown) this.output.notice(chalk.dim(`Cannot list the pods right now (${(error as Error).message}); still trying…`))
        this.pollFailureShown = true
        continue
      }
      if (!this.stopped) this.sync(pods, false)
    }
  }

  /** Ends every kubectl child and waits for them to exit: Ctrl-C leaves no process behind. */
  async stop(): Promise<void> {
    this.stopped = true
    this.wake?.()
    await Promise.allSettled([...this.streams.values()].map((stream) => stream.process.stop()))
    this.streams.clear()
  }

  /** Pod names currently streamed; for tests and notices. */
  get following(): string[] {
    return [...new Set([...this.streams.values()].map((stream) => stream.podName))].sort()
  }

  private sync(pods: Pod[], initial: boolean): void {
    const current = new Set(pods.map((pod) => pod.metadata.name))
    for (const [name, pod] of this.seenPods) {
      if (current.has(name)) continue
      this.seenPods.delete(name)
      this.output.notice(chalk.dim(`── ${shortPodName(pod)} is gone`))
      for (const [key, stream] of this.streams) {
        if (stream.podName === name) {
          this.streams.delete(key)
          this.done.add(key)
          void stream.process.stop()
        }
      }
    }
    if (pods.length === 0) {
      if (!this.waitingNoticeShown) this.output.notice(chalk.dim(`── waiting for pods of ${this.config.name}…`))
      this.waitingNoticeShown = true
      return
    }
    this.waitingNoticeShown = false
    for (const pod of pods) {
      // A Terminating pod (replaced by a rollout, deleted) is never attached to: its lines are the old
      // version's. One already followed is said to be going, and its stream runs to its last line.
      if (pod.metadata.deletionTimestamp) {
        const known = this.seenPods.get(pod.metadata.name)
        if (!known) continue
        if (!known.metadata.deletionTimestamp) this.output.notice(chalk.dim(`── ${shortPodName(pod)} is terminating`))
        this.seenPods.set(pod.metadata.name, pod)
        continue
      }
      const isNew = !this.seenPods.has(pod.metadata.name)
      this.seenPods.set(pod.metadata.name, pod)
      if (isNew && !initial) this.output.notice(chalk.dim(`── following ${shortPodName(pod)} (new pod)`))
      for (const container of containersOf(pod, this.options.container)) {
        const status = pod.status.containerStatuses?.find((entry) => entry.name === container)
        if (!status?.state?.running) continue
        const key = `${pod.metadata.uid ?? pod.metadata.name}/${container}/${status.restartCount}`
        if (this.streams.has(key) || this.done.has(key)) continue
        // The first look shows the recent lines; an instance that started later is shown whole.
        const tail = initial ? effectiveTail(this.options) : -1
        if (!initial && !isNew) this.output.notice(chalk.dim(`── ${shortPodName(pod)}: container ${container} restarted`))
        this.startStream(pod, container, key, tail)
      }
    }
  }

  private startStream(pod: Pod, container: string, key: string, tail: number): void {
    const label = this.prefixer.label(pod, container, pod.spec.containers.length > 1 && !this.options.container)
    const stderr: string[] = []
    const stream: Stream = {podName: pod.metadata.name, gotOutput: false, process: undefined as unknown as BackgroundProcess}
    stream.process = this.kube.startKubectl(logArgs(pod, container, {tail, since: this.options.since, follow: true}), {
      namespace: this.config.namespace,
      onLine: (line, source) => {
        if (this.stopped) return
        if (source === 'stderr') {
          stderr.push(line)
          return
        }
        stream.gotOutput = true
        this.output.line(this.prefixer.format(pod, label, line))
      },
    })
    this.streams.set(key, stream)
    void stream.process.exited.then((result) => {
      if (this.streams.get(key) !== stream) return
      this.streams.delete(key)
      if (this.stopped) return
      const attempts = (this.attempts.get(key) ?? 0) + 1
      this.attempts.set(key, attempts)
      // A stream that failed before it showed anything is tried again on a later poll.
      if (result.exitCode !== 0 && !stream.gotOutput && attempts < MAX_STREAM_ATTEMPTS) return
      this.done.add(key)
      if (result.exitCode !== 0 && !stream.gotOutput) {
        this.output.notice(chalk.dim(`── ${label}: ${kubectlReason(stderr.join('\n')) || `kubectl logs exited with code ${result.exitCode}`}`))
      }
    })
  }
}

/** `devkube logs` from resolved flags: checks, then prints or follows. */
export async function runLogs(config: AppConfig, kube: Kube, options: LogsOptions, output: LogsOutput): Promise<void> {
  await requireCluster(config)
  const services = options.services?.length ? options.services : config.services.map((service) => service.name)
  let selector: string
  if (services.length === 1) {
    // One service: its workload's own selector (a user's manifests may label pods differently).
    selector = podSelector(services[0], (await findWorkload(kube, config.namespace, services[0]))?.object)
  } else {
    selector = `${NAME_LABEL} in (${services.join(',')}),${MANAGED_BY_LABEL}=${MANAGED_BY}`
  }
  options = {...options, services}
  const pods = await listAppPods(kube, config, selector)
  if (pods.length === 0) throw notRunningError(config, kube)
  if (options.container && !pods.some((pod) => containersOf(pod, options.container).length > 0)) {
    const names = [...new Set(pods.flatMap((pod) => containersOf(pod)))]
    throw new UserError(`The pods of ${config.name} have no container "${options.container}".`, {hint: `Its containers: ${names.join(', ')}.`})
  }
  if (!options.follow) {
    await printLogs(kube, config, pods, options, output)
    return
  }
  const follower = new LogFollower(kube, config, selector, options, output)
  const stop = () => void follower.stop()
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
  for (const signal of signals) process.on(signal, stop)
  // `devkube logs -f | head` closes the pipe: stop following instead of dying on EPIPE.
  const onPipeError = (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') stop()
  }
  process.stdout.on('error', onPipeError)
  try {
    await follower.run(pods)
  } finally {
    await follower.stop()
    for (const signal of signals) process.off(signal, stop)
    process.stdout.off('error', onPipeError)
  }
}
