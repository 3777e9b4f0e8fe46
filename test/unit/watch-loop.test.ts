import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {UserError} from '../../src/lib/errors.js'
import {Kube} from '../../src/lib/kube.js'
import {setRunner} from '../../src/lib/runner.js'
import {syncRules, type SyncRules} from '../../src/lib/sync.js'
import {handleChange, podsListed, watchLoop, type ServiceState, type WatchedDeployable} from '../../src/lib/watch-loop.js'
import type {Pod} from '../../src/lib/kube.js'
import {until} from '../support/wait.js'
import {FakeRunner} from '../support/fake-runner.js'

let dir: string
let restore: () => void
let runner: FakeRunner
let restarts: number

function podList() {
  return {
    items: [{
      apiVersion: 'v1', kind: 'Pod',
      metadata: {name: 'web-abc', labels: {app: 'web'}},
      spec: {containers: [{name: 'web', image: 'devkube.local/web:1'}]},
      status: {phase: 'Running', containerStatuses: [{name: 'web', ready: true, restartCount: restarts, image: 'devkube.local/web:1', state: {running: {}}}]},
    }],
  }
}

function service(): WatchedDeployable {
  const rules = syncRules('FROM python:3.12\nWORKDIR /app\nCOPY . .\n') as {rules: SyncRules}
  return {name: 'web', context: dir, dockerfile: path.join(dir, 'Dockerfile'), namespace: 'shop', selector: 'app=web', container: 'web', sync: {rules: rules.rules}}
}

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'devkube-loop-'))
  writeFileSync(path.join(dir, 'app.py'), 'print(1)')
  restarts = 0
  runner = new FakeRunner()
    .when('kubectl', {exitCode: 0})
    .on((argv) => (argv.includes('get') && argv.includes('pods') ? {stdout: JSON.stringify(podList())} : undefined))
  restore = setRunner(runner)
})

afterEach(() => {
  restore()
  rmSync(dir, {recursive: true, force: true})
})

const kube = new Kube('devkube')
const signal = new AbortController().signal
const sourceChange = {service: 'web', changed: ['app.py'], deleted: []}

