/**
 * A services app with a backing PostgreSQL, as a user runs it: the built CLI against the fake kind/kubectl. The
 * fake runs every pod on its own (no cluster DNS between pods), so this checks what devkube does with the database
 * service — StatefulSet, volume, generated credentials wired into its dependent, kept across `up` and `down` — not
 * the app talking to it (examples/flask-postgres does that on real kind).
 */
import {appendFileSync, cpSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {randomUUID} from 'node:crypto'
import os from 'node:os'
import path from 'node:path'
import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {devkube, httpBody, repo} from '../support/cli.js'
import {backingImageForTests, buildArgFlags, ensureStandinImages, freeLoopbackPort, useDocker} from '../support/docker.js'
import {createFakeToolchain, type FakeToolchain} from '../support/fake-toolchain.js'

const dockerReady = await useDocker()

describe.skipIf(!dockerReady)('a services app with a backing database against the fake toolchain', () => {
  let tools: FakeToolchain
  let dir: string
  let buildArgs: string[]
  let port: number
  const images = new Set<string>()
  const run = async (...args: string[]) => {
    const result = await devkube(args, {cwd: dir, env: tools.env, timeoutMs: 400_000})
    for (const match of `${result.stdout}\n${result.stderr}`.matchAll(/devkube\.local\/[\w.-]+:[0-9a-f]{12}/g)) images.add(match[0])
    return result
  }
  const kubectl = (...args: string[]) => tools.exec('kubectl', ['--context', 'kind-devkube', '-n', 'shop', ...args])

  beforeAll(async () => {
    tools = await createFakeToolchain({speed: 0.5})
    const standins = await ensureStandinImages()
    buildArgs = buildArgFlags({PYTHON_IMAGE: standins.PYTHON_IMAGE})
    dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'devkube-backing-')), 'shop')
    const web = path.join(dir, 'web')
    cpSync(path.join(repo, 'examples', 'hello-python'), web, {recursive: true})
    appendFileSync(path.join(web, 'app.py'), `\n# test run ${randomUUID()}\n`)
    const init = await devkube(['init', '--yes'], {cwd: web, env: tools.env})
    expect(init.code, init.error).toBe(0)
    rmSync(path.join(web, 'devkube.yaml'))
    port = await freeLoopbackPort()
    const image = backingImageForTests('postgres')
    writeFileSync(
      path.join(dir, 'devkube.yaml'),
      `name: shop\nservices:\n  web:\n    build: {context: web}\n    forward: ${port}\n    dependsOn: [db]\n  db:\n    backing: postgres\n${image ? `    image: ${image}\n` : ''}`,
    )
  })

  afterAll(async () => {
    await run('down', '--volumes').catch(() => {})
    await tools?.cleanup()
    if (images.size > 0) await execa('docker', ['rmi', '-f', ...images], {reject: false})
  })

  it('up runs db as a StatefulSet, gives web its connection settings from db-credentials, prints no password', async () => {
    const up = await run('up', ...buildArgs, '--detach', '--json')
    expect(up.code, `${up.stdout}\n${up.error}`).toBe(0)
    const result = JSON.parse(up.stdout) as {services: Array<{name: string; workload: string; url?: string}>}
    expect(result.services.map((service) => [service.name, service.workload])).toEqual([
      ['web', 'deployment/web'],
      ['db', 'statefulset/db'],
    ])
    expect(await httpBody(`http://localhost:${port}/`)).toContain('Hello World')

    const secret = await kubectl('get', 'secret', 'db-credentials', '-o', 'jsonpath={.data.password}')
    const password = Buffer.from(secret.stdout.trim(), 'base64').toString('utf8')
    expect(password.length).toBeGreaterThan(8)
    expect(`${up.stdout}${up.stderr}`).not.toContain(password)

    const deployment = JSON.parse((await kubectl('get', 'deployment', 'web', '-o', 'json')).stdout) as {spec: {template: {spec: {containers: Array<{env?: Array<{name: string; value?: string; valueFrom?: unknown}>}>}}}}
    const env = deployment.spec.template.spec.containers[0].env ?? []
    expect(env.find((variable) => variable.name === 'DATABASE_URL')).toEqual({name: 'DATABASE_URL', valueFrom: {secretKeyRef: {name: 'db-credentials', key: 'uri'}}})
    expect(env.some((variable) => variable.value?.includes(password))).toBe(false)
  })

  it('a second up keeps the same credentials and changes nothing', async () => {
    const before = (await kubectl('get', 'secret', 'db-credentials', '-o', 'jsonpath={.data.password}')).stdout
    const again = await run('up', ...buildArgs, '--detach', '--json')
    expect(again.code, again.error).toBe(0)
    expect((JSON.parse(again.stdout) as {changed: {applied: string[]}}).changed.applied).toEqual([])
    expect((await kubectl('get', 'secret', 'db-credentials', '-o', 'jsonpath={.data.password}')).stdout).toBe(before)
  })

  it('down keeps the volume and its credentials and says so; down --volumes deletes them', async () => {
    const down = await run('down')
    expect(down.code, down.error).toBe(0)
    expect(down.stdout).toContain('Kept the data of db (persistentvolumeclaim/data-db-0) and its credentials; `devkube down --volumes` deletes them.')
    expect((await kubectl('get', 'pvc', 'data-db-0')).code).toBe(0)
    expect((await kubectl('get', 'secret', 'db-credentials')).code).toBe(0)
    expect((await kubectl('get', 'deployment', 'web')).code).not.toBe(0)

    const volumes = await run('down', '--volumes')
    expect(volumes.code, volumes.error).toBe(0)
    expect((await kubectl('get', 'pvc', 'data-db-0')).code).not.toBe(0)
  })
})
