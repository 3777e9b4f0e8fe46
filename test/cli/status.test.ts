// `devkube status` (built CLI) against the fake kind/kubectl backed by real Docker.
import {appendFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {useDocker} from '../support/docker.js'
import {day2World, errorText, freeLoopbackPort, type Day2World} from './status-support.js'

describe.skipIf(!(await useDocker()))('devkube status (built CLI, fake kind/kubectl, real Docker)', () => {
  let world: Day2World

  beforeAll(async () => {
    world = await day2World()
  }, 300_000)
  afterAll(async () => world?.cleanup(), 120_000)

  it('without a cluster: says so in a sentence and exits 1, also with --json', async () => {
    const result = await world.devkube(['status'])
    expect(result.code).toBe(1)
    expect(result.stdout).toBe(['Cluster     devkube does not exist', '', '✗ The kind cluster "devkube" does not exist, so hello is not running.', '  `devkube up` creates the cluster and starts the app.', ''].join('\n'))
    const json = await world.devkube(['status', '--json'])
    expect(json.code).toBe(1)
    const report = JSON.parse(json.stdout)
    expect(report).toMatchObject({app: 'hello', healthy: false, cluster: {name: 'devkube', exists: false}, problems: ['The kind cluster "devkube" does not exist, so hello is not running.']})
  })

  it('a healthy app: cluster, pods, image matching the source, and the forwarded URL answering; exit 0', async () => {
    const port = await freeLoopbackPort()
    await world.up(['--detach', '--forward', String(port)])
    const result = await world.devkube(['status', ...world.buildArgs])
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    const lines = result.stdout.split('\n')
    expect(lines[0]).toMatch(/^Cluster {5}devkube \(context kind-devkube\) · node ready · /)
    expect(lines).toContain('Namespace   hello (created by devkube)')
    expect(lines).toContain('Deployment  hello · 1/1 ready · 1/1 updated')
    expect(lines).toContain('Pods        NAME        READY  STATUS   RESTARTS  AGE')
    expect(result.stdout).toMatch(/^ {12}[a-z0-9]{4}-[a-z0-9]{5} {2}1\/1 {4}Running {2}0 {9}\d+s$/m)
    expect(result.stdout).toMatch(/^Image {7}devkube\.local\/hello:[0-9a-f]{12} · matches the source$/m)
    expect(result.stdout).toMatch(new RegExp(`^Forward     http://localhost:${port} · pid \\d+ · answers \\(HTTP 200\\)$`, 'm'))
    expect(lines.at(-2)).toBe(`✓ hello is running and healthy: http://localhost:${port}.`)

    const json = await world.devkube(['status', '--json', ...world.buildArgs])
    expect(json.code).toBe(0)
    const report = JSON.parse(json.stdout)
    expect(report).toMatchObject({
      healthy: true,
      problems: [],
      deployment: {name: 'hello', desired: 1, ready: 1, updated: 1},
      image: {matchesSource: true},
      forward: {running: true, url: `http://localhost:${port}`, answers: true, httpStatus: 200},
    })
    expect(report.pods).toHaveLength(1)

    // A source change is noticed: the running image no longer matches.
    appendFileSync(path.join(world.dir, 'server.js'), '// changed\n')
    const stale = await world.devkube(['status', ...world.buildArgs])
    expect(stale.code).toBe(0)
    expect(stale.stdout).toMatch(/· the source has changed since \(it would build [0-9a-f]{12}; `devkube up` redeploys\)/)
    expect((await world.devkube(['down'])).code).toBe(0)
  }, 180_000)

  it('a cluster without the app: not deployed, exit 1', async () => {
    const result = await world.devkube(['status'])
    expect(result.code).toBe(1)
    expect(result.stdout).toContain('Namespace   hello does not exist')
    expect(result.stdout).toContain('✗ hello is not deployed: there is no Deployment of it in namespace hello of kind-devkube.\n  `devkube up` deploys it.')
  })

  it('a crash-looping app: the pod, its restarts and why, in plain words; exit 1', async () => {
    writeFileSync(path.join(world.dir, 'server.js'), "console.log('starting'); console.error('boom: cannot start'); process.exit(2)\n")
    const up = await world.devkube(['up', '--no-forward', '--timeout', '60', ...world.buildArgs])
    expect(up.code).not.toBe(0)
    const result = await world.devkube(['status'])
    expect(result.code).toBe(1)
    expect(result.stdout).toMatch(/^ {12}[a-z0-9]{4}-[a-z0-9]{5} {2}0\/1 {4}(CrashLoopBackOff|Error|Running) +[1-9]\d* +\d+s$/m)
    expect(result.stdout).toMatch(/The app keeps crashing: container hello in pod hello-[a-z0-9]+-[a-z0-9]{5} exited with code 2 and has restarted \d+ times? \(CrashLoopBackOff\)\./)
    expect(result.stdout).toContain('  `devkube logs --previous` shows why it crashed; fix that and run `devkube up` again.')
    const report = JSON.parse((await world.devkube(['status', '--json'])).stdout)
    expect(report.healthy).toBe(false)
    expect(report.pods[0].problem).toMatchObject({reason: 'CrashLoopBackOff'})
    expect(errorText(result)).toBe('')
  }, 180_000)
})
