/**
 * The schema of devkube.yaml as data: what each key holds and what values it allows. config.ts walks
 * it to validate a file and to produce error messages that name the key and what is allowed.
 */
import {isDns1123Label, KIND_CLUSTER_NAME} from './names.js'

export const LANGUAGES = ['node', 'python', 'go', 'static', 'dockerfile'] as const
export type Language = (typeof LANGUAGES)[number]

export type FieldSpec =
  | {kind: 'string'; check?: (value: string) => string | undefined}
  | {kind: 'int'; min: number; max: number}
  | {kind: 'enum'; values: readonly string[]}
  | {kind: 'scalarMap'; keyCheck?: (key: string) => string | undefined}
  | {kind: 'intOrPercent'}
  | {kind: 'object'; fields: Record<string, FieldSpec>}
  | {kind: 'environments'}
  /** A map of names to objects of the same shape, some keys required (`targets:`). */
  | {kind: 'namedObjects'; fields: Record<string, FieldSpec>; required: string[]}
  | {kind: 'bool'}
  | {kind: 'stringList'}
  | {kind: 'intList'; min: number; max: number}
  /** `true`/`false`, or a map of these fields meaning "on, with these settings" (`registry:`). */
  | {kind: 'boolOrObject'; fields: Record<string, FieldSpec>}
  /** A map of service names (DNS-1123) to settings with these fields. */
  | {kind: 'services'; fields: Record<string, FieldSpec>; overrides: boolean}
  /** A map of env var names to values: a scalar, or `{from: <backing service>, key: <VAR it provides>}`. */
  | {kind: 'envMap'}
  /** One path, or a list of paths applied in order (compose's env_file). */
  | {kind: 'pathList'}
  /** A list of maps with these fields, some required (`volumes:`). */
  | {kind: 'objectList'; fields: Record<string, FieldSpec>; required: string[]}
  /** A map with these fields, some required (`probe:` needs `exec`). */
  | {kind: 'requiredObject'; fields: Record<string, FieldSpec>; required: string[]}

const dnsLabel = (value: string) =>
  isDns1123Label(value)
    ? undefined
    : 'lowercase letters, digits and "-", starting and ending with a letter or digit, at most 63 characters (DNS-1123)'

const clusterName = (value: string) =>
  KIND_CLUSTER_NAME.test(value) ? undefined : 'lowercase letters, digits, "." and "-" (kind cluster names)'

const relativePath = (value: string) => (value.trim() === '' ? 'a path relative to the project folder' : undefined)

const urlPath = (value: string) => (value.startsWith('/') ? undefined : 'an HTTP path starting with "/"')

const ENV_VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
export const envVarName = (key: string) => (ENV_VAR_NAME.test(key) ? undefined : 'environment variable names (letters, digits and "_", not starting with a digit)')

// Kubernetes resource quantities: "250m", "0.5", "128Mi", "1G".
const QUANTITY = /^\d+(\.\d+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/
const quantity = (value: string) => (QUANTITY.test(value) ? undefined : 'a Kubernetes quantity such as "250m", "1", "128Mi" or "1Gi"')

const resourceAmounts: FieldSpec = {
  kind: 'object',
  fields: {cpu: {kind: 'string', check: quantity}, memory: {kind: 'string', check: quantity}},
}

/** docker build settings, the same for a one-app file and for each service. */
const buildSettings: FieldSpec = {
  kind: 'object',
  fields: {
    context: {kind: 'string', check: relativePath},
    dockerfile: {kind: 'string', check: relativePath},
    target: {kind: 'string'},
    args: {kind: 'scalarMap'},
  },
}

/** Keys an environment may override: everything but the app's identity and the environments themselves. */
export const OVERRIDABLE_FIELDS: Record<string, FieldSpec> = {
  cluster: {kind: 'string', check: clusterName},
  namespace: {kind: 'string', check: dnsLabel},
  port: {kind: 'int', min: 1, max: 65_535},
  forward: {kind: 'int', min: 1, max: 65_535},
  replicas: {kind: 'int', min: 0, max: 1000},
  build: buildSettings,
  manifests: {kind: 'string', check: relativePath},
  env: {kind: 'scalarMap', keyCheck: envVarName},
  envFile: {kind: 'string', check: relativePath},
  healthPath: {kind: 'string', check: urlPath},
  resources: {kind: 'object', fields: {requests: resourceAmounts, limits: resourceAmounts}},
  strategy: {kind: 'object', fields: {maxSurge: {kind: 'intOrPercent'}, maxUnavailable: {kind: 'intOrPercent'}}},
  // `up --watch` of a single-app file: live sync on or off, and the command pods run while watching (issue 12).
  sync: {kind: 'bool'},
  dev: {kind: 'object', fields: {command: {kind: 'stringList'}}},
}

// A registry as docker names it: a host (optionally :port) and an optional path; no scheme, no tag.
const REGISTRY = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d+)?(\/[a-z0-9._-]+)*$/
const registryName = (value: string) => (REGISTRY.test(value) ? undefined : 'a registry host with an optional path, without https:// or a tag, such as "ghcr.io/acme" or "registry.example.com:5000/team"')
const contextName = (value: string) => (value.trim() === '' ? 'the name of a context in your kubeconfig (`kubectl config get-contexts -o name`)' : undefined)

