import {mkdirSync, mkdtempSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {shortPodName} from '../../src/lib/app-pods.js'
import {resolveConfig, type AppConfig} from '../../src/lib/config.js'
import {computeImageTag, serviceImageTag} from '../../src/lib/image-tag.js'
import {Kube, type KubeObject} from '../../src/lib/kube.js'
import {chalk} from '../../src/lib/output.js'
import {setRunner} from '../../src/lib/runner.js'
import {collectStatus, formatAge, renderStatus} from '../../src/lib/status.js'
import {deployment, namespaceObject, pod, replicaSet, worldRunner, type World} from './status-fixtures.js'

describe('devkube status', () => {
  let config: AppConfig
  let restore: () => void
  let world: World
  const previousLevel = chalk.level

  beforeEach(() => {
    chalk.level = 0
    const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'devkube-status-')), 'hello')
    mkdirSync(dir)
    config = resolveConfig(dir, {})
    world = {clusters: ['devkube'], objects: [namespaceObject('hello'), deployment(), replicaSet('7d9f8b6c4', 1), pod({name: 'hello-7d9f8b6c4-x2k4z', hash: '7d9f8b6c4', ageSeconds: 330})]}
    restore = setRunner(worldRunner(world))
  })
  afterEach(() => {
    restore()
    chalk.level = previousLevel
  })

  it('reports a running app as healthy, with its pods in a short table', async () => {
    const report = await collectStatus(config, new Kube(config.cluster))
    expect(report.healthy).toBe(true)
    expect(report.problems).toEqual([])
    expect(report.cluster).toMatchObject({name: 'devkube', context: 'kind-devkube', exists: true, nodes: [{name: 'devkube-control-plane', ready: true, kubernetesVersion: 'v1.32.2', image: 'kindest/node:v1.32.2'}]})
    expect(report.namespace).toEqual({name: 'hello', exists: true, createdByDevkube: true})
    expect(report.deployment).toEqual({name: 'hello', desired: 1, ready: 1, updated: 1, available: 1})
    expect(report.pods).toMatchObject([{name: 'hello-7d9f8b6c4-x2k4z', shortName: '7d9f-x2k4z', status: 'Running', ready: '1/1', restarts: 0, ageSeconds: 330}])
    expect(report.forward).toEqual({running: false})
    const text = renderStatus(report).join('\n')
    expect(text).toContain('Cluster     devkube (context kind-devkube) · node ready · kindest/node:v1.32.2')
    expect(text).toContain('Namespace   hello (created by devkube)')
    expect(text).toContain('Deployment  hello · 1/1 ready · 1/1 updated')
    expect(text).toContain('Pods        NAME        READY  STATUS   RESTARTS  AGE')
    expect(text).toContain('            7d9f-x2k4z  1/1    Running  0         5m')
    expect(text).toContain('✓ hello is running and healthy.')
  })

  it('shows a pod replaced by a rollout as Terminating, neither counted nor reported as failing', async () => {
    // The old pod's app stopped listening on SIGTERM and drains: its readiness probe fails during the grace period.
    const old = pod({name: 'hello-5c6d7e8f9-aaaaa', hash: '5c6d7e8f9', ready: false, ageSeconds: 600})
    old.metadata.deletionTimestamp = new Date(Date.now() + 25_000).toISOString()
    world.objects = [namespaceObject('hello'), deployment(), replicaSet('5c6d7e8f9', 1), replicaSet('7d9f8b6c4', 2), old, pod({name: 'hello-7d9f8b6c4-x2k4z', hash: '7d9f8b6c4', ageSeconds: 5})]
    const report = await collectStatus(config, new Kube(config.cluster))
    expect(report.problems).toEqual([])
    expect(report.healthy).toBe(true)
    expect(report.pods).toMatchObject([
      {name: 'hello-5c6d7e8f9-aaaaa', status: 'Terminating', problem: undefined},
      {name: 'hello-7d9f8b6c4-x2k4z', status: 'Running', ready: '1/1'},
    ])
    const text = renderStatus(report).join('\n')
    expect(text).not.toContain('never became ready')
    expect(text).toContain('✓ hello is running and healthy.')
  })

  it('says in plain words why a crash-looping app is not healthy', async () => {
    world.objects = [
      namespaceObject('hello'),
      deployment({ready: 0}),
      replicaSet('7d9f8b6c4', 1),
      pod({name: 'hello-7d9f8b6c4-x2k4z', hash: '7d9f8b6c4', ready: false, restarts: 4, state: {waiting: {reason: 'CrashLoopBackOff'}}, lastState: {terminated: {reason: 'Error', exitCode: 1}}}),
    ]
    const report = await collectStatus(config, new Kube(config.cluster))
    expect(report.healthy).toBe(false)
    expect(report.pods[0]).toMatchObject({status: 'CrashLoopBackOff', ready: '0/1', restarts: 4, problem: {reason: 'CrashLoopBackOff'}})
    expect(report.problems).toEqual([
      'Only 0 of 1 pod is ready.',
      'The app keeps crashing: container hello in pod hello-7d9f8b6c4-x2k4z exited with code 1 and has restarted 4 times (CrashLoopBackOff).',
    ])
    expect(report.hint).toBe('`devkube logs --previous` shows why it crashed; fix that and run `devkube up` again.')
    const text = renderStatus(report).join('\n')
    expect(text).toContain('7d9f-x2k4z  0/1    CrashLoopBackOff  4')
    expect(text).toContain('✗ Only 0 of 1 pod is ready. The app keeps crashing: container hello in pod hello-7d9f8b6c4-x2k4z exited with code 1 and has restarted 4 times (CrashLoopBackOff).')
  })

  it('says the node container is stopped, and how to start it, instead of failing at kind or kubectl', async () => {
    // kind get clusters lists a cluster whose node is stopped; kind get kubeconfig and kubectl fail against it.
    world.stoppedClusters = ['devkube']
    const report = await collectStatus(config, new Kube(config.cluster))
    expect(report.healthy).toBe(false)
    expect(report.problems).toEqual(['The kind cluster "devkube" exists but its node container devkube-control-plane is not running (exited), so its API server does not answer.'])
    expect(report.hint).toBe('`devkube up` starts it again (or `docker start devkube-control-plane`).')
  })

  it('says the cluster does not exist, without asking any cluster anything', async () => {
    world.clusters = []
    const runner = worldRunner(world)
    restore()
    restore = setRunner(runner)
    const report = await collectStatus(config, new Kube(config.cluster))
    expect(report.healthy).toBe(false)
    expect(report.cluster.exists).toBe(false)
    expect(report.problems).toEqual(['The kind cluster "devkube" does not exist, so hello is not running.'])
    expect(report.hint).toBe('`devkube up` creates the cluster and starts the app.')
    expect(runner.calls.filter((call) => call.argv.includes('--context'))).toEqual([])
    expect(renderStatus(report)).toEqual(['Cluster     devkube does not exist', '', '✗ The kind cluster "devkube" does not exist, so hello is not running.', '  `devkube up` creates the cluster and starts the app.'])
  })

  it('says the app is not deployed when its namespace or Deployment is missing', async () => {
    world.objects = []
    const report = await collectStatus(config, new Kube(config.cluster))
    expect(report.healthy).toBe(false)
    expect(report.namespace.exists).toBe(false)
    expect(report.problems).toEqual(['hello is not deployed: there is no Deployment of it in namespace hello of kind-devkube.'])
    expect(report.hint).toBe('`devkube up` deploys it.')
    expect(renderStatus(report).join('\n')).toContain('Namespace   hello does not exist')
  })

  it('tells whether the running image was built from the current source', async () => {
    writeFileSync(path.join(config.projectDir, 'Dockerfile'), 'FROM scratch\n')
    writeFileSync(path.join(config.projectDir, 'server.js'), 'console.log(1)\n')
    const current = await computeImageTag('hello', {context: config.build.context, dockerfile: config.build.dockerfile, buildArgs: {}})
    world.objects = [namespaceObject('hello'), deployment({image: current}), pod({name: 'hello-7d9f8b6c4-x2k4z', hash: '7d9f8b6c4', image: current})]
    const fresh = await collectStatus(config, new Kube(config.cluster))
    expect(fresh.image).toEqual({running: current, source: current, matchesSource: true})
    expect(renderStatus(fresh).join('\n')).toContain(`Image       ${current} · matches the source`)

    writeFileSync(path.join(config.projectDir, 'server.js'), 'console.log(2)\n')
    const stale = await collectStatus(config, new Kube(config.cluster))
    expect(stale.image?.matchesSource).toBe(false)
    expect(stale.healthy).toBe(true)
    expect(renderStatus(stale).join('\n')).toContain(`the source has changed since (it would build ${stale.image?.source?.split(':')[1]}; \`devkube up\` redeploys)`)
  })

  it('counts a rollout in progress and a node that is not ready as not healthy', async () => {
    world.objects = [namespaceObject('hello'), deployment({replicas: 2, ready: 2, updated: 1}), pod({name: 'hello-aaaa-1'}), pod({name: 'hello-bbbb-2'})]
    world.nodeReady = false
    const report = await collectStatus(config, new Kube(config.cluster))
    expect(report.problems).toEqual(["The cluster's node devkube-control-plane is not ready.", 'A rollout is in progress: 1 of 2 pods run the new version.'])
  })
})

