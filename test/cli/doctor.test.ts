// `devkube doctor` (built CLI) with each prerequisite missing in turn: PATH holds only the tools a test wants.
import {mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {useDocker} from '../support/docker.js'
import {createFakeToolchain, fakeBinDir, type FakeToolchain} from '../support/fake-toolchain.js'
import {bin, freeLoopbackPort, runIn} from './status-support.js'

const REAL_TOOLS: Record<string, string> = {
  docker: which('docker'),
  kind: path.join(fakeBinDir, 'kind'),
  kubectl: path.join(fakeBinDir, 'kubectl'),
  ss: which('ss'),
}

function which(tool: string): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, tool)
    try {
      if (statSync(candidate).isFile()) return candidate
    } catch {
      // not in this folder
    }
  }
  return `/usr/bin/${tool}`
}

describe.skipIf(!(await useDocker()))('devkube doctor (built CLI, each prerequisite missing in turn)', () => {
  let tools: FakeToolchain
  let root: string
  let project: string
  let port: number

  /** A bin folder holding node and only the named tools. */
  function pathWith(names: string[]): string {
    const dir = mkdtempSync(path.join(root, 'bin-'))
    symlinkSync(process.execPath, path.join(dir, 'node'))
    for (const name of names) symlinkSync(REAL_TOOLS[name], path.join(dir, name))
    return dir
  }

  function doctor(names: string[], extra: {args?: string[]; env?: Record<string, string>} = {}) {
    const env = {...tools.env, NO_COLOR: '1', PATH: pathWith(names), ...extra.env}
    delete (env as Record<string, string | undefined>).CI
    return runIn(project, process.execPath, [bin, 'doctor', ...(extra.args ?? [])], env, 120_000)
  }

  beforeAll(async () => {
    tools = await createFakeToolchain({speed: 0.05})
    root = mkdtempSync(path.join(os.tmpdir(), 'devkube-cli-doctor-'))
    project = path.join(root, 'app')
    mkdirSync(project)
    port = await freeLoopbackPort()
    writeFileSync(path.join(project, 'devkube.yaml'), `name: app\nforward: ${port}\n`)
  }, 300_000)
  afterAll(async () => {
    await tools?.cleanup()
    rmSync(root, {recursive: true, force: true})
  })

  it('everything present: every check passes, exit 0', async () => {
    const result = await doctor(['docker', 'kind', 'kubectl', 'ss'])
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    const lines = result.stdout.split('\n')
    expect(lines[0]).toMatch(/^✓ Node\.js {15}Node\.js 22\.\d+\.\d+$/)
    expect(lines).toContain(`✓ devkube.yaml          valid (cluster "devkube", forward port ${port})`)
    expect(result.stdout).toMatch(/^✓ Docker daemon {9}reachable \(Docker .+; kind provider: docker\)$/m)
    expect(result.stdout).toMatch(/^✓ kind {18}kind 0\.\d+\.\d+$/m)
    expect(lines).toContain('✓ kind cluster          "devkube" does not exist yet (`devkube up` creates it)')
    expect(lines).toContain('- kube context          skipped: no cluster yet')
    // Titles are padded to the longest, "kubectl version skew".
    expect(lines).toContain(`✓ ${`Forward port ${port}`.padEnd(20)}  free`)
    expect(lines.at(-2)).toBe('✓ Everything `devkube up` needs is in place.')
  })

  it.each([
    ['docker', '✗ docker CLI            not installed (not on PATH)', 'Install Docker Desktop (https://docs.docker.com/get-docker/) or Docker Engine, then run `devkube doctor`.'],
    ['kind', '✗ kind                  not installed (not on PATH)', 'Install kind v0.20 or newer: https://kind.sigs.k8s.io/docs/user/quick-start/#installation (e.g. `go install sigs.k8s.io/kind@latest` or `brew install kind`).'],
    ['kubectl', '✗ kubectl               not installed (not on PATH)', 'Install kubectl: https://kubernetes.io/docs/tasks/tools/ (e.g. `brew install kubectl`).'],
  ])('without %s: names it with how to install it; exit 1', async (missing, line, fix) => {
    const result = await doctor(['docker', 'kind', 'kubectl', 'ss'].filter((tool) => tool !== missing))
    expect(result.code).toBe(1)
    const lines = result.stdout.split('\n')
    const index = lines.indexOf(line)
    expect(index, result.stdout).toBeGreaterThan(-1)
    expect(lines[index + 1].trim()).toBe(`fix: ${fix}`)
    expect(lines.at(-2)).toBe('✗ 1 required check failed: fix it and run `devkube doctor` again.')
  })

  it('with Docker not running: says so, and how to start it', async () => {
    const result = await doctor(['docker', 'kind', 'kubectl'], {env: {DOCKER_HOST: `unix://${path.join(root, 'no-docker.sock')}`}})
    expect(result.code).toBe(1)
    expect(result.stdout).toContain('✗ Docker daemon         Docker is not running (the docker CLI cannot reach the Docker daemon)\n')
    expect(result.stdout).toContain('fix: Start Docker Desktop, or run `sudo systemctl start docker` (Linux), then run the command again.')
    expect(result.stdout).toContain('- kind cluster          skipped: needs Docker and kind')
  })

  it('with the forward port taken, and an unknown kind provider; --json prints only JSON and exits 1', async () => {
    const server = net.createServer()
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()))
    try {
      const result = await doctor(['docker', 'kind', 'kubectl', 'ss'], {args: ['--json'], env: {KIND_EXPERIMENTAL_PROVIDER: 'lxc'}})
      expect(result.code).toBe(1)
      const report = JSON.parse(result.stdout)
      expect(report.ok).toBe(false)
      const byId = Object.fromEntries(report.checks.map((check: {id: string}) => [check.id, check]))
      expect(byId.port).toMatchObject({status: 'fail', required: true, detail: expect.stringMatching(new RegExp(`^The local port ${port} is already in use`))})
      expect(byId.provider).toMatchObject({status: 'fail', detail: 'KIND_EXPERIMENTAL_PROVIDER=lxc is not a provider kind knows'})
      expect(byId.kind.status).toBe('ok')
    } finally {
      server.close()
    }
  })

  it('with a cluster: checks the kind-<cluster> context and kubectl’s version skew', async () => {
    const created = await tools.exec('kind', ['create', 'cluster', '--name', 'devkube'])
    expect(created.code, created.stderr).toBe(0)
    const result = await doctor(['docker', 'kind', 'kubectl', 'ss'])
    expect(result.code).toBe(0)
    expect(result.stdout).toContain('✓ kind cluster          "devkube" exists')
    expect(result.stdout).toContain('✓ kube context          kind-devkube points at the kind cluster "devkube"')
    expect(result.stdout).toMatch(/^✓ kubectl version skew {2}kubectl \S+, cluster Kubernetes \S+$/m)
  })
})
