/**
 * Compose import: reads a project's compose file (the Compose Specification) and turns it into the `services:`
 * of devkube.yaml, with a warning for everything it cannot carry over. Pure apart from reading the project's
 * files: `devkube init` decides what to write and print.
 *
 * What it keeps secret: env_file files are named (they become a Secret, never a ConfigMap), and environment
 * values that look like secrets (by name, by the .env variables they were built from, or a password in a URL)
 * are moved to a git-ignored `<service>.secrets.env` the service names in `envFile`. devkube.yaml never holds one.
 * Known database images become backing services whose credentials devkube generates; dependents' settings that
 * pointed at them are mapped to the connection settings those services hand out.
 */
import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {Document, isMap, isSeq, LineCounter, parseDocument, visit} from 'yaml'
import {type BackingEngine, connectionEnv, credentialsSecretName} from './backing.js'
import {interpolate} from './compose-interpolation.js'
import {parseEnv} from './dotenv.js'
import {UserError} from './errors.js'
import {isDns1123Label, toDns1123Label} from './names.js'

/** The file names compose looks for, in its order of preference. */
export const COMPOSE_FILE_NAMES = ['compose.yaml', 'compose.yml', 'docker-compose.yaml', 'docker-compose.yml'] as const


/** An env value that is one of the connection settings a backing service hands its dependents. */
export interface ConnectionRef {
  from: string
  key: string
}

/** An exec readiness probe, from a compose healthcheck; unset fields take devkube's defaults. */
export interface ExecProbe {
  exec: string[]
  periodSeconds?: number
  timeoutSeconds?: number
  failureThreshold?: number
}

export interface ImportedService {
  backing?: BackingEngine
  version?: string
  image?: string
  build?: {context: string; dockerfile?: string; target?: string; args?: Record<string, string>}
  /** `job`: runs to completion once (compose `restart: "no"`); a Deployment otherwise. */
  kind?: 'job'
  port?: number
  forward?: number
  replicas?: number
  command?: string[]
  args?: string[]
  env?: Record<string, string | ConnectionRef>
  envFile?: string | string[]
  dependsOn?: string[]
  healthPath?: string
  probe?: ExecProbe
  volumes?: {name: string; path: string; size: string}[]
  resources?: {requests?: {cpu?: string; memory?: string}; limits?: {cpu?: string; memory?: string}}
}

export interface ImportWarning {
  /** The devkube service name; undefined for top-level keys. */
  service?: string
  /** The compose key, e.g. "network_mode" or "volumes". */
  key: string
  /** What is lost and what to do about it. */
  message: string
}

/** A git-ignored env file the import writes, holding the secret-looking values of one service's environment. */
export interface SecretEnvFile {
  path: string
  values: Record<string, string>
}

export interface ComposeImport {
  /** The compose file's name, relative to the project folder. */
  source: string
  /** The compose project name (top-level `name:`) when it is a valid app name. */
  name?: string
  services: Record<string, ImportedService>
  warnings: ImportWarning[]
  secretFiles: SecretEnvFile[]
}

/** The compose file compose itself would read in projectDir, or undefined. */
export function findComposeFile(projectDir: string): string | undefined {
  return COMPOSE_FILE_NAMES.find((name) => existsSync(path.join(projectDir, name)))
}

export const DEFAULT_VOLUME_SIZE = '1Gi'
export const SECRETS_FILE_SUFFIX = '.secrets.env'

/** Env names whose values are secrets whatever they hold. */
const SECRET_NAME = /PASSWORD|PASSWD|SECRET|TOKEN|KEY|CREDENTIAL|PRIVATE/i
const URL_WITH_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^/@:\s]*:[^/@\s]+@/i

/** What the import knows of an engine's official image, beyond what backing.ts hands dependents. */
interface ImageFacts {
  /** The image's own variables that set credentials, by what they set. */
  credentialEnv: Record<string, CredentialRole>
  /** The user the image creates when none is set. */
  defaultUser?: string
  /** Where the image keeps its data: a named volume there is the backing service's own PVC. */
  dataPath: string
}

type CredentialRole = 'username' | 'password' | 'database'

const MYSQL_CREDENTIALS = {MYSQL_USER: 'username', MYSQL_PASSWORD: 'password', MYSQL_ROOT_PASSWORD: 'password', MYSQL_DATABASE: 'database'} as const

const IMAGE_FACTS: Record<BackingEngine, ImageFacts> = {
  postgres: {credentialEnv: {POSTGRES_USER: 'username', POSTGRES_PASSWORD: 'password', POSTGRES_DB: 'database'}, defaultUser: 'postgres', dataPath: '/var/lib/postgresql/data'},
  mysql: {credentialEnv: MYSQL_CREDENTIALS, defaultUser: 'root', dataPath: '/var/lib/mysql'},
  mariadb: {
    credentialEnv: {...MYSQL_CREDENTIALS, MARIADB_USER: 'username', MARIADB_PASSWORD: 'password', MARIADB_ROOT_PASSWORD: 'password', MARIADB_DATABASE: 'database'},
    defaultUser: 'root',
    dataPath: '/var/lib/mysql',
  },
  redis: {credentialEnv: {}, dataPath: '/data'},
  mongodb: {credentialEnv: {MONGO_INITDB_ROOT_USERNAME: 'username', MONGO_INITDB_ROOT_PASSWORD: 'password', MONGO_INITDB_DATABASE: 'database'}, dataPath: '/data/db'},
  rabbitmq: {credentialEnv: {RABBITMQ_DEFAULT_USER: 'username', RABBITMQ_DEFAULT_PASS: 'password'}, defaultUser: 'guest', dataPath: '/var/lib/rabbitmq'},
}

