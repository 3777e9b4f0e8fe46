/**
 * `up|status|down --target` against the fake cluster reached through a context that is not kind's
 * ("lab-cluster", with no current context set), and a registry on 127.0.0.1: the image is pushed
 * under its content tag and the cluster pulls it by digest; an unlisted target and a first deploy
 * without --yes (no terminal) are refused before anything is pushed or applied.
 */
import {randomUUID} from 'node:crypto'
import {appendFileSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parse, stringify} from 'yaml'
import {copyExample, devkube, type CliResult} from '../support/cli.js'
import {buildArgFlags, ensureStandinImages, useDocker} from '../support/docker.js'
import {createFakeToolchain, type FakeToolchain} from '../support/fake-toolchain.js'
import {startRegistry, type TestRegistry} from '../support/registry.js'

const dockerReady = await useDocker()

const CONTEXT = 'lab-cluster'
const NAMESPACE = 'hello-lab'
// Go on the 220 kB runtime stand-in: a small image, so pushing it takes a moment, not a minute.
const APP = 'hello-go'

describe.skipIf(!dockerReady)('devkube up --target on a cluster that is not kind\'s', () => {
  let tools: FakeToolchain
  let registry: TestRegistry
  let dir: string
  let buildArgs: string[]
  const pushed: string[] = []
  const run = (...args: string[]) => devkube(args, {cwd: dir, env: tools.env})
  const kubectl = (...args: string[]) => tools.exec('kubectl', ['--context', CONTEXT, ...args])
  const catalog = async (): Promise<string[]> => ((await (await fetch(`http://${registry.host}/v2/_catalog`)).json()) as {repositories: string[]}).repositories ?? []

  beforeAll(async () => {
    tools = await createFakeToolchain({speed: 0.5})
    registry = await startRegistry()
    const images = await ensureStandinImages()
    buildArgs = buildArgFlags({GO_IMAGE: images.GO_IMAGE, RUNTIME_IMAGE: images.RUNTIME_IMAGE})
    // The "real" cluster: made by the fake kind, then reachable only through a context named by the
    // user, with no current context, so nothing can fall back on one.
    const created = await tools.exec('kind', ['create', 'cluster', '--name', 'remote'])
    expect(created.code, created.stderr).toBe(0)
    const kubeconfig = parse(readFileSync(tools.kubeconfigPath, 'utf8')) as {contexts: Array<{name: string}>; 'current-context'?: string}
    kubeconfig.contexts = kubeconfig.contexts.map((context) => (context.name === 'kind-remote' ? {...context, name: CONTEXT} : context))
    kubeconfig['current-context'] = ''
    writeFileSync(tools.kubeconfigPath, stringify(kubeconfig))
    // The namespace belongs to the team, with an object of theirs that down must leave alone.
    expect((await kubectl('create', 'namespace', NAMESPACE)).code).toBe(0)
    const theirs = await tools.exec('kubectl', ['--context', CONTEXT, '--namespace', NAMESPACE, 'apply', '-f', '-'], {input: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: team-settings}\ndata: {owner: payments}\n'})
    expect(theirs.code, theirs.stderr).toBe(0)

    dir = copyExample(APP)
    appendFileSync(path.join(dir, 'main.go'), `\n// test run ${randomUUID()}\n`)
    writeFileSync(path.join(dir, 'devkube.yaml'), stringify({targets: {
      lab: {context: CONTEXT, registry: `${registry.host}/team`, namespace: NAMESPACE},
      ghost: {context: 'not-in-kubeconfig', registry: `${registry.host}/team`},
    }}))
  })

  afterAll(async () => {
    await registry?.stop()
    if (pushed.length > 0) await execa('docker', ['rmi', '-f', ...pushed], {reject: false})
    await tools?.cleanup()
  })

  function expectRefusal(result: CliResult, sentence: string): void {
    expect(result.code, result.stdout + result.stderr).not.toBe(0)
    expect(result.error).toContain(sentence)
    expect(result.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m)
  }

  it('refuses a target devkube.yaml does not list, naming the ones it does', async () => {
    expectRefusal(await run('up', '--target', 'prod', ...buildArgs), 'There is no target "prod" in devkube.yaml; its targets are lab, ghost.')
  })

  it('refuses a target whose context is not in the kubeconfig, even with --yes', async () => {
    expectRefusal(await run('up', '--target', 'ghost', '--yes', ...buildArgs), 'The context "not-in-kubeconfig" of target ghost is not in your kubeconfig.')
    expect(await catalog()).toEqual([])
  })

  it('refuses the first deploy to the context without --yes when there is no terminal, pushing and applying nothing', async () => {
    expectRefusal(await run('up', '--target', 'lab', ...buildArgs), `Not deploying to the context "${CONTEXT}" (target lab)`)
    expect(await catalog()).toEqual([])
    const deployments = await kubectl('get', 'deployments', '--namespace', NAMESPACE, '-o', 'name')
    expect(deployments.stdout.trim()).toBe('')
  })

  it('with --yes pushes the content tag, applies through the named context, and the cluster pulls the image by digest', async () => {
    const result = await run('up', '--target', 'lab', '--yes', '--json', ...buildArgs)
    expect(result.code, result.stderr).toBe(0)
    const output = JSON.parse(result.stdout) as {context: string; namespace: string; url?: string; forward?: unknown}
    expect(output).toMatchObject({context: CONTEXT, namespace: NAMESPACE})
    expect(output.forward).toBeUndefined()

    expect(await catalog()).toEqual([`team/${APP}`])
    const tags = ((await (await fetch(`http://${registry.host}/v2/team/${APP}/tags/list`)).json()) as {tags: string[]}).tags
    expect(tags).toHaveLength(1)
    expect(tags[0]).toMatch(/^[0-9a-f]{12}$/)
    pushed.push(`${registry.host}/team/${APP}:${tags[0]}`, `devkube.local/${APP}:${tags[0]}`)

    const deployment = JSON.parse((await kubectl('get', 'deployment', APP, '--namespace', NAMESPACE, '-o', 'json')).stdout) as {spec: {template: {spec: {containers: Array<{image: string}>}}}; status: {readyReplicas?: number}}
    const image = deployment.spec.template.spec.containers[0].image
    expect(image).toBe(`${pushed[0]}@${image.split('@')[1]}`)
    expect(image).toMatch(/@sha256:[0-9a-f]{64}$/)
    expect(deployment.status.readyReplicas).toBe(1)
    // The pod runs what the registry holds under that digest (pulled by the cluster, not loaded by kind).
    const digest = (await execa('docker', ['image', 'inspect', '--format', '{{json .RepoDigests}}', pushed[0]])).stdout
    expect(digest).toContain(`${registry.host}/team/${APP}@${image.split('@')[1]}`)
    const kindCalls = tools.calls().filter((call) => call.tool === 'kind' && call.args[0] !== 'create')
    expect(kindCalls).toEqual([])
  })

  it('does not ask again for a context once confirmed, and changes nothing when nothing changed', async () => {
    const result = await run('up', '--target', 'lab', ...buildArgs)
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/Apply manifests: unchanged/)
  })

  it('status --target reports the app healthy on that context', async () => {
    const result = await run('status', '--target', 'lab', '--json')
    expect(result.code, result.stdout + result.stderr).toBe(0)
    expect(JSON.parse(result.stdout)).toMatchObject({healthy: true})
  })

  it('down --target never deletes the target\'s cluster', async () => {
    expectRefusal(await run('down', '--target', 'lab', '--cluster', '--yes'), 'devkube never deletes the cluster of a deploy target (lab, context "lab-cluster").')
    expect((await kubectl('get', 'deployment', APP, '--namespace', NAMESPACE)).code).toBe(0)
  })

  it('down --target removes only devkube\'s objects, leaving the team\'s namespace and ConfigMap', async () => {
    const result = await run('down', '--target', 'lab')
    expect(result.code, result.stderr).toBe(0)
    expect((await kubectl('get', 'deployment', APP, '--namespace', NAMESPACE)).code).not.toBe(0)
    expect((await kubectl('get', 'configmap', 'team-settings', '--namespace', NAMESPACE)).code).toBe(0)
    expect((await kubectl('get', 'namespace', NAMESPACE)).code).toBe(0)
  })
})
