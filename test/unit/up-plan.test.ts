import {spawnSync} from 'node:child_process'
import {cpSync, mkdtempSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {parseAllDocuments} from 'yaml'
import type {KubeObject} from '../../src/lib/kube.js'
import {resolveProject} from '../../src/lib/project.js'
import {setRunner} from '../../src/lib/runner.js'
import {scaffold} from '../../src/lib/scaffold.js'
import {deploy} from '../../src/lib/up.js'
import {FakeRunner} from '../support/fake-runner.js'

const examples = path.resolve(import.meta.dirname, '../../examples')

/** Just enough of docker, kind and kubectl, keeping state, to drive the plan through twice. */
function worldRunner() {
  const world = {clusters: new Set<string>(), images: new Set<string>(), nodeImages: new Set<string>(), objects: new Map<string, KubeObject>()}
  const key = (object: KubeObject) => `${object.kind}/${object.metadata.name}`
  const runner = new FakeRunner()
    .when('docker version', {stdout: '28.2.2 28.2.2\n'})
    .when('kind version', {stdout: 'kind v0.27.0 go1.23.6 linux/amd64\n'})
    .when('kubectl version --client', {stdout: JSON.stringify({clientVersion: {gitVersion: 'v1.32.4'}})})
    .when('kind get clusters', () => ({stdout: [...world.clusters].join('\n')}))
    .when('kind create cluster', (argv) => {
      world.clusters.add(argv[argv.indexOf('--name') + 1])
      return {stderr: 'Creating cluster ...'}
    })
    .when('docker image inspect', (argv) => (world.images.has(argv.at(-1)!) ? {stdout: argv.includes('{{.Config.User}}') ? '10001\n' : 'sha256:1\n'} : {exitCode: 1, stderr: 'Error: No such image'}))
    .when('docker build', (argv) => {
      world.images.add(argv[argv.indexOf('-t') + 1])
      return {stdout: 'Successfully built\n'}
    })
    .when('kubectl config view', {stdout: JSON.stringify({contexts: [{name: 'kind-devkube', context: {cluster: 'kind-devkube'}}], clusters: [{name: 'kind-devkube', cluster: {server: 'https://127.0.0.1:40000'}}]})})
    .when('kind get kubeconfig', {stdout: 'clusters:\n- cluster:\n    server: https://127.0.0.1:40000\n  name: kind-devkube\n'})
    .when('kind load docker-image', (argv) => {
      world.nodeImages.add(argv[3])
      return {stderr: 'loading...'}
    })
    .when('kubectl kustomize', (argv) => {
      const result = spawnSync('kubectl', argv.slice(1), {encoding: 'utf8'})
      return {exitCode: result.status ?? 1, stdout: result.stdout, stderr: result.stderr}
    })
    .on((argv, options) => {
      if (argv[0] !== 'kubectl') return undefined
      const words = argv.filter((arg, index) => !['--context', '--namespace'].includes(argv[index - 1] ?? '') && !arg.startsWith('--'))
      const [, verb, what, name] = words
      if (verb === 'get' && what === 'nodes') return {stdout: JSON.stringify({items: [{status: {images: [{names: [...world.nodeImages]}]}}]})}
      if (verb === 'get' && what === 'namespace') {
        const namespace = world.objects.get(`Namespace/${name}`)
        return namespace ? {stdout: JSON.stringify(namespace)} : {exitCode: 1, stderr: `Error from server (NotFound): namespaces "${name}" not found`}
      }
      if (verb === 'get' && what === 'deployment') {
        const deployment = world.objects.get(`Deployment/${name}`)
        return {stdout: JSON.stringify({...deployment, status: {replicas: 1, updatedReplicas: 1, availableReplicas: 1, readyReplicas: 1}})}
      }
      if (verb === 'get') return {stdout: JSON.stringify({items: [...world.objects.values()].filter((object) => object.kind !== 'Namespace')})}
      if (verb === 'apply') {
        const lines = parseAllDocuments(String(options.input)).map((document) => {
          const object = document.toJS() as KubeObject
          const previous = world.objects.get(key(object))
          world.objects.set(key(object), object)
          const verbDone = !previous ? 'created' : JSON.stringify(previous) === JSON.stringify(object) ? 'unchanged' : 'configured'
          return `${object.kind.toLowerCase()}/${object.metadata.name} ${verbDone}`
        })
        return {stdout: `${lines.join('\n')}\n`}
      }
      if (verb === 'rollout') return {stdout: 'deployment "hello-node" successfully rolled out\n'}
      return undefined
    })
  return {runner, world}
}

describe('the up plan', () => {
  let dir: string
  let restore: () => void
  beforeEach(() => {
    dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'devkube-plan-')), 'hello-node')
    cpSync(path.join(examples, 'hello-node'), dir, {recursive: true})
  })
  afterEach(() => restore?.())

  async function up() {
    const project = resolveProject(dir, {}, {requireApp: true})
    const {config, detection} = project
    const {deployed, steps} = await deploy(
      project,
      {
        rebuild: false,
        timeoutSeconds: 30,
        scaffold: async () => scaffold(dir, {...config, lang: detection!.lang, detection}).filter((file) => file.action === 'created').map((file) => file.path),
      },
      {mode: 'silent', signal: new AbortController().signal},
    )
    return {deployed, steps}
  }

  it('creates, builds, loads, applies and waits on a cold run; a second run changes nothing', async () => {
    const {runner} = worldRunner()
    restore = setRunner(runner)
    const cold = await up()
    expect(cold.deployed.actions).toMatchObject({clusterCreated: true, imageBuilt: true, imageLoaded: true, rolledOut: true})
    expect(cold.deployed.actions.scaffolded).toContain('Dockerfile')
    for (const words of ['kind create cluster', 'docker build', 'kind load docker-image', 'kubectl apply', 'kubectl rollout status']) expect(runner.callsOf(words)).toHaveLength(1)
    // every kubectl call that talks to a cluster names the kind context
    for (const call of runner.calls.filter((c) => c.argv[0] === 'kubectl' && !['kustomize', 'config', 'version'].includes(c.argv[1]))) {
      expect(call.argv.slice(1, 3)).toEqual(['--context', 'kind-devkube'])
    }

    runner.calls.length = 0
    const again = await up()
    expect(again.deployed.actions).toMatchObject({clusterCreated: false, imageBuilt: false, imageLoaded: false, applied: [], rolledOut: false, scaffolded: []})
    for (const words of ['kind create', 'docker build', 'kind load', 'kubectl apply', 'kubectl rollout']) expect(runner.callsOf(words)).toEqual([])
    expect(again.steps.filter((step) => step.skipped).map((step) => step.id)).toEqual(['scaffold', 'cluster', 'image', 'load', 'apply', 'rollout'])
  })

  it('after a source change rebuilds, loads, applies the new image and waits, but does not touch the cluster', async () => {
    const {runner, world} = worldRunner()
    restore = setRunner(runner)
    const first = await up()
    writeFileSync(path.join(dir, 'server.js'), `${'// changed\n'}${spawnSync('cat', [path.join(dir, 'server.js')], {encoding: 'utf8'}).stdout}`)
    runner.calls.length = 0
    const second = await up()
    expect(second.deployed.services[0].image).not.toBe(first.deployed.services[0].image)
    expect(second.deployed.actions).toMatchObject({clusterCreated: false, imageBuilt: true, imageLoaded: true, rolledOut: true})
    expect(runner.callsOf('kind create')).toEqual([])
    const deployment = world.objects.get('Deployment/hello-node') as unknown as {spec: {template: {spec: {containers: Array<{image: string}>}}}}
    expect(deployment.spec.template.spec.containers[0].image).toBe(second.deployed.services[0].image)
  })
})
