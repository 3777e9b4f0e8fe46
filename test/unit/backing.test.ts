import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {
  BACKING_ENGINES,
  backingImage,
  backingObjects,
  backingPort,
  connectionEnv,
  resolveCredentials,
  type BackingCredentials,
  type BackingEngine,
  type BackingSpec,
} from '../../src/lib/backing.js'
import {Kube, type KubeObject} from '../../src/lib/kube.js'
import {setCommandEcho, setRunner} from '../../src/lib/runner.js'
import {redact} from '../../src/lib/secrets.js'
import {FakeRunner} from '../support/fake-runner.js'

const credentials: BackingCredentials = {user: 'app', password: 's3cr3t-pa55', database: 'app'}

interface Container {
  name: string
  image: string
  args?: string[]
  env: Array<{name: string; value?: string; valueFrom?: {secretKeyRef: {name: string; key: string}}}>
  ports: Array<{name: string; containerPort: number}>
  volumeMounts: Array<{name: string; mountPath: string}>
  readinessProbe: {exec: {command: string[]}}
}

interface StatefulSet extends KubeObject {
  spec: {
    replicas: number
    serviceName: string
    selector: {matchLabels: Record<string, string>}
    template: {metadata: {labels: Record<string, string>}; spec: {containers: Container[]}}
    volumeClaimTemplates: Array<{metadata: {name: string}; spec: {storageClassName?: string; accessModes: string[]; resources: {requests: {storage: string}}}}>
  }
}

/** Where each official image keeps its data (its VOLUME). */
const DATA_PATHS: Record<BackingEngine, string> = {
  postgres: '/var/lib/postgresql/data',
  mysql: '/var/lib/mysql',
  mariadb: '/var/lib/mysql',
  redis: '/data',
  mongodb: '/data/db',
  rabbitmq: '/var/lib/rabbitmq',
}

function objectsOf(engine: BackingEngine, spec: Partial<BackingSpec> = {}) {
  const objects = backingObjects({service: 'db', engine, ...spec}, credentials)
  const byKind = (kind: string) => objects.filter((object) => object.kind === kind)
  const [statefulSet] = byKind('StatefulSet') as StatefulSet[]
  const [service] = byKind('Service') as Array<KubeObject & {spec: {selector: Record<string, string>; ports: Array<{port: number}>}}>
  const [secret] = byKind('Secret') as Array<KubeObject & {data: Record<string, string>}>
  const decoded = Object.fromEntries(Object.entries(secret.data).map(([key, value]) => [key, Buffer.from(value, 'base64').toString()]))
  return {objects, statefulSet, container: statefulSet.spec.template.spec.containers[0], service, secret, decoded}
}

/** The Secret key an env var of the container reads, or its plain value. */
function envSource(container: Container, name: string): string | undefined {
  const variable = container.env.find((entry) => entry.name === name)
  return variable?.valueFrom ? `secret:${variable.valueFrom.secretKeyRef.key}` : variable?.value
}

