/**
 * The port-forward supervisor. `kubectl port-forward` serves ONE pod and exits when that pod dies or
 * is replaced by a redeploy; the supervisor starts it again (with backoff) so the URL keeps answering,
 * and on a redeploy moves to the new pod before the old one goes (the local port is the supervisor's
 * own listener in front of kubectl's, see ForwardSupervisor). A periodic connection through kubectl's
 * port makes a stale kubectl notice a dead pod promptly instead of on the user's next request, and finds
 * a kubectl that hangs instead of exiting: on "error creating error stream … Timeout occurred" (kubectl
 * #686, #1169) it keeps accepting connections and forwards nothing.
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

/** One `kubectl port-forward` to one pod, on a local port kubectl picks. */
interface Upstream {
  child: BackgroundProcess
  /** The pod it was started for (undefined: kubectl picked one of the Service's). */
  pod?: string
  /** kubectl's own local port, once it says "Forwarding from". */
  port?: number
  readyAt?: number
  alive: boolean
  stderr: string[]
  /** True once forwarding, false when kubectl exited before. */
  ready: Promise<boolean>
  /** Which start of kubectl this is (1, 2, …), for the events. */
  attempt: number
}

/** How long a connection to the local port waits for a forward (kubectl restarting, a pod starting). */
const CONNECTION_WAIT_MS = 30_000

/**
 * The local port is devkube's own listener; each connection is passed to the kubectl port-forward that
 * serves now, which listens on a port of its own. So moving to a new pod (a redeploy) starts the new
 * kubectl first and switches when it forwards, then stops the old one: no moment without a listener,
 * and a connection made while kubectl restarts waits for it instead of being refused.
 */
