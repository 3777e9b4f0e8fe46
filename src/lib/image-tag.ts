/**
 * Image tags from content: a hash of the build context (what `docker build` would send, so
 * .dockerignore is respected), the Dockerfile and the build args. Same inputs, same tag: a re-run
 * with nothing changed finds the image already built and loaded, and never needs `:latest`.
 */
import {createHash} from 'node:crypto'
import {existsSync, readFileSync, renameSync, writeFileSync} from 'node:fs'
import {lstat, readdir, readFile, readlink} from 'node:fs/promises'
import path from 'node:path'
import {createRequire} from 'node:module'
import type {Ignore} from '@balena/dockerignore'
import {UserError} from './errors.js'
import {CONFIG_FILE, type AppConfig, type ServiceConfig} from './config.js'
import {STATE_DIR, statePath} from './project-state.js'

// A CommonJS module whose typings declare an ES default export that does not exist at run time.
const dockerignore = createRequire(import.meta.url)('@balena/dockerignore') as () => Ignore

export const IMAGE_REPOSITORY_PREFIX = 'devkube.local'
const TAG_LENGTH = 12

interface CachedFile {
  size: number
  mtimeMs: number
  hash: string
}

export interface ContextHashInput {
  context: string
  dockerfile: string
  buildArgs: Record<string, string>
  /** Where per-file hashes are cached between runs (keyed by size and mtime). */
  cacheFile?: string
  /** False: read the cache but leave it as it is (status only looks; up owns the cache). */
  writeCache?: boolean
  /**
   * devkube's own files in the context (devkube.yaml, the manifests folder), relative to it: left out
   * of the hash whatever .dockerignore says, so changing `env:` or a manifest never rebuilds the image.
   */
  devkubeFiles?: string[]
}

export function imageRepository(appName: string): string {
  return `${IMAGE_REPOSITORY_PREFIX}/${appName}`
}

/**
 * The tag `up` builds the project's source as it is now, with devkube.yaml's build args plus any
 * given on the command line. `up` and `status` must agree on it to the byte.
 */
export async function sourceImageTag(config: AppConfig, extraBuildArgs: Record<string, string> = {}, options: {writeCache?: boolean} = {}): Promise<string> {
  const service = config.services.find((candidate) => candidate.name === config.name) ?? config.services[0]
  return serviceImageTag(config, service, extraBuildArgs, options)
}

/** The repository of a service's image: the app's name for a one-service app (as before services existed), else app-service. */
export function serviceImageRepository(appName: string, serviceName: string): string {
  return imageRepository(serviceName === appName ? appName : `${appName}-${serviceName}`)
}

/** The tag of a built service's source as it is now. */
export async function serviceImageTag(config: AppConfig, service: ServiceConfig, extraBuildArgs: Record<string, string> = {}, options: {writeCache?: boolean} = {}): Promise<string> {
  if (service.source.kind !== 'build') throw new Error(`The service ${service.name} is not built from source.`)
  const digest = await hashBuildInputs({
    context: service.source.context,
    dockerfile: service.source.dockerfile,
    buildArgs: {...service.source.args, ...extraBuildArgs, ...(service.source.target ? {'devkube:target': service.source.target} : {})},
    // One cache per service: two services' contexts may share files but not their hashes' keys.
    cacheFile: statePath(config.projectDir, service.name === config.name ? 'context-hashes.json' : `context-hashes-${service.name}.json`),
    writeCache: options.writeCache,
    devkubeFiles: devkubeFilesIn(service.source.context, [config.configPath ?? path.join(config.projectDir, CONFIG_FILE), config.manifests]),
  })
  return `${serviceImageRepository(config.name, service.name)}:${digest.slice(0, TAG_LENGTH)}`
}

export async function computeImageTag(appName: string, input: ContextHashInput): Promise<string> {
  const digest = await hashBuildInputs(input)
  return `${imageRepository(appName)}:${digest.slice(0, TAG_LENGTH)}`
}

