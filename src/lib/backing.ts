/**
 * Backing services: databases, caches and brokers from their official images, each a StatefulSet with a volume
 * (so the data outlives pods and redeploys), a Service, and a Secret `<service>-credentials` with a password that
 * is generated once and never printed. Services that depend on one get its connection settings from that Secret.
 *
 * The manifests are templates/backing/<engine>.yaml; this module fills them in and says which Secret keys the
 * images and the dependents read. Labels, namespace and hashes are laid over the objects by the caller.
 */
import {randomBytes} from 'node:crypto'
import {parseAllDocuments} from 'yaml'
import type {ServiceConfig} from './config.js'
import {UserError} from './errors.js'
import type {Kube, KubeObject} from './kube.js'
import {registerSecret} from './secrets.js'
import {renderTemplate} from './templates.js'

export type BackingEngine = 'postgres' | 'mysql' | 'mariadb' | 'redis' | 'mongodb' | 'rabbitmq'

export const BACKING_ENGINES: readonly BackingEngine[] = ['postgres', 'mysql', 'mariadb', 'redis', 'mongodb', 'rabbitmq']

export interface BackingSpec {
  /** The service's name in devkube.yaml: the StatefulSet, the Service (its host name) and the Secret's prefix. */
  service: string
  engine: BackingEngine
  /** Replaces the official image (tests use stand-ins). */
  image?: string
  /** The official image's tag. */
  version?: string
}

export interface BackingCredentials {
  user: string
  password: string
  database: string
}

export interface ConnectionEnvVar {
  name: string
  valueFrom?: unknown
  value?: string
}

interface EngineFacts {
  /** Docker Hub repository of the official image, and the tag used when devkube.yaml names no version. */
  repository: string
  defaultTag: string
  port: number
  /** URI scheme of the connection string. */
  scheme: string
  /** What the image creates on its first start. Redis has one user ("default") and numbered databases. */
  user: string
  database: string
  /** Env var names a dependent receives, by Secret key. */
  env: Array<[name: string, key: SecretKey]>
}

/** The keys of the Kubernetes Service Binding specification: what client libraries already look for. */
type SecretKey = 'type' | 'host' | 'port' | 'username' | 'password' | 'database' | 'uri'

const ENGINES: Record<BackingEngine, EngineFacts> = {
  postgres: {
    repository: 'postgres',
    defaultTag: '16',
    port: 5432,
    scheme: 'postgresql',
    user: 'app',
    database: 'app',
    env: [
      ['DATABASE_URL', 'uri'],
      ['POSTGRES_HOST', 'host'],
      ['POSTGRES_PORT', 'port'],
      ['POSTGRES_USER', 'username'],
      ['POSTGRES_PASSWORD', 'password'],
      ['POSTGRES_DB', 'database'],
      // libpq's own variables: psql, psycopg and node-postgres connect with nothing else set.
      ['PGHOST', 'host'],
      ['PGPORT', 'port'],
      ['PGUSER', 'username'],
      ['PGPASSWORD', 'password'],
      ['PGDATABASE', 'database'],
    ],
  },
  mysql: {
    repository: 'mysql',
    defaultTag: '8.4',
    port: 3306,
    scheme: 'mysql',
    user: 'app',
    database: 'app',
    env: mysqlEnv(),
  },
  mariadb: {
    repository: 'mariadb',
    defaultTag: '11',
    port: 3306,
    scheme: 'mysql',
    user: 'app',
    database: 'app',
    env: mysqlEnv(),
  },
  redis: {
    repository: 'redis',
    defaultTag: '7',
    port: 6379,
    scheme: 'redis',
    user: 'default',
    database: '0',
    env: [
      ['REDIS_URL', 'uri'],
      ['REDIS_HOST', 'host'],
      ['REDIS_PORT', 'port'],
      ['REDIS_PASSWORD', 'password'],
    ],
  },
  mongodb: {
    repository: 'mongo',
    defaultTag: '7',
    port: 27_017,
    scheme: 'mongodb',
    user: 'app',
    database: 'app',
    env: [
      ['MONGODB_URI', 'uri'],
      ['MONGO_URL', 'uri'],
      ['MONGODB_HOST', 'host'],
      ['MONGODB_PORT', 'port'],
      ['MONGODB_USERNAME', 'username'],
      ['MONGODB_PASSWORD', 'password'],
      ['MONGODB_DATABASE', 'database'],
    ],
  },
  rabbitmq: {
    repository: 'rabbitmq',
    // With the management UI (port 15672): what a developer wants locally.
    defaultTag: '3-management',
    port: 5672,
    scheme: 'amqp',
    user: 'app',
    // The default virtual host.
    database: '/',
    env: [
      ['AMQP_URL', 'uri'],
      ['RABBITMQ_URL', 'uri'],
      ['RABBITMQ_HOST', 'host'],
      ['RABBITMQ_PORT', 'port'],
      ['RABBITMQ_USER', 'username'],
      ['RABBITMQ_PASSWORD', 'password'],
      ['RABBITMQ_VHOST', 'database'],
    ],
  },
}

