/**
 * `devkube up --watch` as a user runs it: the built CLI against the fake kind/kubectl with real Docker.
 * A save of the source is synced into the running pod and served by the reloading dev server; a
 * change of requirements.txt or the Dockerfile rebuilds; a failing build leaves the last good version
 * serving until the next good save; Ctrl-C leaves the app running and no process behind.
 */
import {randomUUID} from 'node:crypto'
import {appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'
import {copyExample, devkube, httpBody, repo, startDevkube} from '../support/cli.js'
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

  it('runs the dev command in watch mode and serves the app', async () => {
    await serves('Hello World')
    const deployment = JSON.parse((await tools.exec('kubectl', ['--context', 'kind-devkube', '-n', 'hello-python', 'get', 'deployment', 'hello-python', '-o', 'json'])).stdout)
    // The project lists gunicorn: it runs as the container's command, and devkube sends it HUP after each sync.
    expect(deployment.spec.template.spec.containers[0].command).toEqual(['gunicorn', '--bind', expect.stringMatching(/^0\.0\.0\.0:\d+$/), 'app:app'])
  })

  it('syncs a saved source file into the pod, and the new code answers', async () => {
    const mark = output.length
    editApp('return "Hello World"', 'return "Hello Sync"')
    const lines = await printed(/hello-python: app\.py changed → synced 1 file/, mark)
    expect(lines).not.toMatch(/rebuilt/)
    await serves('Hello Sync')
    // gunicorn reloaded its workers on the HUP the sync sent (its log line, streamed into this terminal).
    await printed(/Handling signal: hup/, mark)
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

describe.skipIf(!dockerReady)('devkube up --watch of an app with two built services', {timeout: 300_000}, () => {
  let tools: FakeToolchain
  let dir: string
  let webPort: number
  let apiPort: number
  let buildArgs: string[]
  let running: ReturnType<typeof startDevkube>
  let output = ''

  async function printed(pattern: RegExp, mark: number, timeoutMs = 120_000): Promise<string> {
    await vi.waitFor(() => expect(output.slice(mark), output.slice(mark)).toMatch(pattern), {timeout: timeoutMs, interval: 100})
    return output.slice(mark)
  }

  async function serves(port: number, text: string, timeoutMs = 60_000): Promise<void> {
    await vi.waitFor(async () => expect(await httpBody(`http://localhost:${port}/`, 2000).catch(() => '')).toContain(text), {timeout: timeoutMs, interval: 200})
  }

  function edit(file: string, from: string, to: string): void {
    const absolute = path.join(dir, file)
    writeFileSync(absolute, readFileSync(absolute, 'utf8').replace(from, to))
  }

  beforeAll(async () => {
    tools = await createFakeToolchain({speed: 0.5})
    const standins = await ensureStandinImages()
    buildArgs = buildArgFlags({PYTHON_IMAGE: standins.PYTHON_IMAGE, NODE_IMAGE: standins.NODE_IMAGE})
    dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'devkube-watch-services-')), 'shop')
    for (const [service, example, source] of [['web', 'hello-python', 'app.py'], ['api', 'hello-node', 'server.js']]) {
      const folder = path.join(dir, service)
      cpSync(path.join(repo, 'examples', example), folder, {recursive: true})
      appendFileSync(path.join(folder, source), `\n${source.endsWith('.py') ? '#' : '//'} test run ${randomUUID()}\n`)
      // Each service's Dockerfile as devkube writes it (init in the service's folder; that devkube.yaml is not the app's).
      const init = await devkube(['init', '--yes'], {cwd: folder, env: tools.env})
      expect(init.code, init.stderr).toBe(0)
      rmSync(path.join(folder, 'devkube.yaml'))
    }
    webPort = await freeLoopbackPort()
    apiPort = await freeLoopbackPort()
    writeFileSync(path.join(dir, 'devkube.yaml'), `name: shop\nservices:\n  web:\n    build: {context: web}\n    forward: ${webPort}\n  api:\n    build: {context: api}\n    forward: ${apiPort}\n`)
    running = startDevkube(['up', '--watch', ...buildArgs], {cwd: dir, env: tools.env})
    running.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()))
    running.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()))
    await printed(/Ctrl-C stops watching/, 0, 240_000)
  })

  afterAll(async () => {
    running?.kill('SIGKILL')
    const images = new Set(output.match(/devkube\.local\/[\w.-]+:[0-9a-f]{12}/g) ?? [])
    await devkube(['down'], {cwd: dir, env: tools.env}).catch(() => {})
    await tools?.cleanup()
    if (images.size > 0) await execa('docker', ['rmi', '-f', ...images], {reject: false})
  })

  it('watches each service with live sync, its pods running its own dev command', async () => {
    expect(output).toMatch(/Watching .*web for changes of web \(live sync into the pods\)/)
    expect(output).toMatch(/Watching .*api for changes of api \(live sync into the pods\)/)
    const command = async (name: string) =>
      JSON.parse((await tools.exec('kubectl', ['--context', 'kind-devkube', '-n', 'shop', 'get', 'deployment', name, '-o', 'json'])).stdout).spec.template.spec.containers[0].command
    expect(await command('web')).toEqual(['gunicorn', '--bind', expect.stringMatching(/^0\.0\.0\.0:\d+$/), 'app:app'])
    expect(await command('api')).toEqual(['node', '--watch', 'server.js'])
  })

  it('syncs a save into that service only, the new code answers, and its log lines are prefixed with the service', async () => {
    let mark = output.length
    edit('web/app.py', 'return "Hello World"', 'return "Hello Web Sync"')
    let lines = await printed(/web: app\.py changed → synced 1 file/, mark)
    await serves(webPort, 'Hello Web Sync')
    await printed(/web\/\S+ +\| .*Handling signal: hup/, mark)
    mark = output.length
    edit('api/server.js', "end('Hello World", "end('Hello Api Sync")
    lines = await printed(/api: server\.js changed → synced 1 file/, mark)
    await serves(apiPort, 'Hello Api Sync')
    expect(lines).not.toMatch(/web: /)
  })

  it('rebuilds only the service whose dependency file changed', async () => {
    const mark = output.length
    appendFileSync(path.join(dir, 'web', 'requirements.txt'), '# pinned later\n')
    const lines = await printed(/web: requirements\.txt changed → rebuilt \(requirements\.txt changed\)/, mark, 240_000)
    expect(lines).not.toMatch(/api: .*rebuilt/)
    await serves(webPort, 'Hello Web Sync')
    await serves(apiPort, 'Hello Api Sync')
  })

  it('stops on Ctrl-C with no process left behind', async () => {
    running.kill('SIGINT')
    const stopped = await running
    expect(stopped.exitCode, output).toBe(0)
    expect(await leftoverProcesses(tools.stateDir)).toEqual([])
  })
})
