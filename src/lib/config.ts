/**
 * devkube.yaml: loaded, validated and resolved in this one place. Values come, lowest first, from
 * defaults, app detection, the file's top level, the chosen environment's overrides, then flags.
 */
import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode} from 'yaml'
import {backingPort, connectionVariables, isBackingEngine} from './backing.js'
import {closest} from './closest.js'
import {CONFIG_FIELDS, describeSpec, ENVIRONMENT_FIELDS, ENVIRONMENT_NAME, envVarName, type FieldSpec, type Language} from './config-schema.js'

/** The keys of an env value taken from a backing service. */
const CONNECTION_REF_FIELDS: Record<string, FieldSpec> = {from: {kind: 'string'}, key: {kind: 'string'}}

const relativePathProblem = (value: string) => value.trim() === ''
import {UserError} from './errors.js'
import {isDns1123Label, toDns1123Label} from './names.js'
import {DEFAULT_REGISTRY, type RegistrySettings} from './registry.js'

export const CONFIG_FILE = 'devkube.yaml'
export const DEFAULT_ENVIRONMENT = 'dev'
export const DEFAULT_CLUSTER = 'devkube'
export const DEFAULT_PORT = 8080

export interface Resources {
  requests: {cpu: string; memory: string}
  limits: {cpu: string; memory: string}
}

export interface ConfigFile {
  name?: string
  lang?: Language
  /** Node: which framework's reading to use when package.json lists more than one (init's --framework). */
  framework?: string
  /** Node: the workspace package to run in a monorepo, relative to the project folder (init's --package). */
  package?: string
  cluster?: string
  namespace?: string
  port?: number
  forward?: number
  replicas?: number
  build?: {context?: string; dockerfile?: string; target?: string; args?: Record<string, string>}
  manifests?: string
  env?: Record<string, string>
  envFile?: string
  healthPath?: string
  resources?: {requests?: {cpu?: string; memory?: string}; limits?: {cpu?: string; memory?: string}}
  strategy?: {maxSurge?: number | string; maxUnavailable?: number | string}
  sync?: boolean
  dev?: {command?: string[]}
  services?: Record<string, ServiceFile>
  environments?: Record<string, Omit<ConfigFile, 'name' | 'lang' | 'framework' | 'package' | 'environments' | 'services' | 'targets'> & {services?: Record<string, ServiceOverrides>}>
  targets?: Record<string, {context: string; registry: string; namespace?: string; environment?: string}>
  registry?: boolean | {port?: number; name?: string; image?: string}
}

/** An env value taken from a backing service: `{from: db, key: DATABASE_URL}` (a secretKeyRef, never the value). */
export interface ConnectionRef {
  from: string
  key: string
}

/** An exec probe (a compose CMD / CMD-SHELL healthcheck); unset timings take the kubelet's defaults. */
export interface ExecProbe {
  exec: string[]
  initialDelaySeconds?: number
  periodSeconds?: number
  timeoutSeconds?: number
  failureThreshold?: number
}

/** A named volume of a service: a PersistentVolumeClaim `name`, mounted at `path`. */
export interface VolumeSpec {
  name: string
  path: string
  size: string
}

/** A claim's size when devkube.yaml names none: what kind's local-path provisioner hands out anyway. */
export const DEFAULT_VOLUME_SIZE = '1Gi'

/** What an environment may change of a service. */
export interface ServiceOverrides {
  image?: string
  version?: string
  port?: number
  ports?: number[]
  forward?: number
  replicas?: number
  env?: Record<string, string | number | boolean | ConnectionRef>
  envFile?: string | string[]
  probe?: ExecProbe
  volumes?: Array<{name: string; path: string; size?: string}>
  healthPath?: string
  resources?: {requests?: {cpu?: string; memory?: string}; limits?: {cpu?: string; memory?: string}}
  command?: string[]
  args?: string[]
  build?: {context?: string; dockerfile?: string; target?: string; args?: Record<string, string>}
}

/** A service as devkube.yaml writes it under `services:`. */
export interface ServiceFile extends ServiceOverrides {
  backing?: string
  /** `job`: run once to completion (a Kubernetes Job); a Deployment otherwise. */
  kind?: 'deployment' | 'job'
  lang?: Language
  dependsOn?: string[]
  sync?: boolean
  dev?: {command?: string[]}
}

export interface AppConfig {
  projectDir: string
  /** Absolute path of devkube.yaml, when the project has one. */
  configPath?: string
  environment: string
  environmentNames: string[]
  name: string
  lang?: Language
  cluster: string
  namespace: string
  port: number
  forward: number
  replicas: number
  /** target: the stage of a multi-stage Dockerfile to build (`docker build --target`). */
  build: {context: string; dockerfile: string; target?: string; args: Record<string, string>}
  manifests: string
  env: Record<string, string>
  /** Absolute path of the env file to turn into a Secret; undefined when there is none. */
  envFile?: string
  healthPath: string
  resources: Resources
  strategy: {maxSurge: number | string; maxUnavailable: number | string}
  /** `up --watch` of a single-app file: sync on or off (undefined: devkube decides by language). */
  sync?: boolean
  /** `up --watch` of a single-app file: the command the pods run while watching. */
  devCommand?: string[]
  /** The app's services, in devkube.yaml order; one named `name` for a single-app file. */
  services: ServiceConfig[]
  /** The local registry images go through instead of `kind load` (`registry:`, `--registry`); undefined: off. */
  registry?: RegistrySettings
}

