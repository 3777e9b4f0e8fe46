import {cpSync, existsSync, mkdtempSync, readdirSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {parseConfig, resolveConfig, type AppConfig} from '../../src/lib/config.js'
import type {KubeObject} from '../../src/lib/kube.js'
import {renderApp} from '../../src/lib/manifests.js'
import {UserError} from '../../src/lib/errors.js'
import {diagnosePod} from '../../src/lib/diagnose.js'
import type {Pod} from '../../src/lib/kube.js'

/**
 * The keys `devkube init` writes from a compose file (kind: job, probe, volumes, env {from, key}, envFile lists)
 * must be keys `up` accepts and renders: every golden devkube.yaml goes through the real loader, resolver and
 * renderer here, and each key's manifests are checked as Kubernetes would read them.
 */
const fixtures = path.resolve('test/fixtures/compose')
const shapes = readdirSync(fixtures).filter((name) => existsSync(path.join(fixtures, name, 'expected', 'devkube.yaml')))

const CREDENTIALS = {user: 'app', password: 'not-a-real-password', database: 'app'}

async function render(config: AppConfig): Promise<KubeObject[]> {
  const desired = await renderApp({
    config,
    services: config.services,
    manageNamespace: true,
    image: (service) => ({reference: `devkube.local/${service.name}:0123456789ab`}),
    credentials: async () => CREDENTIALS,
    secretEnv: (service) => (service.envFiles.length > 0 ? {FROM_FILES: 'x'} : undefined),
  })
  return desired.objects
}

/** A project folder holding devkube.yaml and the env files it names. */
function project(yaml: string, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'devkube-service-keys-'))
  writeFileSync(path.join(dir, 'devkube.yaml'), yaml)
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text)
  return dir
}

const find = (objects: KubeObject[], kind: string, name: string) => objects.find((object) => object.kind === kind && object.metadata.name === name)
type Container = {name: string; image: string; args?: string[]; command?: string[]; env?: Array<{name: string; value?: string; valueFrom?: {secretKeyRef?: {name: string; key: string}}}>; envFrom?: Array<{configMapRef?: {name: string}; secretRef?: {name: string}}>; readinessProbe?: Record<string, unknown>; livenessProbe?: unknown; volumeMounts?: Array<{name: string; mountPath: string}>}
type PodTemplate = {metadata?: {labels?: Record<string, string>}; spec: {restartPolicy?: string; containers: Container[]; volumes?: Array<{name: string; persistentVolumeClaim?: {claimName: string}}>}}
const template = (object: KubeObject | undefined) => (object?.spec as {template: PodTemplate}).template
const container = (object: KubeObject | undefined) => template(object).spec.containers[0]

describe('golden compose imports run through the config loader and the renderer', () => {
  it.each(shapes)('%s: its devkube.yaml loads, resolves and renders', async (shape) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), `devkube-golden-${shape}-`))
    cpSync(path.join(fixtures, shape), dir, {recursive: true})
    // The import writes devkube.yaml and the secret env files next to the compose file: put the golden ones there.
    cpSync(path.join(dir, 'expected'), dir, {recursive: true})
    const config = resolveConfig(dir)
    const objects = await render(config)
    for (const service of config.services) {
      const workload = objects.find((object) => ['Deployment', 'StatefulSet', 'Job'].includes(object.kind) && object.metadata.name === service.name)
      expect(workload, `${shape}: ${service.name}`).toBeDefined()
    }
    // Secret values never land in a ConfigMap.
    for (const configMap of objects.filter((object) => object.kind === 'ConfigMap')) expect(JSON.stringify(configMap)).not.toContain('FROM_FILES')
  })
})

