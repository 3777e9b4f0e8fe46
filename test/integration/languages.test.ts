/**
 * Python, Go and the project's own Dockerfile as users have them (test/fixtures/python|go|dockerfile): each
 * built with real Docker on the offline stand-ins, run by `devkube up` on ONE fake cluster (one namespace
 * per app), and its URL asked. Also: a crash diagnosed by the current version's log, a process that exits 0,
 * a container that cannot be created, and `env:` rolling pods without a rebuild.
 */
import {execa} from 'execa'
import {appendFileSync, cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {randomUUID} from 'node:crypto'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parse, parseAllDocuments, stringify} from 'yaml'
import {devkube, httpBody, repo, type CliResult} from '../support/cli.js'
import {buildArgFlags, ensureStandinImages, freeLoopbackPort, useDocker} from '../support/docker.js'
import {createFakeToolchain, type FakeToolchain} from '../support/fake-toolchain.js'

const dockerReady = await useDocker()
const builtImages = new Set<string>()

function track(result: CliResult): CliResult {
  for (const match of `${result.stdout}\n${result.stderr}`.matchAll(/devkube\.local\/[\w.-]+:[0-9a-f]{12}/g)) builtImages.add(match[0])
  return result
}

/** A copy of a fixture in a temp folder named like it (the app's name), its source unique to this run. */
function fixture(name: string): string {
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'devkube-lang-')), path.basename(name))
  cpSync(path.join(repo, 'test', 'fixtures', name), dir, {recursive: true})
  writeFileSync(path.join(dir, '.run-id'), randomUUID())
  return dir
}

function editConfig(dir: string, change: (config: Record<string, unknown>) => void): void {
  const file = path.join(dir, 'devkube.yaml')
  const config = existsSync(file) ? ((parse(readFileSync(file, 'utf8')) as Record<string, unknown>) ?? {}) : {}
  change(config)
  writeFileSync(file, stringify(config))
}

