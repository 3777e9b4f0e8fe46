/**
 * `devkube up` from flags to result: resolve the project, take the lock, deploy it with progress,
 * then forward what was deployed (foreground, detached or not at all) and report the URLs.
 */
import path from 'node:path'
import {offerComposeImport} from './compose-init.js'
import type {ConfigOverrides} from './config.js'
import {InterruptedError, UserError} from './errors.js'
import {checkUrl} from './forward.js'
import {assignLocalPorts, forwardPlanOf, reconnectNotices, reusedOutcome, runningForwarder, startDetachedForward, startForegroundForward, stateOf, type ForwardOutcome} from './forward-session.js'
import {acquireLock} from './lock.js'
import {chalk, isInteractive} from './output.js'
import type {ProgressMode, StepResult} from './pipeline.js'
import {resolveProject} from './project.js'
import {planServiceImages, scaffold, scaffoldServiceImages} from './scaffold.js'
import {checkContextExists, confirmFirstDeploy} from './targets.js'
import {checkInputsBeforeChanges, deploy, type Deployed, type DeployOptions, type UpActions} from './up.js'
import {devCommandsOf, runWatchMode, watchSettings} from './up-watch.js'

export interface UpRunOptions {
  /** `--target NAME`: deploy to that cluster of devkube.yaml `targets:` instead of kind. */
  target?: string
  /** Confirms the first deploy to a target's context without asking. */
  yes?: boolean
  confirm?: (message: string) => Promise<boolean>
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
  /** The first forwarded service's URL (a one-service app's only one). */
  url?: string
  cluster: string
  context: string
  namespace: string
  environment: string
  /** The built image of a one-service app (its only service's). */
  image?: string
  forward?: {url: string; pid: number; detached: boolean; reused: boolean}
  services: Array<{name: string; image?: string; workload: string; service?: string; url?: string; localPort?: number}>
  changed: UpActions
  steps: StepResult[]
}

