/**
 * Forwarding as `up` and `forward` run it: in the foreground (until Ctrl-C) or as a detached
 * background process that `devkube down` stops. Either way the running forwarder is recorded in
 * .devkube/forward-<env>.json, so a re-run finds it and does not start a second one.
 */
import {openSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import type {AppConfig} from './config.js'
import {UserError} from './errors.js'
import {checkUrl, ensurePortFree, ForwardSupervisor, forwardLogFile, forwardRecordFile, forwardUrl, readForwardRecord, type ForwardEvent, type ForwardRecord, type ForwardTarget} from './forward.js'
import {Kube} from './kube.js'
import {ensureStateDir, processAlive, readJson, removeFile, writeJsonAtomic} from './project-state.js'
import {spawnDetached} from './runner.js'

export interface ForwardOutcome {
  url: string
  pid: number
  reused: boolean
  detached: boolean
  status?: number
}

const DETACHED_READY_TIMEOUT_MS = 40_000

function sameTarget(record: ForwardRecord, config: AppConfig, target: ForwardTarget): boolean {
  return record.cluster === config.cluster && record.namespace === target.namespace && record.service === target.service && record.localPort === target.localPort
}

/** A forwarder of this project that is already running for the same target, if any. */
export function runningForwarder(config: AppConfig, target: ForwardTarget): ForwardRecord | undefined {
  const record = readForwardRecord(config.projectDir, config.environment)
  return record && sameTarget(record, config, target) ? record : undefined
}

export interface ForegroundForward {
  outcome: ForwardOutcome
  /** Stops forwarding and removes this process's record. */
  stop(): Promise<void>
  /** Moves the forward to the current pods now (after a redeploy in `up --watch`). */
  reconnect(): void
}

/** Starts forwarding in this process; the caller keeps it running and stops it on Ctrl-C. */
export async function startForegroundForward(config: AppConfig, target: ForwardTarget, onEvent?: (event: ForwardEvent) => void): Promise<ForegroundForward> {
  await stopStaleForwarder(config, target)
  await ensurePortFree(target.localPort)
  const supervisor = new ForwardSupervisor(new Kube(config.cluster), target, onEvent)
  try {
    await supervisor.waitUntilReady()
    supervisor.startProbing()
    const url = forwardUrl(target.localPort)
    const {status} = await checkUrl(url)
    writeRecord(config, target, process.pid, false)
    return {outcome: {url, pid: process.pid, reused: false, detached: false, status}, stop: forwardInThisProcess(config, supervisor), reconnect: () => supervisor.reconnect()}
  } catch (error) {
    await supervisor.stop()
    throw error
  }
}

/**
 * What every forwarding process (foreground or background) does while it runs: another `devkube up`
 * that redeployed sends SIGUSR1 to move it to the new pods. Returns the way to stop it, which also
 * removes its record.
 */
export function forwardInThisProcess(config: AppConfig, supervisor: ForwardSupervisor): () => Promise<void> {
  const reconnect = () => supervisor.reconnect()
  process.on('SIGUSR1', reconnect)
  return async () => {
    process.off('SIGUSR1', reconnect)
    await supervisor.stop()
    clearRecord(config, process.pid)
  }
}

/** Says once that the forward was lost and once that it is back: the retries between (a pod still starting) are noise. */
export function reconnectNotices(log: (line: string) => void, url: string): (event: ForwardEvent) => void {
  let lost = false
  return (event) => {
    if (event.type === 'restarting' && !lost) {
      lost = true
      log(`Port forward lost (${event.reason}); reconnecting…`)
    }
    if (event.type === 'ready' && lost) {
      lost = false
      log(`Forwarding again: ${url}`)
    }
  }
}

/** Starts `devkube forward --background-child` detached, and waits until it reports that it forwards. */
export async function startDetachedForward(config: AppConfig, target: ForwardTarget, extraArgs: string[]): Promise<ForwardOutcome> {
  await stopStaleForwarder(config, target)
  await ensurePortFree(target.localPort)
  ensureStateDir(config.projectDir)
  const recordFile = forwardRecordFile(config.projectDir, config.environment)
  removeFile(recordFile)
  const logFile = forwardLogFile(config.projectDir, config.environment)
  const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/run.js')
  const pid = spawnDetached([process.execPath, bin, 'forward', '--background-child', ...extraArgs], {cwd: config.projectDir, logFd: openSync(logFile, 'a')})
  const deadline = Date.now() + DETACHED_READY_TIMEOUT_MS
  while (Date.now() < deadline) {
    const record = readJson<ForwardRecord>(recordFile)
    if (record?.pid === pid) {
      const url = forwardUrl(target.localPort)
      const {status} = await checkUrl(url)
      return {url, pid, reused: false, detached: true, status}
    }
    if (!processAlive(pid)) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  if (processAlive(pid)) process.kill(pid, 'SIGTERM')
  const log = readLogTail(logFile)
  throw new UserError('The background port forwarder did not start.', {hint: log ? `Its log (${path.relative(config.projectDir, logFile)}) ends with:\n${log}` : 'Run `devkube forward` in the foreground to see why.'})
}

/** The detached child's side: record itself once forwarding, and remove the record when stopped. */
export function writeRecord(config: AppConfig, target: ForwardTarget, pid: number, detached: boolean): void {
  const record: ForwardRecord = {...target, pid, url: forwardUrl(target.localPort), cluster: config.cluster, detached, since: new Date().toISOString()}
  writeJsonAtomic(forwardRecordFile(config.projectDir, config.environment), record)
}

function clearRecord(config: AppConfig, pid: number): void {
  const file = forwardRecordFile(config.projectDir, config.environment)
  if (readJson<ForwardRecord>(file)?.pid === pid) removeFile(file)
}

/** A forwarder of this project for another target (another port, namespace) is stopped first. */
async function stopStaleForwarder(config: AppConfig, target: ForwardTarget): Promise<void> {
  reapDeadForwarder(config)
  const record = readForwardRecord(config.projectDir, config.environment)
  if (!record || sameTarget(record, config, target) || record.pid === process.pid) return
  await stopForwarder(config)
}

/**
 * A background forwarder that was killed outright (SIGKILL, OOM) leaves its kubectl port-forward
 * running and holding the port. It led its own process group, so what is left of that group goes.
 */
function reapDeadForwarder(config: AppConfig): void {
  const file = forwardRecordFile(config.projectDir, config.environment)
  const record = readJson<ForwardRecord>(file)
  if (!record || processAlive(record.pid)) return
  if (record.detached) signalGroup(record.pid, 'SIGTERM')
  removeFile(file)
}

function signalGroup(leader: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-leader, signal)
  } catch {
    // The group is already gone.
  }
}

