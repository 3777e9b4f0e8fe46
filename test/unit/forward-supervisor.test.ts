/**
 * The port-forward supervisor against scripted kubectl children: what the user sees is a URL that keeps
 * answering across pod restarts and redeploys, and a plain sentence when forwarding cannot start.
 */
import net from 'node:net'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {ForwardSupervisor, type ForwardEvent} from '../../src/lib/forward.js'
import {Kube} from '../../src/lib/kube.js'
import {setRunner} from '../../src/lib/runner.js'
import {until} from '../support/wait.js'
import {FakeRunner, type FakeProcess} from '../support/fake-runner.js'

const readyPod = (name: string, created = '2026-01-01T00:00:00Z') => ({metadata: {name, creationTimestamp: created}, spec: {containers: []}, status: {conditions: [{type: 'Ready', status: 'True'}]}})

async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Plays the pod behind one kubectl port-forward: kubectl's own local port, answering with the pod's name. */
async function podListener(name: string): Promise<{port: number; close: () => Promise<void>}> {
  const server = net.createServer((socket) => socket.once('data', () => socket.end(`HTTP/1.0 200 OK\r\nContent-Length: ${name.length}\r\n\r\n${name}`)))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {port: (server.address() as net.AddressInfo).port, close: () => new Promise((resolve) => server.close(() => resolve()))}
}

describe('ForwardSupervisor', () => {
  let runner: FakeRunner
  let restore: () => void
  let supervisor: ForwardSupervisor | undefined
  let target: {namespace: string; service: string; localPort: number; remotePort: number}
  let pods: unknown[]
  const events: ForwardEvent[] = []
  const portForwards = () => runner.started.filter((child) => child.argv.includes('port-forward'))

  beforeEach(async () => {
    events.length = 0
    target = {namespace: 'hello', service: 'hello', localPort: await freePort(), remotePort: 8080}
    pods = [readyPod('hello-1')]
    runner = new FakeRunner()
      .when('kubectl --context kind-devkube --namespace hello get service hello', {stdout: JSON.stringify({spec: {selector: {app: 'hello'}}})})
      .when('kubectl --context kind-devkube --namespace hello get pods', () => ({stdout: JSON.stringify({items: pods})}))
    restore = setRunner(runner)
  })

  afterEach(async () => {
    await supervisor?.stop()
    supervisor = undefined
    restore()
  })

  // kubectl's own port: one it picked (the supervisor's listener is the user's port).
  const forwarding = (child: FakeProcess) => child.say(`Forwarding from 127.0.0.1:40123 -> ${target.remotePort}`)
  const start = () => {
    supervisor = new ForwardSupervisor(new Kube('devkube'), target, (event) => events.push(event))
    return supervisor
  }

  it('starts kubectl port-forward to the newest ready pod, always naming the kind context, and is ready when kubectl says so', async () => {
    pods = [readyPod('hello-old', '2026-01-01T00:00:00Z'), readyPod('hello-new', '2026-01-01T00:05:00Z'), {...readyPod('hello-going', '2026-01-01T00:09:00Z'), metadata: {name: 'hello-going', creationTimestamp: '2026-01-01T00:09:00Z', deletionTimestamp: '2026-01-01T00:10:00Z'}}]
    runner.whenStarted('kubectl', forwarding)
    await start().waitUntilReady()
    expect(portForwards()).toHaveLength(1)
    expect(portForwards()[0].argv).toEqual(['kubectl', '--context', 'kind-devkube', '--namespace', 'hello', 'port-forward', 'pod/hello-new', ':8080'])
    expect(events).toEqual([{type: 'ready', attempt: 1}])
  })

  it("forwards a pod on the port the Service sends to (its targetPort, by number or by name), not the Service's port", async () => {
    const named = {...readyPod('hello-1'), spec: {containers: [{name: 'hello', ports: [{name: 'http', containerPort: 5000}]}]}}
    pods = [named]
    runner.when('kubectl --context kind-devkube --namespace hello get service hello', {stdout: JSON.stringify({spec: {selector: {app: 'hello'}, ports: [{port: 8080, targetPort: 'http'}]}})})
    runner.whenStarted('kubectl', forwarding)
    await start().waitUntilReady()
    expect(portForwards()[0].argv.slice(-2)).toEqual(['pod/hello-1', ':5000'])
  })

  it('lets kubectl pick one of the Service\'s pods when none is ready yet', async () => {
    pods = []
    runner.whenStarted('kubectl', forwarding)
    await start().waitUntilReady()
    expect(portForwards()[0].argv.slice(-2)).toEqual(['service/hello', ':8080'])
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

  it('moves to the new pod when told to reconnect (a redeploy): the new kubectl forwards before the old one stops, and the URL serves the new pod', async () => {
    const listeners = {'hello-1': await podListener('hello-1'), 'hello-2': await podListener('hello-2')}
    try {
      runner.whenStarted('kubectl', (child) => {
        const pod = child.argv.find((arg) => arg.startsWith('pod/'))!.slice(4) as keyof typeof listeners
        child.say(`Forwarding from 127.0.0.1:${listeners[pod].port} -> 8080`)
      })
      await start().waitUntilReady()
      expect(await get(target.localPort)).toBe('hello-1')
      const first = portForwards()[0]
      pods = [readyPod('hello-2', '2026-01-01T00:05:00Z')]
      supervisor!.reconnect()
      await until(() => events.filter((event) => event.type === 'ready').length === 2, 'a second ready forward')
      expect(portForwards()[1].argv.slice(-2)).toEqual(['pod/hello-2', ':8080'])
      expect(first.stopped).toBe(true)
      expect(portForwards()[1].running).toBe(true)
      expect(await get(target.localPort)).toBe('hello-2')
      // A planned move is no lost forward: nothing says "restarting".
      expect(events.some((event) => event.type === 'restarting')).toBe(false)
    } finally {
      await Promise.all(Object.values(listeners).map((listener) => listener.close()))
    }
  })

  it('starts no second kubectl when told to reconnect while it is already starting one for the new pod', async () => {
    runner.whenStarted('kubectl', (child) => {
      if (child.argv.includes('pod/hello-1')) forwarding(child)
    })
    await start().waitUntilReady()
    // The redeploy took the old pod away before devkube asked to move: the loop is starting kubectl for hello-2.
    pods = [readyPod('hello-2', '2026-01-01T00:05:00Z')]
    portForwards()[0].exit(1, {stderr: 'error: lost connection to pod'})
    await until(() => portForwards().length === 2, 'the restart for hello-2')
    supervisor!.reconnect()
    // The move looks at the pods, finds the loop on its way to hello-2, and leaves it there.
    await until(() => runner.callsOf('get pods').length >= 3, 'the move\'s look at the pods')
    await new Promise((resolve) => setTimeout(resolve, 100))
    forwarding(portForwards()[1])
    await until(() => events.filter((event) => event.type === 'ready').length === 2, 'forwarding to hello-2')
    expect(portForwards()).toHaveLength(2)
  })

  it('says the local port is taken, once, and starts no kubectl', async () => {
    const blocker = net.createServer()
    await new Promise<void>((resolve) => blocker.listen(target.localPort, '127.0.0.1', resolve))
    try {
      runner.whenStarted('kubectl', forwarding)
      await expect(start().waitUntilReady()).rejects.toThrow(new RegExp(`local port ${target.localPort} is already in use`))
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(portForwards()).toHaveLength(0)
    } finally {
      await new Promise((resolve) => blocker.close(resolve))
    }
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

/** GET / through the local port: the body (the pod's name here). */
async function get(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/`, {signal: AbortSignal.timeout(5000)})
  return response.text()
}