/** Where a service's image comes from. */
export type ServiceSource =
  | {kind: 'build'; context: string; dockerfile: string; args: Record<string, string>; target?: string}
  | {kind: 'image'; image: string}
  | {kind: 'backing'; engine: string; version?: string; image?: string}

/**
 * One service of the app, resolved: what `up` builds or pulls, and how it runs. A single-app
 * devkube.yaml is one service named after the app.
 */
export interface ServiceConfig {
  name: string
  source: ServiceSource
  lang?: Language
  /** The container port; undefined for a service without one (then it gets no Service and no forward). */
  port?: number
  /** The local port declared for it (`forward:`); undefined: the next free one from `port`. */
  forward?: number
  replicas: number
  /** Runs once to completion as a Kubernetes Job (compose `restart: "no"`), instead of a Deployment. */
  job: boolean
  env: Record<string, string>
  /** Env values read from backing services' credentials Secrets (`{from, key}`), by variable name. */
  connectionRefs: Array<{name: string} & ConnectionRef>
  /** Absolute paths of the env files that make its Secret, later ones overriding earlier ones (as compose). */
  envFiles: string[]
  healthPath: string
  /** An exec readiness probe, replacing the HTTP one on healthPath. */
  probe?: ExecProbe
  /** Named volumes: a PersistentVolumeClaim each, mounted into its pods. */
  volumes: VolumeSpec[]
  resources: Resources
  strategy: {maxSurge: number | string; maxUnavailable: number | string}
  /** Replaces the image's ENTRYPOINT (Kubernetes' command). */
  command?: string[]
  /** Replaces the image's CMD (Kubernetes' args). */
  args?: string[]
  dependsOn: string[]
  /** The user's manifests folder (a single-app project's `k8s/`); undefined: devkube renders them. */
  manifests?: string
  /** `up --watch`: sync changed files into the pods (undefined: devkube decides by language). */
  sync?: boolean
  /** `up --watch`: the command the pods run while watching (`dev.command`). */
  devCommand?: string[]
}

/** Values given on the command line; they win over the file. */
export interface ConfigOverrides {
  name?: string
  lang?: Language
  cluster?: string
  namespace?: string
  port?: number
  forward?: number
  /** `--port SERVICE=PORT` / `--forward SERVICE=PORT`: per service, by name (checked against the app's services). */
  servicePorts?: Record<string, number>
  serviceForwards?: Record<string, number>
  replicas?: number
  environment?: string
  buildArgs?: Record<string, string>
  /** `up --registry`: use the local registry even when devkube.yaml does not turn it on. */
  registry?: boolean
}

export const DEFAULT_RESOURCES: Resources = {
  requests: {cpu: '50m', memory: '64Mi'},
  limits: {cpu: '500m', memory: '256Mi'},
}

/** `registry:` (true, or settings) and `--registry` into the registry to use, or undefined when off. */
export function resolveRegistry(setting: ConfigFile['registry'], flag?: boolean): RegistrySettings | undefined {
  if (!setting && !flag) return undefined
  return {...DEFAULT_REGISTRY, ...(typeof setting === 'object' ? setting : {})}
}

/** Reads and validates devkube.yaml; returns {} when the project has none (the file is optional). */
export function readConfigFile(projectDir: string): {file: ConfigFile; configPath?: string} {
  const configPath = path.join(projectDir, CONFIG_FILE)
  if (!existsSync(configPath)) return {file: {}}
  let text: string
  try {
    text = readFileSync(configPath, 'utf8')
  } catch (error) {
    throw new UserError(`Cannot read ${configPath}: ${(error as NodeJS.ErrnoException).code ?? String(error)}.`, {
      hint: 'Check the file permissions (devkube only needs to read it).',
    })
  }
  return {file: parseConfig(text, configPath), configPath}
}

export function parseConfig(text: string, configPath = CONFIG_FILE): ConfigFile {
  const lineCounter = new LineCounter()
  const document = parseDocument(text, {lineCounter, prettyErrors: false, uniqueKeys: true})
  const syntaxError = document.errors[0]
  if (syntaxError) {
    // linePos is only filled in with prettyErrors; the offset is always there.
    const position = syntaxError.linePos?.[0] ?? lineCounter.linePos(syntaxError.pos[0])
    const where = position ? `${configPath}:${position.line}:${position.col}` : configPath
    const reason = syntaxError.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')
    throw new UserError(`${where}: YAML syntax error: ${reason}.`, {
      hint: 'Fix the YAML at that line and column (indentation and "key: value" pairs are the usual culprits).',
    })
  }
  if (document.contents === null) return {}
  const validator = new Validator(lineCounter, configPath)
  const root = document.contents as YamlNode
  if (!isMap(root)) throw validator.fail(root, 'devkube.yaml', 'a map of settings such as "name: hello"')
  validator.object(root, CONFIG_FIELDS, '')
  validator.connectionRefs(root)
  return document.toJS() as ConfigFile
}

