/**
 * `devkube up` from flags to result: load the project, take the lock, run the plan with progress,
 * then forward the port (foreground, detached or not at all) and report the URL.
 */
import type {ConfigOverrides, AppConfig} from './config.js'
import {InterruptedError} from './errors.js'
import {checkUrl, forwardUrl, type ForwardTarget} from './forward.js'
import {forwardArgs, reconnectNotices, runningForwarder, startDetachedForward, startForegroundForward, type ForwardOutcome} from './forward-session.js'
import {acquireLock} from './lock.js'
import {chalk, isInteractive} from './output.js'
import {runPlan, type ProgressMode, type StepResult} from './pipeline.js'
import {loadProject} from './project.js'
import {recordBuildArgs} from './last-up.js'
import {scaffold} from './scaffold.js'
import {checkInputsBeforeChanges, newUpContext, upPlan, type UpContext} from './up.js'
import {runWatchMode, watchSettings} from './up-watch.js'
import {UserError} from './errors.js'

export interface UpRunOptions {
  timeoutSeconds: number
  rebuild: boolean
  detach: boolean
  forward: boolean
  json: boolean
  verbose: boolean
  /** Stay after the deploy, sync or rebuild on every change (issue 12). */
  watch?: boolean
  log: (line: string) => void
  logJson: (value: unknown) => void
}

export interface UpResult {
  url?: string
  cluster: string
  context: string
  namespace: string
  environment: string
  image?: string
  forward?: {url: string; pid: number; detached: boolean; reused: boolean}
  changed: UpContext['actions']
  steps: StepResult[]
}