/** The connection settings backing.ts hands a dependent of this engine, by the Secret key they read. */
function connectionNames(engine: BackingEngine): Map<string, string[]> {
  const byKey = new Map<string, string[]>()
  for (const variable of connectionEnv({service: 'x', engine})) {
    const key = (variable.valueFrom as {secretKeyRef?: {key?: string}} | undefined)?.secretKeyRef?.key ?? variable.name
    byKey.set(key, [...(byKey.get(key) ?? []), variable.name])
  }
  return byKey
}

/** Official image repositories (Docker Hub library names) that become backing services. */
const BACKING_IMAGES: Record<string, BackingEngine> = {
  postgres: 'postgres',
  mysql: 'mysql',
  mariadb: 'mariadb',
  redis: 'redis',
  mongo: 'mongodb',
  rabbitmq: 'rabbitmq',
}

/** Keys that need no counterpart: they name or tune what devkube does its own way. */
const NOTHING_TO_CARRY = new Set(['container_name', 'links', 'pull_policy', 'stdin_open', 'tty', 'hostname', 'labels', 'logging', 'stop_signal', 'stop_grace_period', 'init'])

/** Keys that cannot be carried over, and why. */
const NOT_CARRIED: Record<string, string> = {
  network_mode: 'pods get their own network; services reach each other by service name',
  privileged: 'devkube does not run privileged pods; the service gets the default security context',
  devices: 'pods on kind cannot reach host devices',
  cap_add: 'Linux capabilities are not added; the pod gets the default set',
  cap_drop: 'the dropped capabilities are not carried over',
  security_opt: 'security options are not carried over',
  extra_hosts: 'extra /etc/hosts entries are not carried over; use service names, or a Service of type ExternalName',
  dns: 'custom DNS servers are not carried over; the cluster DNS is used',
  dns_search: 'custom DNS search domains are not carried over',
  secrets: 'compose secrets are not carried over; put the values in an env file and name it in envFile',
  configs: 'compose configs are not carried over; bake the file into the image or add a ConfigMap to k8s/',
  working_dir: 'the working directory is not carried over; set WORKDIR in the Dockerfile',
  user: 'the user is not carried over; set USER in the Dockerfile',
  tmpfs: 'tmpfs mounts are not carried over',
  ulimits: 'ulimits are not carried over',
  sysctls: 'sysctls are not carried over',
  pid: 'sharing the host PID namespace is not carried over',
  ipc: 'IPC namespace settings are not carried over',
  shm_size: 'the /dev/shm size is not carried over',
  platform: 'the platform is not carried over; images are built for the machine devkube runs on',
  develop: 'compose watch rules are not carried over; `devkube up --watch` syncs sources its own way',
  extends: 'extends is not followed; copy the settings into this service',
  volumes_from: 'volumes_from is not carried over; name the volumes on this service',
  external_links: 'external_links are not carried over',
  domainname: 'the domain name is not carried over',
  mac_address: 'MAC addresses are not carried over',
  cgroup_parent: 'cgroup settings are not carried over',
  userns_mode: 'user namespace settings are not carried over',
  runtime: 'the container runtime is not carried over',
  isolation: 'isolation settings are not carried over',
  oom_score_adj: 'OOM settings are not carried over',
  mem_limit: 'set resources.limits.memory in devkube.yaml instead',
  cpus: 'set resources.limits.cpu in devkube.yaml instead',
  attach: 'log attachment is not carried over; `devkube logs` shows every service',
  gpus: 'GPUs are not available on kind',
}

const HANDLED = new Set([
  'image', 'build', 'ports', 'expose', 'environment', 'env_file', 'depends_on', 'healthcheck', 'command', 'entrypoint',
  'volumes', 'restart', 'profiles', 'deploy', 'scale', 'networks',
])

/** One service's raw environment entry, before it is sorted into env, secrets and connection settings. */
interface EnvEntry {
  key: string
  value?: string
  /** Built from a .env variable whose name looks secret. */
  fromSecret: boolean
}

interface Draft {
  composeName: string
  service: ImportedService
  env: EnvEntry[]
  envFiles: string[]
}