class Validator {
  constructor(
    private readonly lineCounter: LineCounter,
    private readonly configPath: string,
  ) {}

  fail(node: YamlNode | null | undefined, key: string, allowed: string, actual?: string): UserError {
    const where = this.where(node)
    const got = actual === undefined ? '' : `, but it is ${actual}`
    return new UserError(`${where}: \`${key}\` must be ${allowed}${got}.`, {
      hint: `Fix \`${key}\` in ${path.basename(this.configPath)}; \`devkube init --help\` shows an example file.`,
    })
  }

  object(node: YamlNode, fields: Record<string, FieldSpec>, prefix: string): void {
    if (!isMap(node)) return
    for (const pair of node.items) {
      const keyNode = pair.key as YamlNode
      const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode)
      const fullKey = prefix + key
      const spec = fields[key]
      if (!spec) {
        const suggestion = closest(key, Object.keys(fields))
        throw new UserError(`${this.where(keyNode)}: unknown key \`${fullKey}\`.`, {
          hint: suggestion
            ? `Did you mean \`${prefix}${suggestion}\`?`
            : `Known keys${prefix ? ` under \`${prefix.slice(0, -1)}\`` : ''}: ${Object.keys(fields).join(', ')}.`,
        })
      }
      this.value(pair.value as YamlNode | null, spec, fullKey)
    }
  }

  private value(node: YamlNode | null, spec: FieldSpec, key: string): void {
    const shown = this.show(node)
    switch (spec.kind) {
      case 'string': {
        if (!isScalar(node) || typeof node.value !== 'string') throw this.fail(node, key, 'a string', shown)
        const problem = spec.check?.(node.value)
        if (problem) throw this.fail(node, key, problem, shown)
        return
      }
      case 'int': {
        if (!isScalar(node) || typeof node.value !== 'number' || !Number.isInteger(node.value) || node.value < spec.min || node.value > spec.max) {
          throw this.fail(node, key, describeSpec(spec), shown)
        }
        return
      }
      case 'enum': {
        if (!isScalar(node) || !spec.values.includes(String(node.value))) throw this.fail(node, key, describeSpec(spec), shown)
        return
      }
      case 'intOrPercent': {
        const ok = isScalar(node) && ((typeof node.value === 'number' && Number.isInteger(node.value) && node.value >= 0) || (typeof node.value === 'string' && /^\d+%$/.test(node.value)))
        if (!ok) throw this.fail(node, key, describeSpec(spec), shown)
        return
      }
      case 'scalarMap': {
        if (!isMap(node)) throw this.fail(node, key, describeSpec(spec), shown)
        for (const pair of node.items) {
          const entryKey = String((pair.key as YamlNode & {value?: unknown}).value ?? pair.key)
          const problem = spec.keyCheck?.(entryKey)
          if (problem) throw this.fail(pair.key as YamlNode, `${key}.${entryKey}`, `named with ${problem}`)
          const entry = pair.value as YamlNode | null
          if (!isScalar(entry) || entry.value === null || typeof entry.value === 'object') {
            throw this.fail(entry, `${key}.${entryKey}`, 'a string, number or boolean', this.show(entry))
          }
        }
        return
      }
      case 'object': {
        if (!isMap(node)) throw this.fail(node, key, describeSpec(spec), shown)
        this.object(node, spec.fields, `${key}.`)
        return
      }
      case 'bool': {
        if (!isScalar(node) || typeof node.value !== 'boolean') throw this.fail(node, key, describeSpec(spec), shown)
        return
      }
      case 'boolOrObject': {
        if (isMap(node)) return this.object(node, spec.fields, `${key}.`)
        if (!isScalar(node) || typeof node.value !== 'boolean') throw this.fail(node, key, describeSpec(spec), shown)
        return
      }
      case 'envMap': {
        if (!isMap(node)) throw this.fail(node, key, describeSpec(spec), shown)
        for (const pair of node.items) {
          const entryKey = String((pair.key as YamlNode & {value?: unknown}).value ?? pair.key)
          const problem = envVarName(entryKey)
          if (problem) throw this.fail(pair.key as YamlNode, `${key}.${entryKey}`, `named with ${problem}`)
          const entry = pair.value as YamlNode | null
          // Whether `from` names a backing service and `key` one of its variables is checked once every service is known.
          if (isMap(entry)) this.object(entry, CONNECTION_REF_FIELDS, `${key}.${entryKey}.`)
          else if (!isScalar(entry) || entry.value === null) throw this.fail(entry, `${key}.${entryKey}`, 'a string, number, boolean or {from: <backing service>, key: <variable>}', this.show(entry))
          if (isMap(entry) && (!entry.has('from') || !entry.has('key'))) throw this.fail(entry, `${key}.${entryKey}`, '{from: <backing service>, key: <variable>} with both keys', this.show(entry))
        }
        return
      }
      case 'pathList': {
        if (isScalar(node) && typeof node.value === 'string') {
          if (relativePathProblem(node.value)) throw this.fail(node, key, describeSpec(spec), shown)
          return
        }
        if (!isSeq(node) || node.items.length === 0) throw this.fail(node, key, describeSpec(spec), shown)
        node.items.forEach((item, index) => {
          const entry = item as YamlNode | null
          if (!isScalar(entry) || typeof entry.value !== 'string' || relativePathProblem(entry.value)) throw this.fail(entry, `${key}[${index}]`, 'a path relative to the project folder', this.show(entry))
        })
        return
      }
      case 'requiredObject': {
        if (!isMap(node)) throw this.fail(node, key, describeSpec(spec), shown)
        this.object(node, spec.fields, `${key}.`)
        const missing = spec.required.find((required) => !node.has(required))
        if (missing) throw this.fail(node, `${key}.${missing}`, 'set', 'missing')
        return
      }
      case 'objectList': {
        if (!isSeq(node)) throw this.fail(node, key, describeSpec(spec), shown)
        const seen = new Set<string>()
        node.items.forEach((item, index) => {
          const entry = item as YamlNode | null
          if (!isMap(entry)) throw this.fail(entry, `${key}[${index}]`, `a map with the keys ${Object.keys(spec.fields).join(', ')}`, this.show(entry))
          this.object(entry, spec.fields, `${key}[${index}].`)
          const missing = spec.required.find((required) => !entry.has(required))
          if (missing) throw this.fail(entry, `${key}[${index}].${missing}`, 'set', 'missing')
          const name = entry.get('name')
          if (typeof name === 'string') {
            if (seen.has(name)) throw this.fail(entry.get('name', true) as YamlNode, `${key}[${index}].name`, 'different from the other entries\' names', JSON.stringify(name))
            seen.add(name)
          }
        })
        return
      }
      case 'stringList':
      case 'intList': {
        if (!isSeq(node)) throw this.fail(node, key, describeSpec(spec), shown)
        node.items.forEach((item, index) => {
          const entry = item as YamlNode | null
          const ok =
            spec.kind === 'stringList'
              ? isScalar(entry) && typeof entry.value === 'string'
              : isScalar(entry) && typeof entry.value === 'number' && Number.isInteger(entry.value) && entry.value >= spec.min && entry.value <= spec.max
          if (!ok) throw this.fail(entry, `${key}[${index}]`, spec.kind === 'stringList' ? 'a string' : `a whole number from ${spec.min} to ${spec.max}`, this.show(entry))
        })
        return
      }
      case 'services': {
        if (!isMap(node)) throw this.fail(node, key, describeSpec(spec), shown)
        for (const pair of node.items) {
          const keyNode = pair.key as YamlNode
          const service = String((keyNode as YamlNode & {value?: unknown}).value ?? keyNode)
          if (!isDns1123Label(service)) {
            throw this.fail(keyNode, `${key}.${service}`, 'named with lowercase letters, digits and "-", starting and ending with a letter or digit, at most 63 characters (DNS-1123)')
          }
          const settings = pair.value as YamlNode | null
          if (spec.overrides && (settings === null || (isScalar(settings) && settings.value === null))) continue
          if (!isMap(settings)) throw this.fail(settings, `${key}.${service}`, 'a map of settings', this.show(settings))
          this.object(settings, spec.fields, `${key}.${service}.`)
          if (!spec.overrides) {
            // `image:` beside `backing:` only replaces the backing service's official image.
            const sources = ['build', 'image', 'backing'].filter((field) => settings.has(field) && !(field === 'image' && settings.has('backing')))
            if (sources.length !== 1) {
              throw new UserError(`${this.where(keyNode)}: the service \`${service}\` needs exactly one of \`build\`, \`image\` or \`backing\`${sources.length > 1 ? `, but it has ${sources.join(' and ')}` : ''}.`, {
                hint: '`build: {context: .}` builds it from source, `image: redis:7` runs a stock image, `backing: postgres` runs a database devkube manages.',
              })
            }
          }
        }
        if (!spec.overrides) this.dependencies(node)
        return
      }
      case 'environments': {
        if (!isMap(node)) throw this.fail(node, key, describeSpec(spec), shown)
        for (const pair of node.items) {
          const environment = String((pair.key as YamlNode & {value?: unknown}).value ?? pair.key)
          if (!ENVIRONMENT_NAME.test(environment)) {
            throw this.fail(pair.key as YamlNode, `${key}.${environment}`, 'named with lowercase letters, digits and "-"')
          }
          const settings = pair.value as YamlNode | null
          // `staging:` with nothing under it declares an environment that overrides nothing.
          if (settings === null || (isScalar(settings) && settings.value === null)) continue
          if (!isMap(settings)) throw this.fail(settings, `${key}.${environment}`, 'a map of settings to override', this.show(settings))
          this.object(settings, ENVIRONMENT_FIELDS, `${key}.${environment}.`)
        }
        return
      }
      case 'namedObjects': {
        if (!isMap(node)) throw this.fail(node, key, describeSpec(spec), shown)
        for (const pair of node.items) {
          const entryName = String((pair.key as YamlNode & {value?: unknown}).value ?? pair.key)
          if (!isDns1123Label(entryName)) throw this.fail(pair.key as YamlNode, `${key}.${entryName}`, 'named with lowercase letters, digits and "-"')
          const entry = pair.value as YamlNode | null
          if (!isMap(entry)) throw this.fail(entry, `${key}.${entryName}`, `a map with the keys ${Object.keys(spec.fields).join(', ')}`, this.show(entry))
          this.object(entry, spec.fields, `${key}.${entryName}.`)
          const present = new Set(entry.items.map((item) => String((item.key as YamlNode & {value?: unknown}).value ?? item.key)))
          const missing = spec.required.find((required) => !present.has(required))
          if (missing) throw this.fail(entry, `${key}.${entryName}.${missing}`, 'set', 'missing')
        }
      }
    }
  }

  /**
   * Every `{from, key}` env value, in the services and in the environments' overrides of them, must name a backing
   * service of this file and one of the variables it hands its dependents.
   */
  connectionRefs(root: YamlNode): void {
    if (!isMap(root)) return
    const services = root.get('services', true) as YamlNode | undefined
    if (!isMap(services)) return
    const backing = new Map<string, string>()
    for (const pair of services.items) {
      const engine = isMap(pair.value) ? pair.value.get('backing') : undefined
      if (typeof engine === 'string') backing.set(String((pair.key as YamlNode & {value?: unknown}).value), engine)
    }
    const check = (service: string, env: unknown, prefix: string) => {
      if (!isMap(env)) return
      for (const pair of env.items) {
        if (!isMap(pair.value)) continue
        const variable = String((pair.key as YamlNode & {value?: unknown}).value)
        const fromNode = pair.value.get('from', true) as YamlNode
        const keyNode = pair.value.get('key', true) as YamlNode
        const from = String((fromNode as YamlNode & {value?: unknown}).value)
        const key = String((keyNode as YamlNode & {value?: unknown}).value)
        const engine = backing.get(from)
        if (engine === undefined || !isBackingEngine(engine)) {
          const names = [...backing.keys()]
          const suggestion = closest(from, names)
          throw new UserError(`${this.where(fromNode)}: \`${prefix}.${variable}.from\` names "${from}", which is not a backing service of this file.`, {
            hint: names.length === 0 ? 'Only a backing service (`backing: postgres`, ...) hands out connection settings; set the value itself instead.' : suggestion ? `Did you mean "${suggestion}"?` : `Its backing services: ${names.join(', ')}.`,
          })
        }
        const variables = connectionVariables(engine)
        if (!variables.includes(key)) {
          const suggestion = closest(key, variables)
          throw new UserError(`${this.where(keyNode)}: \`${prefix}.${variable}.key\` is "${key}", which ${from} (${engine}) does not provide.`, {
            hint: `${suggestion ? `Did you mean "${suggestion}"? ` : ''}${from} provides ${variables.join(', ')}.`,
          })
        }
        if (service === from) throw new UserError(`${this.where(fromNode)}: \`${prefix}.${variable}\` takes a value from ${service} itself.`, {hint: 'Name another backing service in `from`.'})
      }
    }
    for (const pair of services.items) {
      const service = String((pair.key as YamlNode & {value?: unknown}).value)
      if (isMap(pair.value)) check(service, pair.value.get('env', true), `services.${service}.env`)
    }
    const environments = root.get('environments', true)
    if (!isMap(environments)) return
    for (const environment of environments.items) {
      const overrides = isMap(environment.value) ? environment.value.get('services', true) : undefined
      if (!isMap(overrides)) continue
      for (const pair of overrides.items) {
        const service = String((pair.key as YamlNode & {value?: unknown}).value)
        const name = String((environment.key as YamlNode & {value?: unknown}).value)
        if (isMap(pair.value)) check(service, pair.value.get('env', true), `environments.${name}.services.${service}.env`)
      }
    }
  }

  /** `dependsOn` must name services of this file, and never lead back to the service itself. */
  private dependencies(services: YamlNode): void {
    if (!isMap(services)) return
    const names = services.items.map((pair) => String((pair.key as YamlNode & {value?: unknown}).value))
    const edges = new Map<string, string[]>()
    for (const pair of services.items) {
      const service = String((pair.key as YamlNode & {value?: unknown}).value)
      const list = isMap(pair.value) ? (pair.value.get('dependsOn', true) as YamlNode | undefined) : undefined
      const dependencies: string[] = []
      for (const item of isSeq(list) ? list.items : []) {
        const dependency = String((item as YamlNode & {value?: unknown}).value)
        if (!names.includes(dependency)) {
          const suggestion = closest(dependency, names)
          throw new UserError(`${this.where(item as YamlNode)}: \`services.${service}.dependsOn\` names "${dependency}", which is not a service of this file.`, {
            hint: suggestion ? `Did you mean "${suggestion}"?` : `Its services: ${names.join(', ')}.`,
          })
        }
        dependencies.push(dependency)
      }
      edges.set(service, dependencies)
    }
    const visiting: string[] = []
    const done = new Set<string>()
    const visit = (service: string): void => {
      if (done.has(service)) return
      const index = visiting.indexOf(service)
      if (index >= 0) {
        const cycle = [...visiting.slice(index), service]
        const node = services.items.find((pair) => String((pair.key as YamlNode & {value?: unknown}).value) === service)?.key as YamlNode | undefined
        throw new UserError(`${this.where(node)}: the services depend on each other in a circle (${cycle.join(' → ')}), so none could start first.`, {
          hint: 'Remove one of those `dependsOn` entries.',
        })
      }
      visiting.push(service)
      for (const dependency of edges.get(service) ?? []) visit(dependency)
      visiting.pop()
      done.add(service)
    }
    for (const name of names) visit(name)
  }

  private where(node: YamlNode | null | undefined): string {
    const offset = node?.range?.[0]
    if (offset === undefined) return this.configPath
    const {line, col} = this.lineCounter.linePos(offset)
    return `${this.configPath}:${line}:${col}`
  }

  private show(node: YamlNode | null): string {
    if (node === null || (isScalar(node) && node.value === null)) return 'empty'
    if (isScalar(node)) return JSON.stringify(node.value)
    if (isSeq(node)) return 'a list'
    if (isMap(node)) return 'a map'
    return 'something else'
  }
}

