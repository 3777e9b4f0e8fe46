// `kubectl logs`: the pod's container output, read with `docker logs` from the container that backs it.
import {ExitError, clone, dieBySignal, dockerEndpoint, fail, parseGoDuration, spawnDocker} from './util.mjs'
import {parseSelector} from './resources.mjs'
import {getObject, listObjects, replicaSetsOf} from './world.mjs'

function waitingText(pod, container, status) {
  const reason = status?.state?.waiting?.reason ?? 'ContainerCreating'
  const why = {ImagePullBackOff: 'trying and failing to pull image', ErrImagePull: 'trying and failing to pull image', ErrImageNeverPull: 'image can\'t be pulled', InvalidImageName: 'InvalidImageName'}[reason] ?? reason
  return `Error from server (BadRequest): container "${container}" in pod "${pod.metadata.name}" is waiting to start: ${why}\n`
}

/** Which docker container backs (pod, container) for this request, or an error text. */
function containerFor(pod, containerName, previous) {
  if (!pod.spec.containers.some((c) => c.name === containerName)) {
    return {error: `error: container ${containerName} is not valid for pod ${pod.metadata.name}\n`}
  }
  const rt = pod.fake?.containers?.[containerName]
  const status = pod.status?.containerStatuses?.find((s) => s.name === containerName)
  if (previous) {
    if (!rt?.previousId) return {error: `Error from server (BadRequest): previous terminated container "${containerName}" in pod "${pod.metadata.name}" not found\n`}
    return {id: rt.previousId}
  }
  if (pod.fake?.unschedulable) return {error: `Error from server (BadRequest): container "${containerName}" in pod "${pod.metadata.name}" is waiting to start: ContainerCreating\n`}
  if (rt?.id && rt.startedAt) return {id: rt.id}
  // Ended and not restarted (a Job's pod, restartPolicy Never): the kubelet serves the terminated container's log.
  if (rt?.id && rt.terminated) return {id: rt.id}
  // Crash-looping: the kubelet serves the last terminated attempt.
  if (rt?.previousId) return {id: rt.previousId}
  return {error: waitingText(pod, containerName, status)}
}

function dockerLogsArgs(id, flags, tail) {
  const args = ['logs']
  if (flags.follow) args.push('--follow')
  if (tail !== undefined && tail >= 0) args.push('--tail', String(tail))
  if (flags.since) args.push('--since', flags.since)
  if (flags['since-time']) args.push('--since', flags['since-time'])
  if (flags.timestamps) args.push('--timestamps')
  args.push(id)
  return args
}

function lineWriter(prefix) {
  let pending = ''
  return {
    write(text) {
      pending += text
      const lines = pending.split('\n')
      pending = lines.pop()
      if (lines.length) process.stdout.write(lines.map((l) => prefix + l + '\n').join(''))
    },
    end() {
      if (pending) process.stdout.write(prefix + pending + '\n')
      pending = ''
    },
  }
}

/**
 * Streams one container's output (stdout and stderr both to our stdout, like kubectl) with an optional prefix.
 * Talks to the Docker API in-process, so that no `docker logs -f` child can outlive this process.
 */
async function stream(id, flags, tail, prefix, children) {
  const endpoint = dockerEndpoint()
  if (!endpoint) return streamWithCli(id, flags, tail, prefix, children)
  const {default: http} = await import('node:http')
  const query = new URLSearchParams({stdout: '1', stderr: '1', follow: flags.follow ? '1' : '0', timestamps: flags.timestamps ? '1' : '0', tail: tail >= 0 ? String(tail) : 'all'})
  if (flags.since) query.set('since', String((Date.now() - parseGoDuration(flags.since)) / 1000))
  if (flags['since-time']) query.set('since', String(Date.parse(flags['since-time']) / 1000))
  return new Promise((resolve) => {
    const out = {1: lineWriter(prefix), 2: lineWriter(prefix)}
    const request = http.get({...endpoint, path: `/containers/${id}/logs?${query}`, agent: false}, (response) => {
      children.add(response)
      let buffer = Buffer.alloc(0)
      response.on('data', (chunk) => {
        buffer = Buffer.concat([buffer, chunk])
        // Multiplexed frames: [stream, 0, 0, 0, size (uint32 BE)] + payload.
        while (buffer.length >= 8) {
          const size = buffer.readUInt32BE(4)
          if (buffer.length < 8 + size) break
          const which = buffer[0] === 2 ? 2 : 1
          out[which].write(buffer.subarray(8, 8 + size).toString('utf8'))
          buffer = buffer.subarray(8 + size)
        }
      })
      response.on('close', () => {
        children.delete(response)
        out[1].end()
        out[2].end()
        resolve()
      })
    })
    request.on('error', () => resolve())
  })
}

function streamWithCli(id, flags, tail, prefix, children) {
  return new Promise((resolve) => {
    const child = spawnDocker(dockerLogsArgs(id, flags, tail))
    children.add(child)
    const pending = {stdout: '', stderr: ''}
    const onData = (which) => (chunk) => {
      pending[which] += chunk.toString('utf8')
      const lines = pending[which].split('\n')
      pending[which] = lines.pop()
      if (lines.length) process.stdout.write(lines.map((l) => prefix + l + '\n').join(''))
    }
    child.stdout.on('data', onData('stdout'))
    child.stderr.on('data', onData('stderr'))
    child.on('close', () => {
      children.delete(child)
      for (const which of ['stdout', 'stderr']) if (pending[which]) process.stdout.write(prefix + pending[which] + '\n')
      resolve()
    })
  })
}