describe('backing service objects', () => {
  it('uses the official images unless devkube.yaml names a version or an image', () => {
    expect(BACKING_ENGINES.map((engine) => backingImage({service: 'db', engine}))).toEqual([
      'postgres:16',
      'mysql:8.4',
      'mariadb:11',
      'redis:7',
      'mongo:7',
      'rabbitmq:3-management',
    ])
    expect(backingImage({service: 'db', engine: 'postgres', version: '15'})).toBe('postgres:15')
    expect(backingImage({service: 'db', engine: 'postgres', version: '15', image: 'devkube-standin/postgres:16'})).toBe('devkube-standin/postgres:16')
  })

  it.each(BACKING_ENGINES)('%s: one StatefulSet with a volume on kind\'s default storage class, a Service and the Secret, named after the service', (engine) => {
    const {objects, statefulSet, container, service} = objectsOf(engine)
    expect(objects.map((object) => `${object.kind}/${object.metadata.name}`)).toEqual(['StatefulSet/db', 'Service/db', 'Secret/db-credentials'])
    expect(statefulSet.spec.replicas).toBe(1)
    expect(statefulSet.spec.serviceName).toBe('db')
    expect(statefulSet.spec.selector.matchLabels).toEqual(statefulSet.spec.template.metadata.labels)
    expect(service.spec.selector).toEqual(statefulSet.spec.selector.matchLabels)
    expect(service.spec.ports[0].port).toBe(backingPort(engine))
    expect(container.ports[0].containerPort).toBe(backingPort(engine))
    const [claim] = statefulSet.spec.volumeClaimTemplates
    expect(claim.metadata.name).toBe('data')
    expect(claim.spec.storageClassName).toBeUndefined()
    expect(claim.spec.accessModes).toEqual(['ReadWriteOnce'])
    expect(container.volumeMounts).toEqual([{name: 'data', mountPath: DATA_PATHS[engine]}])
    expect(container.readinessProbe.exec.command.length).toBeGreaterThan(0)
  })

  it('postgres: keeps its data in a subfolder of the volume and is ready only when it answers over TCP', () => {
    const {container} = objectsOf('postgres', {image: 'devkube-standin/postgres:16'})
    expect(container.image).toBe('devkube-standin/postgres:16')
    expect(container.volumeMounts[0].mountPath).toBe('/var/lib/postgresql/data')
    expect(envSource(container, 'PGDATA')).toBe('/var/lib/postgresql/data/pgdata')
    expect(['POSTGRES_USER', 'POSTGRES_PASSWORD', 'POSTGRES_DB'].map((name) => envSource(container, name))).toEqual(['secret:username', 'secret:password', 'secret:database'])
    expect(container.readinessProbe.exec.command.join(' ')).toMatch(/pg_isready -h 127\.0\.0\.1/)
  })

  it.each([
    ['mysql', 'MYSQL', 'mysqladmin'],
    ['mariadb', 'MARIADB', 'mariadb-admin'],
  ] as const)('%s: the image\'s own variables from the Secret, pinged over TCP', (engine, prefix, admin) => {
    const {container} = objectsOf(engine)
    expect(['ROOT_PASSWORD', 'USER', 'PASSWORD', 'DATABASE'].map((name) => envSource(container, `${prefix}_${name}`))).toEqual([
      'secret:password',
      'secret:username',
      'secret:password',
      'secret:database',
    ])
    expect(container.volumeMounts[0].mountPath).toBe('/var/lib/mysql')
    expect(container.readinessProbe.exec.command).toEqual([admin, 'ping', '-h', '127.0.0.1', '--silent'])
  })

  it('redis: the password reaches redis-server through the kubelet\'s $(VAR) expansion, never as a value in the pod spec', () => {
    const {container} = objectsOf('redis')
    expect(container.args?.slice(0, 2)).toEqual(['--requirepass', '$(REDIS_PASSWORD)'])
    expect(envSource(container, 'REDIS_PASSWORD')).toBe('secret:password')
    expect(envSource(container, 'REDISCLI_AUTH')).toBe('secret:password')
    expect(container.readinessProbe.exec.command.join(' ')).toMatch(/redis-cli .*ping/)
  })

  it('mongodb and rabbitmq: root user and default user from the Secret', () => {
    const mongo = objectsOf('mongodb').container
    expect(['MONGO_INITDB_ROOT_USERNAME', 'MONGO_INITDB_ROOT_PASSWORD'].map((name) => envSource(mongo, name))).toEqual(['secret:username', 'secret:password'])
    expect(mongo.readinessProbe.exec.command[0]).toBe('mongosh')
    const rabbit = objectsOf('rabbitmq').container
    expect(['RABBITMQ_DEFAULT_USER', 'RABBITMQ_DEFAULT_PASS'].map((name) => envSource(rabbit, name))).toEqual(['secret:username', 'secret:password'])
    expect(rabbit.readinessProbe.exec.command).toEqual(['rabbitmq-diagnostics', '-q', 'ping'])
  })

  it('never puts the password in the StatefulSet or the Service, only (base64) in the Secret', () => {
    for (const engine of BACKING_ENGINES) {
      const {objects, secret} = objectsOf(engine)
      for (const object of objects.filter((each) => each !== secret)) expect(JSON.stringify(object)).not.toContain(credentials.password)
      expect(JSON.stringify(secret)).not.toContain(credentials.password)
    }
  })

  it.each([
    ['postgres', 'postgresql://app:s3cr3t-pa55@db:5432/app'],
    ['mysql', 'mysql://app:s3cr3t-pa55@db:3306/app'],
    ['mariadb', 'mysql://app:s3cr3t-pa55@db:3306/app'],
    ['redis', 'redis://:s3cr3t-pa55@db:6379/0'],
    ['mongodb', 'mongodb://app:s3cr3t-pa55@db:27017/app?authSource=admin'],
    ['rabbitmq', 'amqp://app:s3cr3t-pa55@db:5672/%2F'],
  ] as const)('%s: the Secret holds every key the connection env reads, the URI among them', (engine, uri) => {
    const redisLike = engine === 'redis' ? {user: 'default', database: '0'} : engine === 'rabbitmq' ? {database: '/'} : {}
    const objects = backingObjects({service: 'db', engine}, {...credentials, ...redisLike})
    const secret = objects.find((object) => object.kind === 'Secret') as KubeObject & {data: Record<string, string>}
    const decoded = Object.fromEntries(Object.entries(secret.data).map(([key, value]) => [key, Buffer.from(value, 'base64').toString()]))
    expect(decoded.uri).toBe(uri)
    expect(decoded).toMatchObject({type: engine, host: 'db', port: String(backingPort(engine)), password: 's3cr3t-pa55'})
    for (const variable of connectionEnv({service: 'db', engine})) {
      const ref = (variable.valueFrom as {secretKeyRef: {name: string; key: string}}).secretKeyRef
      expect(ref.name).toBe('db-credentials')
      expect(decoded).toHaveProperty(ref.key)
    }
  })

  it('encodes a password with URL characters in the URI', () => {
    const objects = backingObjects({service: 'db', engine: 'postgres'}, {...credentials, password: 'a@b/c:d'})
    const secret = objects.find((object) => object.kind === 'Secret') as KubeObject & {data: Record<string, string>}
    expect(Buffer.from(secret.data.uri, 'base64').toString()).toBe('postgresql://app:a%40b%2Fc%3Ad@db:5432/app')
  })
})

