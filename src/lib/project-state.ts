/**
 * devkube's own files inside a project, and the one place that says what each of them means.
 * `.devkube/` ignores itself in git, so a project needs no .gitignore change to stay clean, and is
 * created only by writes: status, down and doctor may run in any folder and leave nothing there.
 *
 * | file                         | written by                   | means                                                      |
 * | ---------------------------- | ---------------------------- | ---------------------------------------------------------- |
 * | `lock`                       | up (lock.ts)                 | an `up` is running in this folder (pid alive)              |
 * | `forward-<env>.json`         | the forwarding process       | that process forwards these ports (see `liveForwarder`)    |
 * | `forward-<env>.log`          | the background forwarder     | its output, for when it fails to start                     |
 * | `context-hashes.json`        | up (image-tag.ts)            | a cache of file hashes by size+mtime; never a truth        |
 * | `last-up.json`               | up, after a successful run   | per environment: the --build-arg values (part of the tag)  |
 * | `deployed-<env>.json`        | up, after a successful run   | the `Deployed` of that run: what the forwarder serves      |
 */
import {existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'

export const STATE_DIR = '.devkube'

/** Creates .devkube/ (ignoring itself in git) for a write; reads never create it. */
export function ensureStateDir(projectDir: string): string {
  const directory = path.join(projectDir, STATE_DIR)
  if (!existsSync(directory)) {
    mkdirSync(directory, {recursive: true})
    writeFileSync(path.join(directory, '.gitignore'), '*\n')
  }
  return directory
}

/** Where a state file lives. Only a path: nothing is created. */
export function statePath(projectDir: string, name: string): string {
  return path.join(projectDir, STATE_DIR, name)
}

export function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T
  } catch {
    return undefined
  }
}

/** Written to a temporary file and renamed: Ctrl-C never leaves a half-written record. */
export function writeJsonAtomic(file: string, value: unknown): void {
  if (path.basename(path.dirname(file)) === STATE_DIR) ensureStateDir(path.dirname(path.dirname(file)))
  const temporary = `${file}.${process.pid}.tmp`
  writeFileSync(temporary, `${JSON.stringify(value, null, 2)}\n`)
  renameSync(temporary, file)
}

export function removeFile(file: string): void {
  rmSync(file, {force: true})
}

export function processAlive(pid: number | undefined): boolean {
  if (!pid) return false
  try {
    process.kill(pid, 0)
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
  // A killed process nobody has reaped yet (a zombie) still answers signal 0, but is gone.
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return true
  }
}

/** One forwarded port of a running forwarder. */
export interface ForwardedPort {
  /** The devkube service (devkube.yaml `services:` key, or the app name). */
  service: string
  /** The Kubernetes Service forwarded to. */
  serviceName: string
  localPort: number
  remotePort: number
  url: string
}

export interface ForwardRecord {
  pid: number
  cluster: string
  namespace: string
  detached: boolean
  since: string
  forwards: ForwardedPort[]
  /** The first forward's URL: what a one-service app prints and what older scripts read. */
  url: string
}

/** The records of one project and environment. */
/** Whose records a ProjectState keeps: an environment's on the kind cluster, or a deploy target's (its own). */
export function recordsKey(environment: string, target?: string): string {
  return target ? `target-${target}` : environment
}

interface ConfirmedContexts {
  contexts: Record<string, {target: string; confirmedAt: string}>
}

export class ProjectState {
  constructor(
    readonly projectDir: string,
    readonly environment: string,
  ) {}

  get lockFile(): string {
    return statePath(this.projectDir, 'lock')
  }

  get forwardRecordFile(): string {
    return statePath(this.projectDir, `forward-${this.environment}.json`)
  }

  get forwardLogFile(): string {
    return statePath(this.projectDir, `forward-${this.environment}.log`)
  }

  get hashCacheFile(): string {
    return statePath(this.projectDir, 'context-hashes.json')
  }

  get deployedFile(): string {
    return statePath(this.projectDir, `deployed-${this.environment}.json`)
  }

  private get lastUpFile(): string {
    return statePath(this.projectDir, 'last-up.json')
  }

  ensure(): void {
    ensureStateDir(this.projectDir)
  }

  /**
   * THE rule for "this forwarder is ours and alive", used by up, forward, status, down and doctor:
   * the environment's record names a live process, and it forwards into this cluster and namespace
   * (a record left by another cluster or namespace setting is someone else's business).
   */
  liveForwarder(place: {cluster: string; namespace: string}): ForwardRecord | undefined {
    const record = this.forwardRecord()
    if (!record || !processAlive(record.pid)) return undefined
    return record.cluster === place.cluster && record.namespace === place.namespace ? record : undefined
  }

  /** The record as written, alive or not (for reaping a dead forwarder's leftovers). */
  forwardRecord(): ForwardRecord | undefined {
    const record = readJson<ForwardRecord & {service?: string; localPort?: number; remotePort?: number}>(this.forwardRecordFile)
    if (!record) return undefined
    // A record written by an older devkube (one forward, flat fields).
    if (!record.forwards && record.service && record.localPort && record.remotePort) {
      record.forwards = [{service: record.service, serviceName: record.service, localPort: record.localPort, remotePort: record.remotePort, url: record.url}]
    }
    return record.forwards ? record : undefined
  }

  writeForwardRecord(record: ForwardRecord): void {
    writeJsonAtomic(this.forwardRecordFile, record)
  }

  /** Removes the record; with `pid`, only when it is that process's. */
  clearForwardRecord(pid?: number): void {
    if (pid !== undefined && this.forwardRecord()?.pid !== pid) return
    removeFile(this.forwardRecordFile)
  }

  /**
   * The --build-arg values of the last successful up, per environment: they are part of the image
   * tag, so `status` needs them to tell whether the running image matches the source.
   */
  recordBuildArgs(buildArgs: Record<string, string>): void {
    writeJsonAtomic(this.lastUpFile, {...readJson<Record<string, unknown>>(this.lastUpFile), [this.environment]: {buildArgs}})
  }

  /** Contexts of deploy targets the user confirmed deploying to (`up --target`), for the whole project. */
  private get targetsFile(): string {
    return statePath(this.projectDir, 'targets.json')
  }

  contextConfirmed(context: string): boolean {
    return Boolean(readJson<ConfirmedContexts>(this.targetsFile)?.contexts?.[context])
  }

  rememberConfirmedContext(context: string, target: string): void {
    const record = readJson<ConfirmedContexts>(this.targetsFile) ?? {contexts: {}}
    writeJsonAtomic(this.targetsFile, {contexts: {...record.contexts, [context]: {target, confirmedAt: new Date().toISOString()}}})
  }

  recordedBuildArgs(): Record<string, string> {
    const recorded = readJson<Record<string, {buildArgs?: Record<string, string>}>>(this.lastUpFile)
    return recorded?.[this.environment]?.buildArgs ?? {}
  }

  writeDeployed<T>(deployed: T): void {
    writeJsonAtomic(this.deployedFile, deployed)
  }

  readDeployed<T>(file = this.deployedFile): T | undefined {
    return readJson<T>(file)
  }
}