function mysqlEnv(): EngineFacts['env'] {
  return [
    ['DATABASE_URL', 'uri'],
    ['MYSQL_HOST', 'host'],
    ['MYSQL_PORT', 'port'],
    ['MYSQL_USER', 'username'],
    ['MYSQL_PASSWORD', 'password'],
    ['MYSQL_DATABASE', 'database'],
  ]
}

/** 32 hex digits (128 bits): safe in a URL, a shell word and a command-line argument without quoting. */
const PASSWORD_BYTES = 16

export function isBackingEngine(value: string): value is BackingEngine {
  return (BACKING_ENGINES as readonly string[]).includes(value)
}

/** A `backing:` service of devkube.yaml as this module sees it. */
export function backingSpec(service: ServiceConfig): BackingSpec {
  if (service.source.kind !== 'backing' || !isBackingEngine(service.source.engine)) throw new Error(`${service.name} is not a backing service`)
  return {service: service.name, engine: service.source.engine, image: service.source.image, version: service.source.version}
}

export function backingImage(spec: BackingSpec): string {
  if (spec.image) return spec.image
  const facts = ENGINES[spec.engine]
  return `${facts.repository}:${spec.version ?? facts.defaultTag}`
}

export function backingPort(engine: BackingEngine): number {
  return ENGINES[engine].port
}

export function credentialsSecretName(service: string): string {
  return `${service}-credentials`
}

/** The StatefulSet and Service from templates/backing/<engine>.yaml, and the credentials Secret. */
export function backingObjects(spec: BackingSpec, credentials: BackingCredentials): KubeObject[] {
  const secret = credentialsSecretName(spec.service)
  const template = `backing/${spec.engine}.yaml`
  const workload = renderedObjects(template, {name: spec.service, image: backingImage(spec), secret})
  const data = secretData(spec, credentials)
  const base64 = Object.fromEntries(Object.entries(data).map(([key, value]) => [key, Buffer.from(value).toString('base64')]))
  return [...workload, ...renderedObjects('backing/secret.yaml', {secret, ...base64})]
}

/**
 * The credentials Secret as another tool must make it (export): the keys that hold no secret, and the
 * connection URI with `passwordMarker` where the password goes. No password is generated or read.
 */
export function credentialsShape(spec: BackingSpec, passwordMarker: string): {secret: string; data: Record<string, string>; uri: string} {
  const facts = ENGINES[spec.engine]
  const {password: _, uri, ...data} = secretData(spec, {user: facts.user, password: passwordMarker, database: facts.database})
  return {secret: credentialsSecretName(spec.service), data, uri}
}

/** renderTemplate has checked the YAML already; what is left is turning each document into an object. */
function renderedObjects(template: string, values: Record<string, string>): KubeObject[] {
  return parseAllDocuments(renderTemplate(template, values))
    .map((document) => document.toJS() as KubeObject | null)
    .filter((object): object is KubeObject => object !== null)
}

/** What the Secret holds, decoded: every value a dependent's connection env reads. */
export function secretData(spec: BackingSpec, credentials: BackingCredentials): Record<SecretKey, string> {
  const facts = ENGINES[spec.engine]
  const host = spec.service
  return {
    type: spec.engine,
    host,
    port: String(facts.port),
    username: credentials.user,
    password: credentials.password,
    database: credentials.database,
    uri: connectionUri(spec.engine, host, credentials),
  }
}