/** Reads and maps the compose file in projectDir (`file`: its name, default: the one compose would pick). */
export function importCompose(projectDir: string, file = findComposeFile(projectDir)): ComposeImport {
  if (!file) {
    throw new UserError(`${projectDir} has no compose file (looked for ${COMPOSE_FILE_NAMES.join(', ')}).`, {hint: 'Run devkube init in the folder that holds the compose file.'})
  }
  const root = readCompose(projectDir, file)
  const warnings: ImportWarning[] = []
  const warn = (service: string | undefined, key: string, message: string) => warnings.push({service, key, message})

  const variables = readDotenv(projectDir)
  const tainted = new Map<string, boolean>()
  const tree = interpolateTree(root, variables, file, tainted, warn)

  const topVolumes = isRecord(tree.volumes) ? tree.volumes : {}
  for (const key of Object.keys(tree)) {
    if (['version', 'name', 'services', 'volumes', 'networks'].includes(key) || key.startsWith('x-')) continue
    warn(undefined, key, key === 'include' ? 'included compose files are not read; import them into one file first' : `top-level ${key} are not carried over; put their values in an env file named by envFile, or in k8s/`)
  }
  const composeServices = isRecord(tree.services) ? tree.services : {}
  if (Object.keys(composeServices).length === 0) {
    throw new UserError(`${file} defines no services.`, {hint: 'Add services to it, or remove it and run devkube init to detect the app.'})
  }

  // Compose names may hold "_" or capitals; Kubernetes names may not.
  const names = new Map<string, string>()
  for (const composeName of Object.keys(composeServices)) {
    const name = isDns1123Label(composeName) ? composeName : toDns1123Label(composeName)
    if ([...names.values()].includes(name)) throw new UserError(`${file}: services ${composeName} and another become the same name "${name}" in Kubernetes.`, {hint: 'Rename one of them in the compose file.'})
    names.set(composeName, name)
    if (name !== composeName) warn(name, 'name', `renamed from "${composeName}" (Kubernetes names are lowercase letters, digits and "-"); other services reach it as "${name}"`)
  }

  const drafts: Draft[] = []
  for (const [composeName, raw] of Object.entries(composeServices)) {
    const name = names.get(composeName) as string
    const spec = isRecord(raw) ? raw : {}
    const profiles = stringList(spec.profiles)
    if (profiles.length > 0) {
      warn(name, 'profiles', `left out: compose starts it only with --profile ${profiles.join('/')}, and devkube has no profiles; add it under services: by hand to run it`)
      continue
    }
    drafts.push(mapService(projectDir, file, composeName, name, spec, topVolumes, names, tainted, warn))
  }
  const importedNames = new Set(drafts.map((draft) => names.get(draft.composeName)))
  for (const draft of drafts) {
    const name = names.get(draft.composeName) as string
    const missing = (draft.service.dependsOn ?? []).filter((dependency) => !importedNames.has(dependency))
    for (const dependency of missing) warn(name, 'depends_on', `${dependency} is not imported (see its warning), so ${name} does not wait for it`)
    draft.service.dependsOn = draft.service.dependsOn?.filter((dependency) => importedNames.has(dependency))
    if (draft.service.dependsOn?.length === 0) delete draft.service.dependsOn
  }

  const secretFiles = sortEnvironments(drafts, names, warn)
  const services: Record<string, ImportedService> = {}
  for (const draft of drafts) services[names.get(draft.composeName) as string] = prune(draft.service)
  const projectName = typeof tree.name === 'string' && isDns1123Label(tree.name) ? tree.name : undefined
  return {source: file, name: projectName, services, warnings, secretFiles}
}

function readCompose(projectDir: string, file: string): Record<string, unknown> {
  const text = readFileSync(path.join(projectDir, file), 'utf8')
  const lineCounter = new LineCounter()
  // Compose files use YAML merge keys (`<<: *defaults`) for shared settings.
  const document = parseDocument(text, {merge: true, lineCounter, prettyErrors: false})
  const [error] = document.errors
  if (error) {
    const {line, col} = lineCounter.linePos(error.pos[0])
    throw new UserError(`${file}:${line}:${col}: ${error.message.split('\n')[0]}`, {hint: `Fix the YAML in ${file}; \`docker compose config\` shows the same error.`})
  }
  const root: unknown = document.toJS({maxAliasCount: 1000})
  if (!isRecord(root)) throw new UserError(`${file} is not a compose file: its top level is not a map.`, {hint: 'A compose file starts with `services:`.'})
  return root
}

function readDotenv(projectDir: string): Record<string, string> {
  const file = path.join(projectDir, '.env')
  return existsSync(file) ? parseEnv(readFileSync(file, 'utf8'), '.env') : {}
}

/** Interpolates every string of the tree; records per path whether a secret-named variable went into it. */
function interpolateTree(
  root: Record<string, unknown>,
  variables: Record<string, string>,
  file: string,
  tainted: Map<string, boolean>,
  warn: (service: string | undefined, key: string, message: string) => void,
): Record<string, unknown> {
  const warned = new Set<string>()
  const walk = (value: unknown, at: string[]): unknown => {
    if (typeof value === 'string') {
      const result = interpolate(value, variables, `${file}: ${at.join('.')}`)
      if (result.variables.some((name) => SECRET_NAME.test(name))) tainted.set(at.join('\u0000'), true)
      for (const name of result.unset) {
        if (warned.has(name)) continue
        warned.add(name)
        warn(undefined, 'interpolation', `\${${name}} is not set in .env, so it became "" as compose would make it; set it in .env and run devkube init --force`)
      }
      return result.value
    }
    if (Array.isArray(value)) return value.map((item, index) => walk(item, [...at, String(index)]))
    if (isRecord(value)) return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, walk(item, [...at, key])]))
    return value
  }
  return walk(root, []) as Record<string, unknown>
}

