// `kubectl exec [-i] [-t] POD|pod/P|deployment/D [-c C] -- COMMAND...`: runs COMMAND in the pod's container
// with `docker exec` (as the container's user, like the kubelet's exec), stdin passed through with -i.
import {spawn} from 'node:child_process'
import {matchLabelSelector} from './resources.mjs'
import {fail} from './util.mjs'
import {getObject, listObjects} from './world.mjs'

export async function exec(conn, {args, flags}, argv, {inCluster}) {
  const separator = argv.indexOf('--')
  if (separator < 0) fail('error: exec [POD] [COMMAND] is not supported anymore. Use exec [POD] -- [COMMAND] instead\nSee \'kubectl exec -h\' for help and examples\n')
  const command = argv.slice(separator + 1)
  const target = args[0]
  if (!target || args.length - command.length > 1) fail("error: you must specify at least one command for the container\n")
  if (!command.length) fail('error: you must specify at least one command for the container\n')
  let [type, name] = target.includes('/') ? target.split('/') : ['pod', target]
  type = type.toLowerCase()

  const {pod, containerId, containerName} = await inCluster(conn, (state) => {
    let pod
    if (['pod', 'pods', 'po'].includes(type)) {
      pod = getObject(state, 'Pod', conn.namespace, name)
      if (!pod) fail(`Error from server (NotFound): pods "${name}" not found\n`)
    } else if (['deployment', 'deployments', 'deploy', 'deployments.apps'].includes(type)) {
      const dep = getObject(state, 'Deployment', conn.namespace, name)
      if (!dep) fail(`Error from server (NotFound): deployments.apps "${name}" not found\n`)
      pod = listObjects(state, 'Pod', conn.namespace).filter((p) => matchLabelSelector(dep.spec.selector, p.metadata.labels))[0]
      if (!pod) fail(`error: unable to find a pod for deployment "${name}"\n`)
    } else {
      fail(`error: the server doesn't have a resource type "${type}"\n`)
    }
    if (['Succeeded', 'Failed'].includes(pod.status?.phase)) fail(`error: cannot exec into a container in a completed pod; current phase is ${pod.status.phase}\n`)
    const names = pod.spec.containers.map((c) => c.name)
    let containerName = flags.container
    if (!containerName) {
      containerName = pod.metadata.annotations?.['kubectl.kubernetes.io/default-container'] ?? names[0]
      if (names.length > 1) process.stderr.write(`Defaulted container "${containerName}" out of: ${names.join(', ')}\n`)
    } else if (!names.includes(containerName)) {
      fail(`Error from server (BadRequest): container ${containerName} is not valid for pod ${pod.metadata.name}\n`)
    }
    const runtime = pod.fake?.containers?.[containerName]
    const running = pod.status?.containerStatuses?.find((s) => s.name === containerName)?.state?.running
    return {pod, containerId: running ? runtime?.id : undefined, containerName}
  })
  if (!containerId) fail(`error: unable to upgrade connection: container not found ("${containerName}")\n`)

  const dockerArgs = ['exec', ...(flags.stdin ? ['-i'] : []), containerId, ...command]
  const child = spawn('docker', dockerArgs, {stdio: [flags.stdin ? 'inherit' : 'ignore', 'inherit', 'pipe']})
  let daemonError = ''
  child.stderr.on('data', (chunk) => {
    const text = chunk.toString()
    // The runtime's own failures are reported by kubectl in its words; the command's stderr passes through.
    if (/^(Error response from daemon|OCI runtime exec failed)/.test(text) || daemonError) daemonError += text
    else process.stderr.write(chunk)
  })
  const forward = (signal) => child.kill(signal)
  process.on('SIGINT', forward)
  process.on('SIGTERM', forward)
  const code = await new Promise((resolve) => child.on('close', (exitCode) => resolve(exitCode ?? 1)))
  process.off('SIGINT', forward)
  process.off('SIGTERM', forward)
  if (daemonError) {
    if (/is not running|No such container/.test(daemonError)) fail(`error: unable to upgrade connection: container not found ("${containerName}")\n`)
    const reason = daemonError.trim().replace(/^OCI runtime exec failed: /, '')
    fail(`error: Internal error occurred: error executing command in container: failed to exec in container: failed to start exec "${containerId}": OCI runtime exec failed: ${reason}\n`)
  }
  if (code !== 0) fail(`command terminated with exit code ${code}\n`, code)
  void pod
  return 0
}