export async function hashBuildInputs(input: ContextHashInput): Promise<string> {
  if (!existsSync(input.dockerfile)) {
    throw new UserError(`The Dockerfile ${input.dockerfile} does not exist.`, {
      hint: 'Run `devkube init` to scaffold one, or fix `build.dockerfile` in devkube.yaml.',
    })
  }
  const cache = loadCache(input.cacheFile)
  const nextCache: Record<string, CachedFile> = {}
  const hash = createHash('sha256')
  hash.update('devkube-image-v1\n')
  hash.update(`dockerfile:${path.relative(input.context, input.dockerfile)}\n`)
  hash.update(await readFile(input.dockerfile))
  for (const key of Object.keys(input.buildArgs).sort()) hash.update(`\narg:${key}=${input.buildArgs[key]}`)
  hash.update('\ncontext:\n')

  const files = await listContextFiles(input.context, contextFilter(input.context), new Set(input.devkubeFiles ?? []))
  for (const relative of files) {
    const absolute = path.join(input.context, relative)
    const stats = await lstat(absolute)
    let fileHash: string
    const cached = cache[relative]
    if (stats.isSymbolicLink()) {
      fileHash = `link:${await readlink(absolute)}`
    } else if (cached && cached.size === stats.size && cached.mtimeMs === stats.mtimeMs) {
      fileHash = cached.hash
    } else {
      fileHash = createHash('sha256').update(await readFile(absolute)).digest('hex')
    }
    if (!stats.isSymbolicLink()) nextCache[relative] = {size: stats.size, mtimeMs: stats.mtimeMs, hash: fileHash}
    // The executable bit changes what the image runs, so it is part of the content.
    hash.update(`${relative}\0${stats.mode & 0o111 ? 'x' : '-'}\0${fileHash}\n`)
  }
  if (input.writeCache !== false) saveCache(input.cacheFile, nextCache)
  return hash.digest('hex')
}

/** The given paths that lie inside the context, relative to it with "/" separators. */
function devkubeFilesIn(context: string, files: string[]): string[] {
  return files
    .map((file) => path.relative(context, file).split(path.sep).join('/'))
    .filter((relative) => relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative))
}

/**
 * Which files of a build context `docker build` sends: .dockerignore's rules as Docker applies them.
 * The image tag, the watcher of `up --watch` and live sync all ask this one filter, so what is synced
 * is exactly what a rebuild would put in the image.
 */
export interface ContextFilter {
  /** True when the file (path relative to the context, "/" separators) is part of the build context. */
  includes(relativeFile: string): boolean
  /** False when nothing below the directory can be part of the context, so it need not be walked or watched. */
  mayContain(relativeDir: string): boolean
}

export function contextFilter(context: string): ContextFilter {
  const ignore = dockerignore()
  const file = path.join(context, '.dockerignore')
  const lines = existsSync(file) ? readFileSync(file, 'utf8').split(/\r?\n/) : []
  ignore.add(lines)
  // Without a "!pattern" nothing below an ignored directory can be re-included.
  const reincludes = lines.some((line) => line.trim().startsWith('!'))
  const isStateDir = (relative: string) => relative === STATE_DIR || relative.startsWith(`${STATE_DIR}/`)
  return {
    // devkube's own state (the hash cache, the forwarder's log) changes every run; hashing it would
    // make every tag new. Scaffolded .dockerignore files exclude it from the image too.
    includes: (relative) => !isStateDir(relative) && !ignore.ignores(relative),
    mayContain(relative) {
      if (isStateDir(relative)) return false
      if (!(ignore.ignores(relative) && ignore.ignores(`${relative}/`))) return true
      // A directory is descended into even when ignored when a later "!pattern" may re-include files
      // below it; .git and node_modules are the common big ones, skipped when ignored outright.
      const name = path.posix.basename(relative)
      return reincludes && name !== '.git' && name !== 'node_modules'
    },
  }
}

async function listContextFiles(context: string, filter: ContextFilter, devkubeFiles: Set<string>): Promise<string[]> {
  const files: string[] = []
  async function walk(relativeDir: string): Promise<void> {
    const entries = await readdir(path.join(context, relativeDir), {withFileTypes: true})
    for (const entry of entries) {
      const relative = relativeDir ? `${relativeDir}/${entry.name}` : entry.name
      // devkube.yaml and the manifests: changing them re-applies, it never rebuilds.
      if (devkubeFiles.has(relative)) continue
      if (entry.isDirectory()) {
        if (filter.mayContain(relative)) await walk(relative)
      } else if (filter.includes(relative)) {
        files.push(relative)
      }
    }
  }
  await walk('')
  return files.sort()
}

function loadCache(cacheFile: string | undefined): Record<string, CachedFile> {
  if (!cacheFile || !existsSync(cacheFile)) return {}
  try {
    return JSON.parse(readFileSync(cacheFile, 'utf8')) as Record<string, CachedFile>
  } catch {
    return {}
  }
}

function saveCache(cacheFile: string | undefined, cache: Record<string, CachedFile>): void {
  // Only where the folder exists: `up` makes .devkube/, while `status` must leave no files behind.
  if (!cacheFile || !existsSync(path.dirname(cacheFile))) return
  try {
    const temporary = `${cacheFile}.${process.pid}.tmp`
    writeFileSync(temporary, JSON.stringify(cache))
    // rename is atomic: an interrupted run never leaves a half-written cache.
    renameSync(temporary, cacheFile)
  } catch {
    // The cache only saves time; failing to write it must not fail `up`.
  }
}