function connectionUri(engine: BackingEngine, host: string, {user, password, database}: BackingCredentials): string {
  const facts = ENGINES[engine]
  const address = `${host}:${facts.port}`
  const secret = encodeURIComponent(password)
  switch (engine) {
    case 'redis': {
      // Redis 6+ accepts the password alone (user "default"); every client reads this form.
      return `redis://:${secret}@${address}/${database}`
    }
    case 'mongodb': {
      // The image creates its user in the admin database, whichever database the app works in.
      return `mongodb://${encodeURIComponent(user)}:${secret}@${address}/${encodeURIComponent(database)}?authSource=admin`
    }
    default: {
      // The AMQP URI spec takes the vhost as one encoded path segment: "/" is "%2F".
      return `${facts.scheme}://${encodeURIComponent(user)}:${secret}@${address}/${encodeURIComponent(database)}`
    }
  }
}

/**
 * The credentials to deploy with: the live Secret's when it exists (the volume was initialised with them, and the
 * images read these variables on their first start only), else new ones. Either way the password is registered
 * as a secret, so it is masked in everything devkube prints.
 */
export async function resolveCredentials(kube: Kube, namespace: string, spec: BackingSpec): Promise<BackingCredentials> {
  const name = credentialsSecretName(spec.service)
  const live = await kube.getJson<{data?: Record<string, string>}>(['secret', name], namespace, true)
  if (live) {
    const decoded = (key: SecretKey) => {
      const value = live.data?.[key]
      return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8')
    }
    const password = decoded('password')
    if (password === undefined) {
      throw new UserError(`The Secret ${name} in namespace ${namespace} has no password, so devkube cannot tell what ${spec.service}'s data was set up with.`, {
        hint: `Put the password back under the key "password", or delete ${spec.service}'s data with \`devkube down --volumes\` to start afresh.`,
      })
    }
    const facts = ENGINES[spec.engine]
    return registered(spec, {user: decoded('username') ?? facts.user, password, database: decoded('database') ?? facts.database})
  }
  await refuseOrphanedVolume(kube, namespace, spec)
  const password = randomBytes(PASSWORD_BYTES).toString('hex')
  return registered(spec, {user: ENGINES[spec.engine].user, password, database: ENGINES[spec.engine].database})
}

/**
 * Registers everything that gives the password away: the password, the connection URI, and their base64 forms (what
 * the Secret's manifest holds, and what kubectl quotes back when it refuses a patch).
 */
function registered(spec: BackingSpec, credentials: BackingCredentials): BackingCredentials {
  const {password, uri} = secretData(spec, credentials)
  for (const value of [password, uri]) {
    registerSecret(value)
    registerSecret(Buffer.from(value).toString('base64'))
  }
  return credentials
}

/**
 * A volume whose Secret is gone was set up with a password nobody has any more: the images ignore a new one on a
 * data folder that exists, so the app would fail to log in with no hint why. Say so before deploying.
 */
async function refuseOrphanedVolume(kube: Kube, namespace: string, spec: BackingSpec): Promise<void> {
  const claim = `data-${spec.service}-0`
  const volume = await kube.getJson<KubeObject>(['persistentvolumeclaim', claim], namespace, true)
  if (!volume) return
  throw new UserError(`${spec.service}'s volume (PersistentVolumeClaim ${claim}) exists but its Secret ${credentialsSecretName(spec.service)} is gone, so its password is lost.`, {
    hint: `Delete the volume with \`kubectl --context ${kube.context} -n ${namespace} delete pvc ${claim}\` (its data goes with it), or recreate the Secret with the old password.`,
  })
}

/** The variables a dependent receives from a backing service of this engine: what `{from, key}` may name. */
export function connectionVariables(engine: BackingEngine): string[] {
  return ENGINES[engine].env.map(([variable]) => variable)
}

/** `{from: <service>, key: <VARIABLE>}` in a dependent's env: a secretKeyRef into that service's credentials. */
export function connectionRef(spec: BackingSpec, variable: string, as: string): ConnectionEnvVar {
  const key = ENGINES[spec.engine].env.find(([name]) => name === variable)?.[1]
  if (!key) throw new Error(`${spec.service} (${spec.engine}) provides no ${variable}`)
  return {name: as, valueFrom: {secretKeyRef: {name: credentialsSecretName(spec.service), key}}}
}

/** Env for a service that depends on this one: every value comes from the credentials Secret. */
export function connectionEnv(spec: BackingSpec): ConnectionEnvVar[] {
  const name = credentialsSecretName(spec.service)
  return ENGINES[spec.engine].env.map(([variable, key]) => ({name: variable, valueFrom: {secretKeyRef: {name, key}}}))
}