/** A cluster devkube deploys to with `up --target NAME` (issue 13): never the current context implicitly. */
export const TARGET_FIELDS: Record<string, FieldSpec> = {
  context: {kind: 'string', check: contextName},
  registry: {kind: 'string', check: registryName},
  namespace: {kind: 'string', check: dnsLabel},
  environment: {kind: 'string', check: (value) => (ENVIRONMENT_NAME.test(value) ? undefined : 'an environment name (lowercase letters, digits and "-")')},
}

/** `registry: {port, name, image}`: the local registry container devkube starts when it finds none. */
export const REGISTRY_FIELDS: Record<string, FieldSpec> = {
  port: {kind: 'int', min: 1, max: 65_535},
  name: {kind: 'string', check: (value) => (/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(value) ? undefined : 'a docker container name (letters, digits, "_", "." and "-")')},
  image: {kind: 'string'},
}

/** Backing services devkube runs from their official images as a StatefulSet with a volume. */
export const BACKING_ENGINE_NAMES = ['postgres', 'mysql', 'mariadb', 'redis', 'mongodb', 'rabbitmq'] as const

const port: FieldSpec = {kind: 'int', min: 1, max: 65_535}

const probeSeconds: FieldSpec = {kind: 'int', min: 1, max: 3600}

/** An exec probe (compose's CMD / CMD-SHELL healthcheck): the command, and the kubelet's timings. */
const execProbe: FieldSpec = {
  kind: 'requiredObject',
  fields: {
    exec: {kind: 'stringList'},
    initialDelaySeconds: {kind: 'int', min: 0, max: 3600},
    periodSeconds: probeSeconds,
    timeoutSeconds: probeSeconds,
    failureThreshold: {kind: 'int', min: 1, max: 100},
  },
  required: ['exec'],
}

/** A named volume of a service: a PersistentVolumeClaim mounted at `path`. */
const serviceVolumes: FieldSpec = {
  kind: 'objectList',
  fields: {
    name: {kind: 'string', check: dnsLabel},
    path: {kind: 'string', check: (value) => (value.startsWith('/') ? undefined : 'an absolute path in the container, such as "/data"')},
    size: {kind: 'string', check: quantity},
  },
  required: ['name', 'path'],
}

/** What a service runs as: a Deployment kept running, or a Job run once to completion. */
export const SERVICE_KINDS = ['deployment', 'job'] as const