describe('connection env for dependents', () => {
  const names = (engine: BackingEngine) => connectionEnv({service: 'db', engine}).map((variable) => variable.name)

  it('gives each engine the variables its clients read, all from the credentials Secret', () => {
    expect(names('postgres')).toEqual(expect.arrayContaining(['DATABASE_URL', 'POSTGRES_HOST', 'POSTGRES_PORT', 'POSTGRES_USER', 'POSTGRES_PASSWORD', 'POSTGRES_DB', 'PGHOST', 'PGPASSWORD']))
    expect(names('mysql')).toEqual(['DATABASE_URL', 'MYSQL_HOST', 'MYSQL_PORT', 'MYSQL_USER', 'MYSQL_PASSWORD', 'MYSQL_DATABASE'])
    expect(names('mariadb')).toEqual(names('mysql'))
    expect(names('redis')).toEqual(['REDIS_URL', 'REDIS_HOST', 'REDIS_PORT', 'REDIS_PASSWORD'])
    expect(names('mongodb')).toContain('MONGODB_URI')
    expect(names('rabbitmq')).toContain('AMQP_URL')
    for (const engine of BACKING_ENGINES) {
      for (const variable of connectionEnv({service: 'cache', engine})) {
        expect(variable.value).toBeUndefined()
        expect(variable.valueFrom).toEqual({secretKeyRef: {name: 'cache-credentials', key: expect.any(String)}})
      }
    }
  })

  it('points DATABASE_URL at the uri key, the password variables at the password key', () => {
    const env = connectionEnv({service: 'db', engine: 'postgres'})
    const keyOf = (name: string) => (env.find((variable) => variable.name === name)?.valueFrom as {secretKeyRef: {key: string}}).secretKeyRef.key
    expect(keyOf('DATABASE_URL')).toBe('uri')
    expect(keyOf('POSTGRES_PASSWORD')).toBe('password')
    expect(keyOf('PGHOST')).toBe('host')
  })
})

