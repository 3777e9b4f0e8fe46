/**
 * Live sync: changed files of a build context are copied into a service's running containers as a
 * tar stream over `kubectl exec … tar -x`, and deleted ones removed, as Skaffold and Tilt do. Where
 * a file lands in the container is read from the Dockerfile's WORKDIR and COPY/ADD lines of the
 * stage that is run (Skaffold infers sync the same way); a file no COPY line puts into the image
 * cannot be synced, and the caller rebuilds instead.
 */
import {lstat, readFile, readlink} from 'node:fs/promises'
import path from 'node:path'
import tarStream from 'tar-stream'
import {UserError} from './errors.js'
import {quoteCommand} from './shell-quote.js'
import type {Kube} from './kube.js'
import type {ServiceChange} from './watch.js'

/** One COPY/ADD from the build context in the stage that runs. */
export interface CopyRule {
  /** Source patterns relative to the context ("" is the whole context). */
  sources: string[]
  /** Absolute destination in the container. */
  destination: string
  /** The destination is a folder: it ends in "/" or takes several sources. */
  intoFolder: boolean
}

export interface SyncRules {
  copies: CopyRule[]
}

/** A reason sync cannot be used for this service at all (then every change rebuilds). */
export type SyncRulesResult = {rules: SyncRules} | {unsyncable: string}

interface Instruction {
  keyword: string
  rest: string
}

