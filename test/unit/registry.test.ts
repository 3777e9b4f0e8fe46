/**
 * The local registry (issue 12) at the process boundary: the kind config and hosts.toml devkube
 * renders, how it finds a registry to reuse (the cluster's KEP-1755 ConfigMap, a running
 * kind-registry/ctlptl-registry container) before it makes one, and a push that sends nothing when
 * the registry already holds the image. The registry's HTTP API is a small server of the test's own.
 */
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {parse} from 'yaml'
import {parseConfig, resolveRegistry} from '../../src/lib/config.js'
import {pushImage} from '../../src/lib/docker.js'
import {UserError} from '../../src/lib/errors.js'
import {renderClusterConfig} from '../../src/lib/kind.js'
import {Kube} from '../../src/lib/kube.js'
import {DEFAULT_REGISTRY, renderHostsToml, renderRegistryConfigMap, resolveLocalRegistry} from '../../src/lib/registry.js'
import {setRunner} from '../../src/lib/runner.js'
import {FakeRunner} from '../support/fake-runner.js'

/** A registry API on 127.0.0.1: /v2/ answers 200, manifests answer with the digests given. */
async function fakeRegistryApi(manifests: Record<string, string> = {}): Promise<{port: number; server: Server}> {
  const server = createServer((request, response) => {
    const digest = manifests[request.url ?? '']
    if (request.url === '/v2/') response.writeHead(200).end('{}')
    else if (digest) response.writeHead(200, {'docker-content-digest': digest}).end()
    else response.writeHead(404).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {port: (server.address() as AddressInfo).port, server}
}

const notFound = {exitCode: 1, stderr: 'Error from server (NotFound): configmaps "local-registry-hosting" not found'}
const inspectLine = (name: string, port: number, networks = '{"bridge":{}}') => `/${name}|true|{"5000/tcp":[{"HostIp":"127.0.0.1","HostPort":"${port}"}]}|${networks}\n`

describe('the kind config and containerd entry of a cluster with a local registry', () => {
  it("enables containerd's certs.d and mounts devkube's folder of host entries there, read-only", () => {
    const certsDir = '/home/a user/.local/share/devkube/kind/dev: 1/certs.d'
    const config = parse(renderClusterConfig('dev', {certsDir})) as {name: string; containerdConfigPatches: string[]; nodes: Array<{role: string; labels: Record<string, string>; extraMounts: unknown[]}>}
    expect(config.name).toBe('dev')
    expect(config.containerdConfigPatches).toHaveLength(1)
    expect(config.containerdConfigPatches[0]).toMatch(/^\[plugins\."io\.containerd\.grpc\.v1\.cri"\.registry\]\n\s+config_path = "\/etc\/containerd\/certs\.d"$/)
    expect(config.nodes).toHaveLength(1)
    expect(config.nodes[0].extraMounts).toEqual([{hostPath: certsDir, containerPath: '/etc/containerd/certs.d', readOnly: true}])
    expect(config.nodes[0].labels).toEqual({'devkube.dev/managed-by': 'devkube', 'devkube.dev/registry-hosts': 'mounted'})
  })

  it('without a registry is the plain config (no patch, no mount)', () => {
    const config = parse(renderClusterConfig('dev')) as Record<string, unknown>
    expect(config.containerdConfigPatches).toBeUndefined()
    expect(JSON.stringify(config)).not.toContain('extraMounts')
  })

  it('points localhost:<port> at the registry container by name on port 5000, over HTTP', () => {
    const toml = renderHostsToml({port: 5001, container: 'kind-registry'})
    expect(toml.split('\n').filter((line) => line && !line.startsWith('#'))).toEqual(['[host."http://kind-registry:5000"]'])
  })

  it('documents the registry in kube-public as KEP-1755 asks', () => {
    const configMap = parse(renderRegistryConfigMap({host: 'localhost:5001', container: 'devkube-registry'})) as {metadata: {name: string; namespace: string}; data: Record<string, string>}
    expect(configMap.metadata).toEqual({name: 'local-registry-hosting', namespace: 'kube-public'})
    expect(parse(configMap.data['localRegistryHosting.v1'])).toEqual({host: 'localhost:5001', hostFromContainerRuntime: 'devkube-registry:5000', help: 'https://kind.sigs.k8s.io/docs/user/local-registry/'})
  })
})

describe('finding the registry to use', () => {
  let restore = () => {}
  let dataHome: string
  const servers: Server[] = []
  const previous = process.env.XDG_DATA_HOME
  beforeEach(() => {
    dataHome = mkdtempSync(path.join(tmpdir(), 'devkube-registry-'))
    process.env.XDG_DATA_HOME = dataHome
  })
  afterEach(() => {
    restore()
    for (const server of servers.splice(0)) server.close()
    rmSync(dataHome, {recursive: true, force: true})
    if (previous === undefined) delete process.env.XDG_DATA_HOME
    else process.env.XDG_DATA_HOME = previous
  })
  const kube = new Kube('dev')

  it("reuses what an existing cluster's local-registry-hosting ConfigMap names (ctlptl, kind's script), starting nothing", async () => {
    const api = await fakeRegistryApi()
    servers.push(api.server)
    const hosting = `host: "localhost:${api.port}"\nhostFromContainerRuntime: "ctlptl-registry:5000"\n`
    const runner = new FakeRunner().when('kubectl --context kind-dev --namespace kube-public get configmap local-registry-hosting', {stdout: JSON.stringify({data: {'localRegistryHosting.v1': hosting}})})
    restore = setRunner(runner)
    const found = await resolveLocalRegistry(kube, DEFAULT_REGISTRY, {exists: true, hostsMounted: false})
    expect(found).toEqual({host: `localhost:${api.port}`, container: 'ctlptl-registry', origin: 'cluster'})
    expect(runner.calls.filter((call) => call.argv[0] === 'docker')).toEqual([])
  })

  it("for a new cluster reuses a running kind-registry container and writes the node's hosts.toml for it", async () => {
    const api = await fakeRegistryApi()
    servers.push(api.server)
    const runner = new FakeRunner().when('docker inspect', {exitCode: 1, stdout: inspectLine('kind-registry', api.port), stderr: 'Error: No such container: devkube-registry'})
    restore = setRunner(runner)
    const found = await resolveLocalRegistry(kube, DEFAULT_REGISTRY, {exists: false, hostsMounted: false})
    expect(found).toMatchObject({host: `localhost:${api.port}`, container: 'kind-registry', origin: 'running'})
    // devkube's own name first, then kind's script's and ctlptl's.
    expect(runner.callsOf('docker inspect')[0].argv.slice(-3)).toEqual(['devkube-registry', 'kind-registry', 'ctlptl-registry'])
    expect(runner.callsOf('docker run')).toEqual([])
    const toml = readFileSync(path.join(dataHome, 'devkube', 'kind', 'dev', 'certs.d', `localhost:${api.port}`, 'hosts.toml'), 'utf8')
    expect(toml).toContain('[host."http://kind-registry:5000"]')
    expect(found.certsDir).toBe(path.join(dataHome, 'devkube', 'kind', 'dev', 'certs.d'))
  })

  it('starts its own registry container, as kind\'s guide does, when none is running', async () => {
    const api = await fakeRegistryApi()
    servers.push(api.server)
    const runner = new FakeRunner().when('docker inspect', {exitCode: 1, stderr: 'Error: No such container: devkube-registry'}).when('docker run', {stdout: 'abc123\n'})
    restore = setRunner(runner)
    const found = await resolveLocalRegistry(kube, {...DEFAULT_REGISTRY, port: api.port}, {exists: false, hostsMounted: false})
    expect(found).toMatchObject({host: `localhost:${api.port}`, container: 'devkube-registry', origin: 'created'})
    expect(runner.callsOf('docker run')[0].argv).toEqual(['docker', 'run', '-d', '--restart=always', '-p', `127.0.0.1:${api.port}:5000`, '--name', 'devkube-registry', '--label', 'app.kubernetes.io/managed-by=devkube', 'registry:2'])
  })

  it('says which port is taken and removes the container it could not start', async () => {
    const runner = new FakeRunner()
      .when('docker inspect', {exitCode: 1, stderr: 'Error: No such container: devkube-registry'})
      .when('docker run', {exitCode: 125, stderr: 'docker: Error response from daemon: driver failed programming external connectivity on endpoint devkube-registry: Bind for 127.0.0.1:5001 failed: port is already allocated.'})
      .when('docker rm', {})
    restore = setRunner(runner)
    const error = await resolveLocalRegistry(kube, DEFAULT_REGISTRY, {exists: false, hostsMounted: false}).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(UserError)
    expect((error as UserError).message).toBe('The local registry cannot listen on 127.0.0.1:5001: another program already uses that port.')
    expect((error as UserError).hint).toContain('registry: {port: 5002}')
    expect(runner.callsOf('docker rm')[0].argv).toEqual(['docker', 'rm', '-f', 'devkube-registry'])
  })

  it("adds the registry to a running cluster made without one, as kind's script does: hosts.toml into each node", async () => {
    const runner = new FakeRunner()
      .when('kubectl', notFound)
      .when('docker ps -a', {stdout: 'dev-control-plane\trunning\n'})
      .when('docker exec dev-control-plane cat', {stdout: '[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"\n'})
      .when('docker inspect', {exitCode: 1, stderr: 'Error: No such container: devkube-registry'})
      .when('docker run', {stdout: 'abc\n'})
      .when('docker exec -i dev-control-plane', {})
    restore = setRunner(runner)
    const found = await resolveLocalRegistry(kube, DEFAULT_REGISTRY, {exists: true, hostsMounted: false})
    expect(found).toEqual({host: 'localhost:5001', container: 'devkube-registry', origin: 'created'})
    const [write] = runner.callsOf('docker exec -i')
    expect(write.argv).toEqual(['docker', 'exec', '-i', 'dev-control-plane', 'sh', '-c', "mkdir -p '/etc/containerd/certs.d/localhost:5001' && cat > '/etc/containerd/certs.d/localhost:5001/hosts.toml'"])
    expect(write.input).toContain('[host."http://devkube-registry:5000"]')
  })

  it('refuses, in one sentence, a cluster made without a registry whose containerd does not read certs.d', async () => {
    const runner = new FakeRunner().when('kubectl', notFound).when('docker ps -a', {stdout: 'dev-control-plane\trunning\n'}).when('docker exec', {stdout: 'version = 2\n'})
    restore = setRunner(runner)
    const error = await resolveLocalRegistry(kube, DEFAULT_REGISTRY, {exists: true, hostsMounted: false}).catch((caught: unknown) => caught)
    expect((error as UserError).message).toBe('The kind cluster "dev" was created without a local registry, and containerd on its node dev-control-plane does not read registry entries from /etc/containerd/certs.d (a node image older than kind v0.27).')
    expect((error as UserError).hint).toContain('devkube down --cluster')
    expect(runner.callsOf('docker run')).toEqual([])
  })

  it('refuses, in one sentence, a cluster made without a registry whose nodes it cannot reach', async () => {
    restore = setRunner(new FakeRunner().when('kubectl', notFound).when('docker ps -a', {stdout: ''}))
    const error = await resolveLocalRegistry(kube, DEFAULT_REGISTRY, {exists: true, hostsMounted: false}).catch((caught: unknown) => caught)
    expect((error as UserError).message).toBe('The kind cluster "dev" was created without a local registry, and its nodes cannot be told about one without changing them.')
  })
})

describe('pushing to the local registry', () => {
  let restore = () => {}
  const servers: Server[] = []
  afterEach(() => {
    restore()
    for (const server of servers.splice(0)) server.close()
  })

  it('sends nothing when the registry already holds the digest this image was pushed as', async () => {
    const api = await fakeRegistryApi({'/v2/hello/manifests/abc': 'sha256:1111'})
    servers.push(api.server)
    const runner = new FakeRunner().when('docker tag', {}).when('docker image inspect', {stdout: `["localhost:${api.port}/hello@sha256:1111"]\n`})
    restore = setRunner(runner)
    expect(await pushImage('devkube.local/hello:abc', `localhost:${api.port}/hello`, 'abc')).toEqual({reference: `localhost:${api.port}/hello:abc@sha256:1111`, pushed: false})
    expect(runner.callsOf('docker push')).toEqual([])
  })

  it('pushes when the registry has another image under the tag (or none)', async () => {
    const api = await fakeRegistryApi({'/v2/hello/manifests/abc': 'sha256:2222'})
    servers.push(api.server)
    const runner = new FakeRunner().when('docker tag', {}).when('docker push', {stdout: 'abc: digest: sha256:1111 size: 528'}).when('docker image inspect', {stdout: `["localhost:${api.port}/hello@sha256:1111"]\n`})
    restore = setRunner(runner)
    expect(await pushImage('devkube.local/hello:abc', `localhost:${api.port}/hello`, 'abc')).toMatchObject({pushed: true})
    expect(runner.callsOf('docker push')[0].argv).toEqual(['docker', 'push', `localhost:${api.port}/hello:abc`])
  })
})

describe('registry: in devkube.yaml', () => {
  it('is off unless set; true means the defaults; a map sets port, name and image', () => {
    expect(resolveRegistry(undefined)).toBeUndefined()
    expect(resolveRegistry(true)).toEqual({name: 'devkube-registry', port: 5001, image: 'registry:2'})
    expect(resolveRegistry(undefined, true)).toEqual(DEFAULT_REGISTRY)
    expect(resolveRegistry({port: 5002, image: 'mirror.local/registry:2'})).toEqual({name: 'devkube-registry', port: 5002, image: 'mirror.local/registry:2'})
  })

  it('rejects other values, saying what is allowed', () => {
    expect(() => parseConfig('registry: yes please\n', 'devkube.yaml')).toThrow('true, false, or a map with the keys port, name, image')
    expect(() => parseConfig('registry: {port: 70000}\n', 'devkube.yaml')).toThrow('`registry.port` must be a whole number from 1 to 65535')
    expect(() => parseConfig('registry: {host: x}\n', 'devkube.yaml')).toThrow('unknown key `registry.host`')
    expect(parseConfig('registry: true\n', 'devkube.yaml')).toMatchObject({registry: true})
  })
})