describe('devkube status of an app with services:', () => {
  let restore = () => {}
  afterEach(() => restore())

  /** A Deployment of service `name` in namespace shop running `image`. */
  const serviceDeployment = (name: string, image: string): KubeObject => {
    const labels = {'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': 'shop', 'app.kubernetes.io/managed-by': 'devkube'}
    return {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {name, namespace: 'shop', labels},
      spec: {replicas: 1, selector: {matchLabels: {'app.kubernetes.io/name': name}}, template: {spec: {containers: [{name, image}]}}},
      status: {replicas: 1, readyReplicas: 1, updatedReplicas: 1, availableReplicas: 1},
    } as KubeObject
  }

  it('tells per service whether its running image is what its source builds now, in the table and the report', async () => {
    const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'devkube-status-services-')), 'shop')
    for (const service of ['web', 'api']) {
      mkdirSync(path.join(dir, service), {recursive: true})
      writeFileSync(path.join(dir, service, 'Dockerfile'), 'FROM scratch\nCOPY . /app\n')
      writeFileSync(path.join(dir, service, 'app.txt'), `${service}\n`)
    }
    writeFileSync(path.join(dir, 'devkube.yaml'), 'name: shop\nservices:\n  web:\n    build: {context: web}\n    port: 5000\n  api:\n    build: {context: api}\n    port: 3000\n')
    const config = resolveConfig(dir, {})
    const tags = await Promise.all(config.services.map((service) => serviceImageTag(config, service)))
    const world: World = {clusters: ['devkube'], objects: [namespaceObject('shop'), serviceDeployment('web', tags[0]), serviceDeployment('api', tags[1])]}
    restore = setRunner(worldRunner(world))
    const fresh = await collectStatus(config, new Kube(config.cluster))
    expect(fresh.services?.map((service) => [service.name, service.image, service.matchesSource])).toEqual([
      ['web', tags[0], true],
      ['api', tags[1], true],
    ])
    const freshText = renderStatus(fresh).join('\n')
    expect(freshText).toMatch(/SERVICE\s+KIND\s+READY\s+SOURCE/)
    expect(freshText).toMatch(/web\s+Deployment\s+1\/1\s+matches/)

    // api's source changes after its deploy: only api no longer matches, and the report says what up would build.
    writeFileSync(path.join(dir, 'api', 'app.txt'), 'api v2\n')
    const stale = await collectStatus(config, new Kube(config.cluster))
    const api = stale.services!.find((service) => service.name === 'api')!
    expect(stale.services!.find((service) => service.name === 'web')!.matchesSource).toBe(true)
    expect(api.matchesSource).toBe(false)
    expect(api.source).toBe(await serviceImageTag(config, config.services[1]))
    expect(stale.healthy).toBe(true)
    const staleText = renderStatus(stale).join('\n')
    expect(staleText).toMatch(/api\s+Deployment\s+1\/1\s+changed/)
    expect(staleText).toContain(`the source of api has changed since (it would build ${api.source!.split(':')[1]}; \`devkube up\` redeploys)`)
  })
})

describe('short pod names and ages', () => {
  it('keeps what tells pods apart: the start of the ReplicaSet hash and the pod suffix', () => {
    expect(shortPodName(pod({name: 'hello-7d9f8b6c4-x2k4z', hash: '7d9f8b6c4'}))).toBe('7d9f-x2k4z')
    expect(shortPodName(pod({name: 'my-app-5b7c9d-abcde', hash: '5b7c9d'}))).toBe('5b7c-abcde')
    expect(shortPodName(pod({name: 'hello-web-xyz12'}))).toBe('web-xyz12')
    expect(shortPodName(pod({name: 'solo'}))).toBe('solo')
  })

  it('formats ages as kubectl does', () => {
    expect([formatAge(45), formatAge(330), formatAge(3 * 3600), formatAge(5 * 86_400), formatAge(undefined)]).toEqual(['45s', '5m', '3h', '5d', '?'])
  })
})
