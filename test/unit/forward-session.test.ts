/**
 * Forwarding sessions with scripted kubectl children (no Docker): which local port each service gets,
 * one supervised port-forward per service in one process, the record a re-run finds, and a stop that
 * leaves nothing running and no record behind.
 */
import {mkdtempSync} from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {assignLocalPorts, forwardPlanOf, reconnectNotices, runningForwarder, startForegroundForward, stateOf} from '../../src/lib/forward-session.js'
import {setRunner} from '../../src/lib/runner.js'
import type {Deployed, DeployedService} from '../../src/lib/up.js'
import {FakeRunner} from '../support/fake-runner.js'

async function freePort(): Promise<number> {
  return (await freePorts(1))[0]
}

/** Distinct free ports: all are held open until each is known, so two calls cannot hand out the same port. */
async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({length: count}, () => net.createServer())
  await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))))
  const ports = servers.map((server) => (server.address() as net.AddressInfo).port)
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))))
  return ports
}

function service(name: string, port: number | undefined, extra: Partial<DeployedService> = {}): DeployedService {
  return {name, workload: {kind: 'Deployment', name}, service: port === undefined ? undefined : {name, port}, selector: `app.kubernetes.io/name=${name}`, http: false, ...extra}
}

function deployed(projectDir: string, services: DeployedService[]): Deployed {
  return {app: 'shop', projectDir, cluster: 'devkube', context: 'kind-devkube', namespace: 'shop', environment: 'dev', services, actions: {} as Deployed['actions'], versions: {}}
}

describe('forward sessions', () => {
  let dir: string
  let runner: FakeRunner
  let restore: () => void
  const blockers: net.Server[] = []

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'devkube-forward-'))
    runner = new FakeRunner()
      .when('kubectl --context kind-devkube --namespace shop get pods', {stdout: JSON.stringify({items: []})})
      // kubectl's own port (devkube's listener on the local port is in front of it).
      .whenStarted('kubectl', (child) => child.say(`Forwarding from 127.0.0.1:40123 -> ${child.argv.at(-1)!.split(':')[1]}`))
    restore = setRunner(runner)
  })

  afterEach(async () => {
    for (const server of blockers.splice(0)) await new Promise((resolve) => server.close(resolve))
    restore()
  })

  it('gives each service with a Service a local port: the declared one, else its own port, else the next free one', async () => {
    const taken = await freePort()
    const blocker = net.createServer().listen(taken, '127.0.0.1')
    blockers.push(blocker)
    await new Promise((resolve) => blocker.once('listening', resolve))
    const declared = await freePort()
    const assigned = await assignLocalPorts(
      deployed(dir, [service('web', 8080, {declaredLocalPort: declared}), service('api', taken), service('proxy', 80), service('worker', undefined)]),
    )
    const ports = Object.fromEntries(assigned.services.map((entry) => [entry.name, entry.localPort]))
    expect(ports.web).toBe(declared)
    expect(ports.api).toBeGreaterThan(taken)
    // A privileged container port is not asked of the user's machine: 80 → 8080 and up.
    expect(ports.proxy).toBeGreaterThanOrEqual(8080)
    expect(new Set([ports.web, ports.api, ports.proxy]).size).toBe(3)
    expect(ports.worker).toBeUndefined()
    expect(forwardPlanOf(assigned).forwards.map((forward) => forward.service)).toEqual(['web', 'api', 'proxy'])
  })

  it('runs one port-forward per service in this process, records itself for a re-run, and a stop removes both', async () => {
    const [webPort, dbPort] = await freePorts(2)
    const plan = forwardPlanOf(deployed(dir, [service('web', 8080, {localPort: webPort}), service('db', 5432, {localPort: dbPort})]))
    const state = stateOf({projectDir: dir, environment: 'dev'})
    const session = await startForegroundForward(state, plan)
    const forwards = runner.started.filter((child) => child.argv.includes('port-forward'))
    expect(forwards.map((child) => child.argv.slice(-2))).toEqual([
      ['service/web', ':8080'],
      ['service/db', ':5432'],
    ])
    expect(forwards.every((child) => child.argv.includes('--context') && child.argv.includes('kind-devkube'))).toBe(true)
    // A re-run of up finds this forwarder for the same plan, and not for another one.
    expect(runningForwarder(state, plan)?.pid).toBe(process.pid)
    expect(runningForwarder(state, {...plan, forwards: plan.forwards.slice(0, 1)})).toBeUndefined()
    await session.stop()
    expect(forwards.every((child) => child.stopped)).toBe(true)
    expect(runningForwarder(state, plan)).toBeUndefined()
  })

  it('refuses a taken local port before starting any kubectl', async () => {
    const port = await freePort()
    const blocker = net.createServer().listen(port, '127.0.0.1')
    blockers.push(blocker)
    await new Promise((resolve) => blocker.once('listening', resolve))
    const plan = forwardPlanOf(deployed(dir, [service('web', 8080, {localPort: port})]))
    await expect(startForegroundForward(stateOf({projectDir: dir, environment: 'dev'}), plan)).rejects.toThrow(`The local port ${port} is already in use`)
    expect(runner.started).toHaveLength(0)
  })

  it('says once that a forward was lost and once that it is back, per service', () => {
    const lines: string[] = []
    const notice = reconnectNotices((line) => lines.push(line))
    const web = {service: 'web', serviceName: 'web', localPort: 8080, remotePort: 8080, url: 'http://localhost:8080', selector: '', http: true}
    notice(web, {type: 'restarting', reason: 'error: lost connection to pod', delayMs: 200})
    notice(web, {type: 'restarting', reason: 'error: lost connection to pod', delayMs: 400})
    notice(web, {type: 'ready', attempt: 3})
    notice(web, {type: 'ready', attempt: 4})
    expect(lines).toEqual(['Port forward of web lost (error: lost connection to pod); reconnecting…', 'Forwarding again: http://localhost:8080'])
  })
})
