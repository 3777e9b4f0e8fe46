/**
 * The port-forward supervisor. `kubectl port-forward` serves ONE pod and exits when that pod dies or
 * is replaced by a redeploy; the supervisor starts it again (with backoff) so the URL keeps answering.
 * A periodic connection through the local port makes a stale kubectl notice a dead pod promptly instead
 * of on the user's next request, and finds a kubectl that hangs instead of exiting: on "error creating
 * error stream … Timeout occurred" (kubectl #686, #1169) it keeps accepting connections and forwards nothing.
 */
import net from 'node:net'
import {UserError} from './errors.js'
import type {Kube, Pod} from './kube.js'
import {run, type BackgroundProcess} from './runner.js'

export interface ForwardTarget {
  namespace: string
  /** The Kubernetes Service to forward to. */
  service: string
  localPort: number
  remotePort: number
  /** Its pods' selector, when the caller knows it (saves a lookup on every reconnect). */
  selector?: string
  /** A path the probe may GET through the forward: the service's own health endpoint; undefined: connect only. */
  probePath?: string
}

export type ForwardEvent =
  | {type: 'ready'; attempt: number}
  | {type: 'restarting'; reason: string; delayMs: number}

const FIRST_BACKOFF_MS = 200
const MAX_BACKOFF_MS = 5000
const STABLE_AFTER_MS = 1000
const PROBE_INTERVAL_MS = 2000
/** How long a health-path probe waits for the first byte of an answer through the forward. */
const PROBE_ANSWER_MS = 3000
/** Health-path probes in a row that get no answer, after the forward has answered before, before kubectl is restarted. */
const SILENT_PROBES_TO_RESTART = 2
const READY_TIMEOUT_MS = 30_000
const READY_POLL_MS = 300
const READY_POLL_LIMIT_MS = 60_000

/**
 * The path the forwarder's probe may GET for a service: its health endpoint, when it has its own. The
 * default healthPath `/` is the app's front page: a visit the app may count and that need not be cheap.
 */
export function forwardProbePath(service: {healthPath: string; source: {kind: string}}): string | undefined {
  return service.source.kind === 'build' && service.healthPath !== '/' ? service.healthPath : undefined
}

export function forwardUrl(localPort: number): string {
  return `http://localhost:${localPort}`
}

/** A taken local port, named with the process holding it where the system can tell. */
export async function ensurePortFree(port: number): Promise<void> {
  const free = await new Promise<boolean>((resolve) => {
    const server = net.createServer()
    server.once('error', () => resolve(false))
    server.listen({port, host: '127.0.0.1', exclusive: true}, () => server.close(() => resolve(true)))
  })
  if (free) return
  throw portInUseError(port, await portOwner(port))
}

/** The one sentence for a taken local port, whether devkube found it first or kubectl did. */
export function portInUseError(port: number, owner?: string): UserError {
  return new UserError(`The local port ${port} is already in use${owner ? ` by ${owner}` : ''}.`, {
    hint: `Stop that process, or forward another port with \`--forward <port>\` (or \`forward:\` in devkube.yaml).`,
  })
}

async function portOwner(port: number): Promise<string | undefined> {
  try {
    const result = await run(['ss', '-H', '-ltnp', `sport = :${port}`], {allowFailure: true, quiet: true, timeoutMs: 3000})
    const match = /users:\(\("([^"]+)",pid=(\d+)/.exec(result.stdout)
    return match ? `${match[1]} (pid ${match[2]})` : undefined
  } catch {
    return undefined
  }
}

export interface ProbeTiming {
  intervalMs: number
  answerMs: number
}

