import {spawnSync} from 'node:child_process'
import {cpSync, mkdtempSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {resolveProject} from '../../src/lib/project.js'
import {setRunner} from '../../src/lib/runner.js'
import {scaffold} from '../../src/lib/scaffold.js'
import {deploy} from '../../src/lib/up.js'
import {worldRunner} from '../support/plan-world.js'

const examples = path.resolve(import.meta.dirname, '../../examples')

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
