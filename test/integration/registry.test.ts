/**
 * `registry: true` on the fake kind cluster (issue 12): devkube starts a registry container (the
 * registry:2 stand-in), creates the cluster with containerd's certs.d entry for localhost:<port>,
 * pushes instead of `kind load`, and the fake node pulls through the registry container as
 * containerd would. A one-line edit pushes one layer (read from the registry's own access log), a
 * no-change `up` pushes nothing, and a cluster with a ctlptl-style registry (its KEP-1755 ConfigMap)
 * gets its images pushed there instead.
 */
import {randomUUID} from 'node:crypto'
import {appendFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {stringify} from 'yaml'
import {copyExample, devkube, httpBody} from '../support/cli.js'
import {buildArgFlags, ensureStandinImages, freeLoopbackPort, STANDIN_REGISTRY_IMAGE, TEST_LABEL, useDocker} from '../support/docker.js'
import {createFakeToolchain, type FakeToolchain} from '../support/fake-toolchain.js'

const dockerReady = await useDocker()
const APP = 'hello-go'

interface UpJson {
  url?: string
  changed: {imageBuilt: boolean; imageLoaded: boolean; imagePushed: boolean; clusterCreated: boolean}
}

describe.skipIf(!dockerReady)('devkube up with a local registry', () => {
  const suffix = randomUUID().slice(0, 8)
  const network = `devkube-it-kind-${suffix}`
  const registryName = `devkube-registry-${suffix}`
  const ctlptlName = `ctlptl-registry-${suffix}`
  let tools: FakeToolchain
  let dir: string
  let port: number
  let buildArgs: string[]
  const run = (...args: string[]) => devkube(args, {cwd: dir, env: tools.env})
  const kubectl = (cluster: string, ...args: string[]) => tools.exec('kubectl', ['--context', `kind-${cluster}`, ...args])
  const json = <T>(text: string) => JSON.parse(text) as T
  /** The blobs the registry received (PUT .../blobs/uploads/...?digest=...), from its access log. */
  const uploadedBlobs = async (container: string): Promise<string[]> => {
    const logs = await execa('docker', ['logs', container], {all: true})
    return [...logs.all.matchAll(/"PUT \/v2\/[^ ]+\/blobs\/uploads\/[^ ]*[?&]digest=sha256%3A([0-9a-f]{64})/g)].map((match) => match[1])
  }
  const manifestLayers = async (host: string, tag: string): Promise<string[]> => {
    const response = await fetch(`http://${host}/v2/${APP}/manifests/${tag}`, {headers: {accept: 'application/vnd.docker.distribution.manifest.v2+json'}})
    return ((await response.json()) as {layers: Array<{digest: string}>}).layers.map((layer) => layer.digest.replace('sha256:', ''))
  }
  const deployedImage = async (cluster: string) =>
    json<{spec: {template: {spec: {containers: Array<{image: string}>}}}}>((await kubectl(cluster, 'get', 'deployment', APP, '--namespace', APP, '-o', 'json')).stdout).spec.template.spec.containers[0].image

  beforeAll(async () => {
    const dataHome = mkdtempSync(path.join(os.tmpdir(), 'devkube-it-data-'))
    tools = await createFakeToolchain({speed: 0.5, env: {XDG_DATA_HOME: dataHome, KIND_EXPERIMENTAL_DOCKER_NETWORK: network}})
    const images = await ensureStandinImages()
    buildArgs = buildArgFlags({GO_IMAGE: images.GO_IMAGE, RUNTIME_IMAGE: images.RUNTIME_IMAGE})
    port = await freeLoopbackPort()
    dir = copyExample(APP)
    appendFileSync(path.join(dir, 'main.go'), `\n// test run ${suffix}\n`)
    writeFileSync(path.join(dir, 'devkube.yaml'), stringify({registry: {name: registryName, port, image: STANDIN_REGISTRY_IMAGE}}))
  })

  afterAll(async () => {
    await run('down').catch(() => {})
    await execa('docker', ['rm', '-f', registryName, ctlptlName], {reject: false})
    await tools?.cleanup()
    await execa('docker', ['network', 'rm', network], {reject: false})
  })

  it('creates the registry and the cluster wired to it, pushes instead of kind load, and the pod pulls and serves the image', async () => {
    const forward = await freeLoopbackPort()
    const result = await run('up', '--detach', '--forward', String(forward), '--json', ...buildArgs)
    expect(result.code, result.stdout + result.stderr).toBe(0)
    const output = json<UpJson>(result.stdout)
    expect(output.changed).toMatchObject({clusterCreated: true, imageBuilt: true, imagePushed: true, imageLoaded: false})
    expect((await httpBody(`http://localhost:${forward}/`)).trim()).toBe('Hello World')

    // The image went through the registry: in its catalog, named by the manifests, never `kind load`ed.
    const catalog = json<{repositories: string[]}>(await (await fetch(`http://127.0.0.1:${port}/v2/_catalog`)).text())
    expect(catalog.repositories).toEqual([APP])
    expect(await deployedImage('devkube')).toMatch(new RegExp(`^localhost:${port}/${APP}:[0-9a-f]{12}@sha256:[0-9a-f]{64}$`))
    expect(tools.calls().filter((call) => call.tool === 'kind' && call.args[0] === 'load')).toEqual([])

    // Wired as kind's guide says: on the kind network, a hosts.toml for localhost:<port>, the KEP-1755 ConfigMap.
    const networks = await execa('docker', ['inspect', '--format', '{{json .NetworkSettings.Networks}}', registryName])
    expect(Object.keys(JSON.parse(networks.stdout) as object)).toContain(network)
    const configMap = json<{data: Record<string, string>}>((await kubectl('devkube', 'get', 'configmap', 'local-registry-hosting', '--namespace', 'kube-public', '-o', 'json')).stdout)
    expect(configMap.data['localRegistryHosting.v1']).toContain(`host: "localhost:${port}"`)
    const hostsToml = readFileSync(path.join(tools.env.XDG_DATA_HOME!, 'devkube', 'kind', 'devkube', 'certs.d', `localhost:${port}`, 'hosts.toml'), 'utf8')
    expect(hostsToml).toContain(`[host."http://${registryName}:5000"]`)
  })

  it('after a one-line edit pushes only the layer that changed (and the image config)', async () => {
    const before = await uploadedBlobs(registryName)
    const oldTag = (await deployedImage('devkube')).split(':')[2].split('@')[0]
    writeFileSync(path.join(dir, 'main.go'), readFileSync(path.join(dir, 'main.go'), 'utf8').replace('"Hello World"', '"Hello registry"'))
    const result = await run('up', '--no-forward', '--json', ...buildArgs)
    expect(result.code, result.stdout + result.stderr).toBe(0)
    expect(json<UpJson>(result.stdout).changed).toMatchObject({imageBuilt: true, imagePushed: true})

    const newTag = (await deployedImage('devkube')).split(':')[2].split('@')[0]
    expect(newTag).not.toBe(oldTag)
    const [oldLayers, newLayers] = await Promise.all([manifestLayers(`127.0.0.1:${port}`, oldTag), manifestLayers(`127.0.0.1:${port}`, newTag)])
    const changed = newLayers.filter((layer) => !oldLayers.includes(layer))
    expect(changed).toHaveLength(1)
    const sent = (await uploadedBlobs(registryName)).slice(before.length)
    // The changed layer and the image's config blob; none of the layers the registry already had.
    expect(sent).toContain(changed[0])
    expect(sent).toHaveLength(2)
    expect(sent.filter((blob) => oldLayers.includes(blob))).toEqual([])
  })

  it('with nothing changed pushes nothing', async () => {
    const before = await uploadedBlobs(registryName)
    const result = await run('up', '--no-forward', '--json', ...buildArgs)
    expect(result.code, result.stdout + result.stderr).toBe(0)
    expect(json<UpJson>(result.stdout).changed, result.stdout).toMatchObject({imageBuilt: false, imagePushed: false, imageLoaded: false})
    expect(await uploadedBlobs(registryName)).toEqual(before)
  })

  it('reuses the registry a ctlptl-made cluster names in its local-registry-hosting ConfigMap', async () => {
    // What ctlptl (or kind's script) leaves: a registry container on the kind network, a cluster whose
    // containerd has the hosts entry for it, and the KEP-1755 ConfigMap naming it.
    const ctlptlPort = await freeLoopbackPort()
    await execa('docker', ['run', '-d', '--label', TEST_LABEL, '--network', network, '-p', `127.0.0.1:${ctlptlPort}:5000`, '--name', ctlptlName, STANDIN_REGISTRY_IMAGE])
    const certs = mkdtempSync(path.join(os.tmpdir(), 'devkube-it-certs-'))
    mkdirSync(path.join(certs, `localhost:${ctlptlPort}`))
    writeFileSync(path.join(certs, `localhost:${ctlptlPort}`, 'hosts.toml'), `[host."http://${ctlptlName}:5000"]\n`)
    const config = stringify({
      kind: 'Cluster',
      apiVersion: 'kind.x-k8s.io/v1alpha4',
      containerdConfigPatches: ['[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"'],
      nodes: [{role: 'control-plane', extraMounts: [{hostPath: certs, containerPath: '/etc/containerd/certs.d'}]}],
    })
    expect((await tools.exec('kind', ['create', 'cluster', '--name', 'ctlptl', '--config', '-'], {input: config})).code).toBe(0)
    const configMap = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: local-registry-hosting, namespace: kube-public}\ndata:\n  localRegistryHosting.v1: |\n    host: "localhost:${ctlptlPort}"\n    hostFromContainerRuntime: "${ctlptlName}:5000"\n    help: "https://github.com/tilt-dev/ctlptl"\n`
    expect((await tools.exec('kubectl', ['--context', 'kind-ctlptl', 'apply', '-f', '-'], {input: configMap})).code).toBe(0)

    const result = await run('up', '--cluster', 'ctlptl', '--no-forward', '--json', ...buildArgs)
    expect(result.code, result.stdout + result.stderr).toBe(0)
    expect(await deployedImage('ctlptl')).toMatch(new RegExp(`^localhost:${ctlptlPort}/${APP}:`))
    const catalog = json<{repositories: string[]}>(await (await fetch(`http://127.0.0.1:${ctlptlPort}/v2/_catalog`)).text())
    expect(catalog.repositories).toEqual([APP])
    // devkube's own registry got nothing new, and no second registry container was made.
    const registries = await execa('docker', ['ps', '-a', '--filter', `name=registry-${suffix}`, '--format', '{{.Names}}'])
    expect(registries.stdout.split('\n').sort()).toEqual([ctlptlName, registryName].sort())
    const ready = json<{status: {readyReplicas?: number}}>((await kubectl('ctlptl', 'get', 'deployment', APP, '--namespace', APP, '-o', 'json')).stdout)
    expect(ready.status.readyReplicas).toBe(1)
  })
})