export async function runUp(overrides: ConfigOverrides, options: UpRunOptions): Promise<UpResult | undefined> {
  const projectDir = process.cwd()
  const {config, detection} = loadProject(projectDir, overrides, {requireApp: true})
  checkInputsBeforeChanges(config)
  if (options.watch && (options.detach || options.json)) {
    throw new UserError(`--watch stays in the foreground and prints a line per change, so it cannot be combined with ${options.detach ? '--detach' : '--json'}.`, {
      hint: 'Run `devkube up --watch` on its own (add --no-forward to watch without forwarding).',
    })
  }
  const watching = options.watch ? watchSettings(config, detection) : undefined
  const interrupt = new AbortController()
  const onSignal = () => {
    if (interrupt.signal.aborted) process.exit(130)
    interrupt.abort()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  const mode: ProgressMode = options.json ? 'silent' : isInteractive() && !options.verbose ? 'live' : 'plain'
  const upOptions = {
    rebuild: options.rebuild,
    timeoutSeconds: options.timeoutSeconds,
    devCommand: watching?.devCommand,
    async scaffold() {
      const files = scaffold(projectDir, {...config, lang: detection!.lang, detection})
      return files.filter((file) => file.action === 'created').map((file) => file.path)
    },
  }
  const context = newUpContext(config, upOptions)

  const lock = acquireLock(projectDir, 'up')
  let steps: StepResult[]
  try {
    steps = await runPlan(upPlan(), context, {mode, signal: interrupt.signal})
  } catch (error) {
    if (interrupt.signal.aborted) throw new InterruptedError('Interrupted: nothing was left half-done; run `devkube up` again to continue')
    throw error
  } finally {
    lock.release()
  }

  recordBuildArgs(config, overrides.buildArgs ?? {})
  const result: UpResult = {
    cluster: config.cluster,
    context: context.kube.context,
    namespace: config.namespace,
    environment: config.environment,
    image: context.imageTag,
    changed: context.actions,
    steps,
  }
  const watch = (reconnectForward?: () => void) =>
    runWatchMode({config, kube: context.kube, settings: watching!, upOptions, deploymentName: context.deploymentName!, imageTag: context.imageTag!, signal: interrupt.signal, log: options.log, reconnectForward})
  if (!options.forward || !context.service) {
    if (watching) await watch()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    if (!options.json) {
      options.log(`${chalk.green('✓')} ${config.name} is running in ${context.kube.context}, namespace ${config.namespace}.`)
      if (!context.service) options.log('The manifests have no Service, so there is no port to forward.')
      else options.log(`Forward it with \`devkube forward\`, or run \`devkube up\` without --no-forward.`)
    }
    return result
  }

  const target: ForwardTarget = {namespace: config.namespace, service: context.service.name, localPort: config.forward, remotePort: context.service.port}
  const started = performance.now()
  const existing = runningForwarder(config, target)
  let outcome: ForwardOutcome
  let stopForeground: (() => Promise<void>) | undefined
  let reconnectForward: (() => void) | undefined
  if (existing) {
    // New pods: the running forwarder moves to one of them now, and the URL is checked, so the URL
    // printed below serves what was just deployed.
    if (context.actions.rolledOut) {
      process.kill(existing.pid, 'SIGUSR1')
      await checkUrl(existing.url)
    }
    outcome = {url: existing.url, pid: existing.pid, reused: true, detached: existing.detached}
  } else if (options.detach) {
    outcome = await startDetachedForward(config, target, forwardArgs(config, target))
  } else {
    const session = await startForegroundForward(
      config,
      target,
      reconnectNotices((line) => {
        if (!options.json) options.log(chalk.dim(line))
      }, forwardUrl(target.localPort)),
    )
    outcome = session.outcome
    stopForeground = session.stop
    reconnectForward = session.reconnect
  }
  steps.push({id: 'forward', title: 'Forward port', status: existing ? 'skipped' : 'done', skipped: Boolean(existing), ms: Math.round(performance.now() - started), detail: outcome.url})
  result.url = outcome.url
  result.forward = {url: outcome.url, pid: outcome.pid, detached: outcome.detached, reused: outcome.reused}

  if (options.json) options.logJson(result)
  else printReady(config, outcome, target, options.log)

  if (watching) {
    // A forwarder that was already running (another terminal, --detach) is moved with SIGUSR1.
    const moveForward = reconnectForward ?? (existing ? () => process.kill(existing.pid, 'SIGUSR1') : undefined)
    try {
      await watch(moveForward)
    } finally {
      await stopForeground?.()
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
    options.log(`\nStopped watching${stopForeground ? ' and forwarding' : ''}. ${config.name} is still running in ${context.kube.context}, namespace ${config.namespace}.`)
    options.log('`devkube up` puts the production command back; `devkube down` removes the app.')
    return undefined
  }
  if (!stopForeground) {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    return options.json ? undefined : result
  }
  // Foreground: stay until Ctrl-C; the supervisor keeps the URL answering across pod restarts.
  if (!interrupt.signal.aborted) await new Promise((resolve) => interrupt.signal.addEventListener('abort', resolve, {once: true}))
  await stopForeground()
  process.off('SIGINT', onSignal)
  process.off('SIGTERM', onSignal)
  if (!options.json) {
    options.log(`\nStopped forwarding. ${config.name} is still running in ${context.kube.context}, namespace ${config.namespace}.`)
    options.log('`devkube up --detach` forwards it in the background; `devkube down` removes it.')
  }
  return undefined
}

function printReady(config: AppConfig, outcome: ForwardOutcome, target: ForwardTarget, log: (line: string) => void): void {
  log(`\n${chalk.green('✓')} ${config.name} is running: ${chalk.bold(outcome.url)}`)
  if (outcome.reused) {
    log(`Already forwarding (pid ${outcome.pid}${outcome.detached ? ', in the background' : ''}); \`devkube down\` stops the app and the forward.`)
  } else if (outcome.detached) {
    log(`Forwarding in the background (pid ${outcome.pid}, log .devkube/forward-${config.environment}.log); \`devkube down\` stops it and removes the app.`)
  } else {
    log(`Forwarding ${outcome.url} → service/${target.service}:${target.remotePort} in namespace ${target.namespace}. Press Ctrl-C to stop forwarding (the app keeps running).`)
  }
}