function mapService(
  projectDir: string,
  file: string,
  composeName: string,
  name: string,
  spec: Record<string, unknown>,
  topVolumes: Record<string, unknown>,
  names: Map<string, string>,
  tainted: Map<string, boolean>,
  warn: (service: string | undefined, key: string, message: string) => void,
): Draft {
  const service: ImportedService = {}
  const say = (key: string, message: string) => warn(name, key, message)
  const image = typeof spec.image === 'string' ? spec.image : undefined
  const backing = spec.build === undefined && image ? backingOf(image) : undefined

  if (backing) {
    service.backing = backing.kind
    if (backing.version) service.version = backing.version
    if (backing.image) service.image = backing.image
  } else if (spec.build !== undefined) {
    service.build = mapBuild(spec.build, say)
    const dockerfile = path.posix.join(service.build.context, service.build.dockerfile ?? 'Dockerfile')
    if (!existsSync(path.join(projectDir, dockerfile))) say('build', `${dockerfile} does not exist, so ${name} cannot be built; add it before \`devkube up\``)
  } else if (image) {
    service.image = image
  } else {
    say('image', `${composeName} has neither image nor build, so there is nothing to run; add one to its entry in devkube.yaml`)
  }

  const ports = [...parsePorts(spec.ports, say), ...parseExpose(spec.expose, say)]
  if (ports.length > 0) {
    // A backing service listens on its image's port; only a published one (to reach it from the host) carries over.
    if (!backing) service.port = ports[0].target
    const published = ports[0].published
    if (published !== undefined && published < 1024) {
      service.forward = published + 8000
      say('ports', `the host port ${published} needs root to forward, so it is forwarded from ${service.forward} instead`)
    } else if (published !== undefined) {
      service.forward = published
    }
    const extra = ports.slice(1).filter((port) => port.target !== ports[0].target)
    if (extra.length > 0) say('ports', `only port ${ports[0].target} is served and forwarded; ${extra.map((port) => port.target).join(', ')} ${extra.length === 1 ? 'is' : 'are'} reachable in the cluster only through the pod, not the Service`)
  }

  const env = parseEnvironment(spec.environment, ['services', composeName, 'environment'], tainted, say)
  const envFiles = backing ? [] : parseEnvFiles(projectDir, spec.env_file, say)
  if (backing && spec.env_file !== undefined) say('env_file', `dropped: devkube generates ${name}'s credentials (the Secret ${name}-credentials)`)

  const dependsOn = parseDependsOn(spec.depends_on).map((dependency) => names.get(dependency) ?? dependency)
  if (dependsOn.length > 0) service.dependsOn = dependsOn

  // A backing service gets devkube's own readiness probe, made for its image.
  if (!backing && spec.healthcheck !== undefined) {
    const probe = mapHealthcheck(spec.healthcheck, say)
    // A check that only fetches a path of the service's own port is the HTTP probe devkube runs on healthPath,
    // with devkube's timings (the contract's healthPath has none of its own).
    const path = probe?.exec && httpCheckPath(probe.exec, service.port)
    if (path) service.healthPath = path
    else if (probe) service.probe = probe
  }

  const entrypoint = commandLine(spec.entrypoint)
  const command = commandLine(spec.command)
  if (backing) {
    if (entrypoint || command) say(entrypoint ? 'entrypoint' : 'command', `not carried over: devkube runs ${name} (${backing.kind}) with the image's own command; add server settings to k8s/ if ${name} needs them`)
  } else {
    if (entrypoint) service.command = entrypoint
    if (command) service.args = command
  }

  const volumes = mapVolumes(spec.volumes, topVolumes, backing?.kind, say)
  if (volumes.length > 0) service.volumes = volumes

  if (!backing && spec.restart !== undefined) {
    const restart = String(spec.restart)
    if (restart === 'no') {
      if (service.port === undefined) service.kind = 'job'
      else say('restart', `"no" on a service with a port is kept as a Deployment, which Kubernetes restarts; only a service without ports becomes a Job`)
    }
  }

  mapDeploy(spec, service, say)
  if (isRecord(spec.networks) || Array.isArray(spec.networks)) {
    const aliases = Object.values(isRecord(spec.networks) ? spec.networks : {}).flatMap((network) => (isRecord(network) ? stringList(network.aliases) : []))
    if (aliases.length > 0) say('networks', `the aliases ${aliases.join(', ')} are not carried over: other services reach it as "${name}"`)
  }
  if (typeof spec.container_name === 'string' && spec.container_name !== name) {
    say('container_name', `"${spec.container_name}" is not carried over: other services reach it as "${name}"`)
  }
  for (const key of Object.keys(spec)) {
    if (HANDLED.has(key) || NOTHING_TO_CARRY.has(key) || key.startsWith('x-')) continue
    say(key, NOT_CARRIED[key] ?? `${key} is not carried over: devkube has no equivalent`)
  }
  return {composeName, service, env, envFiles}
}

function backingOf(image: string): {kind: BackingEngine; version?: string; image?: string} | undefined {
  const [reference, digest] = image.split('@')
  const slash = reference.lastIndexOf('/')
  const colon = reference.lastIndexOf(':')
  const hasTag = colon > slash
  const repository = hasTag ? reference.slice(0, colon) : reference
  const tag = hasTag ? reference.slice(colon + 1) : undefined
  const library = repository.replace(/^(docker\.io\/|index\.docker\.io\/|registry-1\.docker\.io\/)?(library\/)?/, '')
  const kind = BACKING_IMAGES[library]
  if (!kind) return undefined
  // A digest pins one exact image: keep the whole reference.
  if (digest) return {kind, image}
  return {kind, version: tag && tag !== 'latest' ? tag : undefined}
}

function mapBuild(build: unknown, say: (key: string, message: string) => void): NonNullable<ImportedService['build']> {
  if (typeof build === 'string') return {context: normalizeContext(build, say)}
  const spec = isRecord(build) ? build : {}
  const result: NonNullable<ImportedService['build']> = {context: normalizeContext(typeof spec.context === 'string' ? spec.context : '.', say)}
  if (typeof spec.dockerfile === 'string' && spec.dockerfile !== 'Dockerfile') result.dockerfile = spec.dockerfile
  if (typeof spec.target === 'string') result.target = spec.target
  const args = keyValues(spec.args)
  const unset = Object.entries(args).filter(([, value]) => value === undefined).map(([key]) => key)
  if (unset.length > 0) say('build.args', `${unset.join(', ')} take${unset.length === 1 ? 's' : ''} a value from the shell, which devkube does not read; left out, so the Dockerfile's default applies`)
  const set = Object.fromEntries(Object.entries(args).filter(([, value]) => value !== undefined)) as Record<string, string>
  if (Object.keys(set).length > 0) result.args = set
  for (const key of Object.keys(spec)) {
    if (['context', 'dockerfile', 'target', 'args'].includes(key)) continue
    say(`build.${key}`, key === 'dockerfile_inline' ? 'an inline Dockerfile is not carried over; save it as a file and name it in build.dockerfile' : `build.${key} is not carried over: devkube builds with docker build and its own tags`)
  }
  return result
}

