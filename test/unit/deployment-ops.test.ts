/**
 * `devkube scale` and `devkube rollback` against a FakeRunner cluster: the right workload is changed
 * through the kind context, the user is told which service to name when the app has several, and
 * plain sentences come back when there is nothing to roll back to or the service is not deployed.
 */
import {mkdtempSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {rollbackApp, scaleApp} from '../../src/lib/deployment-ops.js'
import {setRunner} from '../../src/lib/runner.js'
import {FakeRunner} from '../support/fake-runner.js'

const SERVER = 'https://127.0.0.1:40000'

function deployment(name: string, image: string, replicas = 1) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {name, labels: {'app.kubernetes.io/name': name}},
    spec: {replicas, selector: {matchLabels: {'app.kubernetes.io/name': name}}, template: {spec: {containers: [{name, image}]}}},
  }
}

describe('scale and rollback', () => {
  let runner: FakeRunner
  let restore: () => void
  let previousDir: string
  let deployments: Record<string, ReturnType<typeof deployment>>
  let history: string

  const project = (config: string) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'devkube-ops-'))
    writeFileSync(path.join(dir, 'devkube.yaml'), config)
    process.chdir(dir)
  }

  beforeEach(() => {
    previousDir = process.cwd()
    deployments = {web: deployment('web', 'devkube.local/web:bbb', 2), worker: deployment('worker', 'devkube.local/worker:aaa')}
    history = 'deployment.apps/web \nREVISION  CHANGE-CAUSE\n1         <none>\n2         <none>\n\n'
    runner = new FakeRunner()
      .when('kind get clusters', {stdout: 'devkube\n'})
      .when('docker ps', {stdout: 'devkube-control-plane\trunning\n'})
      .when('kubectl config view', {stdout: JSON.stringify({contexts: [{name: 'kind-devkube', context: {cluster: 'kind-devkube'}}], clusters: [{name: 'kind-devkube', cluster: {server: SERVER}}]})})
      .when('kind get kubeconfig', {stdout: `clusters:\n- cluster:\n    server: ${SERVER}\n  name: kind-devkube\n`})
      .on((argv) => {
        if (argv[0] !== 'kubectl' || !argv.includes('get')) return undefined
        const selector = argv[argv.indexOf('-l') + 1] ?? ''
        if (argv.includes('statefulsets.apps')) return {stdout: JSON.stringify({items: []})}
        if (argv.includes('jobs.batch')) return {stdout: JSON.stringify({items: selector.includes('name=migrate') ? [{apiVersion: 'batch/v1', kind: 'Job', metadata: {name: 'migrate'}, spec: {template: {spec: {containers: [{name: 'migrate', image: 'x'}]}}}}] : []})}
        if (argv.includes('deployments.apps')) {
          const name = /app\.kubernetes\.io\/name=([^,]+)/.exec(selector)?.[1]
          return {stdout: JSON.stringify({items: name && deployments[name] ? [deployments[name]] : []})}
        }
        const named = argv.at(argv.indexOf('-o') - 1)!
        return deployments[named] ? {stdout: JSON.stringify(deployments[named])} : undefined
      })
      .when('kubectl --context kind-devkube --namespace shop scale', {stdout: 'deployment.apps/web scaled\n'})
      .when('kubectl --context kind-devkube --namespace shop rollout status', {stdout: 'deployment "web" successfully rolled out\n'})
      .when('kubectl --context kind-devkube --namespace shop rollout history', () => ({stdout: history}))
      .when('kubectl --context kind-devkube --namespace shop rollout undo', () => {
        deployments.web = deployment('web', 'devkube.local/web:aaa', 2)
        return {stdout: 'deployment.apps/web rolled back\n'}
      })
    restore = setRunner(runner)
    project('name: shop\nservices:\n  web:\n    image: nginx:1.27\n    ports: [80]\n    replicas: 2\n  worker:\n    image: busybox:1.36\n')
  })

  afterEach(() => {
    process.chdir(previousDir)
    restore()
  })

  it('scales the named service\'s Deployment through the kind context and waits for it', async () => {
    const result = await scaleApp({}, 'web', 5, {wait: true, timeoutSeconds: 30})
    expect(runner.callsOf('kubectl scale').map((call) => call.argv)).toEqual([['kubectl', '--context', 'kind-devkube', '--namespace', 'shop', 'scale', 'deployment/web', '--replicas=5']])
    expect(runner.callsOf('kubectl rollout status')[0].argv).toContain('deployment/web')
    expect(result).toMatchObject({deployment: 'web', namespace: 'shop', replicas: 5, previousReplicas: 2, configuredReplicas: 2})
  })

  it('scaling to zero does not wait for pods that will never come', async () => {
    await scaleApp({}, 'web', 0, {wait: true, timeoutSeconds: 30})
    expect(runner.callsOf('kubectl rollout status')).toHaveLength(0)
  })

  it('asks which service to scale when the app has several, and changes nothing', async () => {
    await expect(scaleApp({}, undefined, 3, {wait: true, timeoutSeconds: 30})).rejects.toThrow(/shop has several services: name the one to scale/)
    expect(runner.callsOf('kubectl scale')).toHaveLength(0)
  })

  it('says a service is not deployed instead of scaling something else', async () => {
    delete (deployments as Record<string, unknown>).worker
    await expect(scaleApp({}, 'worker', 3, {wait: false, timeoutSeconds: 30})).rejects.toThrow(/The service worker of shop is not deployed in namespace shop of kind-devkube/)
    expect(runner.callsOf('kubectl scale')).toHaveLength(0)
  })

  it('a kind: job service is neither scaled nor rolled back: it runs once', async () => {
    project('name: shop\nservices:\n  web:\n    image: nginx:1.27\n    ports: [80]\n  migrate:\n    image: busybox:1.36\n    kind: job\n')
    await expect(scaleApp({}, 'migrate', 3, {wait: false, timeoutSeconds: 30})).rejects.toThrow('The service migrate is a job: it runs once to completion, so there is nothing to scale.')
    await expect(rollbackApp({}, 'migrate', {timeoutSeconds: 30})).rejects.toThrow('The service migrate is a job: it runs once to completion, so there is nothing to roll back.')
    expect(runner.callsOf('kubectl scale')).toHaveLength(0)
  })

  it('rolls the service back one revision and reports the image it runs now', async () => {
    const result = await rollbackApp({}, 'web', {timeoutSeconds: 30})
    expect(runner.callsOf('kubectl rollout undo')[0].argv.slice(-1)).toEqual(['deployment/web'])
    expect(result).toEqual({deployment: 'web', namespace: 'shop', fromRevision: 2, toRevision: 1, image: 'devkube.local/web:aaa'})
  })

  it('says there is nothing to roll back to after a single deploy, and undoes nothing', async () => {
    history = 'deployment.apps/web \nREVISION  CHANGE-CAUSE\n1         <none>\n\n'
    await expect(rollbackApp({}, 'web', {timeoutSeconds: 30})).rejects.toThrow(/web has no earlier revision to roll back to/)
    expect(runner.callsOf('kubectl rollout undo')).toHaveLength(0)
  })

  it('a rollout that does not finish is a sentence with the time it waited', async () => {
    runner.when('kubectl --context kind-devkube --namespace shop rollout status', {exitCode: 1, stderr: 'error: timed out waiting for the condition\n'})
    await expect(rollbackApp({}, 'web', {timeoutSeconds: 7})).rejects.toThrow(/web did not become ready within 7 s/)
  })
})
