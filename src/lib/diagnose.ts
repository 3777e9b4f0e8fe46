/**
 * Turns the state of an app's pods into one sentence about what is wrong and what to do: the
 * question a developer asks when a rollout does not finish.
 */
import {stripVTControlCharacters} from 'node:util'
import {UserError} from './errors.js'
import {IMAGE_REPOSITORY_PREFIX} from './image-tag.js'
import type {Kube, KubeObject, Pod} from './kube.js'
import {redact} from './secrets.js'

export const CRASH_LOG_LINES = 20

/** What diagnosis knows about the app beyond its pods. */
export interface DiagnosisContext {
  port?: number
  healthPath?: string
  /** The user the image runs as (`USER` of its Dockerfile), for the "cannot write" sentence; empty or "0" is root. */
  imageUser?: string
  /** Folders the app may write to, e.g. ["/app", "/tmp"] for the images devkube writes. */
  writableDirs?: string[]
  /** The namespace's events: how the kubelet says it killed a container for failing its liveness probe. */
  events?: PodEvent[]
}

/**
 * Container states waiting will not cure: the kubelet cannot create or start the container, or the
 * image reference is unusable. They fail `up` at once instead of after the whole timeout.
 */
export const FATAL_WAITING_REASONS = ['RunContainerError', 'CreateContainerError', 'CreateContainerConfigError', 'InvalidImageName', 'ErrImageNeverPull'] as const

export interface Diagnosis {
  /** Short reason, e.g. CrashLoopBackOff, for status and --json. */
  reason: string
  message: string
  hint: string
  pod?: string
  container?: string
  /** What the log lines showed as the cause, e.g. NotWritable or DisallowedHost. */
  cause?: string
}

