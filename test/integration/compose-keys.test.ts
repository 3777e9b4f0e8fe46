/**
 * The keys a compose import writes, run by `up` on the fake toolchain: a one-shot `kind: job` that dependents wait
 * for, a named volume shared by the job and the web service, and an env value taken from the database's credentials.
 * Stock stand-in images only (nothing to build), so the file stays quick: the job writes to the volume, the web
 * server refuses to start unless the job's file is there, and the data outlives the web pod.
 */
import {mkdirSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {devkube, httpBody} from '../support/cli.js'
import {backingImageForTests, ensureStandinImages, freeLoopbackPort, useDocker} from '../support/docker.js'
import {createFakeToolchain, type FakeToolchain} from '../support/fake-toolchain.js'
import {eventually} from '../support/wait.js'

const dockerReady = await useDocker()

interface PodJson {
  metadata: {name: string; creationTimestamp: string; deletionTimestamp?: string}
  status: {phase?: string; containerStatuses?: Array<{restartCount: number; ready: boolean; state?: {terminated?: {exitCode: number; finishedAt: string}}}>}
}

describe.skipIf(!dockerReady)('compose-imported keys against the fake toolchain: job, named volume, {from, key}', () => {
  let tools: FakeToolchain
  let dir: string
  let port: number
  const run = (...args: string[]) => devkube(args, {cwd: dir, env: tools.env, timeoutMs: 300_000})
  const kubectl = (...args: string[]) => tools.exec('kubectl', ['--context', 'kind-devkube', '-n', 'shop', ...args])
  const pods = async (selector: string) => (JSON.parse((await kubectl('get', 'pods', '-l', selector, '-o', 'json')).stdout) as {items: PodJson[]}).items

  beforeAll(async () => {
    tools = await createFakeToolchain({speed: 0.5})
    const {PYTHON_IMAGE: python} = await ensureStandinImages()
    port = await freeLoopbackPort()
    dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'devkube-compose-keys-')), 'shop')
    const db = backingImageForTests('postgres')
    // As `devkube init` writes it from a compose file with `restart: "no"`, a named volume and a DATABASE_URL.
    mkdirSync(dir, {recursive: true})
    writeFileSync(
      path.join(dir, 'devkube.yaml'),
      `name: shop
services:
  migrate:
    image: ${python}
    kind: job
    command: [sh, -c, 'test -n "$DATABASE_URL" && echo migrated > /data/index.html && echo done']
    env:
      DATABASE_URL: {from: db, key: DATABASE_URL}
    dependsOn: [db]
    volumes:
      - {name: shared, path: /data}
  web:
    image: ${python}
    port: 8000
    forward: ${port}
    command: [sh, -c, 'test -f /data/index.html || exit 7; exec python3 -m http.server 8000 --directory /data']
    dependsOn: [migrate]
    volumes:
      - {name: shared, path: /data, size: 1Gi}
  db:
    backing: postgres
${db ? `    image: ${db}\n` : ''}`,
    )
  })

  afterAll(async () => {
    await run('down', '--volumes').catch(() => {})
    await tools?.cleanup()
  })

  it('up runs the job to completion before web starts, and web serves what the job wrote on the shared volume', async () => {
    const up = await run('up', '--detach', '--json')
    expect(up.code, `${up.stdout}\n${up.error}`).toBe(0)
    const job = JSON.parse((await kubectl('get', 'job', 'migrate', '-o', 'json')).stdout) as {status: {succeeded?: number; conditions?: Array<{type: string; status: string}>}}
    expect(job.status.conditions?.find((condition) => condition.type === 'Complete')?.status).toBe('True')
    // The job ran only once db was ready (a migration must not meet a database still initialising).
    const [db] = await pods('app.kubernetes.io/name=db')
    const [migrate] = await pods('app.kubernetes.io/name=migrate')
    const dbReady = (db as unknown as {status: {conditions: Array<{type: string; lastTransitionTime: string}>}}).status.conditions.find((condition) => condition.type === 'Ready')!.lastTransitionTime
    expect(Date.parse(migrate.metadata.creationTimestamp)).toBeGreaterThanOrEqual(Date.parse(dbReady))
    // Web's command exits 7 when the job's file is missing: no restart means it started after the job finished.
    const [web] = await pods('app.kubernetes.io/name=web')
    expect(web.status.containerStatuses?.[0].restartCount).toBe(0)
    expect(await httpBody(`http://localhost:${port}/`)).toBe('migrated\n')
    const status = await run('status')
    expect(status.stdout).toMatch(/migrate\s+Job\s+Complete/)
    expect((await run('logs', 'migrate')).stdout).toContain('done')
  })

  it('data on the named volume survives the web pod being deleted', async () => {
    const [before] = await pods('app.kubernetes.io/name=web')
    expect((await kubectl('exec', before.metadata.name, '--', 'sh', '-c', 'echo kept > /data/visits')).code).toBe(0)
    expect((await kubectl('delete', 'pod', before.metadata.name)).code).toBe(0)
    const after = await eventually('a new ready web pod', async () => (await pods('app.kubernetes.io/name=web')).find((pod) => pod.metadata.name !== before.metadata.name && pod.status.containerStatuses?.[0]?.ready), 60_000)
    const read = await kubectl('exec', after.metadata.name, '--', 'cat', '/data/visits')
    expect(read.stdout).toBe('kept\n')
  })

  it('a second up applies nothing and runs the completed job not again', async () => {
    const [run1] = await pods('app.kubernetes.io/name=migrate')
    const again = await run('up', '--detach', '--json')
    expect(again.code, again.error).toBe(0)
    expect((JSON.parse(again.stdout) as {changed: {applied: string[]}}).changed.applied).toEqual([])
    expect((await pods('app.kubernetes.io/name=migrate')).map((pod) => pod.metadata.name)).toEqual([run1.metadata.name])
  })

  it('a changed job is deleted and run again (its pod template is immutable)', async () => {
    const [run1] = await pods('app.kubernetes.io/name=migrate')
    const file = path.join(dir, 'devkube.yaml')
    writeFileSync(file, readFileSync(file, 'utf8').replace('      DATABASE_URL: {from: db, key: DATABASE_URL}\n', '      DATABASE_URL: {from: db, key: DATABASE_URL}\n      SCHEMA: "2"\n'))
    const changed = await run('up', '--detach', '--json')
    expect(changed.code, `${changed.stdout}\n${changed.error}`).toBe(0)
    expect((JSON.parse(changed.stdout) as {changed: {applied: string[]}}).changed.applied).toContain('job.batch/migrate created')
    const [run2] = await pods('app.kubernetes.io/name=migrate')
    expect(run2.metadata.name).not.toBe(run1.metadata.name)
    expect(run2.status.phase).toBe('Succeeded')
  })

  it('down removes the job and keeps the named volume, saying so; down --volumes deletes it', async () => {
    const down = await run('down')
    expect(down.code, down.error).toBe(0)
    expect(down.stdout).toMatch(/Kept the data of .*persistentvolumeclaim\/shared/)
    expect((await kubectl('get', 'job', 'migrate')).code).not.toBe(0)
    expect((await kubectl('get', 'pvc', 'shared')).code).toBe(0)
    const volumes = await run('down', '--volumes')
    expect(volumes.code, volumes.error).toBe(0)
    expect((await kubectl('get', 'pvc', 'shared')).code).not.toBe(0)
  })
})
