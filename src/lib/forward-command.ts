/** `devkube forward`: forward the running app's Service again, in the foreground or the background. */
import type {ConfigOverrides} from './config.js'
import {UserError} from './errors.js'
import {ForwardSupervisor, forwardUrl, type ForwardTarget} from './forward.js'
import {forwardArgs, forwardInThisProcess, reconnectNotices, runningForwarder, startDetachedForward, startForegroundForward, writeRecord, type ForwardOutcome} from './forward-session.js'
import {appSelector, Kube, type KubeObject} from './kube.js'
import {verifyKindContext} from './context-guard.js'
import {loadProject} from './project.js'

export async function findAppService(kube: Kube, namespace: string, appName: string): Promise<{name: string; port: number} | undefined> {
  const services = await kube.list<KubeObject & {spec?: {ports?: Array<{port: number}>}}>('services', namespace, appSelector(appName), true)
  const service = services.find((candidate) => candidate.spec?.ports?.length)
  return service ? {name: service.metadata.name, port: service.spec!.ports![0].port} : undefined
}

export interface ForwardRunOptions {
  detach: boolean
  backgroundChild: boolean
  /** Given by `up` to its background child: the Service it has just found (and the context it checked). */
  known?: {service: string; remotePort: number}
  log: (line: string) => void
}

export async function runForward(overrides: ConfigOverrides, options: ForwardRunOptions): Promise<ForwardOutcome | undefined> {
  const {config} = loadProject(process.cwd(), overrides, {requireApp: false})
  const kube = new Kube(config.cluster)
  if (!options.known) await verifyKindContext(config.cluster)
  const service = options.known ? {name: options.known.service, port: options.known.remotePort} : await findAppService(kube, config.namespace, config.name)
  if (!service) {
    throw new UserError(`${config.name} has no Service in namespace ${config.namespace} of ${kube.context}, so there is nothing to forward.`, {
      hint: 'Run `devkube up` to deploy the app first.',
    })
  }
  const target: ForwardTarget = {namespace: config.namespace, service: service.name, localPort: config.forward, remotePort: service.port}

  if (options.backgroundChild) {
    // The detached process `up --detach` started: forward until `devkube down` sends SIGTERM.
    const supervisor = new ForwardSupervisor(kube, target, (event) => {
      const line = event.type === 'ready' ? `forwarding ${forwardUrl(target.localPort)} (attempt ${event.attempt})` : `restarting in ${event.delayMs} ms: ${event.reason}`
      console.log(`${new Date().toISOString()} ${line}`)
    })
    const stopForwarding = forwardInThisProcess(config, supervisor)
    const stop = async () => {
      await stopForwarding()
      process.exit(0)
    }
    process.on('SIGTERM', stop)
    process.on('SIGINT', stop)
    await supervisor.waitUntilReady()
    supervisor.startProbing()
    writeRecord(config, target, process.pid, true)
    await supervisor.finished
    return undefined
  }

  const existing = runningForwarder(config, target)
  if (existing) {
    options.log(`Already forwarding ${existing.url} (pid ${existing.pid}).`)
    return {url: existing.url, pid: existing.pid, reused: true, detached: existing.detached}
  }
  if (options.detach) {
    const outcome = await startDetachedForward(config, target, forwardArgs(config, target))
    options.log(`Forwarding ${outcome.url} in the background (pid ${outcome.pid}); \`devkube down\` stops it.`)
    return outcome
  }
  const {outcome, stop} = await startForegroundForward(config, target, reconnectNotices(options.log, forwardUrl(target.localPort)))
  options.log(`Forwarding ${outcome.url} → service/${target.service}:${target.remotePort}. Press Ctrl-C to stop.`)
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve())
    process.once('SIGTERM', () => resolve())
  })
  await stop()
  options.log('Stopped forwarding.')
  return outcome
}