describe.skipIf(!dockerReady)('Python, Go and own Dockerfiles through devkube up', () => {
  let tools: FakeToolchain
  let buildArgs: string[]
  const projects: string[] = []

  beforeAll(async () => {
    // Half real time: probes and back-offs keep their proportions on a busy machine.
    tools = await createFakeToolchain({speed: 0.5})
    const images = await ensureStandinImages()
    buildArgs = buildArgFlags({PYTHON_IMAGE: images.PYTHON_IMAGE, GO_IMAGE: images.GO_IMAGE, RUNTIME_IMAGE: images.RUNTIME_IMAGE})
  })
  afterAll(async () => {
    for (const dir of projects) await devkube(['down', '--yes'], {cwd: dir, env: tools.env}).catch(() => {})
    await tools?.cleanup()
    if (builtImages.size > 0) await execa('docker', ['rmi', '-f', ...builtImages], {reject: false})
  })

  const up = async (dir: string, ...args: string[]) => {
    if (!projects.includes(dir)) projects.push(dir)
    return track(await devkube(['up', ...buildArgs, ...args], {cwd: dir, env: tools.env}))
  }
  /** up in the background with a forward on a free port; returns the URL's body. */
  const serve = async (dir: string, urlPath = '/'): Promise<{result: CliResult; body: string; url: string}> => {
    const port = await freeLoopbackPort()
    const result = await up(dir, '--detach', '--forward', String(port))
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0)
    const url = `http://localhost:${port}`
    return {result, body: await httpBody(`${url}${urlPath}`, 30_000), url}
  }
  const deployment = async (dir: string) => {
    const name = path.basename(dir)
    const got = await tools.exec('kubectl', ['--context', 'kind-devkube', '-n', name, 'get', 'deployment', name, '-o', 'json'])
    return JSON.parse(got.stdout) as {spec: {template: {spec: {securityContext?: Record<string, unknown>; containers: Array<{securityContext?: Record<string, unknown>}>}}}}
  }

  it('Django (startproject layout): gunicorn on mysite.wsgi, static files collected, its sqlite file writable', async () => {
    const dir = fixture('python/django')
    const {body, url} = await serve(dir)
    // Every request (the probes' too) adds a row to the sqlite file in /app: the app's user can write there.
    const visits = (text: string) => Number(/^Hello from Django \(visit (\d+)\)$/.exec(text)?.[1])
    expect(visits(body)).toBeGreaterThan(0)
    expect(visits(await httpBody(url))).toBeGreaterThan(visits(body))
    const dockerfile = readFileSync(path.join(dir, 'Dockerfile'), 'utf8')
    expect(dockerfile).toContain('CMD ["gunicorn", "--bind", "0.0.0.0:8080", "mysite.wsgi"]')
    expect(dockerfile).toContain('RUN python manage.py collectstatic --noinput')
    // A non-root image: runAsNonRoot is laid over, no uid forced.
    const spec = (await deployment(dir)).spec.template.spec
    expect(spec.containers[0].securityContext).toMatchObject({runAsNonRoot: true})
    expect(JSON.stringify(spec)).not.toContain('"runAsUser"')
  })

  it('FastAPI (app/main.py): uvicorn serves it', async () => {
    const {body} = await serve(fixture('python/fastapi'))
    expect(JSON.parse(body)).toEqual({message: 'Hello from FastAPI'})
  })

  it('a Flask app factory (create_app in a package): gunicorn calls the factory', async () => {
    const dir = fixture('python/flask-factory')
    const {body} = await serve(dir)
    expect(body.trim()).toBe('Hello from a Flask factory')
    expect(readFileSync(path.join(dir, 'Dockerfile'), 'utf8')).toContain('flaskr:create_app()')
  })

  it('a Procfile: its web: line starts the app, with $PORT set', async () => {
    const dir = fixture('python/procfile')
    const {body} = await serve(dir)
    expect(body.trim()).toBe('Hello from a Procfile')
    expect(readFileSync(path.join(dir, 'Dockerfile'), 'utf8')).toContain('gunicorn wsgi:application --bind 0.0.0.0:$PORT')
  })

  it('Go with cmd/server and a go.mod newer than the image\'s Go: builds with the image\'s Go and serves', async () => {
    const dir = fixture('go/cmd-server')
    const {body} = await serve(dir)
    expect(body.trim()).toBe('Hello from Go')
    expect(readFileSync(path.join(dir, 'Dockerfile'), 'utf8')).toMatch(/go build -trimpath .* \.\/cmd\/server$/m)
  })

  describe('an own Dockerfile that runs as root and writes to /var, with its own .dockerignore', () => {
    let dir: string
    beforeAll(() => {
      dir = fixture('dockerfile/root-var')
      writeFileSync(path.join(dir, '.dockerignore'), '# the project\'s own\n*.md\n.git\n')
    })

    it('is used as is: no user forced on it, so it can write where it writes', async () => {
      const {body, result} = await serve(dir)
      expect(body).toMatch(/^visits: [1-9]\d*$/)
      expect(result.stdout).not.toContain('wrote Dockerfile')
      const spec = (await deployment(dir)).spec.template.spec
      expect(JSON.stringify(spec)).not.toMatch(/runAsUser|runAsNonRoot/)
      // devkube's own files stay out of the image, also with the project's own .dockerignore.
      expect(readFileSync(path.join(dir, '.dockerignore'), 'utf8')).toMatch(/^\.devkube\n(.*\n)*devkube\.yaml\n(.*\n)*k8s$/m)
    })

    it('changing env: rolls the pods without building the image again', async () => {
      editConfig(dir, (config) => {
        config.env = {GREETING: `changed ${randomUUID()}`}
      })
      const result = await up(dir, '--no-forward')
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toMatch(/^- Build image: .* is up to date \(skipped\)/m)
      expect(result.stdout).toMatch(/^✓ Wait for rollout/m)
    })

    it('a container that cannot be created fails at once with its sentence (CreateContainerConfigError)', async () => {
      const file = path.join(dir, 'k8s', 'base', 'deployment.yaml')
      const documents = parseAllDocuments(readFileSync(file, 'utf8')).map((document) => document.toJS() as {spec: {template: {spec: {containers: Array<{env?: unknown[]}>}}}})
      documents[0].spec.template.spec.containers[0].env = [{name: 'TOKEN', valueFrom: {secretKeyRef: {name: 'not-there', key: 'token'}}}]
      const original = readFileSync(file, 'utf8')
      writeFileSync(file, stringify(documents[0]))
      try {
        // A long timeout: the failure must come from the pod's state, not from waiting it out.
        const result = await up(dir, '--no-forward', '--timeout', '240')
        expect(result.code).toBe(1)
        expect(result.error).toMatch(/The container root-var cannot be created: secret "not-there" not found \(CreateContainerConfigError\)/)
        expect(result.error).not.toContain('did not finish within')
      } finally {
        writeFileSync(file, original)
      }
    })
  })

  it('an own multi-stage Dockerfile: build.target picks the stage, its EXPOSE and its named user', async () => {
    const dir = fixture('dockerfile/multistage')
    const {body} = await serve(dir)
    expect(body).toBe('stage: prod, uid: 1001')
    // USER app is a name: devkube resolved it from the image, so the kubelet can verify runAsNonRoot.
    expect((await deployment(dir)).spec.template.spec.containers[0].securityContext).toMatchObject({runAsNonRoot: true, runAsUser: 1001})
  })

  it('a process that exits 0 (the last stage, without target): says it exited instead of serving', async () => {
    const dir = fixture('dockerfile/multistage')
    editConfig(dir, (config) => {
      config.name = 'multistage-test'
      config.port = 9000
      delete config.build
    })
    const result = await up(dir, '--no-forward', '--timeout', '240')
    expect(result.code).toBe(1)
    expect(result.error).toMatch(/The process exited instead of serving \(not a long-running server\)/)
    expect(result.error).toContain('tests passed')
  })

  it('a second crashing version is diagnosed by its own log lines, not the first one\'s', async () => {
    const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'devkube-lang-')), 'crasher')
    cpSync(path.join(repo, 'test', 'fixtures', 'python', 'procfile'), dir, {recursive: true})
    writeFileSync(path.join(dir, 'Procfile'), 'web: python crash.py\n')
    writeFileSync(path.join(dir, 'crash.py'), `import sys\nprint("first version: missing SETTING_A", flush=True)\nsys.exit(3)\n# ${randomUUID()}\n`)
    const first = await up(dir, '--no-forward', '--timeout', '240')
    expect(first.code).toBe(1)
    expect(first.error).toContain('first version: missing SETTING_A')
    writeFileSync(path.join(dir, 'crash.py'), 'import sys\nprint("second version: missing SETTING_B", flush=True)\nsys.exit(4)\n')
    const second = await up(dir, '--no-forward', '--timeout', '240')
    expect(second.code).toBe(1)
    expect(second.error).toMatch(/exited with code 4/)
    expect(second.error).toContain('second version: missing SETTING_B')
    expect(second.error).not.toContain('SETTING_A')
    appendFileSync(path.join(dir, 'crash.py'), '\n')
  })
})