function normalizeContext(context: string, say: (key: string, message: string) => void): string {
  if (/^[a-z]+:\/\//i.test(context) || context.startsWith('git@')) {
    say('build.context', `the remote context ${context} is not carried over: devkube builds from folders in the project; clone it into the project and point build.context there`)
    return '.'
  }
  const normalized = path.posix.normalize(context.replaceAll('\\', '/')).replace(/\/$/, '')
  return normalized === '' ? '.' : normalized
}

interface PortMapping {
  target: number
  published?: number
}

function parsePorts(ports: unknown, say: (key: string, message: string) => void): PortMapping[] {
  const result: PortMapping[] = []
  for (const entry of Array.isArray(ports) ? ports : []) {
    let target: string
    let published: string | undefined
    let protocol = 'tcp'
    if (isRecord(entry)) {
      target = String(entry.target ?? '')
      published = entry.published === undefined ? undefined : String(entry.published)
      protocol = typeof entry.protocol === 'string' ? entry.protocol : 'tcp'
    } else {
      // [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]; the host IP may be an IPv6 address in brackets.
      const [spec, proto] = String(entry).split('/')
      protocol = proto ?? 'tcp'
      const withoutIp = spec.replace(/^\[[^\]]*\]:/, '')
      const parts = withoutIp.split(':')
      target = parts.at(-1) as string
      published = parts.length >= 2 ? parts.at(-2) || undefined : undefined
    }
    if (protocol !== 'tcp') {
      say('ports', `${String(isRecord(entry) ? `${target}/${protocol}` : entry)} is not carried over: kubectl port-forward forwards TCP only`)
      continue
    }
    const first = (range: string) => Number.parseInt(range.split('-')[0], 10)
    if (target.includes('-')) say('ports', `the range ${target} is not carried over: only its first port ${first(target)} is served`)
    const targetPort = first(target)
    if (!Number.isInteger(targetPort) || targetPort < 1 || targetPort > 65_535) {
      say('ports', `${JSON.stringify(entry)} is not a port devkube understands; set port in devkube.yaml`)
      continue
    }
    const publishedPort = published === undefined ? undefined : first(published)
    result.push({target: targetPort, published: publishedPort !== undefined && Number.isInteger(publishedPort) && publishedPort > 0 ? publishedPort : undefined})
  }
  return result
}

function parseExpose(expose: unknown, say: (key: string, message: string) => void): PortMapping[] {
  return parsePorts(
    (Array.isArray(expose) ? expose : []).map((port) => String(port)),
    say,
  )
}

function parseEnvironment(environment: unknown, at: string[], tainted: Map<string, boolean>, say: (key: string, message: string) => void): EnvEntry[] {
  const entries: EnvEntry[] = []
  const taint = (suffix: string) => tainted.get([...at, suffix].join('\u0000')) ?? false
  if (Array.isArray(environment)) {
    for (const [index, item] of environment.entries()) {
      const text = String(item)
      const equals = text.indexOf('=')
      entries.push(equals === -1 ? {key: text, fromSecret: false} : {key: text.slice(0, equals), value: text.slice(equals + 1), fromSecret: taint(String(index))})
    }
  } else if (isRecord(environment)) {
    for (const [key, value] of Object.entries(environment)) {
      entries.push({key, value: value === null || value === undefined ? undefined : String(value), fromSecret: taint(key)})
    }
  }
  return entries.filter((entry) => {
    if (entry.value !== undefined) return true
    say('environment', `${entry.key} takes its value from the shell, which devkube does not read; left out: set it in devkube.yaml's env (or, if it is a secret, in an env file named by envFile)`)
    return false
  })
}

function parseEnvFiles(projectDir: string, envFile: unknown, say: (key: string, message: string) => void): string[] {
  const entries = envFile === undefined ? [] : Array.isArray(envFile) ? envFile : [envFile]
  const files: string[] = []
  for (const entry of entries) {
    const file = typeof entry === 'string' ? entry : isRecord(entry) && typeof entry.path === 'string' ? entry.path : undefined
    if (!file) continue
    const required = !(isRecord(entry) && entry.required === false)
    if (isRecord(entry) && entry.format !== undefined && entry.format !== 'dotenv') {
      say('env_file', `${file} has format "${String(entry.format)}", which devkube does not read; left out: convert it to KEY=value lines`)
      continue
    }
    const relative = path.posix.normalize(file.replaceAll('\\', '/'))
    if (!existsSync(path.join(projectDir, relative))) {
      // An optional file that is missing is what compose skips too.
      if (required) say('env_file', `${relative} does not exist; left out: create it and add it to envFile`)
      continue
    }
    files.push(relative)
  }
  return files
}

function parseDependsOn(dependsOn: unknown): string[] {
  if (Array.isArray(dependsOn)) return dependsOn.map((item) => String(item))
  // The map form's conditions (service_started, service_healthy, service_completed_successfully) all become
  // "after it is ready": devkube rolls a service out after its dependencies are ready (a Job: completed).
  if (isRecord(dependsOn)) return Object.keys(dependsOn)
  return []
}

/**
 * healthcheck → an exec readiness probe. Compose's start_period needs no counterpart: a pod is not ready until its
 * first passing probe, and failures before that never count, which is what start_period means for health.
 */
