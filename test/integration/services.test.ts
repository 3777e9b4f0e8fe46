/**
 * An app with two built services (`services:` in devkube.yaml) as a user runs it: the built CLI
 * against the fake kind/kubectl, real Docker building both images and running the pods.
 */
import {appendFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {randomUUID} from 'node:crypto'
import os from 'node:os'
import path from 'node:path'
import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {devkube, httpBody, repo} from '../support/cli.js'
import {buildArgFlags, ensureStandinImages, freeLoopbackPort, useDocker} from '../support/docker.js'
import {createFakeToolchain, type FakeToolchain} from '../support/fake-toolchain.js'

const dockerReady = await useDocker()

describe.skipIf(!dockerReady)('an app with two built services against the fake toolchain', () => {
  let tools: FakeToolchain
  let dir: string
  let buildArgs: string[]
  let webPort: number
  let apiPort: number
  const images = new Set<string>()
  const run = async (...args: string[]) => {
    const result = await devkube(args, {cwd: dir, env: tools.env, timeoutMs: 300_000})
    for (const match of `${result.stdout}\n${result.stderr}`.matchAll(/devkube\.local\/[\w.-]+:[0-9a-f]{12}/g)) images.add(match[0])
    return result
  }

  beforeAll(async () => {
    tools = await createFakeToolchain({speed: 0.5})
    const standins = await ensureStandinImages()
    buildArgs = buildArgFlags({PYTHON_IMAGE: standins.PYTHON_IMAGE, NODE_IMAGE: standins.NODE_IMAGE})
    dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'devkube-services-')), 'shop')
    for (const [service, example] of [['web', 'hello-python'], ['api', 'hello-node']]) {
      const folder = path.join(dir, service)
      cpSync(path.join(repo, 'examples', example), folder, {recursive: true})
      // A source unique to this run: both images are really built here.
      if (example === 'hello-python') appendFileSync(path.join(folder, 'app.py'), `\n# test run ${randomUUID()}\n`)
      else appendFileSync(path.join(folder, 'server.js'), `\n// test run ${randomUUID()}\n`)
      // web gets its Dockerfile from init in its folder (whose devkube.yaml is not the app's); api has none:
      // `up` writes it, as it does for a single app.
      if (service === 'api') continue
      const init = await devkube(['init', '--yes'], {cwd: folder, env: tools.env})
      expect(init.code, init.stderr).toBe(0)
      rmSync(path.join(folder, 'devkube.yaml'))
    }
    webPort = await freeLoopbackPort()
    apiPort = await freeLoopbackPort()
    writeFileSync(
      path.join(dir, 'devkube.yaml'),
      // The local ports come from the command line (--forward SERVICE=PORT), not from the file.
      `name: shop\nservices:\n  web:\n    build: {context: web}\n    dependsOn: [api]\n  api:\n    build: {context: api}\n`,
    )
  })

  afterAll(async () => {
    if (dir && existsSync(dir)) await run('down').catch(() => {})
    await tools?.cleanup()
    if (images.size > 0) await execa('docker', ['rmi', '-f', ...images], {reject: false})
  })

  it('up builds both, serves each on the local port --forward SERVICE=PORT gives it, and a re-run changes nothing', async () => {
    const result = await run('up', ...buildArgs, '--forward', `web=${webPort}`, '--forward', `api=${apiPort}`, '--detach', '--json')
    expect(result.code, result.stderr).toBe(0)
    const output = JSON.parse(result.stdout) as {services: Array<{name: string; url?: string; workload: string}>; changed: {builtServices: string[]; scaffolded: string[]}}
    expect(output.changed.scaffolded).toEqual(['api/Dockerfile', 'api/.dockerignore'])
    expect(readFileSync(path.join(dir, 'api', 'Dockerfile'), 'utf8')).toContain('npm')
    expect(output.changed.builtServices.sort()).toEqual(['api', 'web'])
    expect(output.services.map((service) => [service.name, service.workload, service.url])).toEqual([
      ['web', 'deployment/web', `http://localhost:${webPort}`],
      ['api', 'deployment/api', `http://localhost:${apiPort}`],
    ])
    expect(await httpBody(`http://localhost:${webPort}/`)).toContain('Hello World')
    expect(await httpBody(`http://localhost:${apiPort}/`)).toContain('Hello World')

    // Without the flags the running forwarder's ports are kept.
    const again = await run('up', ...buildArgs, '--detach', '--json')
    expect(again.code, again.stderr).toBe(0)
    const second = JSON.parse(again.stdout) as {changed: {builtServices: string[]; applied: string[]; rolledOut: boolean}; forward: {reused: boolean}}
    expect(second.changed).toMatchObject({builtServices: [], applied: [], rolledOut: false})
    expect(second.forward.reused).toBe(true)
  })

  it('status shows a row per service; logs prefix each line with service/pod; logs SERVICE shows only that one', async () => {
    const status = await run('status', '--json')
    expect(status.code, status.stdout).toBe(0)
    const report = JSON.parse(status.stdout) as {healthy: boolean; services: Array<{name: string; ready: number; desired: number; url?: string; matchesSource?: boolean}>}
    expect(report.healthy).toBe(true)
    expect(report.services.map((service) => [service.name, service.ready, service.desired, service.url, service.matchesSource])).toEqual([
      ['web', 1, 1, `http://localhost:${webPort}`, true],
      ['api', 1, 1, `http://localhost:${apiPort}`, true],
    ])
    const text = await run('status')
    expect(text.stdout).toMatch(/web\s+Deployment\s+1\/1\s+matches\s+http:\/\/localhost/)

    const logs = await run('logs')
    expect(logs.code, logs.stderr).toBe(0)
    expect(logs.stdout).toMatch(/^api\/\S+\s+\| hello-node listening on port/m)
    expect(logs.stdout).toMatch(/^web\/\S+\s+\| /m)
    const api = await run('logs', 'api')
    expect(api.stdout).toContain('hello-node listening')
    expect(api.stdout).not.toMatch(/^web\//m)
    const unknown = await run('logs', 'db')
    expect(unknown.code).not.toBe(0)
    expect(unknown.error).toContain('shop has no service "db".')
  })

  it('scale needs a service name; scale web 2 scales only web', async () => {
    const plain = await run('scale', '2')
    expect(plain.code).not.toBe(0)
    expect(plain.error).toContain('shop has several services: name the one to scale.')
    const web = await run('scale', 'web', '2', '--json')
    expect(web.code, web.stderr).toBe(0)
    expect(JSON.parse(web.stdout)).toMatchObject({deployment: 'web', replicas: 2, configuredReplicas: 1})
  })

  it('down stops the forwarder and removes both services', async () => {
    const result = await run('down', '--json')
    expect(result.code, result.stderr).toBe(0)
    const down = JSON.parse(result.stdout) as {forwarder?: {pid: number}; removed: {namespace?: string}}
    expect(down.forwarder?.pid).toBeTypeOf('number')
    expect(down.removed.namespace).toBe('shop')
    await expect(httpBody(`http://localhost:${webPort}/`, 2000)).rejects.toThrow()
  })
})