describe('credentials', () => {
  let runner: FakeRunner
  let restore: () => void
  const echoed: string[] = []
  const kube = new Kube('devkube')
  const spec: BackingSpec = {service: 'db', engine: 'postgres'}

  const liveSecret = (data: Record<string, string>) => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {name: 'db-credentials', namespace: 'shop'},
    data: Object.fromEntries(Object.entries(data).map(([key, value]) => [key, Buffer.from(value).toString('base64')])),
  })
  const notFound = (what: string) => ({exitCode: 1, stderr: `Error from server (NotFound): ${what} not found\n`})

  beforeEach(() => {
    echoed.length = 0
    runner = new FakeRunner()
    restore = setRunner(runner)
    setCommandEcho((line) => echoed.push(line))
  })

  afterEach(() => {
    setCommandEcho(undefined)
    restore()
  })

  it('reuses the live Secret\'s values: the volume was initialised with them', async () => {
    runner.when('kubectl --context kind-devkube --namespace shop get secret db-credentials', {stdout: JSON.stringify(liveSecret({username: 'app', password: 'kept-password', database: 'shopdb'}))})
    const resolved = await resolveCredentials(kube, 'shop', spec)
    expect(resolved).toEqual({user: 'app', password: 'kept-password', database: 'shopdb'})
    expect(redact('password=kept-password')).toBe('password=••••••')
    expect(runner.callsOf('kubectl get persistentvolumeclaim')).toHaveLength(0)
  })

  it('generates a new random password when there is no Secret and no volume, and masks it', async () => {
    runner.when('kubectl --context kind-devkube --namespace shop get secret', notFound('secrets "db-credentials"'))
    runner.when('kubectl --context kind-devkube --namespace shop get persistentvolumeclaim data-db-0', notFound('persistentvolumeclaims "data-db-0"'))
    const first = await resolveCredentials(kube, 'shop', spec)
    const second = await resolveCredentials(kube, 'shop', spec)
    expect(first.password).toMatch(/^[0-9a-f]{32}$/)
    expect(second.password).not.toBe(first.password)
    expect(first).toMatchObject({user: 'app', database: 'app'})
    expect(redact(`DATABASE_URL=postgresql://app:${first.password}@db:5432/app`)).not.toContain(first.password)
    // The Secret's manifest holds them base64-encoded (kubectl quotes a refused patch back).
    const objects = backingObjects(spec, first)
    const secret = objects.find((object) => object.kind === 'Secret') as KubeObject & {data: Record<string, string>}
    expect(redact(JSON.stringify(secret))).not.toContain(secret.data.password)
    expect(redact(JSON.stringify(secret))).not.toContain(secret.data.uri)
    // Nothing devkube echoed (--verbose) or passed in argv holds the password.
    expect([...echoed, ...runner.calls.map((call) => call.argv.join(' '))].join('\n')).not.toContain(first.password)
  })

  it('refuses to make a new password for a volume whose Secret was deleted', async () => {
    runner.when('kubectl --context kind-devkube --namespace shop get secret', notFound('secrets "db-credentials"'))
    runner.when('kubectl --context kind-devkube --namespace shop get persistentvolumeclaim data-db-0', {stdout: JSON.stringify({apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: {name: 'data-db-0'}})})
    await expect(resolveCredentials(kube, 'shop', spec)).rejects.toThrow(/volume .*data-db-0.* exists but its Secret db-credentials is gone/)
  })

  it('says what is wrong when the live Secret has no password', async () => {
    runner.when('kubectl --context kind-devkube --namespace shop get secret db-credentials', {stdout: JSON.stringify(liveSecret({username: 'app'}))})
    await expect(resolveCredentials(kube, 'shop', spec)).rejects.toThrow(/has no password/)
  })
})
