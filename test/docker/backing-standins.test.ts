/**
 * The backing-service stand-ins (scripts/standin-images.sh) against what backing.ts asks of the official images: each
 * container is started with the env and args of the StatefulSet backing.ts renders (Secret values filled in), its
 * readiness probe command succeeds once the server is up, and the generated credentials log in over TCP while
 * wrong ones do not.
 */
import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {backingObjects, type BackingCredentials, type BackingEngine} from '../../src/lib/backing.js'
import type {KubeObject} from '../../src/lib/kube.js'
import {containerLogs, DockerLeftovers, ensureStandinImages, STANDIN_BACKING_IMAGES, TEST_LABEL, useDocker} from '../support/docker.js'

const dockerReady = await useDocker()

interface Container {
  image: string
  args?: string[]
  env: Array<{name: string; value?: string; valueFrom?: {secretKeyRef: {key: string}}}>
  readinessProbe: {exec: {command: string[]}}
}

/** The pod's container as the kubelet would start it: env from the Secret, $(VAR) expanded in args. */
function containerOf(engine: BackingEngine, credentials: BackingCredentials): {image: string; env: Record<string, string>; args: string[]; probe: string[]} {
  const objects = backingObjects({service: 'db', engine, image: STANDIN_BACKING_IMAGES[engine as keyof typeof STANDIN_BACKING_IMAGES]}, credentials)
  const secret = objects.find((object) => object.kind === 'Secret') as KubeObject & {data: Record<string, string>}
  const statefulSet = objects.find((object) => object.kind === 'StatefulSet') as KubeObject & {spec: {template: {spec: {containers: Container[]}}}}
  const [container] = statefulSet.spec.template.spec.containers
  const env: Record<string, string> = {}
  for (const variable of container.env) {
    env[variable.name] = variable.valueFrom ? Buffer.from(secret.data[variable.valueFrom.secretKeyRef.key], 'base64').toString() : variable.value ?? ''
  }
  const args = (container.args ?? []).map((arg) => arg.replaceAll(/\$\((\w+)\)/g, (match, name: string) => env[name] ?? match))
  return {image: container.image, env, args, probe: container.readinessProbe.exec.command}
}

/**
 * A client in the container, logging in as a dependent would: over the pod network (the container's own address,
 * not loopback, which the postgres image trusts without a password), the password in its env variable.
 */
const cases: Array<{engine: BackingEngine; passwordVariable: string; client: string}> = [
  {engine: 'postgres', passwordVariable: 'PGPASSWORD', client: 'psql -h "$(hostname -i)" -U app -d app -tAc "SELECT 40 + 2"'},
  {engine: 'mariadb', passwordVariable: 'MYSQL_PWD', client: 'mariadb -h "$(hostname -i)" -u app app -N -e "SELECT 40 + 2"'},
  {engine: 'redis', passwordVariable: 'REDISCLI_AUTH', client: 'redis-cli -h "$(hostname -i)" INCRBY answer 21'},
]

describe.skipIf(!dockerReady)('backing-service stand-ins behave like the official images for devkube', () => {
  const leftovers = new DockerLeftovers()
  const started = new Map<BackingEngine, string>()
  const credentials: BackingCredentials = {user: 'app', password: '0123456789abcdef0123456789abcdef', database: 'app'}

  beforeAll(async () => {
    await ensureStandinImages()
    // Started together: their first starts (initialising the data folders) overlap.
    await Promise.all(
      cases.map(async ({engine}) => {
        const {image, env, args} = containerOf(engine, engine === 'redis' ? {...credentials, user: 'default', database: '0'} : credentials)
        const envFlags = Object.keys(env).flatMap((name) => ['-e', name])
        const {stdout} = await execa('docker', ['run', '-d', '--label', TEST_LABEL, ...envFlags, image, ...args], {env})
        started.set(engine, leftovers.container(stdout.trim()))
      }),
    )
  })

  afterAll(async () => {
    await leftovers.remove()
  })

  it.each(cases)('$engine: the readiness probe passes once it serves; the credentials log in over TCP, others do not', async ({engine, passwordVariable, client}) => {
    const id = started.get(engine)!
    const {probe} = containerOf(engine, credentials)
    const deadline = Date.now() + 90_000
    for (;;) {
      const result = await execa('docker', ['exec', id, ...probe], {reject: false})
      if (result.exitCode === 0) break
      if (Date.now() > deadline) throw new Error(`${engine}: the readiness probe never passed (${result.stdout}${result.stderr}); logs:\n${await containerLogs(id)}`)
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
    const loginWith = (password: string) => execa('docker', ['exec', '-e', `${passwordVariable}=${password}`, id, 'sh', '-c', client], {reject: false})
    const good = await loginWith(credentials.password)
    expect(good.exitCode, good.stderr).toBe(0)
    expect(good.stdout.trim()).toBe(engine === 'redis' ? '21' : '42')
    const wrong = await loginWith('wrong-password')
    expect(`${wrong.exitCode} ${wrong.stdout}${wrong.stderr}`).toMatch(/authentication failed|Access denied|WRONGPASS|NOAUTH/)
    // The server runs as its own user, not root (the entrypoint drops privileges, as the official ones do).
    const user = await execa('docker', ['exec', id, 'sh', '-c', 'ps -o user= -p 1 2>/dev/null || stat -c %U /proc/1'], {reject: false})
    expect(user.stdout.trim()).not.toBe('root')
  }, 120_000)
})
