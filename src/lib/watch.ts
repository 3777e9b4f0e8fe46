/**
 * The file side of `up --watch`: watch every service's build context, turn a burst of saves into one
 * change set, and decide per service whether the change can be synced into the running containers
 * or needs a rebuild. Which files count is decided by the same .dockerignore filter the image tag
 * uses (image-tag.ts), so what is synced is exactly what a rebuild would put in the image.
 */
import path from 'node:path'
import chokidar, {type FSWatcher} from 'chokidar'
import {contextFilter, type ContextFilter} from './image-tag.js'

/** A service as the watcher sees it: where its image is built from. */
export interface WatchedService {
  name: string
  /** Absolute path of the build context. */
  context: string
  /** Absolute path of the Dockerfile (it may lie outside the context). */
  dockerfile: string
}

export interface FileEvent {
  /** Absolute path. */
  path: string
  kind: 'change' | 'delete'
}

/** What one change set means for one service. */
export interface ServiceChange {
  service: string
  /** Context files written or added (relative to the context, "/" separators), sorted. */
  changed: string[]
  /** Context files or folders removed (relative), sorted. */
  deleted: string[]
  /** Set when sync cannot do: the first dependency file (or Dockerfile, .dockerignore) that changed. */
  rebuildReason?: string
}

/**
 * Files whose change needs a new image: what the Dockerfile installs dependencies from, and the
 * build definition itself. A synced package.json would not install anything.
 */
const DEPENDENCY_FILES = new Set([
  'package.json', 'package-lock.json', 'npm-shrinkwrap.json', 'yarn.lock', 'pnpm-lock.yaml', 'bun.lock', 'bun.lockb',
  'pyproject.toml', 'poetry.lock', 'uv.lock', 'Pipfile', 'Pipfile.lock', 'setup.py', 'setup.cfg',
  'go.mod', 'go.sum', 'Dockerfile', '.dockerignore',
])
const REQUIREMENTS = /^requirements.*\.txt$/

export function isDependencyFile(relative: string): boolean {
  const name = path.posix.basename(relative)
  return DEPENDENCY_FILES.has(name) || REQUIREMENTS.test(name) || name.endsWith('.Dockerfile')
}

/** Each service's context filter, re-read when its .dockerignore changes. */
export class ContextFilters {
  private readonly filters = new Map<string, ContextFilter>()

  get(service: WatchedService): ContextFilter {
    let filter = this.filters.get(service.name)
    if (!filter) {
      filter = contextFilter(service.context)
      this.filters.set(service.name, filter)
    }
    return filter
  }

  forget(service: WatchedService): void {
    this.filters.delete(service.name)
  }
}

function relativeInside(root: string, file: string): string | undefined {
  const relative = path.relative(root, file)
  if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) return undefined
  return relative.split(path.sep).join('/')
}

/**
 * The change set of a batch of file events, per service it touches. The latest event of a path wins
 * (saved then deleted is a deletion). Files the build context leaves out touch nothing.
 */
export function classifyChanges(events: FileEvent[], services: WatchedService[], filters: ContextFilters): ServiceChange[] {
  const latest = new Map<string, FileEvent>()
  for (const event of events) latest.set(event.path, event)
  const result: ServiceChange[] = []
  for (const service of services) {
    // A changed .dockerignore changes the filter itself: read it again before anything is judged.
    if ([...latest.keys()].some((file) => file === path.join(service.context, '.dockerignore'))) filters.forget(service)
    const filter = filters.get(service)
    const changed = new Set<string>()
    const deleted = new Set<string>()
    let rebuildReason: string | undefined
    for (const event of latest.values()) {
      if (path.resolve(event.path) === path.resolve(service.dockerfile)) {
        rebuildReason ??= path.basename(service.dockerfile)
        continue
      }
      const relative = relativeInside(service.context, event.path)
      if (relative === undefined) continue
      if (relative === '.dockerignore') {
        rebuildReason ??= relative
        continue
      }
      if (!filter.includes(relative)) continue
      if (isDependencyFile(relative)) rebuildReason ??= relative
      else if (event.kind === 'delete') deleted.add(relative)
      else changed.add(relative)
    }
    if (changed.size === 0 && deleted.size === 0 && !rebuildReason) continue
    result.push({service: service.name, changed: [...changed].sort(), deleted: [...deleted].sort(), rebuildReason})
  }
  return result
}

/**
 * Debounces file events into batches: a batch is handed on once no event came for `quietMs`, and
 * never while the previous batch is still being handled. Events arriving meanwhile wait for the
 * next batch, so a burst of saves gives one deploy of the last version, plus at most one more for
 * the saves made while that deploy ran.
 */
export class ChangeBatcher {
  private pending = new Map<string, FileEvent>()
  private timer: ReturnType<typeof setTimeout> | undefined
  private running: Promise<void> | undefined
  private stopped = false

  constructor(
    private readonly quietMs: number,
    private readonly handle: (events: FileEvent[]) => Promise<void>,
  ) {}

  add(event: FileEvent): void {
    if (this.stopped) return
    this.pending.set(event.path, event)
    this.arm()
  }

  /** Resolves when no batch is running or waiting (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running
  }

  stop(): void {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    this.pending.clear()
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.flush()
    }, this.quietMs)
  }

  private flush(): void {
    // The running batch re-arms the timer when it ends.
    if (this.running || this.pending.size === 0 || this.stopped) return
    const events = [...this.pending.values()]
    this.pending.clear()
    this.running = this.handle(events)
      .catch(() => {})
      .finally(() => {
        this.running = undefined
        if (this.pending.size > 0 && !this.stopped) this.arm()
      })
  }
}

/**
 * Watches the services' contexts and Dockerfiles. Folders the build context leaves out outright
 * (node_modules, .git, .venv when .dockerignore lists them) are not watched at all.
 */
export function watchServices(services: WatchedService[], filters: ContextFilters, onEvent: (event: FileEvent) => void): {ready: Promise<void>; close(): Promise<void>} {
  // Called for files and folders alike; a path is left out only when every service leaves it out.
  const ignored = (file: string) => {
    let insideSome = false
    for (const service of services) {
      if (path.resolve(file) === path.resolve(service.dockerfile)) return false
      const relative = relativeInside(service.context, file)
      if (relative === undefined) {
        if (path.resolve(file) === path.resolve(service.context)) return false
        continue
      }
      insideSome = true
      // A .dockerignore that the context itself leaves out still decides what is in it.
      if (relative === '.dockerignore' || filters.get(service).mayContain(relative)) return false
    }
    return insideSome
  }
  const roots = [...new Set(services.flatMap((service) => [service.context, service.dockerfile]))]
  const watcher: FSWatcher = chokidar.watch(roots, {ignoreInitial: true, ignored, persistent: true})
  watcher.on('add', (file) => onEvent({path: file, kind: 'change'}))
  watcher.on('change', (file) => onEvent({path: file, kind: 'change'}))
  watcher.on('unlink', (file) => onEvent({path: file, kind: 'delete'}))
  watcher.on('unlinkDir', (file) => onEvent({path: file, kind: 'delete'}))
  const ready = new Promise<void>((resolve) => watcher.once('ready', () => resolve()))
  return {ready, close: () => watcher.close()}
}
