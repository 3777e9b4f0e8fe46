/**
 * Turns the state of an app's pods into one sentence about what is wrong and what to do: the
 * question a developer asks when a rollout does not finish.
 */
import {UserError} from './errors.js'
import type {Kube, KubeObject, Pod} from './kube.js'
import {redact} from './secrets.js'

export const CRASH_LOG_LINES = 20

export interface Diagnosis {
  /** Short reason, e.g. CrashLoopBackOff, for status and --json. */
  reason: string
  message: string
  hint: string
  pod?: string
  container?: string
}

/** The part of a core/v1 Event the diagnosis reads. */
export interface PodEvent {
  reason?: string
  message?: string
  involvedObject?: {kind?: string; name?: string; uid?: string}
}

export interface DiagnoseContext {
  port?: number
  healthPath?: string
  /** The namespace's events: how the kubelet says it killed a container for failing its liveness probe. */
  events?: PodEvent[]
}

/**
 * The kubelet's own word that it restarts this container for its liveness probe ("Container web failed
 * liveness probe, will be restarted"). The exit code cannot tell: the kubelet sends SIGTERM first, so an
 * app that exits on it shows 143 or 0, and only one that ignores it is killed (137) after the grace period.
 */
function killedForLiveness(pod: Pod, container: string, events: PodEvent[] = []): boolean {
  return events.some(
    (event) =>
      event.reason === 'Killing' &&
      event.involvedObject?.kind === 'Pod' &&
      (event.involvedObject.uid ? event.involvedObject.uid === pod.metadata.uid : event.involvedObject.name === pod.metadata.name) &&
      new RegExp(`^Container ${container} failed liveness probe`).test(event.message ?? ''),
  )
}

/** What a pod's state means in plain words, or undefined when the pod looks healthy or is starting. */
export function diagnosePod(pod: Pod, context: DiagnoseContext = {}): Diagnosis | undefined {
  const podName = pod.metadata.name
  const scheduled = pod.status.conditions?.find((condition) => condition.type === 'PodScheduled')
  if (pod.status.phase === 'Pending' && scheduled?.status === 'False') {
    return {
      reason: scheduled.reason ?? 'Unschedulable',
      pod: podName,
      message: `The pod ${podName} cannot be scheduled: ${scheduled.message ?? scheduled.reason ?? 'no node fits it'}`,
      hint: 'Lower `resources.requests` in devkube.yaml (or the replica count), or give Docker more CPU and memory.',
    }
  }
  for (const status of pod.status.containerStatuses ?? []) {
    const waiting = status.state?.waiting
    const terminated = status.state?.terminated ?? status.lastState?.terminated
    const spec = pod.spec.containers.find((container) => container.name === status.name)
    if (waiting?.reason === 'ErrImageNeverPull' || waiting?.reason === 'ErrImagePull' || waiting?.reason === 'ImagePullBackOff' || waiting?.reason === 'InvalidImageName') {
      return {
        reason: waiting.reason,
        pod: podName,
        container: status.name,
        message: `The image ${status.image} is not in the kind cluster, so the pod ${podName} cannot start (${waiting.reason}).`,
        hint: 'Run `devkube up --rebuild` to build and load the image again; images must be loaded into kind, not pulled.',
      }
    }
    if (terminated?.reason === 'OOMKilled') {
      const limit = spec?.resources?.limits?.memory
      return {
        reason: 'OOMKilled',
        pod: podName,
        container: status.name,
        message: `The container ${status.name} in pod ${podName} ran out of memory and was killed (OOMKilled${limit ? `, limit ${limit}` : ''}).`,
        hint: 'Raise `resources.limits.memory` in devkube.yaml, or make the app use less memory.',
      }
    }
    const liveness = spec?.livenessProbe?.httpGet
    if (liveness && !status.ready && killedForLiveness(pod, status.name, context.events)) {
      // The kubelet restarts it because its liveness probe fails: the real problem is the app not answering.
      const port = probePort(liveness.port, spec)
      return {
        reason: 'LivenessProbeFailing',
        pod: podName,
        container: status.name,
        message: `The app never answers its health checks (GET ${liveness.path ?? '/'} on port ${port}), so Kubernetes keeps restarting it${status.restartCount > 0 ? ` (${status.restartCount} restart${status.restartCount === 1 ? '' : 's'})` : ''}.`,
        hint: `Make the app listen on 0.0.0.0:${context.port ?? port} and answer ${liveness.path ?? '/'} with a 2xx status, or set \`port\`/\`healthPath\` in devkube.yaml to what it serves; its log lines below may say why it does not.`,
      }
    }
    if (waiting?.reason === 'CrashLoopBackOff' || (terminated && status.restartCount > 0 && !status.ready)) {
      const exitCode = terminated?.exitCode
      return {
        reason: 'CrashLoopBackOff',
        pod: podName,
        container: status.name,
        message: `The app keeps crashing: container ${status.name} in pod ${podName} exited${exitCode === undefined ? '' : ` with code ${exitCode}`} and has restarted ${status.restartCount} time${status.restartCount === 1 ? '' : 's'} (CrashLoopBackOff).`,
        hint: 'Its last log lines are below; fix the crash and run `devkube up` again (`devkube logs --previous` shows more).',
      }
    }
    if (waiting?.reason === 'CreateContainerConfigError') {
      return {
        reason: waiting.reason,
        pod: podName,
        container: status.name,
        message: `The container ${status.name} cannot be created: ${waiting.message ?? 'its configuration refers to something missing'}.`,
        hint: 'Check the ConfigMaps and Secrets the Deployment refers to (`devkube status` shows them).',
      }
    }
    if (status.state?.running && !status.ready) {
      const probe = spec?.readinessProbe?.httpGet
      const port = probePort(probe?.port, spec)
      const where = probe ? `GET ${probe.path ?? '/'} on port ${port}` : `port ${context.port ?? '?'}`
      return {
        reason: 'ReadinessProbeFailing',
        pod: podName,
        container: status.name,
        message: `The app is running but never became ready: its readiness probe (${where}) does not get an answer.`,
        hint: `Make the app listen on 0.0.0.0:${context.port ?? 'PORT'} and answer ${context.healthPath ?? '/'} with a 2xx status, or set \`port\`/\`healthPath\` in devkube.yaml to what it serves.`,
      }
    }
  }
  return undefined
}

