// `kubectl port-forward`: serves ONE pod, chosen at start, through the port Docker publishes on 127.0.0.1.
// Like the real one (client-go 1.23+), it exits with "lost connection to pod" when a connection finds that pod's
// container dead, the pod gone, or nothing listening inside it; it never moves to another pod by itself. It
// learns of a dead pod only on a connection. A file `port-forward-hang` in DEVKUBE_FAKE_STATE makes the next
// connection hit kubectl's "error creating error stream … Timeout occurred": from then on that process keeps
// accepting connections and forwards nothing (kubectl #686, #1169); the file is used up.
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {ExitError, clone, dieBySignal, docker, fail, klogPrefix, parseGoDuration, sleep} from './util.mjs'
import {matchLabelSelector} from './resources.mjs'
import {getObject, listObjects} from './world.mjs'

function activeRank(pod) {
  // kubectl sorts by ActivePods (reversed): ready before not ready, running before pending, older first.
  const ready = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
  const phase = {Running: 2, Unknown: 1, Pending: 0}[pod.status?.phase] ?? 0
  return (ready ? 10 : 0) + phase
}

function parsePortSpec(spec) {
  const parts = String(spec).split(':')
  if (parts.length === 1) return {local: parts[0], remote: parts[0]}
  if (parts.length === 2) return {local: parts[0] === '' ? '0' : parts[0], remote: parts[1]}
  fail(`error: invalid port format '${spec}'\n`)
}

function listen(host, port) {
  return new Promise((resolve) => {
    const server = net.createServer()
    server.once('error', (error) => resolve({error}))
    server.listen({host, port, exclusive: true}, () => resolve({server}))
  })
}