export async function logs(conn, {args, flags}, {inCluster}) {
  const children = new Set()
  const stop = () => {
    for (const child of children) child.destroy?.() ?? child.kill('SIGTERM')
    process.exit(0)
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', () => {
    for (const child of children) child.destroy?.() ?? child.kill('SIGTERM')
    dieBySignal('SIGTERM')
  })
  let [target, maybeContainer] = args
  const selectorMode = Boolean(flags.selector)
  if (!selectorMode && !target) fail("error: expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'.\nPOD or TYPE/NAME is a required argument for the logs command\nSee 'kubectl logs -h' for help and examples\n")
  const containerFlag = flags.container || maybeContainer
  const plan = await inCluster(conn, (state) => {
    let pods
    if (selectorMode) {
      const selector = parseSelector(flags.selector)
      pods = listObjects(state, 'Pod', conn.namespace).filter((p) => selector(p.metadata.labels))
      if (!pods.length) return {none: true}
    } else {
      let [type, name] = target.includes('/') ? target.split('/') : ['pod', target]
      type = type.toLowerCase()
      if (['pod', 'pods', 'po'].includes(type)) {
        const pod = getObject(state, 'Pod', conn.namespace, name)
        if (!pod) fail(`Error from server (NotFound): pods "${name}" not found\n`)
        pods = [pod]
      } else if (['deployment', 'deployments', 'deploy', 'deployments.apps'].includes(type)) {
        const dep = getObject(state, 'Deployment', conn.namespace, name)
        if (!dep) fail(`Error from server (NotFound): deployments.apps "${name}" not found\n`)
        const rsUids = new Set(replicaSetsOf(state, dep).map((rs) => rs.metadata.uid))
        const all = listObjects(state, 'Pod', conn.namespace).filter((p) => rsUids.has(p.metadata.ownerReferences?.[0]?.uid))
        if (!all.length) fail(`error: timed out waiting for the condition\n`)
        all.sort((a, b) => Number(b.status?.phase === 'Running') - Number(a.status?.phase === 'Running'))
        if (all.length > 1) process.stderr.write(`Found ${all.length} pods, using pod/${all[0].metadata.name}\n`)
        pods = [all[0]]
      } else if (['statefulset', 'statefulsets', 'sts', 'statefulsets.apps'].includes(type)) {
        // kubectl picks the first of the set's pods (by its selector), as for any controller.
        const sts = getObject(state, 'StatefulSet', conn.namespace, name)
        if (!sts) fail(`Error from server (NotFound): statefulsets.apps "${name}" not found\n`)
        const all = listObjects(state, 'Pod', conn.namespace).filter((p) => p.metadata.ownerReferences?.[0]?.uid === sts.metadata.uid)
        if (!all.length) fail(`error: timed out waiting for the condition\n`)
        all.sort((a, b) => Number(b.status?.phase === 'Running') - Number(a.status?.phase === 'Running'))
        if (all.length > 1) process.stderr.write(`Found ${all.length} pods, using pod/${all[0].metadata.name}\n`)
        pods = [all[0]]
      } else {
        throw new ExitError(2, `fake kubectl: unsupported: logs ${target}\n`)
      }
    }
    const streams = []
    for (const pod of pods) {
      let names
      if (flags['all-containers']) names = pod.spec.containers.map((c) => c.name)
      else if (containerFlag) names = [containerFlag]
      else {
        const preferred = pod.metadata.annotations?.['kubectl.kubernetes.io/default-container']
        names = [preferred ?? pod.spec.containers[0].name]
        if (pod.spec.containers.length > 1 && !preferred) {
          process.stderr.write(`Defaulted container "${names[0]}" out of: ${pod.spec.containers.map((c) => c.name).join(', ')}\n`)
        }
      }
      for (const name of names) {
        const found = containerFor(pod, name, flags.previous)
        if (found.error) fail(found.error)
        streams.push({pod: pod.metadata.name, container: name, id: found.id})
      }
    }
    return {streams: clone(streams)}
  })
  if (plan.none) {
    process.stderr.write(`No resources found in ${conn.namespace} namespace.\n`)
    return 0
  }
  const maxRequests = Number(flags['max-log-requests'] ?? 5)
  if (flags.follow && plan.streams.length > maxRequests) {
    fail(`error: you are attempting to follow ${plan.streams.length} log streams, but maximum allowed concurrency is ${maxRequests}, use --max-log-requests to increase the limit\n`)
  }
  const tail = flags.tail !== undefined ? Number(flags.tail) : selectorMode ? 10 : -1
  const prefixOf = (s) => (flags.prefix ? `[pod/${s.pod}/${s.container}] ` : '')
  if (flags.follow) await Promise.all(plan.streams.map((s) => stream(s.id, flags, tail, prefixOf(s), children)))
  else for (const s of plan.streams) await stream(s.id, flags, tail, prefixOf(s), children)
  return 0
}
