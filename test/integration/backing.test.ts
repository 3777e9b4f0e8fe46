/**
 * A PostgreSQL backing service on the fake cluster, from backing.ts's objects and the offline stand-in image: it gets
 * ready only when the database answers, its data survives the pod being deleted, and its password is generated
 * once and then read back from the live Secret.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {stringify} from 'yaml'
import {backingObjects, resolveCredentials, type BackingCredentials, type BackingSpec} from '../../src/lib/backing.js'
import {Kube} from '../../src/lib/kube.js'
import {ExecaRunner, setRunner, type Runner} from '../../src/lib/runner.js'
import {redact} from '../../src/lib/secrets.js'
import {backingImageForTests, ensureStandinImages, useDocker} from '../support/docker.js'
import {createFakeToolchain, execCommand, type FakeToolchain} from '../support/fake-toolchain.js'
import {eventually} from '../support/wait.js'

const dockerReady = await useDocker()
const image = backingImageForTests('postgres') ?? 'postgres:16'

describe.skipIf(!dockerReady)('a postgres backing service on the fake cluster', () => {
  const cluster = `backing-${process.pid}`
  const namespace = 'shop'
  const spec: BackingSpec = {service: 'db', engine: 'postgres', image}
  const kube = new Kube(cluster)
  let tools: FakeToolchain
  let restoreRunner: () => void
  let credentials: BackingCredentials

  const kubectl = (args: string[], input?: string) => tools.exec('kubectl', ['--context', kube.context, '-n', namespace, ...args], {input})
  const dbPod = async () => (await tools.pods(cluster, namespace)).find((pod) => pod.metadata.name === 'db-0')
  const isReady = async () => (await dbPod())?.status.containerStatuses?.[0]?.ready === true
  const containerId = async () => (await dbPod())?.containers.postgres?.id ?? undefined
  /** psql in the pod, logged in over TCP with the credentials the image was given from the Secret. */
  const psql = async (sql: string) => {
    const id = await eventually('a db-0 container', containerId, 30_000)
    const script = 'PGPASSWORD="$POSTGRES_PASSWORD" psql -h 127.0.0.1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -v ON_ERROR_STOP=1 -tAc "$1"'
    return execCommand('docker', ['exec', id, 'sh', '-c', script, 'sh', sql])
  }

  beforeAll(async () => {
    await ensureStandinImages()
    tools = await createFakeToolchain({speed: 0.05})
    // devkube's own kubectl calls (resolveCredentials) go to the fake cluster.
    const real = new ExecaRunner()
    const toFake: Runner = {
      run: (argv, options) => real.run(argv, {...options, env: {...process.env, ...tools.env}}),
      start: (argv, options) => real.start(argv, {...options, env: {...process.env, ...tools.env}}),
    }
    restoreRunner = setRunner(toFake)
    expect((await tools.exec('kind', ['create', 'cluster', '--name', cluster], {input: ''})).code).toBe(0)
    expect((await tools.exec('kind', ['load', 'docker-image', image, '--name', cluster])).code).toBe(0)
    expect((await tools.exec('kubectl', ['--context', kube.context, 'create', 'namespace', namespace])).code).toBe(0)
  })

  afterAll(async () => {
    restoreRunner?.()
    await tools?.cleanup()
  })

  it('generates credentials once, and gets ready only when the database answers', async () => {
    credentials = await resolveCredentials(kube, namespace, spec)
    expect(credentials.password).toMatch(/^[0-9a-f]{32}$/)
    const objects = backingObjects(spec, credentials).map((object) => ({...object, metadata: {...object.metadata, namespace}}))
    const applied = await kubectl(['apply', '-f', '-'], objects.map((object) => stringify(object)).join('---\n'))
    expect(applied).toMatchObject({code: 0, stdout: 'statefulset.apps/db created\nservice/db created\nsecret/db-credentials created\n'})

    const rollout = await kubectl(['rollout', 'status', 'statefulset/db', '--timeout=120s'])
    expect(rollout.code, rollout.stderr).toBe(0)
    expect(rollout.stdout.trim().split('\n').at(-1)).toBe('partitioned roll out complete: 1 new pods have been updated...')

    // The readiness probe is pg_isready over TCP: a server that stops answering makes the pod unready, and ready
    // again when it answers.
    const id = await eventually('a db-0 container', containerId, 30_000)
    // Stopped from outside: inside its namespace, the container's PID 1 ignores SIGSTOP.
    expect((await execCommand('docker', ['kill', '--signal=STOP', id])).code).toBe(0)
    await eventually('db-0 unready while postgres does not answer', async () => !(await isReady()), 60_000)
    expect((await execCommand('docker', ['kill', '--signal=CONT', id])).code).toBe(0)
    await eventually('db-0 ready again', isReady, 60_000)

    // A second resolve reads the live Secret: the volume was initialised with that password.
    expect(await resolveCredentials(kube, namespace, spec)).toEqual(credentials)
  }, 180_000)

  it('keeps the data in its volume when the pod is deleted', async () => {
    expect((await psql('CREATE TABLE visits (n int); INSERT INTO visits VALUES (41);')).code).toBe(0)
    const before = await containerId()
    expect(await kubectl(['delete', 'pod', 'db-0'])).toMatchObject({code: 0, stdout: 'pod "db-0" deleted\n'})
    await eventually('a new db-0 container', async () => {
      const id = await containerId()
      return id && id !== before
    }, 30_000)
    expect((await kubectl(['rollout', 'status', 'statefulset/db', '--timeout=120s'])).code).toBe(0)
    const counted = await psql('UPDATE visits SET n = n + 1 RETURNING n;')
    expect(counted.code, counted.stderr).toBe(0)
    expect(counted.stdout.split('\n')[0]).toBe('42')
  })

  it('never shows the password: not in the applied objects, and masked in what devkube prints', async () => {
    const shown = await kubectl(['get', 'statefulset,service,pvc', '-o', 'yaml'])
    expect(shown.stdout).not.toContain(credentials.password)
    expect(redact(`postgresql://app:${credentials.password}@db:5432/app`)).not.toContain(credentials.password)
  })

  it('refuses new credentials for a volume whose Secret was deleted', async () => {
    expect((await kubectl(['delete', 'secret', 'db-credentials'])).code).toBe(0)
    await expect(resolveCredentials(kube, namespace, spec)).rejects.toThrow(/data-db-0.* exists but its Secret db-credentials is gone/)
  })
})