function stringifyMap(map: Record<string, unknown> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(map ?? {}).map(([key, value]) => [key, String(value)]))
}

export function environmentNames(file: ConfigFile): string[] {
  return [...new Set([DEFAULT_ENVIRONMENT, ...Object.keys(file.environments ?? {})])].sort()
}

/** The app's name when neither the file nor a flag gives one: the folder name made DNS-1123 safe. */
export function defaultName(projectDir: string): string {
  const name = toDns1123Label(path.basename(path.resolve(projectDir)))
  if (!name) {
    throw new UserError(`Cannot make an app name from the folder name "${path.basename(path.resolve(projectDir))}".`, {
      hint: 'Pass --name (lowercase letters, digits and "-") or set `name:` in devkube.yaml.',
    })
  }
  return name
}

/**
 * Merges defaults, the file, the environment's overrides and the flags into the values a command
 * uses. `detected` carries what app detection found (language, port) for keys nobody set.
 */
export function resolveConfig(
  projectDir: string,
  overrides: ConfigOverrides = {},
  detected: {lang?: Language; port?: number} = {},
  loaded = readConfigFile(projectDir),
  detectService: DetectService = () => ({}),
): AppConfig {
  const {file, configPath} = loaded
  const environment = overrides.environment ?? DEFAULT_ENVIRONMENT
  const names = environmentNames(file)
  if (!names.includes(environment)) {
    const suggestion = closest(environment, names)
    throw new UserError(`Unknown environment "${environment}".`, {
      hint: `Known environments: ${names.join(', ')}${suggestion ? ` (did you mean "${suggestion}"?)` : ''}. Add it under \`environments:\` in devkube.yaml.`,
    })
  }
  const layer = file.environments?.[environment] ?? {}
  const name = overrides.name ?? file.name ?? defaultName(projectDir)
  const pick = <K extends keyof typeof layer>(key: K) => layer[key] ?? file[key]
  // A single app is one service named after it: `--port NAME=P` is its --port.
  const port = overrides.servicePorts?.[name] ?? overrides.port ?? pick('port') ?? detected.port ?? DEFAULT_PORT
  const build = {...file.build, ...layer.build}
  const resources = pick('resources')
  const strategy = pick('strategy')
  const envFileSetting = pick('envFile')
  const envFilePath = path.resolve(projectDir, envFileSetting ?? '.env')
  if (envFileSetting && !existsSync(envFilePath)) {
    throw new UserError(`The env file ${envFileSetting} named by \`envFile\` does not exist.`, {
      hint: `Create ${envFileSetting} (KEY=value lines) or remove \`envFile\` from devkube.yaml.`,
    })
  }
  const context = path.resolve(projectDir, build.context ?? '.')
  const resolved: AppConfig = {
    projectDir: path.resolve(projectDir),
    configPath,
    environment,
    environmentNames: names,
    name,
    lang: overrides.lang ?? file.lang ?? detected.lang,
    cluster: overrides.cluster ?? pick('cluster') ?? DEFAULT_CLUSTER,
    namespace: overrides.namespace ?? pick('namespace') ?? (environment === DEFAULT_ENVIRONMENT ? name : `${name}-${environment}`),
    port,
    forward: overrides.serviceForwards?.[name] ?? overrides.forward ?? pick('forward') ?? port,
    replicas: overrides.replicas ?? pick('replicas') ?? 1,
    build: {
      context,
      dockerfile: path.resolve(context, build.dockerfile ?? 'Dockerfile'),
      ...(build.target ? {target: build.target} : {}),
      args: {...stringifyMap(file.build?.args), ...stringifyMap(layer.build?.args), ...overrides.buildArgs},
    },
    manifests: path.resolve(projectDir, pick('manifests') ?? 'k8s'),
    env: {...stringifyMap(file.env), ...stringifyMap(layer.env)},
    envFile: existsSync(envFilePath) ? envFilePath : undefined,
    healthPath: pick('healthPath') ?? '/',
    resources: {
      requests: {...DEFAULT_RESOURCES.requests, ...resources?.requests},
      limits: {...DEFAULT_RESOURCES.limits, ...resources?.limits},
    },
    strategy: {maxSurge: strategy?.maxSurge ?? 1, maxUnavailable: strategy?.maxUnavailable ?? 0},
    sync: pick('sync'),
    devCommand: pick('dev')?.command,
    services: [],
    registry: resolveRegistry(file.registry, overrides.registry),
  }
  resolved.services = file.services ? resolveServices(resolved, file, overrides, detectService) : [singleService(resolved)]
  checkServicePortFlags(resolved, overrides, Boolean(file.services))
  if (file.services) {
    // App-wide values that name one port (doctor's port check, status's probe) follow the first service with one.
    const first = resolved.services.find((service) => service.port !== undefined)
    resolved.port = first?.port ?? resolved.port
    resolved.forward = first?.forward ?? resolved.port
  }
  return resolved
}

