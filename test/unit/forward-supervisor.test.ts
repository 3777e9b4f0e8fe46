/**
 * The port-forward supervisor against scripted kubectl children: what the user sees is a URL that keeps
 * answering across pod restarts and redeploys, and a plain sentence when forwarding cannot start.
 */
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {ForwardSupervisor, type ForwardEvent} from '../../src/lib/forward.js'
import {Kube} from '../../src/lib/kube.js'
import {setRunner} from '../../src/lib/runner.js'
import {until} from '../support/wait.js'
import {FakeRunner, type FakeProcess} from '../support/fake-runner.js'

const target = {namespace: 'hello', service: 'hello', localPort: 18_080, remotePort: 8080}
const readyPod = {metadata: {name: 'hello-1'}, spec: {containers: []}, status: {conditions: [{type: 'Ready', status: 'True'}]}}

describe('ForwardSupervisor', () => {
  let runner: FakeRunner
  let restore: () => void
  let supervisor: ForwardSupervisor | undefined
  const events: ForwardEvent[] = []
  const portForwards = () => runner.started.filter((child) => child.argv.includes('port-forward'))

  beforeEach(() => {
    events.length = 0
    runner = new FakeRunner()
      .when('kubectl --context kind-devkube --namespace hello get service hello', {stdout: JSON.stringify({spec: {selector: {app: 'hello'}}})})
      .when('kubectl --context kind-devkube --namespace hello get pods', {stdout: JSON.stringify({items: [readyPod]})})
    restore = setRunner(runner)
  })

  afterEach(async () => {
    await supervisor?.stop()
    supervisor = undefined
    restore()
  })

  const forwarding = (child: FakeProcess) => child.say(`Forwarding from 127.0.0.1:${target.localPort} -> ${target.remotePort}`)
  const start = () => {
    supervisor = new ForwardSupervisor(new Kube('devkube'), target, (event) => events.push(event))
    return supervisor
  }

  it('starts kubectl port-forward against the service, always naming the kind context, and is ready when kubectl says so', async () => {
    runner.whenStarted('kubectl', forwarding)
    await start().waitUntilReady()
    expect(portForwards()).toHaveLength(1)
    expect(portForwards()[0].argv).toEqual(['kubectl', '--context', 'kind-devkube', '--namespace', 'hello', 'port-forward', 'service/hello', '18080:8080'])
    expect(events).toEqual([{type: 'ready', attempt: 1}])
  })

  it('starts kubectl again when it loses its pod, backing off while attempts keep failing at once', async () => {
    let attempts = 0
    runner.whenStarted('kubectl', (child) => {
      attempts++
      // The first four attempts die at once (a pod that crashes as soon as it is reached); the fifth works.
      if (attempts < 5) child.exit(1, {stderr: 'error: lost connection to pod'})
      else forwarding(child)
    })
    await start().waitUntilReady()
    const delays = events.filter((event) => event.type === 'restarting').map((event) => (event as {delayMs: number}).delayMs)
    expect(delays).toEqual([200, 400, 800, 1600])
    expect(events.at(-1)).toEqual({type: 'ready', attempt: 5})
    expect(events.find((event) => event.type === 'restarting')).toMatchObject({reason: 'error: lost connection to pod'})
  })

  it('reconnects promptly after forwarding worked for a while, without the back-off of earlier failures', async () => {
    let attempts = 0
    runner.whenStarted('kubectl', (child) => {
      attempts++
      if (attempts <= 2) child.exit(1, {stderr: 'error: lost connection to pod'})
      else forwarding(child)
    })
    await start().waitUntilReady()
    const working = portForwards().at(-1)!
    // Stable for longer than the supervisor's "it worked" threshold, then the pod goes away (a redeploy).
    await new Promise((resolve) => setTimeout(resolve, 1200))
    working.exit(1, {stderr: 'error: lost connection to pod'})
    await until(() => portForwards().length === 4, 'a new port-forward')
    const last = events.filter((event) => event.type === 'restarting').at(-1) as {delayMs: number}
    expect(last.delayMs).toBe(200)
  })

  it('moves to a new pod when told to reconnect (a redeploy), stopping the old kubectl first', async () => {
    runner.whenStarted('kubectl', forwarding)
    await start().waitUntilReady()
    const first = portForwards()[0]
    supervisor!.reconnect()
    await until(() => portForwards().length === 2 && events.filter((event) => event.type === 'ready').length === 2, 'a second ready forward')
    expect(first.stopped).toBe(true)
    expect(portForwards()[1].running).toBe(true)
  })

  it('says the local port is taken, once, and does not retry', async () => {
    runner.whenStarted('kubectl', (child) => child.exit(1, {stderr: 'error: unable to listen on any of the requested ports: [{18080 8080}]'}))
    await expect(start().waitUntilReady()).rejects.toThrow(/local port 18080 is already in use/)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(portForwards()).toHaveLength(1)
  })

  it('says kubectl is not installed instead of retrying forever', async () => {
    runner.whenStarted('kubectl', (child) => child.exit(127, {notFound: true}))
    await expect(start().waitUntilReady()).rejects.toThrow(/kubectl is not installed/)
    expect(portForwards()).toHaveLength(1)
  })

  it('stops its kubectl when stopped, and starts no other', async () => {
    runner.whenStarted('kubectl', forwarding)
    await start().waitUntilReady()
    await supervisor!.stop()
    expect(portForwards()[0].stopped).toBe(true)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(portForwards()).toHaveLength(1)
  })
})