describe('service keys as manifests', () => {
  const app = `name: shop
services:
  migrate:
    build: {context: .}
    kind: job
    args: [python, manage.py, migrate]
    env:
      CELERY_BROKER_URL: {from: broker, key: REDIS_URL}
    envFile: [one.env, two.env]
    dependsOn: [db]
  web:
    build: {context: .}
    port: 8000
    command: [/usr/bin/tini, --]
    args: [gunicorn, app:app]
    env:
      PLAIN: "1"
      DB_PASSWORD: {from: db, key: POSTGRES_PASSWORD}
    dependsOn: [migrate, db]
    volumes:
      - {name: uploads, path: /srv/uploads, size: 2Gi}
  worker:
    build: {context: .}
    replicas: 2
    probe:
      exec: [sh, -c, test -f /tmp/alive]
      periodSeconds: 15
      timeoutSeconds: 2
      failureThreshold: 4
    volumes:
      - {name: uploads, path: /data}
  db:
    backing: postgres
  broker:
    backing: redis
`
  const files = {'one.env': 'A=1\nB=from-one\n', 'two.env': 'B=from-two\n', Dockerfile: 'FROM scratch\n'}

  it('kind: job renders a Job that runs once (restartPolicy Never, a small backoffLimit), with no Service or probes', async () => {
    const objects = await render(resolveConfig(project(app, files)))
    const job = find(objects, 'Job', 'migrate')
    expect(job?.apiVersion).toBe('batch/v1')
    expect((job?.spec as {backoffLimit: number}).backoffLimit).toBeLessThanOrEqual(2)
    expect(template(job).spec.restartPolicy).toBe('Never')
    expect(container(job).image).toBe('devkube.local/migrate:0123456789ab')
    expect(container(job).args).toEqual(['python', 'manage.py', 'migrate'])
    expect(container(job).readinessProbe).toBeUndefined()
    expect(find(objects, 'Deployment', 'migrate')).toBeUndefined()
    expect(find(objects, 'Service', 'migrate')).toBeUndefined()
    expect(job?.metadata.labels?.['app.kubernetes.io/part-of']).toBe('shop')
    expect(template(job).metadata?.labels?.['app.kubernetes.io/name']).toBe('migrate')
  })

  it('command and args replace the image entrypoint and command', async () => {
    const objects = await render(resolveConfig(project(app, files)))
    expect(container(find(objects, 'Deployment', 'web')).command).toEqual(['/usr/bin/tini', '--'])
    expect(container(find(objects, 'Deployment', 'web')).args).toEqual(['gunicorn', 'app:app'])
  })

  it('probe: exec becomes an exec readiness probe with its timings, instead of the HTTP probes', async () => {
    const objects = await render(resolveConfig(project(app, files)))
    const worker = container(find(objects, 'Deployment', 'worker'))
    expect(worker.readinessProbe).toEqual({exec: {command: ['sh', '-c', 'test -f /tmp/alive']}, periodSeconds: 15, timeoutSeconds: 2, failureThreshold: 4})
    expect(worker.livenessProbe).toBeUndefined()
    // A built service with a port and no probe keeps the HTTP probe on healthPath.
    expect(container(find(objects, 'Deployment', 'web')).readinessProbe).toMatchObject({httpGet: {path: '/'}})
  })

  it('a pod whose exec probe keeps failing is diagnosed by its command, not as an HTTP check', async () => {
    const objects = await render(resolveConfig(project(app, files)))
    const spec = template(find(objects, 'Deployment', 'worker')).spec as unknown as Pod['spec']
    const pod: Pod = {apiVersion: 'v1', kind: 'Pod', metadata: {name: 'worker-1'}, spec, status: {phase: 'Running', containerStatuses: [{name: 'worker', ready: false, restartCount: 0, image: 'x', state: {running: {}}}]}}
    expect(diagnosePod(pod, {port: 8080, healthPath: '/'})?.message).toBe('The container worker is running but never became ready: its readiness check `sh -c test -f /tmp/alive` keeps failing.')
  })

  it('volumes: one claim per named volume (shared by the services naming it), mounted, with Recreate rollouts', async () => {
    const objects = await render(resolveConfig(project(app, files)))
    const claims = objects.filter((object) => object.kind === 'PersistentVolumeClaim')
    expect(claims.map((claim) => claim.metadata.name)).toEqual(['uploads'])
    expect(claims[0].spec).toEqual({accessModes: ['ReadWriteOnce'], resources: {requests: {storage: '2Gi'}}})
    for (const [name, mountPath] of [['web', '/srv/uploads'], ['worker', '/data']]) {
      const deployment = find(objects, 'Deployment', name)
      expect(container(deployment).volumeMounts).toEqual([{name: 'uploads', mountPath}])
      expect(template(deployment).spec.volumes).toEqual([{name: 'uploads', persistentVolumeClaim: {claimName: 'uploads'}}])
      expect((deployment?.spec as {strategy: unknown}).strategy).toEqual({type: 'Recreate'})
    }
    // Without a volume, rolling updates as before.
    expect((find(objects, 'Job', 'migrate')?.spec as {strategy?: unknown}).strategy).toBeUndefined()
  })

  it('env {from, key}: a secretKeyRef into the backing service credentials, never the value or a ConfigMap entry', async () => {
    const objects = await render(resolveConfig(project(app, files)))
    const web = container(find(objects, 'Deployment', 'web'))
    expect(web.env?.find((variable) => variable.name === 'DB_PASSWORD')).toEqual({name: 'DB_PASSWORD', valueFrom: {secretKeyRef: {name: 'db-credentials', key: 'password'}}})
    const migrate = container(find(objects, 'Job', 'migrate'))
    expect(migrate.env?.find((variable) => variable.name === 'CELERY_BROKER_URL')).toEqual({name: 'CELERY_BROKER_URL', valueFrom: {secretKeyRef: {name: 'broker-credentials', key: 'uri'}}})
    // The Job depends on db, so it gets db's connection settings too.
    expect(migrate.env?.some((variable) => variable.name === 'DATABASE_URL')).toBe(true)
    for (const configMap of objects.filter((object) => object.kind === 'ConfigMap')) {
      expect(Object.keys((configMap as {data?: object}).data ?? {})).not.toContain('DB_PASSWORD')
      expect(Object.keys((configMap as {data?: object}).data ?? {})).not.toContain('CELERY_BROKER_URL')
    }
  })

  it('envFile as a list: one Secret, later files overriding earlier ones, nothing in a ConfigMap', async () => {
    const dir = project(app, files)
    const config = resolveConfig(dir)
    const {readEnvFiles} = await import('../../src/lib/dotenv.js')
    const migrate = config.services.find((service) => service.name === 'migrate')!
    expect(readEnvFiles(migrate.envFiles, dir)).toEqual({A: '1', B: 'from-two'})
    const desired = await renderApp({config, services: config.services, manageNamespace: true, image: (service) => ({reference: `x/${service.name}:1`}), credentials: async () => CREDENTIALS, secretEnv: (service) => readEnvFiles(service.envFiles, dir)})
    const secrets = desired.objects.filter((object) => object.kind === 'Secret' && object.metadata.name.startsWith('migrate-secret-'))
    expect(secrets).toHaveLength(1)
    expect((secrets[0] as unknown as {data: Record<string, string>}).data).toEqual({A: Buffer.from('1').toString('base64'), B: Buffer.from('from-two').toString('base64')})
    expect(container(find(desired.objects, 'Job', 'migrate')).envFrom).toContainEqual({secretRef: {name: secrets[0].metadata.name}})
    expect(desired.yaml).not.toContain('from-two')
  })

  it('an environment may override probe, volumes, envFile and env of a service', async () => {
    const dir = project(`${app}environments:
  staging:
    services:
      web:
        env: {DB_PASSWORD: plain-override}
        volumes: [{name: uploads, path: /srv/uploads, size: 5Gi}]
      worker:
        envFile: two.env
        probe: {exec: ["true"]}
`, files)
    const config = resolveConfig(dir, {environment: 'staging'})
    const web = config.services.find((service) => service.name === 'web')!
    expect(web.env.DB_PASSWORD).toBe('plain-override')
    expect(web.connectionRefs).toEqual([])
    expect(web.volumes).toEqual([{name: 'uploads', path: '/srv/uploads', size: '5Gi'}])
    const worker = config.services.find((service) => service.name === 'worker')!
    expect(worker.probe).toEqual({exec: ['true']})
    expect(worker.envFiles).toEqual([path.join(dir, 'two.env')])
  })
})