function mapHealthcheck(healthcheck: unknown, say: (key: string, message: string) => void): ExecProbe | undefined {
  if (!isRecord(healthcheck) || healthcheck.disable === true) return undefined
  const test = healthcheck.test
  let exec: string[] | undefined
  if (typeof test === 'string') exec = ['sh', '-c', test]
  else if (Array.isArray(test)) {
    const [form, ...rest] = test.map((item) => String(item))
    if (form === 'NONE') return undefined
    if (form === 'CMD') exec = rest
    else if (form === 'CMD-SHELL') exec = ['sh', '-c', rest.join(' ')]
  }
  if (!exec || exec.length === 0) {
    say('healthcheck', `its test ${JSON.stringify(test)} is not CMD, CMD-SHELL or a command string; left out, so devkube's default readiness check applies`)
    return undefined
  }
  const probe: ExecProbe = {exec}
  const seconds = (key: string) => {
    const value = healthcheck[key]
    if (value === undefined) return undefined
    const parsed = durationSeconds(String(value))
    if (parsed === undefined) say(`healthcheck.${key}`, `${JSON.stringify(value)} is not a duration such as "10s" or "1m30s"; left out`)
    return parsed
  }
  const period = seconds('interval')
  const timeout = seconds('timeout')
  if (period !== undefined) probe.periodSeconds = Math.max(1, period)
  if (timeout !== undefined) probe.timeoutSeconds = Math.max(1, timeout)
  if (healthcheck.retries !== undefined) {
    const retries = Number(healthcheck.retries)
    if (Number.isInteger(retries) && retries > 0) probe.failureThreshold = retries
  }
  return probe
}

/**
 * The path a healthcheck fetches when all it does is an HTTP GET of localhost on the service's port with curl, wget
 * or Python's urllib (the forms compose files use), e.g. "/health"; undefined for any other check.
 */