function instructions(dockerfile: string): Instruction[] {
  const logical: string[] = []
  let current = ''
  for (const raw of dockerfile.split(/\r?\n/)) {
    const line = raw.trim()
    if (current === '' && (line.startsWith('#') || line === '')) continue
    if (line.startsWith('#')) continue
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `
      continue
    }
    logical.push(current + line)
    current = ''
  }
  if (current) logical.push(current)
  return logical.map((line) => {
    const match = /^(\S+)\s*(.*)$/.exec(line)!
    return {keyword: match[1].toUpperCase(), rest: match[2]}
  })
}

function words(text: string): string[] {
  const trimmed = text.trim()
  if (trimmed.startsWith('[')) {
    try {
      return (JSON.parse(trimmed) as unknown[]).map(String)
    } catch {
      // Not valid JSON: Docker then treats it as the shell form too.
    }
  }
  return trimmed.split(/\s+/).filter(Boolean)
}

/**
 * The sync rules of the stage that runs: `target` when given, else the last one. A stage built FROM
 * an earlier stage inherits that stage's WORKDIR and copies.
 */
export function syncRules(dockerfile: string, target?: string): SyncRulesResult {
  interface Stage {
    name?: string
    workdir: string | undefined
    copies: CopyRule[]
    unknownWorkdir: boolean
  }
  const stages: Stage[] = []
  let stage: Stage | undefined
  for (const {keyword, rest} of instructions(dockerfile)) {
    if (keyword === 'FROM') {
      const parts = words(rest).filter((word) => !word.startsWith('--'))
      const parent = stages.find((candidate) => candidate.name !== undefined && candidate.name === parts[0]?.toLowerCase())
      stage = {
        name: parts[1]?.toLowerCase() === 'as' ? parts[2]?.toLowerCase() : undefined,
        workdir: parent?.workdir ?? '/',
        copies: [...(parent?.copies ?? [])],
        unknownWorkdir: parent?.unknownWorkdir ?? false,
      }
      stages.push(stage)
      continue
    }
    if (!stage) continue
    if (keyword === 'WORKDIR') {
      const directory = words(rest).join(' ')
      if (directory.includes('$')) stage.unknownWorkdir = true
      else stage.workdir = path.posix.resolve(stage.workdir ?? '/', directory)
      continue
    }
    if (keyword !== 'COPY' && keyword !== 'ADD') continue
    const all = words(rest)
    const flags = all.filter((word) => word.startsWith('--'))
    // From another stage or image: not from the build context, so not syncable from it.
    if (flags.some((flag) => flag.startsWith('--from'))) continue
    const operands = all.filter((word) => !word.startsWith('--'))
    if (operands.length < 2) continue
    const target = operands.at(-1)!
    // ADD fetches URLs and unpacks archives: what lands in the image is not the file itself.
    const sources = operands.slice(0, -1).filter((source) => !(keyword === 'ADD' && (/^[a-z]+:\/\//i.test(source) || /\.(tar|tgz|tar\.\w+)$/.test(source))))
    if (sources.length === 0) continue
    if (target.includes('$') || (!target.startsWith('/') && stage.unknownWorkdir)) continue
    stage.copies.push({
      sources: sources.map(normalizeSource),
      destination: path.posix.resolve(stage.workdir ?? '/', target),
      intoFolder: target.endsWith('/') || target === '.' || sources.length > 1 || sources.some(hasGlob),
    })
  }
  const chosen = target ? stages.find((candidate) => candidate.name === target.toLowerCase()) : stages.at(-1)
  if (!chosen) return {unsyncable: target ? `the Dockerfile has no stage "${target}"` : 'the Dockerfile has no FROM line'}
  if (chosen.copies.length === 0) return {unsyncable: 'the Dockerfile copies nothing from the build context into the image that runs'}
  return {rules: {copies: chosen.copies}}
}

function normalizeSource(source: string): string {
  const normalized = path.posix.normalize(source.replace(/^\.\//, '')).replace(/\/+$/, '')
  return normalized === '.' || normalized === '/' ? '' : normalized.replace(/^\//, '')
}

const hasGlob = (pattern: string) => /[*?[]/.test(pattern)

function globToRegExp(pattern: string): RegExp {
  let source = ''
  for (const char of pattern) {
    if (char === '*') source += '[^/]*'
    else if (char === '?') source += '[^/]'
    else source += char.replace(/[.+^${}()|\\\]]/g, '\\$&')
  }
  return new RegExp(`^${source}$`)
}

/** Where a context file ends up in the image, by the last COPY that copies it; undefined when none does. */
export function destinationOf(rules: SyncRules, relativeFile: string): string | undefined {
  let destination: string | undefined
  for (const copy of rules.copies) {
    for (const source of copy.sources) {
      const found = mapThrough(copy, source, relativeFile)
      if (found) destination = found
    }
  }
  return destination
}

function mapThrough(copy: CopyRule, source: string, file: string): string | undefined {
  if (source === '') return path.posix.join(copy.destination, file)
  if (hasGlob(source)) {
    const pattern = globToRegExp(source)
    // A pattern matching the file copies it into the folder; one matching a folder above it copies that folder's contents.
    if (pattern.test(file)) return path.posix.join(copy.destination, path.posix.basename(file))
    const parts = file.split('/')
    for (let depth = 1; depth < parts.length; depth++) {
      if (pattern.test(parts.slice(0, depth).join('/'))) return path.posix.join(copy.destination, ...parts.slice(depth))
    }
    return undefined
  }
  if (file === source) return copy.intoFolder ? path.posix.join(copy.destination, path.posix.basename(file)) : copy.destination
  if (file.startsWith(`${source}/`)) return path.posix.join(copy.destination, file.slice(source.length + 1))
  return undefined
}

export interface SyncPlan {
  /** Context files (relative) and their absolute destination in the container. */
  copy: Array<{file: string; destination: string}>
  /** Absolute container paths to remove. */
  remove: string[]
}

/** The sync plan of a change, or why it needs a rebuild instead. */
export function planSync(change: ServiceChange, rules: SyncRules): {plan: SyncPlan} | {rebuild: string} {
  if (change.rebuildReason) return {rebuild: `${change.rebuildReason} changed`}
  const copy: SyncPlan['copy'] = []
  for (const file of change.changed) {
    const destination = destinationOf(rules, file)
    if (!destination) return {rebuild: `no COPY line of the Dockerfile puts ${file} into the image`}
    copy.push({file, destination})
  }
  const remove: string[] = []
  for (const file of change.deleted) {
    const destination = destinationOf(rules, file)
    if (!destination) return {rebuild: `no COPY line of the Dockerfile put ${file} into the image`}
    remove.push(destination)
  }
  return {plan: {copy, remove}}
}

/** The tar stream of the plan's files, named by their destination below "/". */
export async function tarOf(context: string, plan: SyncPlan): Promise<Buffer> {
  const pack = tarStream.pack()
  const chunks: Buffer[] = []
  pack.on('data', (chunk: unknown) => chunks.push(chunk as Buffer))
  const ended = new Promise<void>((resolve, reject) => {
    pack.on('end', () => resolve())
    pack.on('error', reject)
  })
  const mtime = new Date()
  for (const {file, destination} of plan.copy) {
    const absolute = path.join(context, file)
    const stats = await lstat(absolute)
    const name = destination.replace(/^\/+/, '')
    if (stats.isSymbolicLink()) {
      pack.entry({name, type: 'symlink', linkname: await readlink(absolute), mtime})
    } else {
      // The executable bit is kept (as COPY does); the owner is the container's user, who extracts it.
      pack.entry({name, mode: stats.mode & 0o777, mtime}, await readFile(absolute))
    }
  }
  pack.finalize()
  await ended
  return Buffer.concat(chunks)
}

export interface SyncTarget {
  pod: string
  container: string
}

export class SyncError extends UserError {}

/** Containers whose tar has no --overwrite (busybox): asked once, then extracted without it. */
const busyboxTar = new Set<string>()

export interface SyncOptions {
  signal?: AbortSignal
  /** Sent to the container's PID 1 once the files are in place (a server that reloads on a signal). */
  reloadSignal?: 'HUP'
}

/**
 * Applies the plan to every target container: removals first, then one `tar -x` per container with
 * the files on stdin. With a reload signal, the same exec then signals PID 1 (one kubectl call, not
 * two). A container whose user cannot write there fails with a SyncError that says so.
 */
export async function syncIntoContainers(kube: Kube, namespace: string, context: string, targets: SyncTarget[], plan: SyncPlan, options: SyncOptions = {}): Promise<void> {
  const {signal, reloadSignal} = options
  const archive = plan.copy.length > 0 ? await tarOf(context, plan) : undefined
  // `sh -c '<command> && kill -HUP 1'`: the words are devkube's own and the paths quoted.
  const withReload = (command: string[]) => (reloadSignal ? ['sh', '-c', `${quoteCommand(command)} && kill -${reloadSignal} 1`] : command)
  await Promise.all(
    targets.map(async (target) => {
      const exec = ['exec', '-i', target.pod, '-c', target.container, '--']
      if (plan.remove.length > 0) {
        const rm = ['rm', '-rf', '--', ...plan.remove]
        const removed = await kube.kubectl([...exec, ...(archive ? rm : withReload(rm))], {namespace, allowFailure: true, signal, quiet: true})
        if (removed.exitCode !== 0) throw syncFailure(target, removed.stderr)
      }
      if (!archive) return
      // -m: the files get the time of the sync, so reloaders that compare mtimes see them as new.
      // --overwrite (GNU tar) writes existing files in place: a watcher on the file itself (node --watch
      // watches each file) keeps seeing changes, where unlink-and-create would leave it on a dead inode.
      const gnu = !busyboxTar.has(`${target.pod}/${target.container}`)
      let extracted = await kube.kubectl([...exec, ...withReload(['tar', ...(gnu ? ['--overwrite'] : []), '-xmf', '-', '-C', '/'])], {namespace, input: archive, allowFailure: true, signal, quiet: true})
      if (gnu && extracted.exitCode !== 0 && /unrecognized option|invalid option|unknown option/i.test(extracted.stderr)) {
        busyboxTar.add(`${target.pod}/${target.container}`)
        extracted = await kube.kubectl([...exec, ...withReload(['tar', '-xmf', '-', '-C', '/'])], {namespace, input: archive, allowFailure: true, signal, quiet: true})
      }
      if (extracted.exitCode !== 0) throw syncFailure(target, extracted.stderr)
    }),
  )
}

function syncFailure(target: SyncTarget, stderr: string): SyncError {
  const reason = stderr.split('\n').map((line) => line.trim()).find((line) => line && !/^command terminated with exit code/.test(line)) ?? 'unknown error'
  // GNU tar replaces a file by unlinking it first: in a folder the user cannot write that shows as "File exists".
  if (/Permission denied|Read-only file system|Cannot open: File exists/i.test(stderr)) {
    return new SyncError(`The container ${target.container} of ${target.pod} cannot write the synced files (${reason}).`, {
      hint: 'Let the container user own the app folder (e.g. `COPY --chown=10001:10001 . .`), or set `sync: false` to rebuild on every change.',
    })
  }
  if (/executable file not found|not found in \$PATH|no such file or directory: (tar|sh)|sh: .*tar: not found/i.test(stderr)) {
    return new SyncError(`The container ${target.container} of ${target.pod} has no tar (or no sh), which live sync needs.`, {
      hint: 'Use a base image with tar and sh, or set `sync: false` to rebuild on every change.',
    })
  }
  return new SyncError(`Syncing files into ${target.pod} failed: ${reason}`, {hint: 'devkube rebuilds the image instead.'})
}