export async function portForward(conn, {args, flags}, {inCluster}) {
  const [target, ...portSpecs] = args
  if (!target || !portSpecs.length) fail("error: TYPE/NAME and list of ports are required for port-forward\nSee 'kubectl port-forward -h' for help and examples\n")
  let [type, name] = target.includes('/') ? target.split('/') : ['pod', target]
  type = type.toLowerCase()
  const podRunningTimeout = flags['pod-running-timeout'] ? parseGoDuration(flags['pod-running-timeout']) : 60_000
  const specs = portSpecs.map(parsePortSpec)
  const deadline = Date.now() + podRunningTimeout

  // Pick the pod (waiting, like GetFirstPod, until at least one exists).
  let chosen
  for (;;) {
    chosen = await inCluster(conn, (state) => {
      let pods
      let service
      if (['pod', 'pods', 'po'].includes(type)) {
        const pod = getObject(state, 'Pod', conn.namespace, name)
        if (!pod) fail(`Error from server (NotFound): pods "${name}" not found\n`)
        pods = [pod]
      } else if (['svc', 'service', 'services'].includes(type)) {
        service = getObject(state, 'Service', conn.namespace, name)
        if (!service) fail(`Error from server (NotFound): services "${name}" not found\n`)
        const selector = service.spec.selector
        if (!selector || !Object.keys(selector).length) fail(`error: invalid service '${name}': Service is defined without a selector\n`)
        pods = listObjects(state, 'Pod', conn.namespace).filter((p) => matchLabelSelector(selector, p.metadata.labels))
      } else if (['deployment', 'deployments', 'deploy', 'deployments.apps', 'statefulset', 'statefulsets', 'sts', 'statefulsets.apps'].includes(type)) {
        const kind = type.startsWith('deploy') ? 'Deployment' : 'StatefulSet'
        const dep = getObject(state, kind, conn.namespace, name)
        if (!dep) fail(`Error from server (NotFound): ${kind === 'Deployment' ? 'deployments' : 'statefulsets'}.apps "${name}" not found\n`)
        pods = listObjects(state, 'Pod', conn.namespace).filter((p) => matchLabelSelector(dep.spec.selector, p.metadata.labels))
      } else {
        throw new ExitError(2, `fake kubectl: unsupported: port-forward ${target}\n`)
      }
      if (!pods.length) return undefined
      pods.sort((a, b) => activeRank(b) - activeRank(a) || Date.parse(a.metadata.creationTimestamp) - Date.parse(b.metadata.creationTimestamp))
      return {pod: clone(pods[0]), service: clone(service)}
    })
    if (chosen) break
    if (Date.now() >= deadline) fail('error: timed out waiting for the condition\n')
    await sleep(250)
  }
  const {pod, service} = chosen
  if (pod.status?.phase !== 'Running') fail(`error: unable to forward port because pod is not running. Current status=${pod.status?.phase ?? 'Pending'}\n`)

  // Map each requested port to the pod's container port.
  const containerPortByName = (portName) => {
    for (const c of pod.spec.containers) for (const p of c.ports ?? []) if (p.name === portName) return {port: p.containerPort, container: c.name}
    return undefined
  }
  const containerOfPort = (port) => pod.spec.containers.find((c) => (c.ports ?? []).some((p) => p.containerPort === port))?.name ?? pod.spec.containers[0].name
  const forwards = specs.map(({local, remote}) => {
    let targetPort
    if (service) {
      const svcPort = service.spec.ports?.find((p) => String(p.port) === remote || p.name === remote)
      if (!svcPort) fail(`error: Service ${name} does not have a service port ${remote}\n`)
      targetPort = svcPort.targetPort ?? svcPort.port
      if (typeof targetPort === 'string' && !/^\d+$/.test(targetPort)) {
        const named = containerPortByName(targetPort)
        if (!named) fail(`error: Pod '${pod.metadata.name}' does not have a named port '${targetPort}'\n`)
        targetPort = named.port
      }
      targetPort = Number(targetPort)
    } else if (/^\d+$/.test(remote)) targetPort = Number(remote)
    else {
      const named = containerPortByName(remote)
      if (!named) fail(`error: Pod '${pod.metadata.name}' does not have a named port '${remote}'\n`)
      targetPort = named.port
    }
    const localPort = Number(local)
    if (!Number.isInteger(localPort) || localPort < 0 || localPort > 65535) fail(`error: Error parsing local port '${local}': strconv.ParseUint: parsing "${local}": invalid syntax\n`)
    return {localPort, targetPort, container: containerOfPort(targetPort)}
  })

  // Listen on 127.0.0.1 and [::1] (or --address), as kubectl does for "localhost".
  const addresses = (flags.address ?? 'localhost').split(',').flatMap((a) => (a === 'localhost' ? ['127.0.0.1', '::1'] : [a]))
  const servers = []
  for (const forward of forwards) {
    const opened = []
    const failures = []
    let port = forward.localPort
    for (const host of addresses) {
      const result = await listen(host, port)
      if (result.server) {
        port = result.server.address().port
        opened.push({host, server: result.server})
      } else {
        const family = host.includes(':') ? 'tcp6' : 'tcp4'
        const shown = host.includes(':') ? `[${host}]` : host
        failures.push(`unable to create listener: Error listen ${family} ${shown}:${port}: bind: ${result.error.code === 'EADDRINUSE' ? 'address already in use' : result.error.code === 'EACCES' ? 'permission denied' : 'cannot assign requested address'}`)
      }
    }
    if (!opened.length) {
      for (const s of servers) s.server.close()
      fail(`Unable to listen on port ${forward.localPort}: Listeners failed to create with the following errors: [${failures.join(' ')}]\nerror: unable to listen on any of the requested ports: [{${forward.localPort} ${forward.targetPort}}]\n`)
    }
    forward.localPort = port
    for (const o of opened) {
      servers.push({...o, forward})
      process.stdout.write(`Forwarding from ${o.host.includes(':') ? `[${o.host}]` : o.host}:${port} -> ${forward.targetPort}\n`)
    }
  }

  const sockets = new Set()
  let ended = false
  let hung = false
  const finish = (code, stderr = '') => {
    if (ended) return
    ended = true
    for (const s of servers) s.server.close()
    for (const socket of sockets) socket.destroy()
    if (stderr) process.stderr.write(stderr)
    process.stdout.write('', () => process.exit(code))
  }
  const lost = (extra = '') => finish(1, `${extra}error: lost connection to pod\n`)
  process.on('SIGINT', () => finish(0))
  process.on('SIGTERM', () => {
    ended = true
    for (const s of servers) s.server.close()
    dieBySignal('SIGTERM')
  })

  // The containers this forward is bound to: when one of them is gone, so is the connection.
  const boundIds = new Map(Object.entries(pod.fake?.containers ?? {}).map(([c, rt]) => [c, rt.id]))
  const readPodNow = () =>
    inCluster(conn, (state) => {
      const live = getObject(state, 'Pod', conn.namespace, pod.metadata.name)
      return live && live.metadata.uid === pod.metadata.uid ? clone(live) : undefined
    })
  const stillBound = (live) => live && [...boundIds].every(([c, id]) => live.fake.containers[c]?.id === id && id)

  for (const {server, forward} of servers) {
    server.on('connection', async (socket) => {
      sockets.add(socket)
      // A client may hang up before the pod side is connected (a port check): that is no error.
      let clientClosed = false
      socket.on('close', () => {
        clientClosed = true
        sockets.delete(socket)
      })
      socket.on('error', () => {})
      process.stdout.write(`Handling connection for ${forward.localPort}\n`)
      socket.pause()
      if (!hung && takeHangTrigger()) {
        hung = true
        process.stderr.write(`${klogPrefix('portforward.go:404')}"Unhandled Error" err="error creating error stream for port ${forward.localPort} -> ${forward.targetPort}: Timeout occurred"\n`)
      }
      // Hung: the connection is accepted and held; nothing reaches the pod and nothing comes back.
      if (hung) return
      const id = boundIds.get(forward.container)
      const running = id ? (await docker(['inspect', '-f', '{{.State.Running}}', id])).stdout.trim() === 'true' : false
      if (!running) {
        socket.destroy()
        return lost()
      }
      const live = await readPodNow().catch(() => undefined)
      const hostPort = live?.fake?.containers?.[forward.container]?.hostPorts?.[forward.targetPort] ?? (await publishedPort(id, forward.targetPort))
      const refusedLine = () =>
        `${klogPrefix('portforward.go:413')}"Unhandled Error" err="an error occurred forwarding ${forward.localPort} -> ${forward.targetPort}: error forwarding port ${forward.targetPort} to pod ${id}, uid : failed to execute portforward in network namespace \\"/var/run/netns/cni-${pod.metadata.uid}\\": failed to connect to localhost:${forward.targetPort} inside namespace \\"${id}\\", IPv4: dial tcp4 127.0.0.1:${forward.targetPort}: connect: connection refused IPv6 dial tcp6 [::1]:${forward.targetPort}: connect: connection refused "\n`
      if (!stillBound(live) || !hostPort) {
        socket.destroy()
        return lost(hostPort ? '' : refusedLine())
      }
      if (clientClosed) return
      const upstream = net.connect({host: '127.0.0.1', port: hostPort})
      let connected = false
      let received = 0
      upstream.on('connect', () => {
        connected = true
        socket.pipe(upstream)
        upstream.pipe(socket)
        socket.resume()
      })
      upstream.on('data', (chunk) => (received += chunk.length))
      // Docker's proxy accepts, then hangs up without a byte when nothing listens inside the container: in a
      // pod that is "connection refused", which ends a real port-forward. (Registered before the pipe, so it
      // runs before the hang-up is passed on to the client.)
      upstream.on('end', () => {
        if (!received && !clientClosed) lost(refusedLine())
      })
      upstream.on('error', () => {
        socket.destroy()
        // Refused outright, or reset by Docker's proxy before a byte came (it may reset instead of hanging up).
        if (!connected || (!received && !clientClosed)) lost(refusedLine())
      })
      upstream.on('close', () => socket.end())
      socket.on('close', () => upstream.destroy())
    })
  }

  // A dead or replaced pod is noticed on the next connection only (above), as kubectl does. What ends the
  // process without one is the cluster itself going away (deleted, Docker down): so does its API connection.
  for (;;) {
    await sleep(500)
    if (ended) return new Promise(() => {})
    try {
      await readPodNow()
    } catch {
      return lost()
    }
  }
}

async function publishedPort(id, port) {
  const result = await docker(['port', id, `${port}/tcp`])
  const match = /127\.0\.0\.1:(\d+)/.exec(result.stdout)
  return match ? Number(match[1]) : undefined
}

/** Consumes the hang trigger file, if a test has put one in the state folder. */
function takeHangTrigger() {
  const trigger = path.join(process.env.DEVKUBE_FAKE_STATE ?? '', 'port-forward-hang')
  try {
    fs.unlinkSync(trigger)
    return true
  } catch {
    return false
  }
}