/** What detection found for a built service's context (its language and port), when it found anything. */
export type DetectService = (context: string) => {lang?: Language; port?: number}

/**
 * `services:` resolved, each key lowest first: defaults, the file's top level (replicas, env,
 * healthPath, resources: app-wide defaults), the service, the environment's top level, the
 * environment's entry for the service, then flags (--replicas; --build-arg for every built service).
 */
function resolveServices(app: AppConfig, file: ConfigFile, overrides: ConfigOverrides, detectService: DetectService): ServiceConfig[] {
  const layer = file.environments?.[app.environment] ?? {}
  const builtCount = Object.values(file.services ?? {}).filter((service) => service.build).length
  return Object.entries(file.services ?? {}).map(([name, service]) => {
    const override = layer.services?.[name] ?? {}
    const pick = <K extends keyof ServiceOverrides>(key: K) => override[key] ?? service[key]
    let source: ServiceSource
    let detected: {lang?: Language; port?: number} = {}
    if (service.build) {
      const build = {...service.build, ...override.build}
      const context = path.resolve(app.projectDir, build.context ?? '.')
      detected = service.lang || pick('port') || service.ports ? {lang: service.lang} : detectService(context)
      source = {
        kind: 'build',
        context,
        dockerfile: path.resolve(context, build.dockerfile ?? 'Dockerfile'),
        args: {...stringifyMap(service.build.args), ...stringifyMap(override.build?.args), ...overrides.buildArgs},
        target: build.target,
      }
    } else if (service.backing) {
      source = {kind: 'backing', engine: service.backing, version: pick('version'), image: pick('image')}
    } else {
      source = {kind: 'image', image: pick('image')!}
    }
    const resources = [file.resources, service.resources, layer.resources, override.resources]
    const envFileSetting = pick('envFile')
    const envFiles = (envFileSetting === undefined ? [] : Array.isArray(envFileSetting) ? envFileSetting : [envFileSetting]).map((relative) => {
      const absolute = path.resolve(app.projectDir, relative)
      if (!existsSync(absolute)) {
        throw new UserError(`The env file ${relative} named by \`services.${name}.envFile\` does not exist.`, {
          hint: `Create ${relative} (KEY=value lines) or remove it from \`envFile\` of that service in devkube.yaml.`,
        })
      }
      return absolute
    })
    // Lowest first, per variable: a later layer's plain value replaces an earlier `{from, key}` and the other way round.
    const env: Record<string, string | number | boolean | ConnectionRef> = {...file.env, ...service.env, ...layer.env, ...override.env}
    const isRef = (value: unknown): value is ConnectionRef => typeof value === 'object' && value !== null
    const job = service.kind === 'job'
    // The plain --port/--forward of a one-app command line mean the app's only built service (checkServicePortFlags).
    const plain = source.kind === 'build' && builtCount === 1
    return {
      name,
      source,
      lang: service.lang ?? detected.lang,
      port: overrides.servicePorts?.[name] ?? (plain ? overrides.port : undefined) ?? pick('port') ?? pick('ports')?.[0] ?? detected.port ?? (source.kind === 'backing' && isBackingEngine(source.engine) ? backingPort(source.engine) : undefined),
      forward: overrides.serviceForwards?.[name] ?? (plain ? overrides.forward : undefined) ?? pick('forward'),
      // A Job runs one pod to completion: replicas (and --replicas) mean nothing to it.
      replicas: source.kind === 'backing' || job ? 1 : (overrides.replicas ?? override.replicas ?? layer.replicas ?? service.replicas ?? file.replicas ?? 1),
      job,
      env: stringifyMap(Object.fromEntries(Object.entries(env).filter(([, value]) => !isRef(value)))),
      connectionRefs: Object.entries(env).flatMap(([variable, value]) => (isRef(value) ? [{name: variable, from: value.from, key: value.key}] : [])),
      envFiles,
      healthPath: override.healthPath ?? layer.healthPath ?? service.healthPath ?? file.healthPath ?? '/',
      probe: pick('probe'),
      volumes: (pick('volumes') ?? []).map((volume) => ({name: volume.name, path: volume.path, size: volume.size ?? DEFAULT_VOLUME_SIZE})),
      resources: {
        requests: Object.assign({...DEFAULT_RESOURCES.requests}, ...resources.map((entry) => entry?.requests ?? {})),
        limits: Object.assign({...DEFAULT_RESOURCES.limits}, ...resources.map((entry) => entry?.limits ?? {})),
      },
      strategy: app.strategy,
      command: pick('command'),
      args: pick('args'),
      dependsOn: service.dependsOn ?? [],
      sync: service.sync,
      devCommand: service.dev?.command,
    }
  })
}

