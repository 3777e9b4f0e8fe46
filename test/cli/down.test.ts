// `devkube down` (built CLI) against the fake kind/kubectl backed by real Docker.
import {processAlive} from '../../src/lib/project-state.js'
import {spawn} from 'node:child_process'
import {existsSync} from 'node:fs'
import net from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {useDocker} from '../support/docker.js'
import {bin, day2World, errorText, freeLoopbackPort, type Day2World} from './status-support.js'

const SCRIPT = '/usr/bin/script'

/** Runs devkube on a pseudo-terminal (util-linux `script`), answering its question once it is asked. */
function onTerminal(world: Day2World, args: string[], answer: string): Promise<{code: number | null; output: string}> {
  return new Promise((resolve) => {
    const child = spawn(SCRIPT, ['-qec', [process.execPath, bin, ...args].join(' '), '/dev/null'], {cwd: world.dir, env: world.env, stdio: ['pipe', 'pipe', 'pipe']})
    let output = ''
    let answered = false
    const collect = (chunk: Buffer) => {
      output += chunk.toString()
      if (!answered && output.includes('(y/N)')) {
        answered = true
        child.stdin.write(answer)
      }
    }
    child.stdout.on('data', collect)
    child.stderr.on('data', collect)
    child.on('exit', (code) => {
      child.stdin.end()
      resolve({code, output})
    })
  })
}


function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({port, host: '127.0.0.1'})
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

describe.skipIf(!(await useDocker()))('devkube down (built CLI, fake kind/kubectl, real Docker)', () => {
  let world: Day2World

  beforeAll(async () => {
    world = await day2World()
  }, 300_000)
  afterAll(async () => world?.cleanup(), 120_000)

  it('without a cluster there is nothing to remove: exit 0', async () => {
    const result = await world.devkube(['down'])
    expect(result).toMatchObject({code: 0, stdout: 'Nothing to remove: the kind cluster "devkube" does not exist.\n', stderr: ''})
  })

  it('twice in a row: stops the forwarder, deletes the namespace and waits; then says there is nothing left', async () => {
    const port = await freeLoopbackPort()
    await world.up(['--detach', '--forward', String(port)])
    const status = JSON.parse((await world.devkube(['status', '--json'])).stdout)
    const forwarderPid: number = status.forward.pid
    expect(processAlive(forwarderPid)).toBe(true)

    const first = await world.devkube(['down'])
    expect(first.stderr).toBe('')
    expect(first.code).toBe(0)
    // The settings ConfigMap is named after its content (hello-env-<hash>).
    expect(first.stdout.replaceAll(/hello-env-[0-9a-f]{8}/g, 'hello-env-HASH')).toBe(
      [
        `Stopped the port forwarder (pid ${forwarderPid}, http://localhost:${port}).`,
        'Deleting namespace hello (deployment/hello, service/hello, configmap/hello-env-HASH)…',
        'Removed hello: deleted namespace hello with deployment/hello, service/hello, configmap/hello-env-HASH.',
        '',
      ].join('\n'),
    )
    expect(processAlive(forwarderPid)).toBe(false)
    expect(await portAnswers(port)).toBe(false)
    expect(await world.tools.pods('devkube', 'hello')).toEqual([])
    const namespaces = await world.tools.exec('kubectl', ['--context', 'kind-devkube', 'get', 'namespaces', '-o', 'name'])
    expect(namespaces.stdout).not.toContain('namespace/hello')

    const second = await world.devkube(['down'])
    expect(second).toMatchObject({code: 0, stdout: 'Nothing to remove: hello is not deployed in namespace hello of kind-devkube.\n', stderr: ''})
    const json = JSON.parse((await world.devkube(['down', '--json'])).stdout)
    expect(json).toMatchObject({app: 'hello', cluster: 'devkube', namespace: 'hello', nothingToRemove: true, removed: {objects: [], cluster: false}})
  }, 180_000)

  it('--cluster without a terminal and without --yes refuses and removes nothing; with --yes it deletes the cluster', async () => {
    await world.up()
    const refused = await world.devkube(['down', '--cluster'])
    expect(refused.code).toBe(1)
    expect(refused.stdout).toBe('')
    expect(errorText(refused)).toBe(
      '›   Error: Not deleting the kind cluster "devkube": that needs a confirmation, and there is no terminal to ask on. It holds nothing else devkube knows of. Try this: Run `devkube down --cluster --yes` to delete it anyway, or `devkube down` to remove only this app.',
    )
    expect((await world.tools.exec('kind', ['get', 'clusters'])).stdout).toBe('devkube\n')
    expect(await world.tools.pods('devkube', 'hello')).toHaveLength(1)

    const deleted = await world.devkube(['down', '--cluster', '--yes', '--json'])
    expect(deleted.code).toBe(0)
    expect(JSON.parse(deleted.stdout)).toMatchObject({cluster: 'devkube', removed: {cluster: true}, nothingToRemove: false})
    const clusters = await world.tools.exec('kind', ['get', 'clusters'])
    expect(clusters.stderr).toContain('No kind clusters found.')

    const again = await world.devkube(['down', '--cluster', '--yes'])
    expect(again).toMatchObject({code: 0, stdout: 'Nothing to remove: the kind cluster "devkube" does not exist.\n'})
  }, 180_000)

  it.skipIf(!existsSync(SCRIPT))('--cluster on a terminal names the other projects and asks: "n" keeps the cluster, "y" deletes it', async () => {
    await world.up()
    const shop = 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels: {app.kubernetes.io/managed-by: devkube}\n'
    expect((await world.tools.exec('kubectl', ['--context', 'kind-devkube', 'apply', '-f', '-'], {input: shop})).code).toBe(0)

    const declined = await onTerminal(world, ['down', '--cluster'], 'n\r')
    expect(declined.code).toBe(1)
    expect(declined.output).toContain('The kind cluster "devkube" is about to be deleted, with everything in it. It also holds the devkube namespaces of other projects: shop.')
    expect(declined.output).toContain('Cancelled: nothing was removed.')
    expect((await world.tools.exec('kind', ['get', 'clusters'])).stdout).toBe('devkube\n')
    expect(await world.tools.pods('devkube', 'hello')).toHaveLength(1)

    const accepted = await onTerminal(world, ['down', '--cluster'], 'y\r')
    expect(accepted.code).toBe(0)
    expect(accepted.output).toContain('Deleted the kind cluster "devkube" and everything in it.')
    expect((await world.tools.exec('kind', ['get', 'clusters'])).stderr).toContain('No kind clusters found.')
  }, 180_000)
})