export class ForwardSupervisor {
  private child?: BackgroundProcess
  private stopped = false
  private probeTimer?: NodeJS.Timeout
  private probing = false
  /** Set once the app has answered through the forward: only then does silence mean a hung kubectl, not an app that speaks first never. */
  private answeredOnce = false
  private silentProbes = 0
  private hungReason?: string
  private selector?: string
  /** The Service's port entry for remotePort, once read: where a pod's own port is found. */
  private servicePort?: ServicePort | null
  private readonly ready: Promise<void>
  private resolveReady!: () => void
  private rejectReady!: (error: Error) => void
  readonly finished: Promise<void>

  constructor(
    private readonly kube: Kube,
    private readonly target: ForwardTarget,
    private readonly onEvent: (event: ForwardEvent) => void = () => {},
    private readonly probeTiming: ProbeTiming = {intervalMs: PROBE_INTERVAL_MS, answerMs: PROBE_ANSWER_MS},
  ) {
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve
      this.rejectReady = reject
    })
    this.ready.catch(() => {})
    this.finished = this.loop()
  }

  /** Resolves once kubectl says it is forwarding; rejects with a user error when it cannot. */
  async waitUntilReady(): Promise<void> {
    const timeout = new Promise<never>((_, reject) => {
      setTimeout(() => reject(new UserError(`Port forwarding to ${this.target.service} did not start within ${READY_TIMEOUT_MS / 1000} s.`, {hint: 'Run `devkube status` to see the pods, or `devkube up --verbose` to see kubectl\'s output.'})), READY_TIMEOUT_MS).unref()
    })
    await Promise.race([this.ready, timeout])
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearInterval(this.probeTimer)
    await this.child?.stop()
    await this.finished.catch(() => {})
  }

  private async loop(): Promise<void> {
    let backoff = FIRST_BACKOFF_MS
    let attempt = 0
    let everReady = false
    while (!this.stopped) {
      attempt++
      const stderr: string[] = []
      let readyAt: number | undefined
      const forwarded = await this.chooseTarget()
      if (this.stopped) return
      const child = this.kube.startKubectl(['port-forward', forwarded.resource, `${this.target.localPort}:${forwarded.port}`], {
        namespace: this.target.namespace,
        onLine: (line, stream) => {
          if (stream === 'stderr') stderr.push(line)
          // Deferred: a line can arrive before startKubectl has returned the child it belongs to.
          if (stream === 'stderr' && HUNG_STREAM.test(line)) queueMicrotask(() => this.restartHung(child, 'kubectl port-forward cannot open a stream to the pod (Timeout occurred)'))
          if (stream === 'stdout' && line.startsWith('Forwarding from') && readyAt === undefined) {
            readyAt = Date.now()
            everReady = true
            this.onEvent({type: 'ready', attempt})
            this.resolveReady()
          }
        },
      })
      this.child = child
      const result = await child.exited
      if (this.stopped) return
      const reason = this.hungReason ?? stderr.filter(Boolean).at(-1) ?? `kubectl port-forward exited with code ${result.exitCode}`
      this.hungReason = undefined
      this.silentProbes = 0
      if (result.notFound) {
        this.rejectReady(new UserError('kubectl is not installed (it is not on PATH).', {hint: 'Install kubectl and run the command again.'}))
        return
      }
      if (!everReady && /unable to listen on any of the requested ports/.test(reason)) {
        this.stopped = true
        this.rejectReady(portInUseError(this.target.localPort, await portOwner(this.target.localPort)))
        return
      }
      // Forwarding that worked for a while lost its pod (a redeploy, a restart): reconnect promptly.
      // Only attempts that fail at once (a pod that dies as soon as it is reached) back off further.
      if (readyAt !== undefined && Date.now() - readyAt > STABLE_AFTER_MS) backoff = FIRST_BACKOFF_MS
      this.onEvent({type: 'restarting', reason, delayMs: backoff})
      // kubectl picks one pod when it starts: starting it again before a replacement is ready only
      // attaches it to a pod that is about to go, so wait for a ready one (the back-off still bounds
      // how often it restarts when pods are ready but forwarding keeps failing).
      const started = Date.now()
      await this.waitForReadyPod()
      const waited = Date.now() - started
      if (waited < backoff) await sleep(backoff - waited)
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS)
    }
  }

  /** Polls until the Service has a ready, not terminating pod, or READY_POLL_LIMIT_MS passes. */
  private async waitForReadyPod(): Promise<void> {
    const deadline = Date.now() + READY_POLL_LIMIT_MS
    await this.readService()
    if (!this.selector) return
    while (!this.stopped && Date.now() < deadline) {
      if (await this.readyPod()) return
      await sleep(READY_POLL_MS)
    }
  }

  /**
   * What kubectl forwards to: the newest ready pod that is not Terminating, on the Service's target
   * port. Given `service/X`, kubectl picks the pod itself and prefers the one ready the longest: right
   * after a redeploy that is the old pod, still Ready during its grace period, which then serves the
   * old version and dies under the forward. Without such a pod (or the Service's ports), `service/X`.
   */
  private async chooseTarget(): Promise<{resource: string; port: number | string}> {
    const fallback = {resource: `service/${this.target.service}`, port: this.target.remotePort}
    await this.readService()
    if (!this.selector || !this.servicePort) return fallback
    const pod = await this.readyPod()
    const port = pod && podPort(pod, this.servicePort)
    return pod && port !== undefined ? {resource: `pod/${pod.metadata.name}`, port} : fallback
  }

  private async readyPod(): Promise<Pod | undefined> {
    const pods = await this.kube.list<Pod>('pods', this.target.namespace, this.selector!, true).catch(() => [] as Pod[])
    const serving = pods.filter((pod) => !pod.metadata.deletionTimestamp && pod.status.conditions?.some((condition) => condition.type === 'Ready' && condition.status === 'True'))
    return serving.sort((a, b) => String(b.metadata.creationTimestamp ?? '').localeCompare(String(a.metadata.creationTimestamp ?? '')))[0]
  }

  /** The Service's selector and the port entry of remotePort, read once (a selector given by the caller saves the read only when it also knows no ports). */
  private async readService(): Promise<void> {
    if (this.servicePort !== undefined) return
    const service = await this.kube
      .getJson<{spec?: {selector?: Record<string, string>; ports?: ServicePort[]}}>(['service', this.target.service], this.target.namespace, true)
      .catch(() => undefined)
    if (!service) {
      this.selector ??= this.target.selector
      return
    }
    const selector = service.spec?.selector
    this.selector ??= this.target.selector ?? (selector ? Object.entries(selector).map(([key, value]) => `${key}=${value}`).join(',') : undefined)
    this.servicePort = service.spec?.ports?.find((entry) => entry.port === this.target.remotePort) ?? null
  }

  /**
   * Drops the current kubectl port-forward so a new one picks a pod now: after a redeploy the old
   * pod is going away, and waiting for kubectl to notice would serve the old version meanwhile.
   */
  reconnect(): void {
    if (this.stopped) return
    void this.child?.stop()
  }

  /** Ends a kubectl that stays up but forwards nothing; the loop starts a new one, reporting why. */
  private restartHung(child: BackgroundProcess, reason: string): void {
    if (this.stopped || child !== this.child || this.hungReason) return
    this.hungReason = reason
    void child.stop()
  }

  /**
   * Connects through the local port now and then: kubectl finds out about a dead pod on a connection
   * (and exits), not on the user's next request; and a kubectl that accepts but forwards nothing is
   * restarted.
   *
   * The probe must not be a visit to the app: an app that counts requests would count it, and `/` may
   * be an expensive page. So it sends a request only to the service's own health endpoint (polled by
   * the kubelet anyway); otherwise it opens a connection and sends nothing, which an HTTP server
   * answers with nothing and never hands to the app. A bare connection still does what matters: kubectl
   * opens its streams to the pod for it, so a dead pod ends kubectl ("lost connection to pod"), and in
   * the hang kubectl reports "error creating error stream … Timeout occurred" on stderr, which the loop
   * watches (also for the user's own connections). Silence alone cannot tell a hang from an idle HTTP
   * server; an answer from the health path can, and catches a hang kubectl does not report.
   */
  startProbing(): void {
    this.probeTimer = setInterval(() => void this.probe(), this.probeTiming.intervalMs)
    this.probeTimer.unref()
  }

  private async probe(): Promise<void> {
    if (this.probing || this.stopped || !this.child) return
    this.probing = true
    try {
      const child = this.child
      const {probePath} = this.target
      if (!probePath) {
        await connectThrough(this.target.localPort, this.probeTiming.answerMs)
        return
      }
      const answered = await answersThrough(this.target.localPort, probePath, this.probeTiming.answerMs)
      if (this.stopped || child !== this.child) return
      if (answered) {
        this.answeredOnce = true
        this.silentProbes = 0
      } else if (answered === false && this.answeredOnce && ++this.silentProbes >= SILENT_PROBES_TO_RESTART) {
        this.restartHung(child, `kubectl port-forward accepts connections on port ${this.target.localPort} but no longer reaches the pod`)
      }
    } finally {
      this.probing = false
    }
  }
}