/**
 * `--port`/`--forward` as given: SERVICE=PORT must name a service (with a port, for --forward); the plain
 * PORT of an app with `services:` means its one built service, and is refused when it has several.
 */
function checkServicePortFlags(config: AppConfig, overrides: ConfigOverrides, servicesFile: boolean): void {
  const names = config.services.map((service) => service.name)
  const built = config.services.filter((service) => service.source.kind === 'build')
  for (const [flag, plain, byService] of [['--port', overrides.port, overrides.servicePorts], ['--forward', overrides.forward, overrides.serviceForwards]] as const) {
    for (const [name, value] of Object.entries(byService ?? {})) {
      const service = config.services.find((candidate) => candidate.name === name)
      if (!service) {
        const suggestion = closest(name, names)
        throw new UserError(`${flag} ${name}=${value} names no service of ${config.name}.`, {
          hint: `Its services: ${names.join(', ')}${suggestion ? ` (did you mean ${flag} ${suggestion}=${value}?)` : ''}.`,
        })
      }
      if (flag === '--forward' && service.port === undefined) {
        throw new UserError(`${flag} ${name}=${value}: the service ${name} has no port to forward.`, {
          hint: `Give it one in devkube.yaml (\`services.${name}.port\`), or forward a service that has one: ${config.services.filter((candidate) => candidate.port !== undefined).map((candidate) => candidate.name).join(', ') || 'none has'}.`,
        })
      }
    }
    if (plain !== undefined && servicesFile && built.length !== 1) {
      throw new UserError(`${flag} ${plain} does not say which service it is for: ${config.name} ${built.length === 0 ? 'builds none' : `builds ${built.map((service) => service.name).join(' and ')}`}.`, {
        hint: `Name the service, e.g. ${flag} ${(built[0] ?? config.services[0]).name}=${plain} (repeatable); its services: ${names.join(', ')}.`,
      })
    }
  }
}