describe('service keys: mistakes are sentences with file:line:col', () => {
  const error = (yaml: string) => {
    try {
      parseConfig(yaml, 'devkube.yaml')
    } catch (caught) {
      expect(caught).toBeInstanceOf(UserError)
      return (caught as Error).message
    }
    throw new Error('no error')
  }
  const base = (env: string) => `name: shop
services:
  web:
    image: nginx:1.27
    env:
      ${env}
  db:
    backing: postgres
  cache:
    image: redis:7
`
  it('from must name a backing service', () => {
    expect(error(base('X: {from: cache, key: REDIS_URL}'))).toBe('devkube.yaml:6:17: `services.web.env.X.from` names "cache", which is not a backing service of this file.')
  })
  it('key must be a variable the backing service provides', () => {
    expect(error(base('X: {from: db, key: REDIS_URL}'))).toBe('devkube.yaml:6:26: `services.web.env.X.key` is "REDIS_URL", which db (postgres) does not provide.')
  })
  it('a {from, key} needs both keys', () => {
    expect(error(base('X: {from: db}'))).toMatch(/^devkube\.yaml:6:10: `services\.web\.env\.X` must be \{from/)
  })
  it('volumes need a name and an absolute path; probe needs exec; kind is deployment or job', () => {
    expect(error(base('A: b').replace('    env:\n      A: b', '    volumes: [{name: data}]'))).toMatch(/^devkube\.yaml:\d+:\d+: `services\.web\.volumes\[0\]\.path` must be set/)
    expect(error(base('A: b').replace('    env:\n      A: b', '    volumes: [{name: data, path: data}]'))).toMatch(/`services\.web\.volumes\[0\]\.path` must be an absolute path/)
    expect(error(base('A: b').replace('    env:\n      A: b', '    probe: {periodSeconds: 3}'))).toMatch(/`services\.web\.probe\.exec` must be set/)
    expect(error(base('A: b').replace('    env:\n      A: b', '    kind: cronjob'))).toMatch(/`services\.web\.kind` must be one of deployment, job/)
  })
})