/** What kubectl prints (klog, stderr) when it cannot open a stream to the pod and goes on forwarding nothing. */
const HUNG_STREAM = /error creating (error|data) stream for port .*Timeout occurred/

/**
 * A GET of the health path through the forward: true when any byte comes back, false when the
 * connection is accepted but stays silent or is closed without a byte, undefined when nothing listens
 * (kubectl is restarting, which its own exit already reports).
 */
function answersThrough(port: number, probePath: string, timeoutMs: number): Promise<boolean | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({port, host: '127.0.0.1'})
    let connected = false
    const done = (result: boolean | undefined) => {
      socket.destroy()
      resolve(result)
    }
    socket.setTimeout(timeoutMs, () => done(connected ? false : undefined))
    socket.on('connect', () => {
      connected = true
      socket.write(`GET ${probePath} HTTP/1.0\r\nHost: localhost:${port}\r\nUser-Agent: devkube-forward-probe\r\n\r\n`)
    })
    socket.on('data', () => done(true))
    socket.on('end', () => done(connected ? false : undefined))
    socket.on('error', () => done(connected ? false : undefined))
  })
}

/** Opens a connection through the forward and closes it without a byte sent (see startProbing). */
function connectThrough(port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({port, host: '127.0.0.1'})
    const done = () => {
      socket.destroy()
      resolve()
    }
    socket.setTimeout(timeoutMs, done)
    socket.on('connect', () => socket.end())
    socket.on('close', done)
    socket.on('error', done)
  })
}

interface ServicePort {
  port: number
  targetPort?: number | string
}

/** The pod's port behind a Service port: targetPort by number, or by the name of a container port (default: the port itself). */
function podPort(pod: Pod, servicePort: ServicePort): number | undefined {
  const target = servicePort.targetPort ?? servicePort.port
  if (typeof target === 'number' || /^\d+$/.test(target)) return Number(target)
  return pod.spec.containers.flatMap((container) => container.ports ?? []).find((port) => port.name === target)?.containerPort
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** GET / through the forward: proof the URL answers, with the status for the user. */
export async function checkUrl(url: string, timeoutMs = 10_000): Promise<{status: number}> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, {signal: AbortSignal.timeout(3000)})
      await response.arrayBuffer()
      return {status: response.status}
    } catch (error) {
      lastError = error
      await sleep(300)
    }
  }
  throw new UserError(`${url} does not answer (${(lastError as Error)?.cause ?? (lastError as Error)?.message ?? 'no response'}).`, {
    hint: 'The pods are ready but the forwarded port gives no HTTP answer: check `port` in devkube.yaml matches what the app listens on.',
  })
}
