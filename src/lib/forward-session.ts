/**
 * Forwarding as `up` and `forward` run it: ONE process per app and environment supervises a
 * forward for every service with a port, in the foreground (until Ctrl-C) or detached in the
 * background (until `devkube down`). It is given what to forward (a `Deployed`), never the flags to
 * find it again. The running forwarder is recorded in .devkube/forward-<env>.json, so a re-run
 * finds it and does not start a second one.
 */
import {openSync, readFileSync} from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {UserError} from './errors.js'
import {checkUrl, ensurePortFree, ForwardSupervisor, forwardUrl, type ForwardEvent} from './forward.js'
import {Kube} from './kube.js'
import {processAlive, ProjectState, type ForwardedPort, type ForwardRecord} from './project-state.js'
import {spawnDetached} from './runner.js'
import type {Deployed} from './up.js'

export interface ForwardOutcome {
  url: string
  pid: number
  reused: boolean
  detached: boolean
  status?: number
  forwards: ForwardedPort[]
}

/** One service to forward: its Service, its pods and the local port chosen for it. */
export interface PlannedForward extends ForwardedPort {
  selector: string
  /** Whether it answers HTTP (a built service): only those get the GET check. */
  http: boolean
  /** The health endpoint the supervisor's probe may GET (undefined: it only connects). */
  probePath?: string
}

export interface ForwardPlan {
  cluster: string
  /** The deploy target forwarded from (`up --target … --forward P`), whose context is used instead of kind's. */
  target?: {name: string; context: string}
  namespace: string
  forwards: PlannedForward[]
}

const DETACHED_READY_TIMEOUT_MS = 40_000

export function stateOf(deployed: Pick<Deployed, 'projectDir' | 'environment'>): ProjectState {
  return new ProjectState(deployed.projectDir, deployed.environment)
}

/**
 * Gives every service with a Service a local port: the declared one; else the one the running
 * forwarder already uses for it; else the first free port from its container port up.
 */
export async function assignLocalPorts(deployed: Deployed): Promise<Deployed> {
  const running = stateOf(deployed).liveForwarder(deployed)
  const taken = new Set<number>()
  const services = []
  for (const service of deployed.services) {
    if (!service.service) {
      services.push(service)
      continue
    }
    let localPort = service.declaredLocalPort ?? running?.forwards.find((forward) => forward.service === service.name && forward.serviceName === service.service!.name)?.localPort
    if (localPort === undefined) {
      localPort = service.service.port < 1024 ? 8000 + service.service.port : service.service.port
      while (taken.has(localPort) || !(await portFree(localPort))) localPort++
    }
    taken.add(localPort)
    services.push({...service, localPort})
  }
  return {...deployed, services}
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer()
    server.once('error', () => resolve(false))
    server.listen({port, host: '127.0.0.1', exclusive: true}, () => server.close(() => resolve(true)))
  })
}

/** What to forward, from what was deployed (after `assignLocalPorts`). */
export function forwardPlanOf(deployed: Deployed): ForwardPlan {
  const forwards: PlannedForward[] = []
  for (const service of deployed.services) {
    if (!service.service || service.localPort === undefined) continue
    const {http, probePath} = service
    forwards.push({
      service: service.name,
      serviceName: service.service.name,
      localPort: service.localPort,
      remotePort: service.service.port,
      url: http ? forwardUrl(service.localPort) : `localhost:${service.localPort}`,
      selector: service.selector,
      http,
      probePath,
    })
  }
  return {cluster: deployed.cluster, target: deployed.target, namespace: deployed.namespace, forwards}
}

function sameForwards(record: ForwardRecord, plan: ForwardPlan): boolean {
  const key = (forward: Pick<ForwardedPort, 'serviceName' | 'localPort' | 'remotePort'>) => `${forward.serviceName}:${forward.localPort}:${forward.remotePort}`
  return record.forwards.map(key).sort().join() === plan.forwards.map(key).sort().join()
}

/** A forwarder of this project that already forwards exactly this plan, if any. */
export function runningForwarder(state: ProjectState, plan: ForwardPlan): ForwardRecord | undefined {
  const record = state.liveForwarder(plan)
  return record && sameForwards(record, plan) ? record : undefined
}

function outcomeOf(plan: ForwardPlan, pid: number, detached: boolean, reused: boolean, status?: number): ForwardOutcome {
  const forwards = plan.forwards.map(({service, serviceName, localPort, remotePort, url}) => ({service, serviceName, localPort, remotePort, url}))
  return {url: forwards[0]?.url ?? '', pid, reused, detached, status, forwards}
}

