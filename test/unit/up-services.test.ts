import {mkdirSync, mkdtempSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import type {KubeObject} from '../../src/lib/kube.js'
import {resolveProject} from '../../src/lib/project.js'
import {setRunner} from '../../src/lib/runner.js'
import {deploy, rolloutWaves} from '../../src/lib/up.js'
import {worldRunner} from '../support/plan-world.js'

const SHOP = `name: shop
services:
  web:
    build: {context: web}
    port: 5000
    dependsOn: [api, cache]
  api:
    build: {context: api}
    port: 3000
    dependsOn: [db]
  cache:
    image: redis:7
    ports: [6379]
  db:
    backing: postgres
    image: devkube-standin/postgres:16
`

type Container = {image: string; env?: Array<{name: string; valueFrom?: {secretKeyRef?: {name: string; key: string}}}>}
const containers = (object: KubeObject | undefined) => (object?.spec as {template: {spec: {containers: Container[]}}}).template.spec.containers

describe('the up plan with several services', () => {
  let dir: string
  let restore: () => void
  beforeEach(() => {
    dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'devkube-services-plan-')), 'shop')
    for (const service of ['web', 'api']) {
      mkdirSync(path.join(dir, service), {recursive: true})
      writeFileSync(path.join(dir, service, 'Dockerfile'), 'FROM devkube-standin/runtime:latest\nCOPY . /app\n')
      writeFileSync(path.join(dir, service, 'app.txt'), `${service}\n`)
    }
    writeFileSync(path.join(dir, 'devkube.yaml'), SHOP)
  })
  afterEach(() => restore?.())

  async function up() {
    const project = resolveProject(dir, {}, {requireApp: true})
    return deploy(project, {rebuild: false, timeoutSeconds: 30, scaffold: async () => [], buildConcurrency: 2}, {mode: 'silent', signal: new AbortController().signal})
  }

  it('cold: builds both images side by side, applies every service, rolls out in dependency order', async () => {
    let building = 0
    let mostAtOnce = 0
    const {runner, world} = worldRunner({
      async onBuild() {
        building++
        mostAtOnce = Math.max(mostAtOnce, building)
        // Both builds are under way before either finishes when they run side by side.
        await new Promise((resolve) => setTimeout(resolve, 100))
        building--
      },
    })
    restore = setRunner(runner)
    const {deployed} = await up()
    expect(runner.callsOf('docker build')).toHaveLength(2)
    expect(mostAtOnce).toBe(2)
    // Both new images go to the nodes in one kind call (one archive, one import).
    const [load, ...more] = runner.callsOf('kind load docker-image')
    expect(more).toEqual([])
    expect(load.argv.filter((arg) => arg.startsWith('devkube.local/'))).toHaveLength(2)
    expect(deployed.actions.builtServices.sort()).toEqual(['api', 'web'])
    expect(deployed.services.map((service) => [service.name, service.workload.kind, service.service?.port])).toEqual([
      ['web', 'Deployment', 5000],
      ['api', 'Deployment', 3000],
      ['cache', 'Deployment', 6379],
      ['db', 'StatefulSet', 5432],
    ])
    // Every object carries the app and its service.
    for (const object of world.objects.values()) {
      if (object.kind === 'Namespace') continue
      expect(object.metadata.labels).toMatchObject({'app.kubernetes.io/part-of': 'shop', 'app.kubernetes.io/managed-by': 'devkube'})
    }
    expect(containers(world.objects.get('Deployment/cache'))[0].image).toBe('redis:7')
    // api depends on db: it reads db's connection settings from db's Secret, never a value.
    const apiEnv = containers(world.objects.get('Deployment/api'))[0].env ?? []
    expect(apiEnv.find((variable) => variable.name === 'DATABASE_URL')?.valueFrom?.secretKeyRef).toEqual({name: 'db-credentials', key: 'uri'})
    expect(world.objects.has('Secret/db-credentials')).toBe(true)
    // db and cache first, then api (after db), then web (after api and cache).
    const order = runner.callsOf('kubectl rollout status').map((call) => call.argv.find((arg) => arg.includes('/'))!)
    expect(order.indexOf('deployment/api')).toBeGreaterThan(order.indexOf('statefulset/db'))
    expect(order.indexOf('deployment/web')).toBeGreaterThan(order.indexOf('deployment/api'))
    expect(order.indexOf('deployment/web')).toBeGreaterThan(order.indexOf('deployment/cache'))
    expect(order).toHaveLength(4)
  })

  it('cold: the backing service is applied while the images still build, with the credentials the app then gets', async () => {
    let dbBeforeBuildEnded = false
    const {runner, world} = worldRunner({
      async onBuild() {
        // A build that takes a while: the database's StatefulSet shows up meanwhile (the backing lane).
        for (let waited = 0; waited < 2000 && !world.objects.has('StatefulSet/db'); waited += 20) await new Promise((resolve) => setTimeout(resolve, 20))
        dbBeforeBuildEnded ||= world.objects.has('StatefulSet/db')
      },
    })
    restore = setRunner(runner)
    const {deployed, steps} = await up()
    expect(dbBeforeBuildEnded).toBe(true)
    expect(steps.map((step) => step.id)).toEqual(['preflight', 'scaffold', 'cluster', 'context', 'backing-load', 'backing-apply', 'image', 'load', 'apply', 'rollout'])
    // One Secret for db, generated once: the later apply of the app reuses it.
    const secrets = runner.calls.filter((call) => call.argv[0] === 'kubectl' && call.argv.includes('apply')).map((call) => call.input ?? '').filter((input) => input.includes('name: db-credentials'))
    expect(secrets.length).toBeGreaterThan(0)
    const passwords = new Set(secrets.map((input) => /password: (\S+)/.exec(input)?.[1]))
    expect(passwords.size).toBe(1)
    expect(deployed.actions.applied.some((line) => /^statefulset(\.apps)?\/db created/.test(line))).toBe(true)
    expect(deployed.actions.rolledOutServices).toContain('db')
  })

  it('no change: nothing is built, loaded, applied or rolled out for any service', async () => {
    const {runner} = worldRunner()
    restore = setRunner(runner)
    await up()
    runner.calls.length = 0
    const {deployed, steps} = await up()
    for (const words of ['docker build', 'kind load', 'kubectl apply', 'kubectl rollout']) expect(runner.callsOf(words)).toEqual([])
    expect(deployed.actions).toMatchObject({imageBuilt: false, imageLoaded: false, applied: [], rolledOut: false, builtServices: [], rolledOutServices: []})
    expect(steps.filter((step) => step.skipped).map((step) => step.id)).toEqual(['scaffold', 'cluster', 'backing-load', 'backing-apply', 'image', 'load', 'apply', 'rollout'])
  })

  it('one service changed: only it is built, loaded and rolled out', async () => {
    const {runner} = worldRunner()
    restore = setRunner(runner)
    const first = await up()
    writeFileSync(path.join(dir, 'api', 'app.txt'), 'api v2\n')
    runner.calls.length = 0
    const {deployed} = await up()
    expect(runner.callsOf('docker build')).toHaveLength(1)
    expect(runner.callsOf('docker build')[0].argv).toContain(path.join(dir, 'api'))
    expect(runner.callsOf('kind load docker-image')).toHaveLength(1)
    expect(deployed.actions.builtServices).toEqual(['api'])
    expect(deployed.actions.rolledOutServices).toEqual(['api'])
    const tag = (result: typeof first, name: string) => result.deployed.services.find((service) => service.name === name)!.image
    expect(tag({deployed} as typeof first, 'web')).toBe(tag(first, 'web'))
    expect(tag({deployed} as typeof first, 'api')).not.toBe(tag(first, 'api'))
  })
})

describe('rolloutWaves', () => {
  const service = (name: string, dependsOn: string[] = []) => ({config: {name, dependsOn}})
  it('puts a service after everything it depends on, and independent ones together', () => {
    const waves = rolloutWaves([service('web', ['api']), service('api', ['db']), service('db'), service('worker', ['db']), service('cache')])
    expect(waves.map((wave) => wave.map((entry) => entry.config.name))).toEqual([['db', 'cache'], ['api', 'worker'], ['web']])
  })
})
