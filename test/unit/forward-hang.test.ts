/**
 * A kubectl port-forward that hangs instead of exiting (kubectl #686, #1169: "error creating error stream …
 * Timeout occurred"): it keeps accepting connections on the local port and forwards nothing. The supervisor's
 * own requests through the port find it out and restart kubectl.
 */
import net from 'node:net'
import {afterEach, describe, expect, it} from 'vitest'
import {ForwardSupervisor, type ForwardEvent} from '../../src/lib/forward.js'
import {Kube} from '../../src/lib/kube.js'
import {setRunner} from '../../src/lib/runner.js'
import {until} from '../support/wait.js'
import {FakeRunner} from '../support/fake-runner.js'

const readyPod = {metadata: {name: 'hello-1'}, spec: {containers: []}, status: {conditions: [{type: 'Ready', status: 'True'}]}}

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

async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('a kubectl port-forward that accepts connections but forwards nothing', () => {
  let supervisor: ForwardSupervisor | undefined
  let restore = () => {}
  let closeListener = async () => {}
  afterEach(async () => {
    await supervisor?.stop()
    await closeListener()
    restore()
  })

  it('is restarted by the supervisor once its requests through the port get no answer', async () => {
    const listener = await localListener()
    closeListener = listener.close
    const runner = new FakeRunner()
      .when('kubectl --context kind-devkube --namespace hello get service hello', {stdout: JSON.stringify({spec: {selector: {app: 'hello'}}})})
      .when('kubectl --context kind-devkube --namespace hello get pods', {stdout: JSON.stringify({items: [readyPod]})})
      // kubectl never exits by itself here: only the supervisor can end it.
      .whenStarted('kubectl', (child) => child.say(`Forwarding from 127.0.0.1:${listener.port} -> 8080`))
    restore = setRunner(runner)
    const events: ForwardEvent[] = []
    const target = {namespace: 'hello', service: 'hello', localPort: await freePort(), remotePort: 8080}
    supervisor = new ForwardSupervisor(new Kube('devkube'), target, (event) => events.push(event), {intervalMs: 50, answerMs: 200})
    await supervisor.waitUntilReady()
    supervisor.startProbing()
    const portForwards = () => runner.started.filter((child) => child.argv.includes('port-forward'))

    // While it forwards, the probes get answers and nothing is restarted.
    await new Promise((resolve) => setTimeout(resolve, 400))
    expect(portForwards()).toHaveLength(1)

    listener.mode = 'hung'
    await until(() => portForwards().length === 2, 'a restarted port-forward')
    expect(portForwards()[0].stopped).toBe(true)
    expect(events).toContainEqual({type: 'restarting', reason: `kubectl port-forward accepts connections on port ${target.localPort} but no longer reaches the pod`, delayMs: 200})
  })
})