function httpCheckPath(exec: string[], port: number | undefined): string | undefined {
  if (port === undefined) return undefined
  const line = (exec[0] === 'sh' && exec[1] === '-c' ? exec.slice(2) : exec).join(' ')
  const program = /^(curl|wget|python3?)\b/.exec(line)?.[1]
  if (!program) return undefined
  if (program.startsWith('python') && !/urllib\.request\.urlopen\(/.test(line)) return undefined
  const urls = [...line.matchAll(/https?:\/\/(?:localhost|127\.0\.0\.1)(?::(\d+))?(\/[^\s'"]*)?/g)]
  // curl/wget with more after them (`&& ...`) do more than fetch; Python's ";" separates its own statements.
  if (urls.length !== 1 || (!program.startsWith('python') && /[;&|]/.test(line.replace(/\|\|\s*exit 1\s*$/, '')))) return undefined
  const [, urlPort, urlPath] = urls[0]
  if (Number(urlPort ?? 80) !== port) return undefined
  return urlPath ?? '/'
}

/** Compose durations ("1m30s", "500ms", "2h") in whole seconds, rounded up. */
export function durationSeconds(text: string): number | undefined {
  const units: Record<string, number> = {us: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600}
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(us|ms|s|m|h)/g)]
  if (parts.length === 0 || parts.map((part) => part[0]).join('') !== text.trim()) return /^\d+$/.test(text.trim()) ? Number(text) : undefined
  return Math.ceil(parts.reduce((total, part) => total + Number(part[1]) * units[part[2]], 0))
}

/** command/entrypoint: a list as is; a string split into words the way compose does (quotes, no shell). */
function commandLine(value: unknown): string[] | undefined {
  if (Array.isArray(value)) return value.length > 0 ? value.map((item) => String(item)) : undefined
  if (typeof value === 'string' && value.trim() !== '') return splitWords(value)
  return undefined
}

export function splitWords(text: string): string[] {
  const words: string[] = []
  let word = ''
  let inWord = false
  let quote: '"' | "'" | undefined
  for (let index = 0; index < text.length; index++) {
    const char = text[index]
    if (quote) {
      if (char === quote) quote = undefined
      else if (char === '\\' && quote === '"' && ['"', '\\', '$', '`'].includes(text[index + 1])) word += text[++index]
      else word += char
    } else if (char === '"' || char === "'") {
      quote = char
      inWord = true
    } else if (char === '\\' && index + 1 < text.length) {
      word += text[++index]
      inWord = true
    } else if (/\s/.test(char)) {
      if (inWord) words.push(word)
      word = ''
      inWord = false
    } else {
      word += char
      inWord = true
    }
  }
  if (inWord) words.push(word)
  return words
}

function mapVolumes(
  volumes: unknown,
  topVolumes: Record<string, unknown>,
  backing: BackingEngine | undefined,
  say: (key: string, message: string) => void,
): NonNullable<ImportedService['volumes']> {
  const result: NonNullable<ImportedService['volumes']> = []
  for (const entry of Array.isArray(volumes) ? volumes : []) {
    let type: string
    let source: string | undefined
    let target: string
    if (isRecord(entry)) {
      type = String(entry.type ?? 'volume')
      source = typeof entry.source === 'string' ? entry.source : undefined
      target = String(entry.target ?? '')
    } else {
      const parts = String(entry).split(':')
      // "C:\\..." on Windows hosts is a bind mount with a drive letter.
      if (/^[A-Za-z]$/.test(parts[0]) && parts.length > 2) parts.splice(0, 2, `${parts[0]}:${parts[1]}`)
      if (parts.length === 1) {
        type = 'volume'
        target = parts[0]
      } else {
        source = parts[0]
        target = parts[1]
        type = /^[./~]|^[A-Za-z]:/.test(source) ? 'bind' : 'volume'
      }
    }
    const shown = isRecord(entry) ? `${source ?? ''}:${target}` : String(entry)
    if (type === 'bind') {
      say('volumes', `the bind mount ${shown} is not carried over: pods cannot see your folders; bake the files into the image, or use \`devkube up --watch\` to sync sources`)
      continue
    }
    if (type === 'tmpfs') {
      say('volumes', `the tmpfs ${target} is not carried over: the container's own filesystem is used`)
      continue
    }
    if (type !== 'volume') {
      say('volumes', `${shown} (type ${type}) is not carried over`)
      continue
    }
    if (!source) {
      say('volumes', `the anonymous volume ${target} is not carried over: its data lives in the container and is lost when the pod restarts; give it a name to keep it in a PersistentVolumeClaim`)
      continue
    }
    if (backing) {
      if (target.replace(/\/$/, '') !== IMAGE_FACTS[backing].dataPath) say('volumes', `${shown} is not carried over: devkube keeps ${backing}'s data in its own PersistentVolumeClaim at ${IMAGE_FACTS[backing].dataPath}`)
      continue
    }
    const declared = topVolumes[source]
    if (isRecord(declared) && (declared.external || declared.driver || declared.driver_opts)) {
      say('volumes', `the volume ${source} is external or uses a driver; devkube makes a new, empty PersistentVolumeClaim for it`)
    }
    result.push({name: toDns1123Label(source), path: target, size: DEFAULT_VOLUME_SIZE})
  }
  return result
}

function mapDeploy(spec: Record<string, unknown>, service: ImportedService, say: (key: string, message: string) => void): void {
  const deploy = isRecord(spec.deploy) ? spec.deploy : {}
  const replicas = deploy.replicas ?? spec.scale
  if (replicas !== undefined && Number.isInteger(Number(replicas)) && Number(replicas) !== 1) service.replicas = Number(replicas)
  const resources = isRecord(deploy.resources) ? deploy.resources : {}
  const amounts = (value: unknown) => {
    if (!isRecord(value)) return undefined
    const cpu = value.cpus === undefined ? undefined : String(value.cpus)
    const memory = value.memory === undefined ? undefined : quantity(String(value.memory))
    if (cpu === undefined && memory === undefined) return undefined
    return {...(cpu === undefined ? {} : {cpu}), ...(memory === undefined ? {} : {memory})}
  }
  const limits = amounts(resources.limits)
  const requests = amounts(resources.reservations)
  if (limits || requests) service.resources = {...(requests ? {requests} : {}), ...(limits ? {limits} : {})}
  for (const key of Object.keys(deploy)) {
    if (key === 'replicas' || key === 'resources') continue
    say(`deploy.${key}`, `not carried over: devkube runs one Deployment per service with its own rollout settings`)
  }
}

/** Compose byte amounts ("512m", "1gb", "100k") as Kubernetes quantities (binary units: compose's are 1024-based). */
function quantity(amount: string): string {
  const match = /^(\d+(?:\.\d+)?)\s*([bkmg]?)b?$/i.exec(amount.trim())
  if (!match) return amount
  const unit = {b: '', k: 'Ki', m: 'Mi', g: 'Gi', '': ''}[match[2].toLowerCase()]
  return `${match[1]}${unit}`
}

/**
 * The second pass over environments, once every service is known: a backing service's own credentials are
 * dropped (devkube generates them); a dependent's settings that point at a backing service become its connection
 * settings; secret-looking values go to `<service>.secrets.env`; the rest is env.
 */
function sortEnvironments(drafts: Draft[], names: Map<string, string>, warn: (service: string | undefined, key: string, message: string) => void): SecretEnvFile[] {
  const backing = new Map<string, BackingTarget>()
  for (const draft of drafts) {
    const engine = draft.service.backing
    if (!engine) continue
    const facts = IMAGE_FACTS[engine]
    const credentials: Partial<Record<CredentialRole, string>> = {username: facts.defaultUser}
    for (const entry of draft.env) {
      const role = facts.credentialEnv[entry.key]
      if (role && entry.value) credentials[role] = entry.value
    }
    // The postgres image names its database after the user unless told otherwise.
    if (engine === 'postgres') credentials.database ??= credentials.username
    backing.set(names.get(draft.composeName) as string, {engine, credentials, connection: connectionNames(engine)})
  }

  const mapped = new Map<string, string[]>()
  const secretFiles: SecretEnvFile[] = []
  for (const draft of drafts) {
    const name = names.get(draft.composeName) as string
    if (draft.service.backing) continue
    const env: Record<string, string | ConnectionRef> = {}
    const secrets: Record<string, string> = {}
    for (const entry of draft.env) {
      const value = entry.value as string
      const connection = connectionOf(entry.key, value, backing, names)
      if (connection) {
        if (!draft.service.dependsOn?.includes(connection.from)) draft.service.dependsOn = [...(draft.service.dependsOn ?? []), connection.from]
        mapped.set(connection.from, [...(mapped.get(connection.from) ?? []), `${name}'s ${entry.key}`])
        // When the dependency hands out this very name, there is nothing to declare.
        if (connection.key !== entry.key) env[entry.key] = connection
        continue
      }
      if (SECRET_NAME.test(entry.key) || entry.fromSecret || URL_WITH_PASSWORD.test(value)) secrets[entry.key] = value
      else env[entry.key] = value
    }
    if (Object.keys(env).length > 0) draft.service.env = env
    const envFiles = [...draft.envFiles]
    if (Object.keys(secrets).length > 0) {
      const file = `${name}${SECRETS_FILE_SUFFIX}`
      secretFiles.push({path: file, values: secrets})
      envFiles.unshift(file)
    }
    if (envFiles.length > 0) draft.service.envFile = envFiles.length === 1 ? envFiles[0] : envFiles
  }

  for (const draft of drafts) {
    const name = names.get(draft.composeName) as string
    const target = backing.get(name)
    if (!target) continue
    const dropped = draft.env.map((entry) => entry.key)
    const remapped = mapped.get(name) ?? []
    if (dropped.length === 0 && remapped.length === 0) continue
    const variables = [...target.connection.values()]
    const handedOut = `${variables.map((names) => names[0]).join(', ')}${variables.some((names) => names.length > 1) ? ' (and more)' : ''}`
    const generated = `devkube generates ${name}'s credentials once, in the Secret ${credentialsSecretName(name)}`
    const parts = [
      dropped.length > 0 ? `${dropped.join(', ')} ${dropped.length === 1 ? 'is' : 'are'} dropped: ${generated}` : generated,
      `services that depend on ${name} get ${handedOut} from it`,
      ...(remapped.length > 0 ? [`${remapped.join(', ')} now ${remapped.length === 1 ? 'comes' : 'come'} from there`] : []),
    ]
    warn(name, 'environment', parts.join('; '))
  }
  return secretFiles
}

interface BackingTarget {
  engine: BackingEngine
  /** What the compose file set the image up with (or the image's defaults): what dependents' values may repeat. */
  credentials: Partial<Record<CredentialRole, string>>
  connection: Map<string, string[]>
}

/**
 * Whether KEY=VALUE of a dependent points at a backing service (its URL, or its user, password or database as the
 * compose file set them) and so must come from the generated credentials. A bare host name stays as it is: the
 * Service has the compose service's name. Returns the connection setting to read, by the name backing.ts gives it.
 */
function connectionOf(key: string, value: string, backing: Map<string, BackingTarget>, names: Map<string, string>): ConnectionRef | undefined {
  for (const [composeName, name] of names) {
    const target = backing.get(name)
    if (!target) continue
    const reference = (secretKey: string): ConnectionRef | undefined => {
      const variables = target.connection.get(secretKey)
      if (!variables) return undefined
      return {from: name, key: variables.includes(key) ? key : variables[0]}
    }
    const url = new RegExp(`^[a-z][a-z0-9+.-]*://([^/@\\s]*@)?(${escape(composeName)}|${escape(name)})(:\\d+)?(/|\\?|$)`, 'i')
    if (url.test(value)) return reference('uri')
    if (value === composeName || value === name) return target.connection.get('host')?.includes(key) ? {from: name, key} : undefined
    const {username, password, database} = target.credentials
    if (password !== undefined && value === password && /PASS|PWD|SECRET/i.test(key)) return reference('password')
    if (username !== undefined && value === username && /USER|LOGIN/i.test(key)) return reference('username')
    if (database !== undefined && value === database && /(^|_)(DB|DATABASE|NAME)(_|$)|DBNAME/i.test(key)) return reference('database')
  }
  return undefined
}

function escape(text: string): string {
  return text.replaceAll(/[.*+?^${}()|[\]\\]/g, String.raw`\$&`)
}

function keyValues(value: unknown): Record<string, string | undefined> {
  if (Array.isArray(value)) {
    return Object.fromEntries(
      value.map((item) => {
        const text = String(item)
        const equals = text.indexOf('=')
        return equals === -1 ? [text, undefined] : [text.slice(0, equals), text.slice(equals + 1)]
      }),
    )
  }
  if (isRecord(value)) return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, item === null || item === undefined ? undefined : String(item)]))
  return {}
}

