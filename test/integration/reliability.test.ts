/**
 * Bad input and faults (issue 6): each ends in one clear sentence, a non-zero exit, no stack trace,
 * nothing of the user's changed, and no tool process left running. docs/reliability.md lists every
 * case and the test that covers it (the cluster-level failures live in up.test.ts).
 */
import {createHash, randomUUID} from 'node:crypto'
import {mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {copyExample, devkube, httpBody, type CliResult} from '../support/cli.js'
import {buildArgFlags, ensureStandinImages, freeLoopbackPort, useDocker} from '../support/docker.js'
import {createFakeToolchain, type FakeToolchain} from '../support/fake-toolchain.js'
import {leftoverProcesses} from '../support/processes.js'

const dockerReady = await useDocker()

/** A fingerprint of every file of the project but devkube's own .devkube/: "nothing of the user's changed". */
function snapshot(dir: string): string {
  const hash = createHash('sha256')
  const walk = (folder: string) => {
    for (const entry of readdirSync(folder).sort()) {
      if (entry === '.devkube') continue
      const file = path.join(folder, entry)
      const stats = statSync(file)
      hash.update(`${path.relative(dir, file)}\n`)
      if (stats.isDirectory()) walk(file)
      else hash.update(readFileSync(file))
    }
  }
  walk(dir)
  return hash.digest('hex')
}

function expectOneClearFailure(result: CliResult, message: string | RegExp): void {
  expect(result.code, result.stdout + result.stderr).not.toBe(0)
  if (typeof message === 'string') expect(result.error).toContain(message)
  else expect(result.error).toMatch(message)
  expect(result.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m)
  expect(result.stderr).not.toMatch(/TypeError|ReferenceError|Unexpected error/)
}

/** A bin folder with only the named tools (and node), for "X is missing". */
function pathWithout(missing: string, tools: FakeToolchain): string {
  const bin = mkdtempSync(path.join(os.tmpdir(), 'devkube-path-'))
  const sources: Record<string, string> = {
    kind: path.join(tools.binDir, 'kind'),
    kubectl: path.join(tools.binDir, 'kubectl'),
    docker: execaSyncWhich('docker'),
    node: process.execPath,
  }
  for (const [tool, source] of Object.entries(sources)) if (tool !== missing && source) symlinkSync(source, path.join(bin, tool))
  return bin
}

function execaSyncWhich(tool: string): string {
  for (const folder of (process.env.PATH ?? '').split(':')) {
    try {
      const candidate = path.join(folder, tool)
      if (statSync(candidate).isFile()) return candidate
    } catch {
      // not here
    }
  }
  return ''
}

describe('bad input: one sentence, non-zero exit, no stack trace, nothing of the user\'s changed', () => {
  let tools: FakeToolchain
  beforeAll(async () => {
    tools = await createFakeToolchain()
  })
  afterAll(async () => {
    expect(await leftoverProcesses(tools.stateDir)).toEqual([])
    await tools.cleanup()
  })

  const cases: Array<{name: string; config?: string; files?: Record<string, string>; args?: string[]; empty?: boolean; expected: string | RegExp}> = [
    {name: 'YAML syntax error', config: 'name: hello\nport: [8080\n', expected: /devkube\.yaml:\d+:\d+: YAML syntax error/},
    {name: 'unknown key', config: 'prot: 8080\n', expected: /unknown key `prot`\. .*Did you mean `port`\?/},
    {name: 'wrong type', config: 'replicas: two\n', expected: '`replicas` must be a whole number from 0 to 1000, but it is "two"'},
    {name: 'invalid name', config: 'name: My_App\n', expected: '`name` must be lowercase letters, digits and "-"'},
    {name: 'port 0', config: 'port: 0\n', expected: '`port` must be a whole number from 1 to 65535, but it is 0'},
    {name: 'port 70000', config: 'port: 70000\n', expected: '`port` must be a whole number from 1 to 65535, but it is 70000'},
    {name: 'replicas -1', config: 'replicas: -1\n', expected: '`replicas` must be a whole number from 0 to 1000, but it is -1'},
    {name: 'forward port 0 as a flag', args: ['--forward', '0'], expected: '--forward 0 is not a port: it takes PORT or SERVICE=PORT, with PORT from 1 to 65535.'},
    {name: 'missing Dockerfile named by the config', config: 'build: {dockerfile: docker/Dockerfile.prod}\n', expected: /The Dockerfile .*docker\/Dockerfile\.prod named by `build.dockerfile` does not exist/},
    {name: 'build context outside the project', config: 'build: {context: ..}\n', expected: /The build context .* is outside the project folder/},
    {name: 'unreadable devkube.yaml', files: {'devkube.yaml/placeholder': ''}, expected: /Cannot read .*devkube\.yaml: EISDIR/},
    {name: 'env file named by the config is missing', config: 'envFile: secrets.env\n', expected: 'The env file secrets.env named by `envFile` does not exist.'},
    {name: 'malformed .env', files: {'.env': 'GOOD=1\nnot a line with password hunter2\n'}, expected: '.env:2: malformed line (it has no "=")'},
    {name: 'unknown environment', args: ['--env', 'prod'], expected: 'Unknown environment "prod".'},
    {name: 'invalid cluster name', args: ['--cluster', 'Bad_Name'], expected: '"Bad_Name" is not a valid kind cluster name.'},
    {name: 'running outside any project', empty: true, expected: /Cannot tell what kind of app is in .*: found none of a Dockerfile/},
  ]

  for (const testCase of cases) {
    it(testCase.name, async () => {
      const dir = testCase.empty ? mkdtempSync(path.join(os.tmpdir(), 'devkube-empty-')) : copyExample('hello-python')
      if (testCase.config !== undefined) writeFileSync(path.join(dir, 'devkube.yaml'), testCase.config)
      for (const [file, content] of Object.entries(testCase.files ?? {})) {
        mkdirSync(path.dirname(path.join(dir, file)), {recursive: true})
        writeFileSync(path.join(dir, file), content)
      }
      const before = snapshot(dir)
      const result = await devkube(['up', '--no-forward', ...(testCase.args ?? [])], {cwd: dir, env: tools.env})
      expectOneClearFailure(result, testCase.expected)
      expect(result.stdout + result.stderr).not.toContain('hunter2')
      expect(snapshot(dir)).toBe(before)
    })
  }

  for (const missing of ['kind', 'kubectl', 'docker']) {
    it(`${missing} missing`, async () => {
      const dir = copyExample('hello-python')
      const result = await devkube(['up', '--no-forward'], {cwd: dir, env: {...tools.env, PATH: pathWithout(missing, tools)}})
      expectOneClearFailure(result, `${missing} is not installed (it is not on PATH).`)
    })
  }
})

describe.skipIf(!dockerReady)('faults while the app runs', () => {
  let tools: FakeToolchain
  let dir: string
  let port: number
  let buildArgs: string[]
  const images = new Set<string>()
  const up = async (...args: string[]) => {
    const result = await devkube(['up', ...buildArgs, ...args], {cwd: dir, env: tools.env})
    for (const match of `${result.stdout}${result.stderr}`.matchAll(/devkube\.local\/[\w.-]+:[0-9a-f]{12}/g)) images.add(match[0])
    return result
  }

  beforeAll(async () => {
    tools = await createFakeToolchain({speed: 0.5})
    buildArgs = buildArgFlags({PYTHON_IMAGE: (await ensureStandinImages()).PYTHON_IMAGE})
    dir = copyExample('hello-python', `faults-${randomUUID().slice(0, 6)}`)
    port = await freeLoopbackPort()
    const result = await up('--detach', '--forward', String(port))
    expect(result.code, result.stderr).toBe(0)
  })

  afterAll(async () => {
    const down = await devkube(['down'], {cwd: dir, env: tools.env})
    expect(down.code, down.stderr).toBe(0)
    // No orphans: with the app down, nothing started with this toolchain is still running.
    expect(await leftoverProcesses(tools.stateDir)).toEqual([])
    await tools.cleanup()
    if (images.size > 0) await execa('docker', ['rmi', '-f', ...images], {reject: false})
  })

  const url = () => `http://localhost:${port}/`
  /** The URL answers Hello World again; on failure, says what the forwarder and the pods were doing. */
  const answersAgain = async (after: string) => {
    const body = await httpBody(url(), 30_000).catch(async (error: Error) => {
      const log = readFileSync(path.join(dir, '.devkube', 'forward-dev.log'), 'utf8')
      const pods = await tools.exec('kubectl', ['--context', 'kind-devkube', '-n', path.basename(dir), 'get', 'pods'])
      throw new Error(`${error.message}\nafter ${after}; forwarder log:\n${log}\npods:\n${pods.stdout}${pods.stderr}`)
    })
    expect(body.trim()).toBe('Hello World')
  }

  it('the forwarder is killed: the next up notices and forwards again', async () => {
    const record = JSON.parse(readFileSync(path.join(dir, '.devkube', 'forward-dev.json'), 'utf8')) as {pid: number}
    process.kill(record.pid, 'SIGKILL')
    const result = await up('--detach', '--forward', String(port))
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toContain('Forwarding in the background')
    expect((await httpBody(url())).trim()).toBe('Hello World')
  })

  it("kubectl port-forward is killed under the supervisor: it is restarted and the URL answers", async () => {
    const record = JSON.parse(readFileSync(path.join(dir, '.devkube', 'forward-dev.json'), 'utf8')) as {pid: number}
    const children = await execa('pgrep', ['-P', String(record.pid)], {reject: false})
    for (const pid of children.stdout.split('\n').filter(Boolean)) process.kill(Number(pid), 'SIGKILL')
    expect((await httpBody(url(), 20_000)).trim()).toBe('Hello World')
  })

  it('the app container dies five times in a row (killed or its pod replaced): the URL answers again each time', async () => {
    for (let round = 1; round <= 5; round++) {
      if (round === 1) {
        await tools.killPodContainer('devkube', path.basename(dir))
      } else {
        const [pod] = await tools.pods('devkube', path.basename(dir))
        await tools.exec('kubectl', ['--context', 'kind-devkube', '-n', path.basename(dir), 'delete', 'pod', pod.metadata.name])
      }
      await answersAgain(`death ${round}`)
    }
  })

  it('Docker restarts the app container (stop, start): the URL answers again', async () => {
    const runningContainer = async () => Object.values((await tools.pods('devkube', path.basename(dir)))[0]?.containers ?? {})[0]?.id
    await expect.poll(runningContainer, {timeout: 30_000}).toBeTruthy()
    await execa('docker', ['restart', '-t', '0', (await runningContainer())!])
    await answersAgain('docker restart')
  })

  it('the kind node container is stopped: status and doctor say so, up starts it and the URL answers again', async () => {
    // Through the fake toolchain's docker, as a user would type it: kind's name, this toolchain's node.
    const stopped = await execa('docker', ['stop', 'devkube-control-plane'], {env: tools.env, reject: false})
    expect(stopped.exitCode, stopped.stderr).toBe(0)
    expect(stopped.stdout.trim()).toBe('devkube-control-plane')
    const refused = await tools.exec('kubectl', ['--context', 'kind-devkube', 'get', 'pods', '-A'])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/The connection to the server 127\.0\.0\.1:\d+ was refused/)
    expect((await tools.exec('kind', ['get', 'clusters'])).stdout).toBe('devkube\n')
    const stoppedSentence = 'The kind cluster "devkube" exists but its node container devkube-control-plane is not running (exited), so its API server does not answer.'
    const status = await devkube(['status'], {cwd: dir, env: tools.env})
    expect(status.code).toBe(1)
    expect(status.stdout + status.stderr).toContain(stoppedSentence)
    // A missing or stopped cluster is no failed requirement for doctor (up creates or starts it): a ✗ line, exit 0.
    const doctor = await devkube(['doctor'], {cwd: dir, env: tools.env})
    expect(doctor.stdout + doctor.stderr).toContain(stoppedSentence)

    const result = await up('--detach', '--forward', String(port))
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toContain('started the stopped node of "devkube"')
    expect((await tools.exec('kubectl', ['--context', 'kind-devkube', 'get', '--raw', '/readyz'])).stdout).toBe('ok')
    await answersAgain('a stopped node started by up')
  })

  it('the namespace is deleted behind devkube\'s back: the next up recreates everything', async () => {
    const deleted = await tools.exec('kubectl', ['--context', 'kind-devkube', 'delete', 'namespace', path.basename(dir)])
    expect(deleted.code, deleted.stderr).toBe(0)
    const result = await up('--detach', '--forward', String(port))
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/^✓ Apply manifests: .*created/m)
    expect((await httpBody(url(), 30_000)).trim()).toBe('Hello World')
  })

  it('an image build failure shows the failing build step', async () => {
    const broken = copyExample('hello-python', `broken-${randomUUID().slice(0, 6)}`)
    writeFileSync(path.join(broken, 'Dockerfile'), 'FROM devkube-standin/python:3.12\nCOPY . /app\nRUN echo "compiling assets" && exit 3\nCMD ["python", "/app/app.py"]\n')
    const result = await devkube(['up', '--no-forward'], {cwd: broken, env: tools.env})
    expectOneClearFailure(result, 'The image build failed at "Step 3/')
    expect(result.error).toContain('RUN echo "compiling assets" && exit 3')
  })
})
