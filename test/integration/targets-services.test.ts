/**
 * `up --target` of an app with `services:` (two built services and a postgres backing service) on a cluster
 * reached through a context that is not kind's, with a registry on 127.0.0.1: every built service is pushed
 * under its content tag and pulled by digest; the backing service comes up from its own image; nothing goes
 * through kind.
 */
import {randomUUID} from 'node:crypto'
import {appendFileSync, cpSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parse, stringify} from 'yaml'
import {devkube, repo} from '../support/cli.js'
import {backingImageForTests, buildArgFlags, ensureStandinImages, useDocker} from '../support/docker.js'
import {createFakeToolchain, type FakeToolchain} from '../support/fake-toolchain.js'
import {startRegistry, type TestRegistry} from '../support/registry.js'

const dockerReady = await useDocker()

const CONTEXT = 'lab-cluster'
const NAMESPACE = 'shop-lab'

interface Workload {
  spec: {template: {spec: {containers: Array<{image: string; env?: Array<{name: string; valueFrom?: {secretKeyRef?: {name: string; key: string}}}>}>}}}
  status: {readyReplicas?: number}
}

describe.skipIf(!dockerReady)('devkube up --target of an app with services:', () => {
  let tools: FakeToolchain
  let registry: TestRegistry
  let dir: string
  let buildArgs: string[]
  const images: string[] = []
  const run = (...args: string[]) => devkube(args, {cwd: dir, env: tools.env, timeoutMs: 300_000})
  const kubectl = (...args: string[]) => tools.exec('kubectl', ['--context', CONTEXT, '--namespace', NAMESPACE, ...args])
  const workload = async (ref: string) => JSON.parse((await kubectl('get', ref, '-o', 'json')).stdout) as Workload

  beforeAll(async () => {
    tools = await createFakeToolchain({speed: 0.5})
    registry = await startRegistry()
    const standins = await ensureStandinImages()
    buildArgs = buildArgFlags({GO_IMAGE: standins.GO_IMAGE, RUNTIME_IMAGE: standins.RUNTIME_IMAGE})
    // The "real" cluster: made by the fake kind, reachable only through the context the target names.
    const created = await tools.exec('kind', ['create', 'cluster', '--name', 'remote'])
    expect(created.code, created.stderr).toBe(0)
    const kubeconfig = parse(readFileSync(tools.kubeconfigPath, 'utf8')) as {contexts: Array<{name: string}>; 'current-context'?: string}
    kubeconfig.contexts = kubeconfig.contexts.map((context) => (context.name === 'kind-remote' ? {...context, name: CONTEXT} : context))
    kubeconfig['current-context'] = ''
    writeFileSync(tools.kubeconfigPath, stringify(kubeconfig))

    // Two Go services (small images on the runtime stand-in: pushing them takes a moment); their
    // Dockerfiles are the ones `up` writes.
    dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'devkube-target-services-')), 'shop')
    for (const service of ['web', 'api']) {
      cpSync(path.join(repo, 'examples', 'hello-go'), path.join(dir, service), {recursive: true})
      appendFileSync(path.join(dir, service, 'main.go'), `\n// ${service}, test run ${randomUUID()}\n`)
    }
    const db: Record<string, string> = {backing: 'postgres'}
    const standin = backingImageForTests('postgres')
    if (standin) {
      db.image = standin
      // A real target pulls postgres:16 from Docker Hub; offline, its node is given the stand-in the way a
      // node holds an image it pulled before (devkube itself neither loads nor pushes a backing image).
      const preloaded = await tools.exec('kind', ['load', 'docker-image', standin, '--name', 'remote'])
      expect(preloaded.code, preloaded.stderr).toBe(0)
    }
    writeFileSync(
      path.join(dir, 'devkube.yaml'),
      stringify({
        name: 'shop',
        services: {web: {build: {context: 'web'}, dependsOn: ['db']}, api: {build: {context: 'api'}}, db},
        targets: {lab: {context: CONTEXT, registry: `${registry.host}/team`, namespace: NAMESPACE}},
      }),
    )
  })

  afterAll(async () => {
    await registry?.stop()
    if (images.length > 0) await execa('docker', ['rmi', '-f', ...images], {reject: false})
    await tools?.cleanup()
  })

  it('pushes every built service, the cluster pulls each by digest, and the backing service is ready', async () => {
    const result = await run('up', '--target', 'lab', '--yes', '--json', ...buildArgs)
    expect(result.code, result.stdout + result.stderr).toBe(0)
    const output = JSON.parse(result.stdout) as {context: string; namespace: string; services: Array<{name: string; image?: string; workload: string}>}
    expect(output).toMatchObject({context: CONTEXT, namespace: NAMESPACE})

    const catalog = ((await (await fetch(`http://${registry.host}/v2/_catalog`)).json()) as {repositories: string[]}).repositories
    expect(catalog.sort()).toEqual(['team/shop-api', 'team/shop-web'])
    for (const service of ['web', 'api']) {
      const tags = ((await (await fetch(`http://${registry.host}/v2/team/shop-${service}/tags/list`)).json()) as {tags: string[]}).tags
      expect(tags).toHaveLength(1)
      images.push(`${registry.host}/team/shop-${service}:${tags[0]}`, `devkube.local/shop-${service}:${tags[0]}`)
      const deployment = await workload(`deployment/${service}`)
      const image = deployment.spec.template.spec.containers[0].image
      // <registry>/<app>-<service>:<content tag>@<digest>: what the registry holds, pulled by digest.
      expect(image).toMatch(new RegExp(`^${registry.host}/team/shop-${service}:${tags[0]}@sha256:[0-9a-f]{64}$`))
      expect(output.services.find((entry) => entry.name === service)?.image).toBe(image)
      expect(deployment.status.readyReplicas).toBe(1)
    }
    const statefulSet = await workload('statefulset/db')
    expect(statefulSet.status.readyReplicas).toBe(1)
    const webEnv = (await workload('deployment/web')).spec.template.spec.containers[0].env ?? []
    expect(webEnv.find((variable) => variable.name === 'DATABASE_URL')?.valueFrom?.secretKeyRef).toEqual({name: 'db-credentials', key: 'uri'})
    // Nothing through kind: a target is not a kind cluster (the test's own create and preload aside).
    expect(tools.calls().filter((call) => call.tool === 'kind' && !['create', 'load'].includes(call.args[0]))).toEqual([])
    expect(tools.calls().filter((call) => call.tool === 'kind' && call.args.some((arg) => arg.startsWith('devkube.local/')))).toEqual([])
  })

  it('status --target shows every service ready, each built one matching its source; a re-run changes nothing', async () => {
    const status = await run('status', '--target', 'lab', '--json')
    expect(status.code, status.stdout + status.stderr).toBe(0)
    const report = JSON.parse(status.stdout) as {healthy: boolean; services: Array<{name: string; ready: number; matchesSource?: boolean}>}
    expect(report.healthy).toBe(true)
    expect(report.services.map((service) => [service.name, service.ready, service.matchesSource])).toEqual([
      ['web', 1, true],
      ['api', 1, true],
      ['db', 1, undefined],
    ])
    const again = await run('up', '--target', 'lab', '--json', ...buildArgs)
    expect(again.code, again.stdout + again.stderr).toBe(0)
    expect((JSON.parse(again.stdout) as {changed: {builtServices: string[]; applied: string[]; rolledOut: boolean}}).changed).toMatchObject({builtServices: [], applied: [], rolledOut: false})
  })
})