function stringList(value: unknown): string[] {
  if (Array.isArray(value)) return value.map((item) => String(item))
  if (typeof value === 'string') return [value]
  return []
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The service as written to devkube.yaml: keys in a fixed, readable order, nothing empty. */
function prune(service: ImportedService): ImportedService {
  const order: (keyof ImportedService)[] = ['backing', 'version', 'image', 'build', 'kind', 'port', 'forward', 'replicas', 'command', 'args', 'env', 'envFile', 'dependsOn', 'healthPath', 'probe', 'volumes', 'resources']
  const result: Record<string, unknown> = {}
  for (const key of order) if (service[key] !== undefined) result[key] = service[key]
  return result as ImportedService
}

/** devkube.yaml for the import: the app name, the services, and a header saying where they came from. */
export function importedConfigYaml(imported: ComposeImport, appName: string): string {
  const document = new Document({name: appName, services: imported.services})
  document.commentBefore = [
    ` Imported by \`devkube init\` from ${imported.source} (variables from .env, not from the shell).`,
    ' Secret values are not in this file: they are in the env files named by envFile, which git ignores.',
    ...(imported.warnings.length > 0 ? [' Not carried over as it was:', ...imported.warnings.map((warning) => `   ${describeWarning(warning)}`)] : []),
  ].join('\n')
  // Short lists of words read best on one line: command: [gunicorn, app:app].
  visit(document, {
    Seq(_, node) {
      if (node.items.every((item) => !isMap(item) && !isSeq(item))) node.flow = true
    },
    Map(_, node) {
      const keys = node.items.map((pair) => String((pair.key as {value?: unknown}).value))
      if (keys.length === 2 && keys.includes('from') && keys.includes('key')) node.flow = true
    },
  })
  return document.toString({lineWidth: 0, flowCollectionPadding: false})
}

/** One warning as a line: "web: network_mode: pods get their own network; ...". */
export function describeWarning(warning: ImportWarning): string {
  return `${warning.service ? `${warning.service}: ` : ''}${warning.key}: ${warning.message}`
}

/** The text of a secrets env file: KEY=value lines, quoted (as dotenv.ts reads them) when a value needs it. */
export function secretEnvFileText(file: SecretEnvFile, source: string): string {
  const quoted = (value: string) => {
    if (/^[\w./:@+,=-]*$/.test(value)) return value
    if (!value.includes("'") && !value.includes('\n')) return `'${value}'`
    return `"${value.replaceAll('"', String.raw`\"`).replaceAll('\n', String.raw`\n`)}"`
  }
  const lines = Object.entries(file.values).map(([key, value]) => `${key}=${quoted(value)}`)
  return `# Secret values of this service, moved here from ${source} by devkube init; keep this file out of git.\n${lines.join('\n')}\n`
}
