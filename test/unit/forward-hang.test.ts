/**
 * A kubectl port-forward that hangs instead of exiting (kubectl #686, #1169: "error creating error stream …
 * Timeout occurred"): it keeps accepting connections on the local port and forwards nothing. The supervisor's
 * own connections through the port find it out and restart kubectl, without ever being a visit to the app.
 */
import http from 'node:http'
import net from 'node:net'
import {afterEach, describe, expect, it} from 'vitest'
import {ForwardSupervisor, type ForwardEvent, type ForwardTarget} from '../../src/lib/forward.js'
import {Kube} from '../../src/lib/kube.js'
import {setRunner} from '../../src/lib/runner.js'
import {until} from '../support/wait.js'
import {FakeRunner, type FakeProcess} from '../support/fake-runner.js'

const readyPod = {metadata: {name: 'hello-1'}, spec: {containers: []}, status: {conditions: [{type: 'Ready', status: 'True'}]}}
const HANG_LINE = 'E1129 15:30:00.000000   12345 portforward.go:404] "Unhandled Error" err="error creating error stream for port PORT -> 8080: Timeout occurred"'

/** Plays kubectl's local listener: answers HTTP while forwarding works, accepts and stays silent when hung. */
async function localListener(): Promise<{port: number; mode: 'forwarding' | 'hung'; close: () => Promise<void>}> {
  const sockets = new Set<net.Socket>()
  const listener = {port: 0, mode: 'forwarding' as 'forwarding' | 'hung', close: async () => {}}
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    if (listener.mode === 'forwarding') socket.once('data', () => socket.end('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n'))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  listener.port = (server.address() as net.AddressInfo).port
  listener.close = () => {
    for (const socket of sockets) socket.destroy()
    return new Promise((resolve) => server.close(() => resolve()))
  }
  return listener
}

/** An app that counts what reaches it: connections (the forward reached it) and requests (somebody visited). */
async function countingApp(): Promise<{port: number; connections: number; requests: string[]; close: () => Promise<void>}> {
  const app = {port: 0, connections: 0, requests: [] as string[], close: async () => {}}
  const server = http.createServer((request, response) => {
    app.requests.push(request.url ?? '')
    response.end('ok')
  })
  server.on('connection', () => app.connections++)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  app.port = (server.address() as net.AddressInfo).port
  app.close = () => {
    server.closeAllConnections()
    return new Promise((resolve) => server.close(() => resolve()))
  }
  return app
}

/** A free local port for devkube's own listener (kubectl's port is the listener's or the app's). */
async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('the port-forward probe', () => {
  let supervisor: ForwardSupervisor | undefined
  let restore = () => {}
  let closeListener = async () => {}
  afterEach(async () => {
    await supervisor?.stop()
    supervisor = undefined
    await closeListener()
    restore()
  })

  function supervise(target: ForwardTarget, onStart: (child: FakeProcess) => void) {
    const runner = new FakeRunner()
      .when('kubectl --context kind-devkube --namespace hello get service hello', {stdout: JSON.stringify({spec: {selector: {app: 'hello'}}})})
      .when('kubectl --context kind-devkube --namespace hello get pods', {stdout: JSON.stringify({items: [readyPod]})})
      // kubectl never exits by itself here: only the supervisor can end it.
      .whenStarted('kubectl', onStart)
    restore = setRunner(runner)
    const events: ForwardEvent[] = []
    supervisor = new ForwardSupervisor(new Kube('devkube'), target, (event) => events.push(event), {intervalMs: 50, answerMs: 200})
    const portForwards = () => runner.started.filter((child) => child.argv.includes('port-forward'))
    return {events, portForwards}
  }

  it('restarts kubectl when it reports that it cannot open a stream to the pod (the hang), although its port still accepts', async () => {
    const listener = await localListener()
    closeListener = listener.close
    let first: FakeProcess | undefined
    const {events, portForwards} = supervise({namespace: 'hello', service: 'hello', localPort: await freePort(), remotePort: 8080}, (child) => {
      first ??= child
      child.say(`Forwarding from 127.0.0.1:${listener.port} -> 8080`)
    })
    await supervisor!.waitUntilReady()
    supervisor!.startProbing()
    listener.mode = 'hung'
    // kubectl logs the failed stream for a connection (the probe's or the user's) and keeps running.
    first!.say(HANG_LINE.replace('PORT', String(listener.port)), 'stderr')
    await until(() => portForwards().length === 2, 'a restarted port-forward')
    expect(portForwards()[0].stopped).toBe(true)
    expect(events).toContainEqual({type: 'restarting', reason: 'kubectl port-forward cannot open a stream to the pod (Timeout occurred)', delayMs: 200})
  })

  it("is restarted once GETs of the service's health path get no answer, when kubectl says nothing", async () => {
    const listener = await localListener()
    closeListener = listener.close
    const localPort = await freePort()
    const {events, portForwards} = supervise({namespace: 'hello', service: 'hello', localPort, remotePort: 8080, probePath: '/healthz'}, (child) =>
      child.say(`Forwarding from 127.0.0.1:${listener.port} -> 8080`),
    )
    await supervisor!.waitUntilReady()
    supervisor!.startProbing()

    // While it forwards, the probes get answers and nothing is restarted.
    await new Promise((resolve) => setTimeout(resolve, 400))
    expect(portForwards()).toHaveLength(1)

    listener.mode = 'hung'
    await until(() => portForwards().length === 2, 'a restarted port-forward')
    expect(portForwards()[0].stopped).toBe(true)
    expect(events).toContainEqual({type: 'restarting', reason: `kubectl port-forward accepts connections on port ${localPort} but no longer reaches the pod`, delayMs: 200})
  })

  it('never visits the app when the service has no health path of its own: the request count stays still', async () => {
    // The "forward" is the app itself here: every probe connection reaches it, as through a working kubectl.
    const app = await countingApp()
    closeListener = app.close
    const {portForwards} = supervise({namespace: 'hello', service: 'hello', localPort: await freePort(), remotePort: 8080}, (child) => child.say(`Forwarding from 127.0.0.1:${app.port} -> 8080`))
    await supervisor!.waitUntilReady()
    supervisor!.startProbing()
    await until(() => app.connections >= 4, 'four probe connections reaching the app')
    expect(app.requests).toEqual([])
    expect(portForwards()).toHaveLength(1)
  })

  it('asks only the health path when there is one', async () => {
    const app = await countingApp()
    closeListener = app.close
    supervise({namespace: 'hello', service: 'hello', localPort: await freePort(), remotePort: 8080, probePath: '/healthz'}, (child) => child.say(`Forwarding from 127.0.0.1:${app.port} -> 8080`))
    await supervisor!.waitUntilReady()
    supervisor!.startProbing()
    await until(() => app.requests.length >= 3, 'three probes')
    expect(new Set(app.requests)).toEqual(new Set(['/healthz']))
  })
})