/** A probe names its port ("http") or numbers it; the number is what the app must listen on. */
function probePort(port: number | string | undefined, container: Pod['spec']['containers'][number] | undefined): number | string | undefined {
  return typeof port === 'string' ? (container?.ports?.find((entry) => entry.name === port)?.containerPort ?? port) : port
}

/** The most telling problem among the pods, with the crashed container's last log lines when it crashed. */
export async function explainRolloutFailure(kube: Kube, namespace: string, pods: Pod[], context: DiagnoseContext): Promise<Diagnosis | undefined> {
  context = {...context, events: context.events ?? (await podEvents(kube, namespace))}
  const diagnoses = pods.map((pod) => diagnosePod(pod, context)).filter((diagnosis): diagnosis is Diagnosis => diagnosis !== undefined)
  const ranked = ['OOMKilled', 'LivenessProbeFailing', 'CrashLoopBackOff', 'ErrImageNeverPull', 'ImagePullBackOff', 'ErrImagePull', 'CreateContainerConfigError', 'Unschedulable', 'ReadinessProbeFailing']
  diagnoses.sort((a, b) => rank(ranked, a.reason) - rank(ranked, b.reason))
  const diagnosis = diagnoses[0]
  if ((diagnosis?.reason === 'CrashLoopBackOff' || diagnosis?.reason === 'LivenessProbeFailing') && diagnosis.pod) {
    const logs = await kube.kubectl(['logs', diagnosis.pod, '-c', diagnosis.container ?? '', '--previous', `--tail=${CRASH_LOG_LINES}`], {namespace, allowFailure: true, quiet: true})
    const text = logs.exitCode === 0 ? logs.stdout.trimEnd() : ''
    if (text) diagnosis.hint = `${diagnosis.hint}\nLast ${CRASH_LOG_LINES} log lines of ${diagnosis.pod}:\n${redact(text)}`
  }
  return diagnosis
}

/** The namespace's pod events (none when they cannot be read: the diagnosis then goes by states alone). */
export async function podEvents(kube: Kube, namespace: string): Promise<PodEvent[]> {
  return kube.list<PodEvent & KubeObject>('events', namespace, undefined, true).catch(() => [])
}

function rank(order: string[], reason: string): number {
  const index = order.indexOf(reason)
  return index === -1 ? order.length : index
}

export function diagnosisError(diagnosis: Diagnosis): UserError {
  return new UserError(diagnosis.message, {hint: diagnosis.hint})
}