/** The part of a core/v1 Event the diagnosis reads. */
export interface PodEvent {
  reason?: string
  message?: string
  involvedObject?: {kind?: string; name?: string; uid?: string}
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
export function diagnosePod(pod: Pod, context: DiagnosisContext = {}): Diagnosis | undefined {
  // A pod being deleted (replaced by a rollout, scaled down) is on its way out, not failing: during its grace
  // period it may stop answering its probes or be killed, which says nothing about what runs now.
  if (pod.metadata.deletionTimestamp) return undefined
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
    if (waiting?.reason === 'InvalidImageName') {
      return {
        reason: waiting.reason,
        pod: podName,
        container: status.name,
        message: `The image name ${status.image} of container ${status.name} is not a valid image reference, so the pod ${podName} cannot start (InvalidImageName).`,
        hint: 'Fix `image:` in the Deployment of your manifests (devkube replaces an `image:` equal to the app name with the image it builds).',
      }
    }
    if (waiting?.reason === 'RunContainerError' || waiting?.reason === 'CreateContainerError') {
      const detail = waiting.message ? `: ${firstLine(waiting.message)}` : ''
      return {
        reason: waiting.reason,
        pod: podName,
        container: status.name,
        message: `The container ${status.name} in pod ${podName} cannot be ${waiting.reason === 'RunContainerError' ? 'started' : 'created'} (${waiting.reason}${detail}).`,
        hint: 'Check the command the image runs (CMD/ENTRYPOINT of the Dockerfile, or `command:` in the manifests): it must exist in the image and be executable.',
      }
    }
    // A pull that failed for an image the cluster is to pull (a stock or backing image, one pushed to a
    // target's registry) is about that image and its registry, not about loading into kind.
    if ((waiting?.reason === 'ErrImagePull' || waiting?.reason === 'ImagePullBackOff') && !status.image.startsWith(`${IMAGE_REPOSITORY_PREFIX}/`)) {
      const detail = waiting.message && waiting.reason === 'ErrImagePull' ? `: ${firstLine(waiting.message)}` : ''
      return {
        reason: waiting.reason,
        pod: podName,
        container: status.name,
        message: `The cluster cannot pull the image ${status.image} for the pod ${podName} (${waiting.reason}${detail}).`,
        hint: 'Check the image name and tag, and that the cluster\'s nodes can reach its registry (a private one needs an imagePullSecret); a backing or stock service can name another with `image:` in devkube.yaml.',
      }
    }
    if (waiting?.reason === 'ErrImageNeverPull' || waiting?.reason === 'ErrImagePull' || waiting?.reason === 'ImagePullBackOff') {
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
    if (terminated?.exitCode === 0 && status.restartCount > 0 && !status.ready && !status.state?.running) {
      // Exit code 0 is not a crash: the command ran to its end, e.g. a script or `manage.py` printing help.
      return {
        reason: 'ExitedInsteadOfServing',
        pod: podName,
        container: status.name,
        message: `The process exited instead of serving (not a long-running server): container ${status.name} in pod ${podName} ended with code 0 and has been restarted ${status.restartCount} time${status.restartCount === 1 ? '' : 's'}.`,
        hint: 'Start a server that keeps running and listens on the port (e.g. gunicorn or uvicorn for Python, a Procfile `web:` line, or `command:` in devkube.yaml); its last log lines are below.',
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
        message: `The container ${status.name} cannot be created: ${firstLine(waiting.message ?? 'its configuration refers to something missing').replace(/\.$/, '')} (CreateContainerConfigError).`,
        hint: /runAsNonRoot/.test(waiting.message ?? '')
          ? 'The manifests require a non-root user (runAsNonRoot) that the image does not declare: add `USER <uid>` (a number) to the Dockerfile, or remove runAsNonRoot from the manifests.'
          : 'Check the ConfigMaps and Secrets the Deployment refers to (`devkube status` shows them).',
      }
    }
    const execCheck = (spec?.readinessProbe as {exec?: {command?: string[]}} | undefined)?.exec?.command
    if (status.state?.running && !status.ready && execCheck) {
      // devkube.yaml's `probe.exec` (a compose healthcheck): a command, not a port, decides readiness.
      return {
        reason: 'ReadinessProbeFailing',
        pod: podName,
        container: status.name,
        message: `The container ${status.name} is running but never became ready: its readiness check \`${execCheck.join(' ')}\` keeps failing.`,
        hint: 'That command (`probe.exec` in devkube.yaml) must exit 0 once the service is ready; check that it exists in the image and what it tests.',
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
export async function explainRolloutFailure(kube: Kube, namespace: string, pods: Pod[], context: DiagnosisContext): Promise<Diagnosis | undefined> {
  context = {...context, events: context.events ?? (await podEvents(kube, namespace))}
  const diagnoses = pods.map((pod) => diagnosePod(pod, context)).filter((diagnosis): diagnosis is Diagnosis => diagnosis !== undefined)
  diagnoses.sort((a, b) => rank(RANKED_REASONS, a.reason) - rank(RANKED_REASONS, b.reason))
  const diagnosis = diagnoses[0]
  if (diagnosis && (LOGGED_REASONS.has(diagnosis.reason) || diagnosis.reason === 'ReadinessProbeFailing') && diagnosis.pod) {
    // A running container that never gets ready has its reason in the current log, a crashed one in the previous.
    const previous = diagnosis.reason === 'ReadinessProbeFailing' ? [] : ['--previous']
    const readLog = (flags: string[]) => kube.kubectl(['logs', diagnosis.pod!, '-c', diagnosis.container ?? '', ...flags, `--tail=${CRASH_LOG_LINES}`], {namespace, allowFailure: true, quiet: true})
    let logs = await readLog(previous)
    // Killed for its liveness probe but not restarted yet (the grace period): the log is the current container's.
    if (logs.exitCode !== 0 && diagnosis.reason === 'LivenessProbeFailing') logs = await readLog([])
    const text = logs.exitCode === 0 ? logs.stdout.trimEnd() : ''
    if (text) return withLogLines(diagnosis, text, context)
  }
  return diagnosis
}

/** The namespace's pod events (none when they cannot be read: the diagnosis then goes by states alone). */
export async function podEvents(kube: Kube, namespace: string, signal?: AbortSignal): Promise<PodEvent[]> {
  return kube.list<PodEvent & KubeObject>('events', namespace, undefined, true, signal).catch(() => [])
}

const RANKED_REASONS = ['OOMKilled', 'RunContainerError', 'CreateContainerError', 'CreateContainerConfigError', 'InvalidImageName', 'LivenessProbeFailing', 'ExitedInsteadOfServing', 'CrashLoopBackOff', 'ErrImageNeverPull', 'ImagePullBackOff', 'ErrImagePull', 'Unschedulable', 'ReadinessProbeFailing']

/** Diagnoses whose container ran and wrote a log worth showing. */
const LOGGED_REASONS = new Set(['CrashLoopBackOff', 'LivenessProbeFailing', 'ExitedInsteadOfServing'])

/**
 * Adds the crashed container's last log lines and, when they show a cause devkube can name, a
 * sentence about it before them: a write the non-root user may not make, a Django host not allowed.
 */
export function withLogLines(diagnosis: Diagnosis, logText: string, context: DiagnosisContext): Diagnosis {
  const cause = causeInLog(logText, context)
  // An app's coloured log lines (uvicorn, pino, …) would put escape codes into devkube's own message.
  const lines = `Last ${CRASH_LOG_LINES} log lines of ${diagnosis.pod}:\n${redact(stripVTControlCharacters(logText))}`
  return {...diagnosis, ...(cause ? {cause: cause.reason} : {}), hint: [cause?.sentence, diagnosis.hint, lines].filter(Boolean).join('\n')}
}

const NO_WRITE = /permission denied|EACCES|read-only file system|EROFS|unable to open database file|PermissionError/i
const DISALLOWED_HOST = /DisallowedHost|Invalid HTTP_HOST header/

function causeInLog(logText: string, context: DiagnosisContext): {reason: string; sentence: string} | undefined {
  if (DISALLOWED_HOST.test(logText)) {
    return {
      reason: 'DisallowedHost',
      sentence: 'Django rejects the Host header of the requests (DisallowedHost): Kubernetes\' health checks use the pod\'s IP as the host, so let ALLOWED_HOSTS in settings.py accept it, e.g. `ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "*").split(",")`.',
    }
  }
  if (NO_WRITE.test(logText)) {
    const user = context.imageUser
    const root = user === undefined || user === '' || user === '0' || user === 'root' || user.startsWith('0:')
    const where = context.writableDirs?.length ? context.writableDirs.join(' and ') : '/tmp and the folders its Dockerfile gives that user (COPY --chown, chown)'
    return {
      reason: 'NotWritable',
      sentence: root
        ? 'The app cannot write where it tries to (permission denied or a read-only file system): check which path it writes to and that the image makes it writable.'
        : `The app runs as a non-root user (${user}) and cannot write where it tries to: it may write to ${where}; point its files (sqlite database, uploads, collected static files) there, or give that user the folder in the Dockerfile.`,
    }
  }
  return undefined
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0]
}

function rank(order: string[], reason: string): number {
  const index = order.indexOf(reason)
  return index === -1 ? order.length : index
}

export function diagnosisError(diagnosis: Diagnosis): UserError {
  return new UserError(diagnosis.message, {hint: diagnosis.hint})
}