export async function runUp(overrides: ConfigOverrides, options: UpRunOptions): Promise<UpResult | undefined> {
  await offerComposeImport(process.cwd(), {json: options.json, log: options.log})
  const project = resolveProject(process.cwd(), overrides, {requireApp: true, target: options.target})
  const {config, detection} = project
  checkInputsBeforeChanges(config)
  // Detected before anything is written: a service devkube cannot write a Dockerfile for stops the run here.
  const serviceImages = detection ? [] : planServiceImages(project.dir, project.services)
  if (options.watch && (options.detach || options.json)) {
    throw new UserError(`--watch stays in the foreground and prints a line per change, so it cannot be combined with ${options.detach ? '--detach' : '--json'}.`, {
      hint: 'Run `devkube up --watch` on its own (add --no-forward to watch without forwarding).',
    })
  }
  if (options.watch && project.target) {
    throw new UserError('--watch is the inner loop on the local kind cluster, so it cannot be combined with --target.', {
      hint: 'Run `devkube up --watch` without --target; `devkube up --target <name>` deploys once.',
    })
  }
  // Decided before the deploy: the dev command is part of the applied Deployment.
  const watching = options.watch ? watchSettings(project, detection) : undefined
  if (project.target) {
    // Before anything is built or pushed: the context must exist, and its first deploy be confirmed.
    await checkContextExists(project.target)
    await confirmFirstDeploy(project.state, project.target, {
      yes: options.yes ?? false,
      interactive: !options.json && isInteractive(),
      confirm: options.confirm ?? (async () => false),
      what: config.name,
      namespace: config.namespace,
    })
  }
  // Said before anything is built: without a lockfile the image may get other versions than the developer has.
  const packageManager = detection?.node?.packageManager
  if (packageManager && !packageManager.lockfile && !options.json) {
    options.log(chalk.yellow(`No lockfile: the image installs with \`${packageManager.install}\`, so dependency versions are not pinned (commit the lockfile ${packageManager.name} writes to pin them).`))
  }
  const interrupt = new AbortController()
  const onSignal = () => {
    if (interrupt.signal.aborted) process.exit(130)
    interrupt.abort()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  const mode: ProgressMode = options.json ? 'silent' : isInteractive() && !options.verbose ? 'live' : 'plain'
  const deployOptions: DeployOptions = {
    rebuild: options.rebuild,
    timeoutSeconds: options.timeoutSeconds,
    devCommands: watching ? devCommandsOf(watching) : undefined,
    async scaffold() {
      // A single app gets every missing file; an app with services: the Dockerfiles its built services lack.
      const files = detection ? scaffold(project.dir, {...config, lang: detection.lang, detection}) : scaffoldServiceImages(project.dir, serviceImages)
      return files.filter((file) => file.action === 'created').map((file) => file.path)
    },
  }

  const lock = acquireLock(project.dir, 'up')
  let deployment: {deployed: Deployed; steps: StepResult[]}
  try {
    deployment = await deploy(project, deployOptions, {mode, signal: interrupt.signal})
  } catch (error) {
    if (interrupt.signal.aborted) throw new InterruptedError('Interrupted: nothing was left half-done; run `devkube up` again to continue')
    throw error
  } finally {
    lock.release()
  }
  const {steps} = deployment
  let deployed = deployment.deployed
  project.state.recordBuildArgs(overrides.buildArgs ?? {})
  const forwardable = deployed.services.some((service) => service.service)
  if (options.forward && forwardable) deployed = await assignLocalPorts(deployed)
  project.state.writeDeployed(deployed)
  const result = upResult(deployed, steps)
  const watch = (reconnectForward?: () => void) =>
    runWatchMode({project, deployed, settings: watching!, deployOptions, signal: interrupt.signal, log: options.log, reconnectForward})
  if (!options.forward || !forwardable) {
    if (watching) {
      await watch().finally(() => {
        process.off('SIGINT', onSignal)
        process.off('SIGTERM', onSignal)
      })
      options.log(`\nStopped watching. ${config.name} is still running in ${deployed.context}, namespace ${config.namespace}.`)
      return undefined
    }
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    if (!options.json) {
      options.log(`${chalk.green('✓')} ${config.name} is running in ${deployed.context}, namespace ${config.namespace}.`)
      if (!forwardable) options.log('The manifests have no Service, so there is no port to forward.')
      else if (project.target) options.log(`\`devkube up --target ${project.target.name} --forward PORT\` forwards a local port to it.`)
      else options.log(`Forward it with \`devkube forward\`, or run \`devkube up\` without --no-forward.`)
    }
    return result
  }

  const plan = forwardPlanOf(deployed)
  const started = performance.now()
  const existing = runningForwarder(project.state, plan)
  let outcome: ForwardOutcome
  let stopForeground: (() => Promise<void>) | undefined
  let reconnectForward: (() => void) | undefined
  if (existing) {
    // New pods: the running forwarder moves to them now, and the URLs are checked, so the URLs
    // printed below serve what was just deployed.
    if (deployed.actions.rolledOut) {
      process.kill(existing.pid, 'SIGUSR1')
      await Promise.all(plan.forwards.filter((forward) => forward.http).map((forward) => checkUrl(forward.url)))
    }
    outcome = reusedOutcome(existing)
  } else if (options.detach) {
    outcome = await startDetachedForward(deployed, plan)
  } else {
    const session = await startForegroundForward(
      project.state,
      plan,
      reconnectNotices((line) => {
        if (!options.json) options.log(chalk.dim(line))
      }),
    )
    outcome = session.outcome
    stopForeground = session.stop
    reconnectForward = session.reconnect
  }
  steps.push({id: 'forward', title: 'Forward port', status: existing ? 'skipped' : 'done', skipped: Boolean(existing), ms: Math.round(performance.now() - started), detail: outcome.url})
  result.url = outcome.url
  result.forward = {url: outcome.url, pid: outcome.pid, detached: outcome.detached, reused: outcome.reused}
  for (const entry of result.services) entry.url = outcome.forwards.find((forward) => forward.service === entry.name)?.url

  if (options.json) options.logJson(result)
  else printReady(deployed, outcome, options.log)

  if (watching) {
    // A forwarder already running (another terminal, --detach) is moved with SIGUSR1.
    const moveForward = reconnectForward ?? (existing ? () => process.kill(existing.pid, 'SIGUSR1') : undefined)
    try {
      await watch(moveForward)
    } finally {
      await stopForeground?.()
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
    options.log(`\nStopped watching${stopForeground ? ' and forwarding' : ''}. ${config.name} is still running in ${deployed.context}, namespace ${config.namespace}.`)
    options.log('`devkube up` puts the production command back; `devkube down` removes the app.')
    return undefined
  }
  if (!stopForeground) {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    return options.json ? undefined : result
  }
  // Foreground: stay until Ctrl-C; the supervisors keep the URLs answering across pod restarts.
  if (!interrupt.signal.aborted) await new Promise((resolve) => interrupt.signal.addEventListener('abort', resolve, {once: true}))
  await stopForeground()
  process.off('SIGINT', onSignal)
  process.off('SIGTERM', onSignal)
  if (!options.json) {
    options.log(`\nStopped forwarding. ${config.name} is still running in ${deployed.context}, namespace ${config.namespace}.`)
    options.log('`devkube up --detach` forwards it in the background; `devkube down` removes it.')
  }
  return undefined
}

/** The JSON result: per service, plus the one-service fields scripts already read. */
function upResult(deployed: Deployed, steps: StepResult[]): UpResult {
  const single = deployed.services.length === 1 ? deployed.services[0] : undefined
  return {
    cluster: deployed.cluster,
    context: deployed.context,
    namespace: deployed.namespace,
    environment: deployed.environment,
    image: single?.image,
    services: deployed.services.map((service) => ({name: service.name, image: service.image, workload: `${service.workload.kind.toLowerCase()}/${service.workload.name}`, service: service.service?.name, localPort: service.localPort})),
    changed: deployed.actions,
    steps,
  }
}

function printReady(deployed: Deployed, outcome: ForwardOutcome, log: (line: string) => void): void {
  if (outcome.forwards.length === 1) {
    log(`\n${chalk.green('✓')} ${deployed.app} is running: ${chalk.bold(outcome.url)}`)
  } else {
    log(`\n${chalk.green('✓')} ${deployed.app} is running:`)
    const width = Math.max(...outcome.forwards.map((forward) => forward.service.length))
    for (const forward of outcome.forwards) log(`  ${forward.service.padEnd(width)}  ${chalk.bold(forward.url)}`)
  }
  const state = stateOf(deployed)
  if (outcome.reused) {
    log(`Already forwarding (pid ${outcome.pid}${outcome.detached ? ', in the background' : ''}); \`devkube down\` stops the app and the forward.`)
  } else if (outcome.detached) {
    log(`Forwarding in the background (pid ${outcome.pid}, log ${path.relative(deployed.projectDir, state.forwardLogFile)}); \`devkube down\` stops it and removes the app.`)
  } else if (outcome.forwards.length === 1) {
    const [forward] = outcome.forwards
    log(`Forwarding ${outcome.url} → service/${forward.serviceName}:${forward.remotePort} in namespace ${deployed.namespace}. Press Ctrl-C to stop forwarding (the app keeps running).`)
  } else {
    log(`Forwarding ${outcome.forwards.length} services in namespace ${deployed.namespace}. Press Ctrl-C to stop forwarding (the app keeps running).`)
  }
}
