// `devkube logs` (built CLI) against the fake kind/kubectl backed by real Docker.
import {readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {useDocker} from '../support/docker.js'
import {day2World, errorText, processesMentioning, startDevkube, type Day2World} from './status-support.js'

const LINE = /^([a-z0-9]{4}-[a-z0-9]{5}) \| (.*)$/

describe.skipIf(!(await useDocker()))('devkube logs (built CLI, fake kind/kubectl, real Docker)', () => {
  let world: Day2World

  beforeAll(async () => {
    world = await day2World()
  }, 300_000)
  afterAll(async () => world?.cleanup(), 120_000)

  it('without the app: one sentence saying it is not running and how to start it; exit 1', async () => {
    const result = await world.devkube(['logs'])
    expect(result.code).toBe(1)
    expect(result.stdout).toBe('')
    expect(errorText(result)).toBe('›   Error: hello is not running: the kind cluster "devkube" does not exist. Try this: `devkube up` creates the cluster and starts the app.')
  })

  it('prints each pod’s lines prefixed with its short name', async () => {
    await world.up()
    const result = await world.devkube(['logs'])
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/^[a-z0-9]{4}-[a-z0-9]{5} \| hello-node listening on port 8080\n$/)
    expect(result.stderr).toBe('')
  }, 180_000)

  it('-f follows a pod that is replaced by a redeploy and a container that restarts, and Ctrl-C leaves no kubectl behind', async () => {
    const follow = startDevkube(world, ['logs', '-f'])
    try {
      await follow.waitFor(/listening on port 8080\n/)
      const [firstPod] = follow.stdout().trim().split('\n').map((line) => LINE.exec(line)?.[1])
      expect(firstPod).toBeDefined()

      // A redeploy replaces the pod: the new one is picked up from its first line.
      const server = path.join(world.dir, 'server.js')
      writeFileSync(server, readFileSync(server, 'utf8').replace('hello-node listening on port', 'hello-node v2 listening on port'))
      await world.up()
      await follow.waitFor(/\| hello-node v2 listening on port 8080\n/)
      await follow.waitFor(new RegExp(`── ${firstPod} is gone`), 'stderr')
      const secondPod = LINE.exec(follow.stdout().trim().split('\n').at(-1)!)?.[1]
      expect(secondPod).not.toBe(firstPod)
      expect(follow.stderr()).toContain(`── following ${secondPod} (new pod)`)

      // Its container dies and is restarted: the next instance is followed too.
      await world.tools.killPodContainer('devkube', 'hello')
      await follow.waitFor(/restarted\n/, 'stderr', 60_000)
      await follow.waitFor(/(\| hello-node v2 listening on port 8080\n[^]*){2}/, 'stdout', 60_000)
      expect(follow.stderr()).toContain(`── ${secondPod}: container hello restarted`)
    } finally {
      follow.child.kill('SIGINT')
    }
    expect(await follow.exited).toBe(0)
    const lines = follow.stdout().trim().split('\n')
    expect(lines.every((line) => LINE.test(line))).toBe(true)
    const pods = new Set(lines.map((line) => LINE.exec(line)![1]))
    for (const pod of pods) expect(await processesMentioning(pod)).toEqual([])
  }, 240_000)

  it('--container that the pods do not have is a clear error', async () => {
    const result = await world.devkube(['logs', '--container', 'nope'])
    expect(result.code).toBe(1)
    expect(errorText(result)).toBe('›   Error: The pods of hello have no container "nope". Try this: Its containers: hello.')
  })
})
