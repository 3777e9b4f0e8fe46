import {mkdtempSync} from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {renderDoctor, runDoctor, type DoctorInput, type DoctorReport} from '../../src/lib/doctor.js'
import {chalk} from '../../src/lib/output.js'
import {setRunner} from '../../src/lib/runner.js'
import {FakeRunner} from '../support/fake-runner.js'
import {SERVER} from './status-fixtures.js'

function healthyRunner(options: {clusters?: string[]; serverVersion?: string} = {}): FakeRunner {
  const clusters = options.clusters ?? ['devkube']
  return new FakeRunner()
    .when('docker version', {stdout: '28.2.2 28.2.2\n'})
    .when('docker info', {stdout: `${os.tmpdir()}\n`})
    .when('kind version', {stdout: 'kind v0.27.0 go1.23.6 linux/amd64\n'})
    .when('kubectl version --client', {stdout: JSON.stringify({clientVersion: {gitVersion: 'v1.32.4'}})})
    .when('kind get clusters', {stdout: clusters.join('\n')})
    .when('docker ps -a', {stdout: clusters.map((name) => `${name}-control-plane\trunning\n`).join('')})
    .when('kind get kubeconfig', {stdout: `clusters:\n- cluster:\n    server: ${SERVER}\n  name: kind-devkube\n`})
    .when('kubectl config view', {stdout: JSON.stringify({contexts: [{name: 'kind-devkube', context: {cluster: 'kind-devkube'}}], clusters: [{name: 'kind-devkube', cluster: {server: SERVER}}]})})
    .when('kubectl --context kind-devkube version', {stdout: JSON.stringify({clientVersion: {gitVersion: 'v1.32.4'}, serverVersion: {gitVersion: options.serverVersion ?? 'v1.32.2'}})})
    .when('ss', {stdout: ''})
    .when('docker inspect', {exitCode: 1, stderr: 'Error: No such container: devkube-registry'})
    .when('kubectl --context kind-devkube --namespace kube-public get configmap', {exitCode: 1, stderr: 'Error from server (NotFound): configmaps "local-registry-hosting" not found'})
}

function check(report: DoctorReport, id: string) {
  return report.checks.find((entry) => entry.id === id)
}