export function reusedOutcome(record: ForwardRecord): ForwardOutcome {
  return {url: record.url, pid: record.pid, reused: true, detached: record.detached, forwards: record.forwards}
}

export interface ForegroundForward {
  outcome: ForwardOutcome
  /** Stops forwarding and removes this process's record. */
  stop(): Promise<void>
  /** Moves the forwards to the current pods now (after a redeploy in `up --watch`). */
  reconnect(): void
}

/** Starts forwarding in this process; the caller keeps it running and stops it on Ctrl-C. */
export async function startForegroundForward(state: ProjectState, plan: ForwardPlan, onEvent?: (forward: PlannedForward, event: ForwardEvent) => void): Promise<ForegroundForward> {
  await stopStaleForwarder(state, plan)
  for (const forward of plan.forwards) await ensurePortFree(forward.localPort)
  const forwarding = await startSupervisors(plan, onEvent)
  try {
    const status = await checkHttp(plan)
    state.writeForwardRecord(recordOf(plan, process.pid, false))
    return {
      outcome: outcomeOf(plan, process.pid, false, false, status),
      stop: forwardInThisProcess(state, forwarding),
      reconnect: () => forwarding.forEach((supervisor) => supervisor.reconnect()),
    }
  } catch (error) {
    await Promise.all(forwarding.map((supervisor) => supervisor.stop()))
    throw error
  }
}

async function startSupervisors(plan: ForwardPlan, onEvent?: (forward: PlannedForward, event: ForwardEvent) => void): Promise<ForwardSupervisor[]> {
  const kube = new Kube(plan.cluster, plan.target)
  const supervisors = plan.forwards.map(
    (forward) =>
      new ForwardSupervisor(kube, {namespace: plan.namespace, service: forward.serviceName, localPort: forward.localPort, remotePort: forward.remotePort, selector: forward.selector, probePath: forward.probePath}, (event) => onEvent?.(forward, event)),
  )
  try {
    await Promise.all(supervisors.map((supervisor) => supervisor.waitUntilReady()))
  } catch (error) {
    await Promise.all(supervisors.map((supervisor) => supervisor.stop()))
    throw error
  }
  for (const supervisor of supervisors) supervisor.startProbing()
  return supervisors
}

/** GET through each HTTP forward: proof the URLs answer; the first one's status for the user. */
async function checkHttp(plan: ForwardPlan): Promise<number | undefined> {
  const statuses = await Promise.all(plan.forwards.filter((forward) => forward.http).map((forward) => checkUrl(forward.url)))
  return statuses[0]?.status
}

function recordOf(plan: ForwardPlan, pid: number, detached: boolean): ForwardRecord {
  const forwards = plan.forwards.map(({service, serviceName, localPort, remotePort, url}) => ({service, serviceName, localPort, remotePort, url}))
  return {pid, cluster: plan.cluster, namespace: plan.namespace, detached, since: new Date().toISOString(), forwards, url: forwards[0]?.url ?? ''}
}

/**
 * What every forwarding process (foreground or background) does while it runs: another `devkube up`
 * that redeployed sends SIGUSR1 to move it to the new pods. Returns the way to stop it, which also
 * removes its record.
 */
function forwardInThisProcess(state: ProjectState, supervisors: ForwardSupervisor[]): () => Promise<void> {
  const reconnect = () => {
    for (const supervisor of supervisors) supervisor.reconnect()
  }
  process.on('SIGUSR1', reconnect)
  return async () => {
    process.off('SIGUSR1', reconnect)
    await Promise.all(supervisors.map((supervisor) => supervisor.stop()))
    state.clearForwardRecord(process.pid)
  }
}

/** Says once that a forward was lost and once that it is back: the retries between (a pod still starting) are noise. */
export function reconnectNotices(log: (line: string) => void): (forward: PlannedForward, event: ForwardEvent) => void {
  const lost = new Set<string>()
  return (forward, event) => {
    if (event.type === 'restarting' && !lost.has(forward.service)) {
      lost.add(forward.service)
      log(`Port forward of ${forward.service} lost (${event.reason}); reconnecting…`)
    }
    if (event.type === 'ready' && lost.has(forward.service)) {
      lost.delete(forward.service)
      log(`Forwarding again: ${forward.url}`)
    }
  }
}

/**
 * Starts `devkube forward --background-child --deployed <file>` detached, and waits until it reports
 * that it forwards. The child reads what to forward from the Deployed record `up` has just written.
 */
