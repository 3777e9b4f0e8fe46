/**
 * Settings, secrets and environments (issue 5), as a user runs them: the built CLI against the fake
 * toolchain with real Docker, the app reporting what reached its environment.
 */
import {createHash, randomUUID} from 'node:crypto'
import {appendFileSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {stringify} from 'yaml'
import {copyExample, devkube, httpBody, type CliResult} from '../support/cli.js'
import {buildArgFlags, ensureStandinImages, freeLoopbackPort, useDocker} from '../support/docker.js'
import {createFakeToolchain, type FakeToolchain} from '../support/fake-toolchain.js'

const dockerReady = await useDocker()

// A value no command may ever print or write: it reaches the app only through the Secret.
const SECRET = `s3cr3t-${randomUUID()}`
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

/** The app answers with its GREETING and a hash of its secret, never the secret itself. */
const APP = `import hashlib, os
from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    token = os.environ.get("API_TOKEN", "")
    return f"{os.environ.get('GREETING', 'none')}|{hashlib.sha256(token.encode()).hexdigest()}"
`

/** Every file under the project except the .env the user wrote: nothing devkube writes may hold the secret. */
function filesWithSecret(dir: string): string[] {
  const found: string[] = []
  const walk = (folder: string) => {
    for (const entry of readdirSync(folder)) {
      const file = path.join(folder, entry)
      if (statSync(file).isDirectory()) walk(file)
      else if (path.relative(dir, file) !== '.env' && readFileSync(file, 'utf8').includes(SECRET)) found.push(path.relative(dir, file))
    }
  }
  walk(dir)
  return found
}

describe.skipIf(!dockerReady)('settings, secrets and environments', () => {
  let tools: FakeToolchain
  let dir: string
  let buildArgs: string[]
  const printed: CliResult[] = []
  const ports = {dev: 0, staging: 0}
  const run = async (...args: string[]) => {
    const result = await devkube(args, {cwd: dir, env: tools.env})
    printed.push(result)
    return result
  }

  beforeAll(async () => {
    tools = await createFakeToolchain({speed: 0.5})
    const images = await ensureStandinImages()
    buildArgs = buildArgFlags({PYTHON_IMAGE: images.PYTHON_IMAGE})
    dir = copyExample('hello-python', `settings-${randomUUID().slice(0, 6)}`)
    writeFileSync(path.join(dir, 'app.py'), APP)
    writeFileSync(path.join(dir, '.env'), `# secrets for the app\nAPI_TOKEN=${SECRET}\n`)
    ports.dev = await freeLoopbackPort()
    ports.staging = await freeLoopbackPort()
    writeFileSync(
      path.join(dir, 'devkube.yaml'),
      stringify({
        forward: ports.dev,
        env: {GREETING: 'hi'},
        environments: {staging: {replicas: 2, forward: ports.staging, env: {GREETING: 'hello from staging'}}},
      }),
    )
  })

  afterAll(async () => {
    const images = new Set(printed.flatMap((result) => [...`${result.stdout}${result.stderr}`.matchAll(/devkube\.local\/[\w.-]+:[0-9a-f]{12}/g)].map((match) => match[0])))
    await run('down', '--env', 'staging').catch(() => {})
    await run('down').catch(() => {})
    await tools?.cleanup()
    if (images.size > 0) await execa('docker', ['rmi', '-f', ...images], {reject: false})
  })

  const name = () => path.basename(dir)

  it('a .env secret reaches the container, and env: values reach it as settings', async () => {
    const up = await run('up', ...buildArgs, '--detach', '--verbose')
    expect(up.code, up.stderr).toBe(0)
    expect(await httpBody(`http://localhost:${ports.dev}/`)).toBe(`hi|${sha256(SECRET)}`)
  })

  it('a changed setting is one `devkube up` away, and rolls the pods without a rebuild', async () => {
    const before = (await tools.pods('devkube', name())).map((pod) => pod.metadata.name)
    writeFileSync(path.join(dir, 'devkube.yaml'), readFileSync(path.join(dir, 'devkube.yaml'), 'utf8').replace('GREETING: hi', 'GREETING: hello'))
    const up = await run('up', ...buildArgs, '--detach', '--json')
    expect(up.code, up.stderr).toBe(0)
    const result = JSON.parse(up.stdout) as {changed: {imageBuilt: boolean; rolledOut: boolean}}
    expect(result.changed).toMatchObject({imageBuilt: false, rolledOut: true})
    await expect.poll(async () => httpBody(`http://localhost:${ports.dev}/`), {timeout: 20_000}).toBe(`hello|${sha256(SECRET)}`)
    const after = (await tools.pods('devkube', name())).map((pod) => pod.metadata.name)
    expect(after.some((pod) => before.includes(pod))).toBe(false)
  })

  it('runs staging side by side with dev: its own namespace, replicas and settings', async () => {
    const up = await run('up', ...buildArgs, '--env', 'staging', '--detach')
    expect(up.code, up.stderr).toBe(0)
    expect(await httpBody(`http://localhost:${ports.staging}/`)).toBe(`hello from staging|${sha256(SECRET)}`)
    expect(await httpBody(`http://localhost:${ports.dev}/`)).toBe(`hello|${sha256(SECRET)}`)
    const staging = await tools.pods('devkube', `${name()}-staging`)
    expect(staging.filter((pod) => pod.status.phase === 'Running')).toHaveLength(2)
    expect(await tools.pods('devkube', name())).toHaveLength(1)
    const status = await run('status', '--env', 'staging', '--json')
    expect(status.code, status.stdout + status.stderr).toBe(0)
    expect(JSON.parse(status.stdout)).toMatchObject({namespace: {name: `${name()}-staging`, exists: true}})
  })

  it('scale changes replicas now and says devkube.yaml still decides; rollback returns to the previous revision', async () => {
    const scale = await run('scale', '3')
    expect(scale.code, scale.stderr).toBe(0)
    expect(scale.stdout).toContain('from 1 to 3 replicas')
    expect(scale.stdout).toContain('devkube.yaml still says 1')
    const running = async () => (await tools.pods('devkube', name())).filter((pod) => pod.status.phase === 'Running').length
    await expect.poll(running, {timeout: 20_000}).toBe(3)

    const rollback = await run('rollback')
    expect(rollback.code, rollback.stderr).toBe(0)
    expect(rollback.stdout).toMatch(/Rolled \S+ back from revision \d+ to \d+/)
    await expect.poll(async () => httpBody(`http://localhost:${ports.dev}/`), {timeout: 20_000}).toBe(`hi|${sha256(SECRET)}`)
  })

  it('never shows the secret: not in any output of any command at any verbosity, nor in any file devkube wrote', async () => {
    appendFileSync(path.join(dir, 'app.py'), '\n# rebuild\n')
    for (const args of [
      ['up', ...buildArgs, '--detach', '--verbose'],
      ['up', ...buildArgs, '--detach', '--json', '--verbose'],
      ['status'],
      ['status', '--json', '--verbose'],
      ['logs', '--verbose'],
      ['doctor', '--json'],
      ['up', ...buildArgs, '--env', 'staging', '--detach', '--verbose'],
    ]) {
      await run(...args)
    }
    for (const result of printed) {
      expect(result.stdout).not.toContain(SECRET)
      expect(result.stderr).not.toContain(SECRET)
    }
    // --verbose did echo the commands, and the Secret went to kubectl on stdin, not in argv.
    expect(printed.some((result) => /\$ kubectl --context kind-devkube apply -f - < \(stdin\)/.test(result.stderr))).toBe(true)
    expect(filesWithSecret(dir)).toEqual([])
  })

  it('an unknown environment is an error that lists the known ones', async () => {
    const result = await run('up', '--env', 'stagin')
    expect(result.code).toBe(1)
    expect(result.error).toContain('Unknown environment "stagin".')
    expect(result.error).toContain('Known environments: dev, staging (did you mean "staging"?)')
  })

  it('a malformed .env line names the file and line without echoing it', async () => {
    const envFile = path.join(dir, '.env')
    const original = readFileSync(envFile, 'utf8')
    try {
      writeFileSync(envFile, `${original}this line leaks ${SECRET}\n`)
      const result = await run('up', ...buildArgs, '--no-forward')
      expect(result.code).toBe(1)
      expect(result.error).toContain('.env:3: malformed line')
      expect(result.stdout + result.stderr).not.toContain(SECRET)
    } finally {
      writeFileSync(envFile, original)
    }
  })
})
