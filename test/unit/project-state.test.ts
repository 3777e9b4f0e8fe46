import {spawnSync} from 'node:child_process'
import {mkdtempSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {ProjectState, type ForwardRecord} from '../../src/lib/project-state.js'

function record(overrides: Partial<ForwardRecord> = {}): ForwardRecord {
  const forwards = [{service: 'web', serviceName: 'web', localPort: 18080, remotePort: 8080, url: 'http://localhost:18080'}]
  return {pid: process.pid, cluster: 'devkube', namespace: 'shop', detached: true, since: 'now', forwards, url: forwards[0].url, ...overrides}
}

describe('ProjectState: the one rule for "this forwarder is ours and alive"', () => {
  const place = {cluster: 'devkube', namespace: 'shop'}
  const state = () => new ProjectState(path.join(mkdtempSync(path.join(os.tmpdir(), 'devkube-state-')), 'shop'), 'dev')

  it('is the environment\'s record of a live process forwarding into this cluster and namespace', () => {
    const project = state()
    project.writeForwardRecord(record())
    expect(project.liveForwarder(place)?.forwards[0].localPort).toBe(18080)
  })

  it('is not a record of another namespace or cluster, nor one whose process is gone', () => {
    const project = state()
    project.writeForwardRecord(record({namespace: 'shop-staging'}))
    expect(project.liveForwarder(place)).toBeUndefined()
    project.writeForwardRecord(record({cluster: 'other'}))
    expect(project.liveForwarder(place)).toBeUndefined()
    const finished = spawnSync('sh', ['-c', 'echo $$'])
    project.writeForwardRecord(record({pid: Number(finished.stdout.toString())}))
    expect(project.liveForwarder(place)).toBeUndefined()
    // The record of the dead one is still there, for reaping what it left behind.
    expect(project.forwardRecord()?.pid).toBe(Number(finished.stdout.toString()))
  })

  it('reads a one-forward record written before services existed', () => {
    const project = state()
    project.writeForwardRecord({pid: process.pid, cluster: 'devkube', namespace: 'shop', detached: false, since: 'then', url: 'http://localhost:9000', service: 'shop', localPort: 9000, remotePort: 8080} as unknown as ForwardRecord)
    expect(project.liveForwarder(place)?.forwards).toEqual([{service: 'shop', serviceName: 'shop', localPort: 9000, remotePort: 8080, url: 'http://localhost:9000'}])
  })

  it('keeps the Deployed record and the build args per environment, and reads nothing into being', () => {
    const project = state()
    expect(project.recordedBuildArgs()).toEqual({})
    project.recordBuildArgs({A: '1'})
    project.writeDeployed({app: 'shop'})
    expect(new ProjectState(project.projectDir, 'dev').recordedBuildArgs()).toEqual({A: '1'})
    expect(new ProjectState(project.projectDir, 'staging').recordedBuildArgs()).toEqual({})
    expect(project.readDeployed<{app: string}>()?.app).toBe('shop')
  })
})