export async function startDetachedForward(deployed: Deployed, plan: ForwardPlan): Promise<ForwardOutcome> {
  const state = stateOf(deployed)
  await stopStaleForwarder(state, plan)
  for (const forward of plan.forwards) await ensurePortFree(forward.localPort)
  state.ensure()
  state.writeDeployed(deployed)
  state.clearForwardRecord()
  const logFile = state.forwardLogFile
  const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/run.js')
  const pid = spawnDetached([process.execPath, bin, 'forward', '--background-child', '--deployed', state.deployedFile], {cwd: deployed.projectDir, logFd: openSync(logFile, 'a')})
  const deadline = Date.now() + DETACHED_READY_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (state.forwardRecord()?.pid === pid) return outcomeOf(plan, pid, true, false, await checkHttp(plan))
    if (!processAlive(pid)) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  if (processAlive(pid)) process.kill(pid, 'SIGTERM')
  const log = readLogTail(logFile)
  throw new UserError('The background port forwarder did not start.', {hint: log ? `Its log (${path.relative(deployed.projectDir, logFile)}) ends with:\n${log}` : 'Run `devkube forward` in the foreground to see why.'})
}

/** The detached child's side: forward what the Deployed file says until SIGTERM, recorded while it does. */
export async function runBackgroundForwarder(deployedFile: string): Promise<void> {
  const deployed = new ProjectState('', '').readDeployed<Deployed>(deployedFile)
  if (!deployed) throw new UserError(`Nothing to forward: ${deployedFile} is missing.`, {hint: 'Run `devkube up` again.'})
  const state = stateOf(deployed)
  const plan = forwardPlanOf(deployed)
  const log = (line: string) => console.log(`${new Date().toISOString()} ${line}`)
  const supervisors = await startSupervisors(plan, (forward, event) =>
    log(event.type === 'ready' ? `forwarding ${forward.url} → ${forward.serviceName}:${forward.remotePort} (attempt ${event.attempt})` : `${forward.service}: restarting in ${event.delayMs} ms: ${event.reason}`),
  )
  const stopForwarding = forwardInThisProcess(state, supervisors)
  const stop = async () => {
    await stopForwarding()
    process.exit(0)
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  state.writeForwardRecord(recordOf(plan, process.pid, true))
  await Promise.all(supervisors.map((supervisor) => supervisor.finished))
}

/** A forwarder of this project for another plan (other ports, namespace) is stopped first. */
async function stopStaleForwarder(state: ProjectState, plan: ForwardPlan): Promise<void> {
  await reapDeadForwarder(state)
  const record = state.forwardRecord()
  if (!record || !processAlive(record.pid) || record.pid === process.pid) return
  if (record.cluster === plan.cluster && record.namespace === plan.namespace && sameForwards(record, plan)) return
  await stopForwarder(state)
}

/**
 * A background forwarder that was killed outright (SIGKILL, OOM) leaves its kubectl port-forwards
 * running and holding the ports. It led its own process group, so what is left of that group goes.
 */
async function reapDeadForwarder(state: ProjectState): Promise<void> {
  const record = state.forwardRecord()
  if (!record || processAlive(record.pid)) return
  if (record.detached) {
    signalGroup(record.pid, 'SIGTERM')
    // Its kubectl children hold the local ports until they have exited: wait for them, or the port
    // check that follows would blame a port devkube is freeing itself.
    const deadline = Date.now() + 5000
    while (groupAlive(record.pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    if (groupAlive(record.pid)) signalGroup(record.pid, 'SIGKILL')
  }
  state.clearForwardRecord()
}

function groupAlive(leader: number): boolean {
  try {
    process.kill(-leader, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function signalGroup(leader: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-leader, signal)
  } catch {
    // The group is already gone.
  }
}

/** Stops the project's live forwarder in this cluster and namespace (detached or another terminal's); returns its record. */
export async function stopForwarder(state: ProjectState, place: {cluster: string; namespace: string}): Promise<ForwardRecord | undefined>
export async function stopForwarder(state: ProjectState): Promise<ForwardRecord | undefined>
export async function stopForwarder(state: ProjectState, place?: {cluster: string; namespace: string}): Promise<ForwardRecord | undefined> {
  await reapDeadForwarder(state)
  const record = place ? state.liveForwarder(place) : state.forwardRecord()
  if (!record) return undefined
  const stop = (signal: NodeJS.Signals) => (record.detached ? signalGroup(record.pid, signal) : process.kill(record.pid, signal))
  stop('SIGTERM')
  const deadline = Date.now() + 5000
  while (processAlive(record.pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
  if (processAlive(record.pid)) stop('SIGKILL')
  state.clearForwardRecord()
  return record
}

function readLogTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-10).join('\n')
  } catch {
    return ''
  }
}