/** Keys of a service that an environment may override (`environments.<env>.services.<name>`). */
export const SERVICE_OVERRIDABLE_FIELDS: Record<string, FieldSpec> = {
  image: {kind: 'string'},
  version: {kind: 'string'},
  port,
  ports: {kind: 'intList', min: 1, max: 65_535},
  forward: port,
  replicas: {kind: 'int', min: 0, max: 1000},
  env: {kind: 'envMap'},
  envFile: {kind: 'pathList'},
  probe: execProbe,
  // A size per environment makes sense (a bigger staging volume); the list replaces the service's.
  volumes: serviceVolumes,
  healthPath: {kind: 'string', check: urlPath},
  resources: {kind: 'object', fields: {requests: resourceAmounts, limits: resourceAmounts}},
  command: {kind: 'stringList'},
  // The image's CMD replaced, its ENTRYPOINT kept (Kubernetes' args; what compose's `command` means).
  args: {kind: 'stringList'},
  build: buildSettings,
}

export const SERVICE_FIELDS: Record<string, FieldSpec> = {
  ...SERVICE_OVERRIDABLE_FIELDS,
  backing: {kind: 'enum', values: BACKING_ENGINE_NAMES},
  // Not overridable: a Job in one environment and a Deployment in another would be two different apps.
  kind: {kind: 'enum', values: SERVICE_KINDS},
  lang: {kind: 'enum', values: LANGUAGES},
  dependsOn: {kind: 'stringList'},
  sync: {kind: 'bool'},
  dev: {kind: 'object', fields: {command: {kind: 'stringList'}}},
}

/** What an environment may set: the app-wide overrides, and per-service ones. */
export const ENVIRONMENT_FIELDS: Record<string, FieldSpec> = {
  ...OVERRIDABLE_FIELDS,
  services: {kind: 'services', fields: SERVICE_OVERRIDABLE_FIELDS, overrides: true},
}

export const CONFIG_FIELDS: Record<string, FieldSpec> = {
  name: {kind: 'string', check: dnsLabel},
  lang: {kind: 'enum', values: LANGUAGES},
  framework: {kind: 'string'},
  package: {kind: 'string', check: relativePath},
  ...OVERRIDABLE_FIELDS,
  services: {kind: 'services', fields: SERVICE_FIELDS, overrides: false},
  environments: {kind: 'environments'},
  targets: {kind: 'namedObjects', fields: TARGET_FIELDS, required: ['context', 'registry']},
  // A local registry for kind (issue 12): images are pushed to it instead of `kind load`ed.
  registry: {kind: 'boolOrObject', fields: REGISTRY_FIELDS},
}

export const ENVIRONMENT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/

/** What a value of this spec looks like, for "must be …" messages. */
export function describeSpec(spec: FieldSpec): string {
  switch (spec.kind) {
    case 'string': {
      return 'a string'
    }
    case 'int': {
      return `a whole number from ${spec.min} to ${spec.max}`
    }
    case 'enum': {
      return `one of ${spec.values.join(', ')}`
    }
    case 'scalarMap': {
      return 'a map of names to values (strings, numbers or booleans)'
    }
    case 'intOrPercent': {
      return 'a whole number or a percentage such as "25%"'
    }
    case 'object': {
      return `a map with the keys ${Object.keys(spec.fields).join(', ')}`
    }
    case 'environments': {
      return 'a map of environment names to settings'
    }
    case 'namedObjects': {
      return `a map of names to maps with the keys ${Object.keys(spec.fields).join(', ')} (${spec.required.join(' and ')} required)`
    }
    case 'bool': {
      return 'true or false'
    }
    case 'boolOrObject': {
      return `true, false, or a map with the keys ${Object.keys(spec.fields).join(', ')}`
    }
    case 'stringList': {
      return 'a list of strings'
    }
    case 'intList': {
      return `a list of whole numbers from ${spec.min} to ${spec.max}`
    }
    case 'services': {
      return 'a map of service names to their settings'
    }
    case 'envMap': {
      return 'a map of variable names to values (strings, numbers, booleans, or {from: <backing service>, key: <variable>})'
    }
    case 'pathList': {
      return 'a path relative to the project folder, or a list of them'
    }
    case 'objectList': {
      return `a list of maps with the keys ${Object.keys(spec.fields).join(', ')} (${spec.required.join(' and ')} required)`
    }
    case 'requiredObject': {
      return `a map with the keys ${Object.keys(spec.fields).join(', ')} (${spec.required.join(' and ')} required)`
    }
  }
}