describe('handleChange', () => {
  it('syncs a source change into the running container without rebuilding', async () => {
    const rebuilds: string[] = []
    const report = await handleChange(service(), sourceChange, {}, {kube, signal, rebuild: async (name) => (rebuilds.push(name), 'to x')})
    expect(report?.action).toBe('synced')
    expect(report?.line).toMatch(/^.* web: app\.py changed → synced 1 file \[\d+\.\ds\]$/)
    expect(rebuilds).toEqual([])
    expect(runner.callsOf('exec -i web-abc -c web -- tar --overwrite -xmf - -C /')).toHaveLength(1)
  })

  it('after a failed build, says the previous version keeps serving, and the next save rebuilds instead of syncing', async () => {
    const state = {}
    let fail = true
    const rebuild = async () => {
      if (fail) throw new UserError('The image build failed at "RUN pip install".', {hint: 'ERROR: no matching distribution'})
      return 'to devkube.local/web:2'
    }
    const failed = await handleChange(service(), {service: 'web', changed: [], deleted: [], rebuildReason: 'requirements.txt'}, state, {kube, signal, rebuild})
    expect(failed?.action).toBe('failed')
    expect(failed?.line).toContain('web: requirements.txt changed → The image build failed at "RUN pip install".')
    expect(failed?.line).toContain('The previous version keeps serving; save again to retry.')
    fail = false
    const recovered = await handleChange(service(), sourceChange, state, {kube, signal, rebuild})
    expect(recovered?.action).toBe('rebuilt')
    expect(recovered?.line).toContain('rebuilt (requirements.txt changed) to devkube.local/web:2')
    expect(runner.callsOf('tar')).toHaveLength(0)
    // Rebuilt: the next source save syncs again.
    expect((await handleChange(service(), sourceChange, state, {kube, signal, rebuild}))?.action).toBe('synced')
  })

  it('rebuilds when the pods listed after a sync show a restarted container (it lost the synced files), without waiting for a save', async () => {
    const state: ServiceState = {}
    const rebuild = async () => 'to devkube.local/web:3'
    expect((await handleChange(service(), sourceChange, state, {kube, signal, rebuild}))?.action).toBe('synced')
    // The log follower's next listing: same container, nothing to do.
    expect(podsListed(service(), state, podList().items as never)).toBe(false)
    restarts = 1
    expect(podsListed(service(), state, podList().items as never)).toBe(true)
    // The loop then handles a change without files for the service: a rebuild that says why.
    const report = await handleChange(service(), {service: 'web', changed: [], deleted: []}, state, {kube, signal, rebuild})
    expect(report?.action).toBe('rebuilt')
    expect(report?.line).toContain('web: a container restarted → rebuilt (a container restarted and lost the files synced earlier)')
  })

  it('syncs into the containers listed last with one exec, and lists the pods again only when that fails (a pod gone)', async () => {
    // Known from the last listing: web-old, which a restart of the Deployment replaced by web-abc meanwhile.
    runner.on((argv) => (argv.includes('web-old') ? {exitCode: 1, stderr: 'Error from server (NotFound): pods "web-old" not found\n'} : undefined))
    const state: ServiceState = {known: {targets: [{pod: 'web-old', container: 'web'}], instances: new Set(['web-old/0'])}}
    const report = await handleChange(service(), sourceChange, state, {kube, signal, rebuild: async () => 'to x'})
    expect(report?.action).toBe('synced')
    expect(runner.callsOf('exec -i web-old')).toHaveLength(1)
    expect(runner.callsOf('exec -i web-abc -c web -- tar')).toHaveLength(1)
    // Now known: the next save is one exec into web-abc, no listing.
    const before = runner.calls.length
    expect((await handleChange(service(), sourceChange, state, {kube, signal, rebuild: async () => 'to x'}))?.action).toBe('synced')
    expect(runner.calls.slice(before).map((call) => call.argv.join(' '))).toEqual([expect.stringContaining('exec -i web-abc -c web -- tar')])
  })

  it('rebuilds once, with the hint, when the container cannot take the files', async () => {
    runner.on((argv) => (argv.includes('tar') ? {exitCode: 2, stderr: 'tar: app/new.py: Cannot open: Permission denied\ncommand terminated with exit code 2\n'} : undefined))
    const report = await handleChange(service(), sourceChange, {}, {kube, signal, rebuild: async () => 'to devkube.local/web:4'})
    expect(report?.action).toBe('rebuilt')
    expect(report?.line).toContain('cannot write the synced files')
    expect(report?.line).toContain('COPY --chown=10001:10001')
  })
})

describe('watchLoop', () => {
  it('rebuilds a service whose container restarted after a sync as soon as a listing of the pods shows it, without a save', async () => {
    const controller = new AbortController()
    const lines: string[] = []
    const rebuilds: string[] = []
    let ready = false
    let listed: ((pods: Pod[]) => void) | undefined
    const loop = watchLoop({
      services: [service()],
      kube,
      signal: controller.signal,
      quietMs: 20,
      log: (line) => lines.push(line),
      pods: podList().items as never,
      onPods: (listener) => (listed = listener),
      onReady: () => (ready = true),
      rebuild: async (name) => (rebuilds.push(name), 'to devkube.local/web:9'),
    })
    try {
      await until(() => ready, 'the watcher')
      writeFileSync(path.join(dir, 'app.py'), 'print(2)')
      await until(() => lines.some((line) => line.includes('synced 1 file')), 'a sync')
      // The sync went straight into the container listed before watching began: one exec, no listing.
      expect(runner.callsOf('get pods')).toHaveLength(0)
      restarts = 1
      listed!(podList().items as never)
      await until(() => rebuilds.length === 1, 'a rebuild')
      await until(() => lines.some((line) => line.includes('web: a container restarted → rebuilt')), 'the rebuild line')
    } finally {
      controller.abort()
      await loop
    }
  })
})