describe('devkube doctor', () => {
  let restore: (() => void) | undefined
  let input: DoctorInput
  let port: number
  const previousLevel = chalk.level

  beforeEach(async () => {
    chalk.level = 0
    port = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const address = server.address() as net.AddressInfo
        server.close(() => resolve(address.port))
      })
    })
    input = {cluster: 'devkube', forwardPort: port, projectDir: mkdtempSync(path.join(os.tmpdir(), 'devkube-doctor-')), nodeVersion: '22.12.0', env: {}}
  })
  afterEach(() => {
    restore?.()
    chalk.level = previousLevel
  })

  it('reports the local registry devkube would reuse, though `down` left it running and registry: is off', async () => {
    restore = setRunner(healthyRunner().when('docker inspect', {exitCode: 1, stdout: '/kind-registry|true|{"5000/tcp":[{"HostIp":"127.0.0.1","HostPort":"5001"}]}|{"bridge":{},"kind":{}}\n'}))
    const report = await runDoctor(input)
    expect(check(report, 'registry')).toMatchObject({status: 'ok', detail: 'kind-registry on localhost:5001, on the "kind" network (unused: `registry:` is off)'})
  })

  it('passes on a machine with everything in place, and checks the existing cluster too', async () => {
    restore = setRunner(healthyRunner())
    const report = await runDoctor(input)
    expect(report.ok).toBe(true)
    expect(report.checks.map((entry) => [entry.id, entry.status])).toEqual([
      ['node', 'ok'],
      ['config', 'ok'],
      ['docker', 'ok'],
      ['daemon', 'ok'],
      ['kind', 'ok'],
      ['kubectl', 'ok'],
      ['cluster', 'ok'],
      ['context', 'ok'],
      ['skew', 'ok'],
      ['registry', 'skip'],
      ['port', 'ok'],
      ['disk', 'ok'],
    ])
    expect(check(report, 'daemon')?.detail).toBe('reachable (Docker 28.2.2; kind provider: docker)')
    expect(check(report, 'skew')?.detail).toBe('kubectl 1.32.4, cluster Kubernetes 1.32.2')
    const text = renderDoctor(report)
    expect(text).toContain('✓ kind                  kind 0.27.0')
    expect(text.at(-1)).toBe('✓ Everything `devkube up` needs is in place.')
  })

  it('names a missing kind with how to install it, and skips what needs it', async () => {
    restore = setRunner(healthyRunner().when('kind', {notFound: true, exitCode: 127}))
    const report = await runDoctor(input)
    expect(report.ok).toBe(false)
    expect(check(report, 'kind')).toMatchObject({status: 'fail', detail: 'not installed (not on PATH)', fix: expect.stringContaining('Install kind v0.20 or newer')})
    expect(check(report, 'cluster')).toMatchObject({status: 'skip', detail: 'needs Docker and kind'})
    const text = renderDoctor(report)
    expect(text).toContain('✗ kind                  not installed (not on PATH)')
    expect(text.at(-1)).toBe('✗ 1 required check failed: fix it and run `devkube doctor` again.')
  })

  it('tells a missing docker CLI from a stopped daemon', async () => {
    restore = setRunner(healthyRunner().when('docker', {notFound: true, exitCode: 127}))
    const missing = await runDoctor(input)
    expect(check(missing, 'docker')).toMatchObject({status: 'fail', detail: 'not installed (not on PATH)'})
    expect(check(missing, 'daemon')).toMatchObject({status: 'skip'})
    restore()

    restore = setRunner(healthyRunner().when('docker version', {exitCode: 1, stdout: '28.2.2 \n', stderr: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n'}))
    const stopped = await runDoctor(input)
    expect(check(stopped, 'docker')?.status).toBe('ok')
    expect(check(stopped, 'daemon')).toMatchObject({
      status: 'fail',
      detail: 'Docker is not running (the docker CLI cannot reach the Docker daemon)',
      fix: 'Start Docker Desktop, or run `sudo systemctl start docker` (Linux), then run the command again.',
    })
    expect(stopped.ok).toBe(false)
  })

  it('fails an old kind, an old Node.js and a missing kubectl', async () => {
    restore = setRunner(healthyRunner().when('kind version', {stdout: 'kind v0.17.0 go1.19 linux/amd64\n'}).when('kubectl', {notFound: true, exitCode: 127}))
    const report = await runDoctor({...input, nodeVersion: '20.11.1'})
    expect(check(report, 'node')).toMatchObject({status: 'fail', detail: 'Node.js 20.11.1 is older than 22.0.0'})
    expect(check(report, 'kind')).toMatchObject({status: 'fail', detail: 'kind 0.17.0 is older than 0.20.0, the oldest devkube supports'})
    expect(check(report, 'kubectl')).toMatchObject({status: 'fail', detail: 'not installed (not on PATH)', fix: expect.stringContaining('Install kubectl')})
    expect(renderDoctor(report).at(-1)).toBe('✗ 3 required checks failed: fix them and run `devkube doctor` again.')
  })

  it('warns about kubectl more than one minor version from the cluster', async () => {
    restore = setRunner(healthyRunner({serverVersion: 'v1.29.0'}))
    const report = await runDoctor(input)
    expect(check(report, 'skew')).toMatchObject({status: 'warn', detail: "kubectl 1.32.4 is more than one minor version away from the cluster's Kubernetes 1.29.0"})
    expect(report.ok).toBe(true)
  })

  it('fails a kind-<cluster> context that points somewhere else', async () => {
    restore = setRunner(healthyRunner().when('kubectl config view', {stdout: JSON.stringify({contexts: [{name: 'kind-devkube', context: {cluster: 'prod'}}], clusters: [{name: 'prod', cluster: {server: 'https://prod.example.com'}}]})}))
    const report = await runDoctor(input)
    expect(check(report, 'context')).toMatchObject({status: 'fail', detail: expect.stringContaining('The context "kind-devkube" does not point at the kind cluster "devkube"')})
    expect(report.ok).toBe(false)
  })

  it('fails a taken forward port, and names an unknown kind provider', async () => {
    restore = setRunner(healthyRunner({clusters: []}))
    const server = net.createServer()
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()))
    try {
      const report = await runDoctor({...input, env: {KIND_EXPERIMENTAL_PROVIDER: 'lxc'}})
      expect(check(report, 'port')).toMatchObject({status: 'fail', detail: `The local port ${port} is already in use`, fix: expect.stringContaining('--forward <port>')})
      expect(check(report, 'provider')).toMatchObject({status: 'fail', detail: 'KIND_EXPERIMENTAL_PROVIDER=lxc is not a provider kind knows'})
      expect(check(report, 'cluster')).toMatchObject({status: 'ok', detail: '"devkube" does not exist yet (`devkube up` creates it)'})
    } finally {
      server.close()
    }
  })

  it('gives up on a check that hangs instead of hanging itself', async () => {
    restore = setRunner(healthyRunner().on((argv) => (argv[0] === 'kind' && argv[1] === 'version' ? new Promise(() => {}) : undefined)))
    const started = Date.now()
    const report = await runDoctor({...input, timeoutMs: 300})
    expect(Date.now() - started).toBeLessThan(3000)
    expect(check(report, 'kind')).toMatchObject({status: 'fail', detail: 'kind version did not answer within 0.3 s'})
  })

  it('says a stopped node container is what is wrong with the cluster, and how to start it', async () => {
    restore = setRunner(healthyRunner().when('docker ps -a', {stdout: 'devkube-control-plane\texited\n'}))
    const report = await runDoctor(input)
    expect(check(report, 'cluster')).toMatchObject({status: 'fail', detail: 'The kind cluster "devkube" exists but its node container devkube-control-plane is not running (exited), so its API server does not answer.'})
    expect(check(report, 'cluster')?.fix).toContain('docker start devkube-control-plane')
    expect(check(report, 'context')).toMatchObject({status: 'skip'})
  })

  it("with kind's Podman provider and no docker CLI, needs podman, not docker", async () => {
    restore = setRunner(healthyRunner().when('docker', {notFound: true, exitCode: 127}).when('podman version', {stdout: '5.4.0\n'}).when('podman ps -a', {stdout: 'devkube-control-plane\trunning\n'}))
    const report = await runDoctor({...input, env: {KIND_EXPERIMENTAL_PROVIDER: 'podman'}})
    expect(check(report, 'docker')).toMatchObject({status: 'skip'})
    expect(check(report, 'provider')).toMatchObject({status: 'ok', detail: 'podman 5.4.0'})
    expect(check(report, 'cluster'), JSON.stringify(check(report, 'cluster'))).toMatchObject({status: 'ok'})
    expect(report.checks.filter((entry) => entry.required && entry.status === 'fail').map((entry) => entry.id)).not.toContain('docker')
  })

  it("with kind's Podman provider and no podman, says to install Podman", async () => {
    restore = setRunner(healthyRunner().when('podman', {notFound: true, exitCode: 127}))
    const report = await runDoctor({...input, env: {KIND_EXPERIMENTAL_PROVIDER: 'podman'}})
    expect(check(report, 'provider')).toMatchObject({status: 'fail'})
    expect(check(report, 'provider')?.fix).toContain('Install Podman')
    expect(report.ok).toBe(false)
  })
})
