/**
 * `devkube up --watch` as a user runs it: the built CLI against the fake kind/kubectl with real Docker.
 * A save of the source is synced into the running pod and served by the reloading dev server; a
 * change of requirements.txt or the Dockerfile rebuilds; a failing build leaves the last good version
 * serving until the next good save; Ctrl-C leaves the app running and no process behind.
 */
import {randomUUID} from 'node:crypto'
import {appendFileSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'
import {copyExample, devkube, httpBody, startDevkube} from '../support/cli.js'
import {buildArgFlags, ensureStandinImages, freeLoopbackPort, useDocker} from '../support/docker.js'
import {createFakeToolchain, type FakeToolchain} from '../support/fake-toolchain.js'
import {leftoverProcesses} from '../support/processes.js'

const dockerReady = await useDocker()

describe.skipIf(!dockerReady)('devkube up --watch', {timeout: 300_000}, () => {
  let tools: FakeToolchain
  let dir: string
  let port: number
  let buildArgs: string[]
  let running: ReturnType<typeof startDevkube>
  let output = ''
  const url = () => `http://localhost:${port}/`

  /** Waits until the output printed after `mark` matches, and returns that part. */
  async function printed(pattern: RegExp, mark: number, timeoutMs = 120_000): Promise<string> {
    await vi.waitFor(() => expect(output.slice(mark), output.slice(mark)).toMatch(pattern), {timeout: timeoutMs, interval: 100})
    return output.slice(mark)
  }

  /** Waits until the URL serves `body` (the dev server reloads a moment after the sync). */
  async function serves(body: string, timeoutMs = 60_000): Promise<void> {
    await vi.waitFor(async () => expect((await httpBody(url(), 2000).catch(() => '')).trim()).toBe(body), {timeout: timeoutMs, interval: 200})
  }

  function editApp(from: string, to: string): void {
    const file = path.join(dir, 'app.py')
    writeFileSync(file, readFileSync(file, 'utf8').replace(from, to))
  }

  beforeAll(async () => {
    tools = await createFakeToolchain({speed: 0.5})
    const images = await ensureStandinImages()
    dir = copyExample('hello-python')
    appendFileSync(path.join(dir, 'app.py'), `\n# test run ${randomUUID()}\n`)
    buildArgs = buildArgFlags({PYTHON_IMAGE: images.PYTHON_IMAGE})
    port = await freeLoopbackPort()
    running = startDevkube(['up', '--watch', ...buildArgs, '--forward', String(port)], {cwd: dir, env: tools.env})
    running.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()))
    running.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()))
    await printed(/Watching .* \(live sync into the pods\)/, 0, 240_000)
  })

  afterAll(async () => {
    if (process.env.DEVKUBE_TEST_WATCH_OUTPUT) writeFileSync(process.env.DEVKUBE_TEST_WATCH_OUTPUT, output)
    running?.kill('SIGKILL')
    const images = new Set(output.match(/devkube\.local\/[\w.-]+:[0-9a-f]{12}/g) ?? [])
    await devkube(['down'], {cwd: dir, env: tools.env}).catch(() => {})
    await tools?.cleanup()
    if (images.size > 0) await execa('docker', ['rmi', '-f', ...images], {reject: false})
  })

  it('runs the dev server in watch mode and serves the app', async () => {
    await serves('Hello World')
    const deployment = JSON.parse((await tools.exec('kubectl', ['--context', 'kind-devkube', '-n', 'hello-python', 'get', 'deployment', 'hello-python', '-o', 'json'])).stdout)
    expect(deployment.spec.template.spec.containers[0].command).toEqual(expect.arrayContaining(['flask', 'run', '--reload']))
  })

  it('syncs a saved source file into the pod, and the new code answers', async () => {
    const mark = output.length
    editApp('return "Hello World"', 'return "Hello Sync"')
    const lines = await printed(/hello-python: app\.py changed → synced 1 file/, mark)
    expect(lines).not.toMatch(/rebuilt/)
    await serves('Hello Sync')
  })

  it('rebuilds when requirements.txt changes, and the rebuilt image serves the current source', async () => {
    const mark = output.length
    appendFileSync(path.join(dir, 'requirements.txt'), '# pinned later\n')
    await printed(/hello-python: requirements\.txt changed → rebuilt \(requirements\.txt changed\) to devkube\.local\/hello-python:[0-9a-f]{12}/, mark, 240_000)
    await serves('Hello Sync')
  })

  it('keeps the last good version serving through a failed build, and the next good save recovers', async () => {
    const dockerfile = path.join(dir, 'Dockerfile')
    const good = readFileSync(dockerfile, 'utf8')
    let mark = output.length
    writeFileSync(dockerfile, `${good}\nRUN exit 3\n`)
    await printed(/✗ hello-python: Dockerfile changed → The image build failed.*The previous version keeps serving; save again to retry\./, mark, 240_000)
    expect((await httpBody(url())).trim()).toBe('Hello Sync')
    // The watch goes on: fixing the Dockerfile and saving the source rebuilds (a pending rebuild is not skipped by sync).
    mark = output.length
    writeFileSync(dockerfile, good)
    editApp('return "Hello Sync"', 'return "Hello Again"')
    await printed(/hello-python: .* changed → rebuilt/, mark, 240_000)
    await serves('Hello Again')
  })

  it('stops on Ctrl-C: no process left behind, the app keeps running, and a plain up puts the production command back', async () => {
    const mark = output.length
    running.kill('SIGINT')
    const stopped = await running
    expect(stopped.exitCode, output.slice(mark)).toBe(0)
    expect(output.slice(mark)).toContain('Stopped watching and forwarding. hello-python is still running')
    expect(await leftoverProcesses(tools.stateDir)).toEqual([])
    expect((await tools.pods('devkube', 'hello-python')).some((pod) => pod.status.phase === 'Running')).toBe(true)

    const plain = await devkube(['up', ...buildArgs, '--no-forward'], {cwd: dir, env: tools.env})
    expect(plain.code, plain.stderr).toBe(0)
    const deployment = JSON.parse((await tools.exec('kubectl', ['--context', 'kind-devkube', '-n', 'hello-python', 'get', 'deployment', 'hello-python', '-o', 'json'])).stdout)
    expect(deployment.spec.template.spec.containers[0].command).toBeUndefined()
  })
})