/** Stops the recorded forwarder (detached or another terminal's foreground one); returns its record. */
export async function stopForwarder(config: AppConfig): Promise<ForwardRecord | undefined> {
  reapDeadForwarder(config)
  const record = readForwardRecord(config.projectDir, config.environment)
  if (!record) {
    removeFile(forwardRecordFile(config.projectDir, config.environment))
    return undefined
  }
  const stop = (signal: NodeJS.Signals) => (record.detached ? signalGroup(record.pid, signal) : process.kill(record.pid, signal))
  stop('SIGTERM')
  const deadline = Date.now() + 5000
  while (processAlive(record.pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
  if (processAlive(record.pid)) stop('SIGKILL')
  removeFile(forwardRecordFile(config.projectDir, config.environment))
  return record
}

function readLogTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-10).join('\n')
  } catch {
    return ''
  }
}

/**
 * The flags that make the background forwarder resolve the same app, namespace and port. The target
 * is passed along too: the parent has just checked the context and found the Service, and the child
 * starting to forward sooner is what the user waits for.
 */
export function forwardArgs(config: AppConfig, target: ForwardTarget): string[] {
  return ['--env', config.environment, '--cluster', config.cluster, '--namespace', config.namespace, '--forward', String(config.forward), '--port', String(config.port), '--service', target.service, '--remote-port', String(target.remotePort)]
}