/** A single-app devkube.yaml (no `services:`): one built service named after the app, with its k8s/ folder. */
function singleService(config: AppConfig): ServiceConfig {
  return {
    name: config.name,
    source: {kind: 'build', context: config.build.context, dockerfile: config.build.dockerfile, args: config.build.args, target: config.build.target},
    lang: config.lang,
    port: config.port,
    forward: config.forward,
    replicas: config.replicas,
    job: false,
    env: config.env,
    connectionRefs: [],
    envFiles: config.envFile ? [config.envFile] : [],
    healthPath: config.healthPath,
    volumes: [],
    resources: config.resources,
    strategy: config.strategy,
    dependsOn: [],
    manifests: config.manifests,
    sync: config.sync,
    devCommand: config.devCommand,
  }
}

/** The build context and Dockerfile must stay inside the project: devkube hashes and sends that folder. */
export function checkBuildPaths(config: AppConfig, build: {context: string; dockerfile: string} = config.build): void {
  const inside = (target: string) => {
    const relative = path.relative(config.projectDir, target)
    return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative))
  }
  if (!inside(build.context)) {
    throw new UserError(`The build context ${build.context} is outside the project folder ${config.projectDir}.`, {
      hint: 'Set `build.context` in devkube.yaml to a folder inside the project (usually ".").',
    })
  }
  if (!inside(build.dockerfile)) {
    throw new UserError(`The Dockerfile ${build.dockerfile} is outside the project folder.`, {
      hint: 'Set `build.dockerfile` to a path inside the project.',
    })
  }
}
