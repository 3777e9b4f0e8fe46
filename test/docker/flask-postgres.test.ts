/**
 * examples/flask-postgres with real Docker, as its docker-compose.yml runs it: the web image builds from the
 * example's own Dockerfile on the stand-in Python (whose psycopg2 is Debian's), and the visit counter it serves is
 * kept in PostgreSQL (the postgres stand-in), so it survives a restart of the web container.
 */
import {execa} from 'execa'
import {randomBytes} from 'node:crypto'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {backingImageForTests, containerLogs, DockerLeftovers, ensureStandinImages, publishedAddress, REPO_DIR, TEST_LABEL, useDocker, waitForHttp} from '../support/docker.js'

const POSTGRES_IMAGE = backingImageForTests('postgres') ?? 'postgres:16'
const docker = await useDocker()

describe.skipIf(!docker)('examples/flask-postgres on Docker', () => {
  const leftovers = new DockerLeftovers()
  const suffix = randomBytes(4).toString('hex')
  let baseImages: Record<string, string>

  beforeAll(async () => {
    baseImages = await ensureStandinImages()
  }, 900_000)

  afterAll(async () => {
    await leftovers.remove()
    await execa('docker', ['network', 'rm', `devkube-test-flask-${suffix}`], {reject: false})
  })

  it('the web image builds on the stand-in, counts visits in PostgreSQL, and keeps the count across a restart', async () => {
    const image = leftovers.image(`devkube-test/flask-postgres:${suffix}`)
    const build = await execa('docker', ['build', '--label', TEST_LABEL, '--build-arg', `PYTHON_IMAGE=${baseImages.PYTHON_IMAGE}`, '-t', image, '.'], {
      cwd: join(REPO_DIR, 'examples', 'flask-postgres'),
      all: true,
      reject: false,
      stdin: 'ignore',
      env: {DOCKER_BUILDKIT: '0'},
    })
    expect(build.exitCode, `docker build failed:\n${(build.all ?? '').split('\n').slice(-30).join('\n')}`).toBe(0)

    const network = `devkube-test-flask-${suffix}`
    await execa('docker', ['network', 'create', '--label', TEST_LABEL, network])
    const password = randomBytes(8).toString('hex')
    const db = await execa('docker', ['run', '-d', '--label', TEST_LABEL, '--network', network, '--network-alias', 'db', '-e', `POSTGRES_PASSWORD=${password}`, '-e', 'POSTGRES_DB=visits', POSTGRES_IMAGE], {reject: false, all: true})
    expect(db.exitCode, `docker run ${POSTGRES_IMAGE} failed:\n${db.all}`).toBe(0)
    leftovers.container(db.stdout.trim())

    const web = await execa(
      'docker',
      ['run', '-d', '--label', TEST_LABEL, '--network', network, '-p', '127.0.0.1::5000', '-e', `DATABASE_URL=postgresql://postgres:${password}@db:5432/visits`, image],
      {reject: false, all: true},
    )
    expect(web.exitCode, `docker run of the web image failed:\n${web.all}`).toBe(0)
    const container = leftovers.container(web.stdout.trim())
    // Wait on /health, which does not count: requests to / queued while the app waits for the database would.
    const visit = async () => {
      const address = await publishedAddress(container, 5000)
      const url = `http://${address}`
      await waitForHttp(`${url}/health`, 120_000).catch(async (error: Error) => {
        throw new Error(`${error.message}\nweb log:\n${await containerLogs(container)}`)
      })
      return (await fetch(`${url}/`)).text()
    }

    expect(await visit()).toBe('Hello World! Visits: 1\n')
    expect(await visit()).toBe('Hello World! Visits: 2\n')
    await execa('docker', ['restart', container])
    expect(await visit()).toBe('Hello World! Visits: 3\n')
  }, 900_000)
})
