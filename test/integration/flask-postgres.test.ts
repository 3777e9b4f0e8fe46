/**
 * examples/flask-postgres as a user runs it: `devkube init` imports its docker-compose.yml, `devkube up` builds the
 * web image and runs it with its PostgreSQL (a backing service, the offline stand-in) on the fake cluster, and the
 * visit counter it serves keeps its value when the database pod is deleted.
 */
import {execa} from 'execa'
import {cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parse, stringify} from 'yaml'
import {devkube, httpBody, repo} from '../support/cli.js'
import {backingImageForTests, buildArgFlags, ensureStandinImages, freeLoopbackPort, useDocker} from '../support/docker.js'
import {createFakeToolchain, type FakeToolchain} from '../support/fake-toolchain.js'

const dockerReady = await useDocker()

describe.skipIf(!dockerReady)('examples/flask-postgres: init imports the compose file, up serves it', () => {
  let tools: FakeToolchain
  let dir: string
  let buildArgs: string[]
  let webPort: number
  const images = new Set<string>()
  const run = async (...args: string[]) => {
    const result = await devkube(args, {cwd: dir, env: tools.env, timeoutMs: 300_000})
    for (const match of `${result.stdout}\n${result.stderr}`.matchAll(/devkube\.local\/[\w.-]+:[0-9a-f]{12}/g)) images.add(match[0])
    return result
  }
  /**
   * The counter in the page, fetched once: retrying / could count a visit twice (a request given up on by the client
   * may still complete), so the test first waits on /health, which the app answers without counting.
   */
  const visits = async () => {
    await httpBody(`http://localhost:${webPort}/health`, 120_000)
    const body = await (await fetch(`http://localhost:${webPort}/`, {signal: AbortSignal.timeout(30_000)})).text()
    const count = /^Hello World! Visits: (\d+)$/.exec(body.trim())?.[1]
    if (!count) throw new Error(`unexpected page: ${body}`)
    return Number(count)
  }

  beforeAll(async () => {
    tools = await createFakeToolchain({speed: 0.5})
    const standins = await ensureStandinImages()
    buildArgs = buildArgFlags({PYTHON_IMAGE: standins.PYTHON_IMAGE})
    dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'devkube-flask-postgres-')), 'flask-postgres')
    cpSync(path.join(repo, 'examples', 'flask-postgres'), dir, {recursive: true})
  })

  afterAll(async () => {
    if (dir && existsSync(path.join(dir, 'devkube.yaml'))) await run('down', '--volumes').catch(() => {})
    await tools?.cleanup()
    if (images.size > 0) await execa('docker', ['rmi', '-f', ...images], {reject: false})
  })

  it('init imports docker-compose.yml with only the backing-credentials warning', async () => {
    const result = await run('init', '--json')
    expect(result.code, result.stderr).toBe(0)
    const output = JSON.parse(result.stdout) as {warnings: Array<{service: string; key: string}>}
    expect(output.warnings.map((warning) => `${warning.service}: ${warning.key}`)).toEqual(['db: environment'])
    // What a test must change: a free local port, and the offline stand-in for postgres:16.
    webPort = await freeLoopbackPort()
    const config = parse(readFileSync(path.join(dir, 'devkube.yaml'), 'utf8'))
    config.services.web.forward = webPort
    const image = backingImageForTests('postgres')
    if (image) config.services.db.image = image
    writeFileSync(path.join(dir, 'devkube.yaml'), stringify(config))
  })

  it('up serves the counter; it counts, and keeps counting after the database pod is deleted', async () => {
    const up = await run('up', ...buildArgs, '--detach', '--json')
    expect(up.code, `${up.stderr}\n${up.stdout.slice(-3000)}`).toBe(0)
    // up itself may have fetched the page once: count from what it shows now.
    const first = await visits()
    expect(await visits()).toBe(first + 1)

    const deleted = await tools.exec('kubectl', ['--context', 'kind-devkube', '-n', 'flask-postgres', 'delete', 'pod', 'db-0'])
    expect(deleted.code, deleted.stderr).toBe(0)
    const rollout = await tools.exec('kubectl', ['--context', 'kind-devkube', '-n', 'flask-postgres', 'rollout', 'status', 'statefulset/db', '--timeout=120s'])
    expect(rollout.code, rollout.stderr).toBe(0)
    expect(await visits()).toBe(first + 2)
  }, 600_000)
})
