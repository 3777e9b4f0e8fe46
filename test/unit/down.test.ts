import {mkdirSync, mkdtempSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {resolveConfig, type AppConfig} from '../../src/lib/config.js'
import {runDown, type DownOptions} from '../../src/lib/down.js'
import {Kube} from '../../src/lib/kube.js'
import {setRunner} from '../../src/lib/runner.js'
import type {FakeRunner} from '../support/fake-runner.js'
import {deployment, namespaceObject, object, pod, worldRunner, type World} from './status-fixtures.js'

describe('devkube down', () => {
  let config: AppConfig
  let restore: () => void
  let world: World
  let runner: FakeRunner
  let logged: string[]
  let asked: string[]

  const options = (overrides: Partial<DownOptions> = {}): DownOptions => ({
    cluster: false,
    yes: false,
    interactive: false,
    confirm: async (message) => {
      asked.push(message)
      return true
    },
    log: (line) => logged.push(line),
    ...overrides,
  })

  const deployed = () => [namespaceObject('hello'), deployment(), object('Service', 'hello'), object('ConfigMap', 'hello-env'), object('ConfigMap', 'kube-root-ca.crt', {}), pod({name: 'hello-7d9f8b6c4-x2k4z', hash: '7d9f8b6c4'})]

  beforeEach(() => {
    const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'devkube-down-')), 'hello')
    mkdirSync(dir)
    config = resolveConfig(dir, {})
    world = {clusters: ['devkube'], objects: deployed()}
    runner = worldRunner(world)
    restore = setRunner(runner)
    logged = []
    asked = []
  })
  afterEach(() => restore())

  it('deletes the namespace devkube created, then finds nothing to remove the second time', async () => {
    const first = await runDown(config, new Kube(config.cluster), options())
    expect(first.removed).toEqual({namespace: 'hello', objects: ['deployment/hello', 'service/hello', 'configmap/hello-env'], cluster: false})
    expect(first.nothingToRemove).toBe(false)
    expect(logged.at(-1)).toBe('Removed hello: deleted namespace hello with deployment/hello, service/hello, configmap/hello-env.')
    expect(runner.callsOf('kubectl delete namespace hello')[0].argv).toEqual(['kubectl', '--context', 'kind-devkube', 'delete', 'namespace', 'hello', '--ignore-not-found', '--wait=true', '--timeout=120s'])
    expect(world.objects).toEqual([])

    logged = []
    const second = await runDown(config, new Kube(config.cluster), options())
    expect(second.nothingToRemove).toBe(true)
    expect(logged).toEqual(['Nothing to remove: hello is not deployed in namespace hello of kind-devkube.'])
  })

  it('in a namespace devkube did not create, deletes only the app’s own objects and keeps the rest', async () => {
    world.objects = [namespaceObject('hello', false), ...deployed().slice(1), object('Deployment', 'database', {})]
    const result = await runDown(config, new Kube(config.cluster), options())
    expect(result.removed).toEqual({objects: ['deployment/hello', 'service/hello', 'configmap/hello-env'], cluster: false})
    expect(result.kept).toEqual(['Kept namespace hello: devkube did not create it.'])
    expect(world.objects.map((entry) => `${entry.kind}/${entry.metadata.name}`)).toEqual(['Namespace/hello', 'ConfigMap/kube-root-ca.crt', 'Deployment/database'])
    expect(runner.callsOf('kubectl delete namespace')).toEqual([])
  })

  it('keeps a devkube namespace that another app or a hand-made object shares', async () => {
    world.objects = [...deployed(), object('Service', 'other', {'app.kubernetes.io/name': 'other', 'app.kubernetes.io/managed-by': 'devkube'}), object('Secret', 'mine', {})]
    const result = await runDown(config, new Kube(config.cluster), options())
    expect(result.removed.namespace).toBeUndefined()
    expect(result.kept).toEqual(['Kept namespace hello: it also holds devkube app other, secret/mine.'])
  })

  it('says there is nothing to remove when the cluster does not exist, also with --cluster', async () => {
    world.clusters = []
    const result = await runDown(config, new Kube(config.cluster), options({cluster: true}))
    expect(result.nothingToRemove).toBe(true)
    expect(logged).toEqual(['Nothing to remove: the kind cluster "devkube" does not exist.'])
    expect(runner.callsOf('kind delete')).toEqual([])
  })

  it('--cluster without a terminal and without --yes refuses, naming the other projects, and removes nothing', async () => {
    world.objects.push(namespaceObject('shop'), namespaceObject('scratch', false), namespaceObject('kube-system', false))
    await expect(runDown(config, new Kube(config.cluster), options({cluster: true}))).rejects.toMatchObject({
      message: 'Not deleting the kind cluster "devkube": that needs a confirmation, and there is no terminal to ask on. It also holds the devkube namespaces of other projects: shop; and namespaces devkube did not create: scratch.',
      hint: 'Run `devkube down --cluster --yes` to delete it anyway, or `devkube down` to remove only this app.',
    })
    expect(runner.callsOf('kind delete')).toEqual([])
    expect(runner.callsOf('kubectl delete')).toEqual([])
  })

  it('--cluster asks on a terminal, and --yes deletes without asking', async () => {
    const asking = await runDown(config, new Kube(config.cluster), options({cluster: true, interactive: true}))
    expect(asked).toEqual(['Delete the kind cluster "devkube"?'])
    expect(asking.removed.cluster).toBe(true)
    expect(logged).toContain('Deleted the kind cluster "devkube" and everything in it.')

    world.clusters = ['devkube']
    asked = []
    const yes = await runDown(config, new Kube(config.cluster), options({cluster: true, yes: true}))
    expect(asked).toEqual([])
    expect(yes.removed.cluster).toBe(true)
    expect(runner.callsOf('kind delete cluster --name devkube')).toHaveLength(2)
  })

  it('--cluster declined removes nothing', async () => {
    await expect(runDown(config, new Kube(config.cluster), options({cluster: true, interactive: true, confirm: async () => false}))).rejects.toMatchObject({message: 'Cancelled: nothing was removed.'})
    expect(world.clusters).toEqual(['devkube'])
    expect(runner.callsOf('kubectl delete')).toEqual([])
  })

  it('never deletes a kind cluster that devkube did not create', async () => {
    world.nodeLabels = {}
    await expect(runDown(config, new Kube(config.cluster), options({cluster: true, yes: true}))).rejects.toMatchObject({
      message: 'The kind cluster "devkube" was not created by devkube (its nodes lack the devkube.dev/managed-by=devkube label), so devkube will not delete it.',
    })
    expect(runner.callsOf('kind delete')).toEqual([])
  })
})