export class ForwardSupervisor {
  private upstream?: Upstream
  private server?: net.Server
  private readonly sockets = new Set<net.Socket>()
  private waiters: Array<() => void> = []
  private stopped = false
  private movingTo?: Promise<void>
  /** The kubectl the loop is starting (after the serving one exited), until it forwards or fails. */
  private starting?: Upstream
  /** The kubectl a move to a new pod is starting, until it forwards or fails. */
  private moving?: Upstream
  private probeTimer?: NodeJS.Timeout
  private probing = false
  /** Set once the app has answered through the forward: only then does silence mean a hung kubectl, not an app that speaks first never. */
  private answeredOnce = false
  private silentProbes = 0
  private hungReason?: string
  private selector?: string
  /** The Service's entry for remotePort: a pod is forwarded on its targetPort, which may differ or be a name. */
  private servicePort?: ServicePort
  private serviceRead = false
  /** The port in each chosen pod that the Service sends remotePort to. */
  private readonly podPorts = new Map<string, number>()
  private attempt = 0
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
    this.wakeWaiters()
    for (const socket of this.sockets) socket.destroy()
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
    await Promise.all([this.upstream, this.starting, this.moving].map((upstream) => upstream?.child.stop()))
    await this.movingTo
    await this.finished.catch(() => {})
  }

  /** Listens on the local port; false (and the user's sentence) when it is taken. */
  private async listen(): Promise<boolean> {
    const server = net.createServer((socket) => this.accept(socket))
    const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      server.once('error', resolve)
      server.listen({port: this.target.localPort, host: '127.0.0.1', exclusive: true}, () => resolve(undefined))
    })
    if (error) {
      this.stopped = true
      this.rejectReady(error.code === 'EADDRINUSE' ? portInUseError(this.target.localPort, await portOwner(this.target.localPort)) : error)
      return false
    }
    server.on('error', () => {})
    this.server = server
    return true
  }

  /** Passes one connection to the kubectl that forwards now, waiting for one while there is none. */
  private async accept(socket: net.Socket): Promise<void> {
    this.sockets.add(socket)
    socket.on('close', () => this.sockets.delete(socket))
    socket.on('error', () => {})
    socket.pause()
    const deadline = Date.now() + CONNECTION_WAIT_MS
    while (!this.stopped && !socket.destroyed && !this.serving() && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now())
        this.waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
    const upstream = this.serving()
    if (!upstream || socket.destroyed) {
      socket.destroy()
      return
    }
    const remote = net.connect({port: upstream.port!, host: '127.0.0.1'})
    remote.on('error', () => socket.destroy())
    socket.on('close', () => remote.destroy())
    remote.on('close', () => socket.destroy())
    socket.pipe(remote)
    remote.pipe(socket)
    socket.resume()
  }

  private serving(): Upstream | undefined {
    return this.upstream?.alive && this.upstream.port !== undefined ? this.upstream : undefined
  }

  private wakeWaiters(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const wake of waiters) wake()
  }

  /** Starts `kubectl port-forward` to the pod (or the Service, which lets kubectl pick) on a port of its own. */
  private start(pod: string | undefined): Upstream {
    let settle!: (ready: boolean) => void
    const upstream = {pod, alive: true, stderr: [] as string[], attempt: ++this.attempt, ready: new Promise<boolean>((resolve) => (settle = resolve))} as Upstream
    // A Service is forwarded on its own port; a pod on the port behind it (`pod/X :80` would miss a targetPort 8080).
    const remote = (pod && this.podPorts.get(pod)) ?? this.target.remotePort
    upstream.child = this.kube.startKubectl(['port-forward', pod ? `pod/${pod}` : `service/${this.target.service}`, `:${remote}`], {
      namespace: this.target.namespace,
      onLine: (line, stream) => {
        if (stream === 'stderr') upstream.stderr.push(line)
        // Deferred: a line can arrive before startKubectl has returned the child it belongs to.
        if (stream === 'stderr' && HUNG_STREAM.test(line)) queueMicrotask(() => this.restartHung(upstream, 'kubectl port-forward cannot open a stream to the pod (Timeout occurred)'))
        const port = stream === 'stdout' ? /^Forwarding from 127\.0\.0\.1:(\d+)/.exec(line)?.[1] : undefined
        if (port && upstream.port === undefined) {
          upstream.port = Number(port)
          upstream.readyAt = Date.now()
          settle(true)
        }
      },
    })
    void upstream.child.exited.then(() => {
      upstream.alive = false
      settle(false)
    })
    return upstream
  }

  /** Makes `next` the one connections go to, and stops the one before it. */
  private use(next: Upstream): void {
    const previous = this.upstream
    this.upstream = next
    this.silentProbes = 0
    this.onEvent({type: 'ready', attempt: next.attempt})
    this.resolveReady()
    this.wakeWaiters()
    if (previous && previous !== next) void previous.child.stop()
  }

  private async loop(): Promise<void> {
    if (!(await this.listen())) return
    let backoff = FIRST_BACKOFF_MS
    // At the start, one look: with no ready pod yet, kubectl itself waits for one of the Service's.
    let pod = await this.readyPod(0)
    while (!this.stopped) {
      let current = this.serving()
      if (!current) {
        const started = this.start(pod)
        this.starting = started
        const forwarding = await started.ready
        this.starting = undefined
        if (this.stopped) return void (await started.child.stop())
        // A move to a new pod (reconnect) may have won meanwhile: then that one serves.
        if (forwarding && this.serving()) void started.child.stop()
        else if (forwarding) this.use(started)
        current = this.serving() ?? started
      }
      const result = await current.child.exited
      if (this.stopped) return
      // Moved to a new pod meanwhile (reconnect stopped this one): follow the one serving now.
      if (this.serving()) continue
      const reason = this.hungReason ?? current.stderr.filter(Boolean).at(-1) ?? `kubectl port-forward exited with code ${result.exitCode}`
      this.hungReason = undefined
      this.silentProbes = 0
      if (result.notFound) {
        this.stopped = true
        this.rejectReady(new UserError('kubectl is not installed (it is not on PATH).', {hint: 'Install kubectl and run the command again.'}))
        this.server?.close()
        return
      }
      // Forwarding that worked for a while lost its pod (a redeploy, a restart): reconnect promptly.
      // Only attempts that fail at once (a pod that dies as soon as it is reached) back off further.
      if (current.readyAt !== undefined && Date.now() - current.readyAt > STABLE_AFTER_MS) backoff = FIRST_BACKOFF_MS
      this.onEvent({type: 'restarting', reason, delayMs: backoff})
      // kubectl stays with the pod it starts with: start it for a ready pod that is not going away, or it
      // only attaches to a pod that is about to go (the back-off still bounds how often it restarts).
      const started = Date.now()
      pod = await this.readyPod()
      const waited = Date.now() - started
      if (waited < backoff) await sleep(backoff - waited)
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS)
    }
  }

  /**
   * The newest ready pod of the Service that is not terminating, polled until there is one (or
   * READY_POLL_LIMIT_MS passes); undefined when the Service's pods cannot be told (kubectl picks).
   */
  private async readyPod(limitMs = READY_POLL_LIMIT_MS): Promise<string | undefined> {
    const deadline = Date.now() + limitMs
    // The Service is read once: its selector (unless the caller knows it) and its port's targetPort.
    if (!this.serviceRead) {
      this.serviceRead = true
      const fromService = await this.serviceSelector()
      this.selector ??= this.target.selector ?? fromService
    }
    if (!this.selector) return undefined
    while (!this.stopped) {
      const pods = await this.kube.list<Pod>('pods', this.target.namespace, this.selector, true).catch(() => [])
      const ready = pods
        .filter((pod) => !pod.metadata.deletionTimestamp && pod.status.conditions?.some((condition) => condition.type === 'Ready' && condition.status === 'True'))
        .sort((a, b) => Date.parse(String(b.metadata.creationTimestamp ?? 0)) - Date.parse(String(a.metadata.creationTimestamp ?? 0)))
      if (ready.length > 0) {
        const port = this.servicePort && podPort(ready[0], this.servicePort)
        if (port !== undefined) this.podPorts.set(ready[0].metadata.name, port)
        return ready[0].metadata.name
      }
      if (Date.now() + READY_POLL_MS > deadline) break
      await sleep(READY_POLL_MS)
    }
    return undefined
  }

  private async serviceSelector(): Promise<string | undefined> {
    const service = await this.kube.getJson<{spec?: {selector?: Record<string, string>; ports?: ServicePort[]}}>(['service', this.target.service], this.target.namespace, true).catch(() => undefined)
    this.servicePort = service?.spec?.ports?.find((entry) => entry.port === this.target.remotePort)
    const selector = service?.spec?.selector
    return selector ? Object.entries(selector).map(([key, value]) => `${key}=${value}`).join(',') : undefined
  }

  /**
   * Moves the forward to the newest ready pod (after a redeploy): a new kubectl for it is started
   * while the old one still serves, connections switch to it once it forwards, then the old one
   * stops. Waiting for the old kubectl to notice its pod is gone would serve the old version meanwhile.
   */
  reconnect(): void {
    if (this.stopped) return
    this.movingTo ??= this.moveToNewestPod().finally(() => (this.movingTo = undefined))
  }

  private async moveToNewestPod(): Promise<void> {
    const pod = await this.readyPod()
    // Already there, or on the way: the loop restarting after the old pod went away picked it too.
    if (this.stopped || (pod !== undefined && (pod === this.serving()?.pod || pod === this.starting?.pod))) return
    const next = this.start(pod)
    this.moving = next
    const forwarding = await next.ready
    this.moving = undefined
    if (forwarding && !this.stopped && next.alive) this.use(next)
    else await next.child.stop()
  }

  /** Ends a kubectl that stays up but forwards nothing; the loop starts a new one, reporting why. */
  private restartHung(upstream: Upstream, reason: string): void {
    if (this.stopped || upstream !== this.upstream || this.hungReason) return
    this.hungReason = reason
    void upstream.child.stop()
  }

  /**
   * Connects through kubectl's port now and then: kubectl finds out about a dead pod on a connection
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
    const upstream = this.serving()
    if (this.probing || this.stopped || !upstream) return
    this.probing = true
    try {
      const {probePath} = this.target
      if (!probePath) {
        await connectThrough(upstream.port!, this.probeTiming.answerMs)
        return
      }
      const answered = await answersThrough(upstream.port!, probePath, this.probeTiming.answerMs)
      if (this.stopped || upstream !== this.upstream) return
      if (answered) {
        this.answeredOnce = true
        this.silentProbes = 0
      } else if (answered === false && this.answeredOnce && ++this.silentProbes >= SILENT_PROBES_TO_RESTART) {
        this.restartHung(upstream, `kubectl port-forward accepts connections on port ${this.target.localPort} but no longer reaches the pod`)
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