describe('ForwardSupervisor and Terminating pods', () => {
  let restore = () => {}
  let supervisor: ForwardSupervisor | undefined
  afterEach(async () => {
    await supervisor?.stop()
    supervisor = undefined
    restore()
  })

  it('forwards to the newest ready pod that is not Terminating, on the Service target port', async () => {
    // Right after a redeploy: the old pod is still Ready during its grace period (and kubectl, given
    // service/hello, would pick it: it has been ready the longest).
    const readyCondition = [{type: 'Ready', status: 'True'}]
    const old = {metadata: {name: 'hello-old', creationTimestamp: '2026-11-29T10:00:00Z', deletionTimestamp: '2026-11-29T10:05:30Z'}, spec: {containers: [{name: 'hello', ports: [{name: 'http', containerPort: 5000}]}]}, status: {conditions: readyCondition}}
    const current = {metadata: {name: 'hello-new', creationTimestamp: '2026-11-29T10:05:00Z'}, spec: {containers: [{name: 'hello', ports: [{name: 'http', containerPort: 5000}]}]}, status: {conditions: readyCondition}}
    const starting = {metadata: {name: 'hello-newer', creationTimestamp: '2026-11-29T10:05:10Z'}, spec: {containers: [{name: 'hello', ports: [{name: 'http', containerPort: 5000}]}]}, status: {conditions: [{type: 'Ready', status: 'False'}]}}
    const runner = new FakeRunner()
      .when('kubectl --context kind-devkube --namespace hello get service hello', {stdout: JSON.stringify({spec: {selector: {app: 'hello'}, ports: [{port: 8080, targetPort: 'http'}]}})})
      .when('kubectl --context kind-devkube --namespace hello get pods', {stdout: JSON.stringify({items: [old, current, starting]})})
      .whenStarted('kubectl', (child) => child.say(`Forwarding from 127.0.0.1:${target.localPort} -> 5000`))
    restore = setRunner(runner)
    supervisor = new ForwardSupervisor(new Kube('devkube'), target)
    await supervisor.waitUntilReady()
    const forward = runner.started.find((child) => child.argv.includes('port-forward'))!
    expect(forward.argv.slice(5)).toEqual(['port-forward', 'pod/hello-new', '18080:5000'])
  })
})
