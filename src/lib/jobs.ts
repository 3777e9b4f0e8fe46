/**
 * One-shot services (`kind: job`, compose's `restart: "no"`) as Kubernetes Jobs: whether one finished, waiting for it
 * the way compose's `service_completed_successfully` waits, the one sentence a failed one gets, and which live Jobs
 * `up` must delete before applying (a Job's pod template is immutable, and a failed one is run again).
 */
import {stripVTControlCharacters} from 'node:util'
import {diagnosePod, FATAL_WAITING_REASONS} from './diagnose.js'
import {UserError} from './errors.js'
import type {Kube, KubeObject, Pod} from './kube.js'
import {APPLIED_HASH_ANNOTATION} from './manifests.js'
import {redact} from './secrets.js'
import {abortableSleep} from './sleep.js'

export type JobState = 'Complete' | 'Failed' | 'Running'

export interface Job extends KubeObject {
  spec: {backoffLimit?: number; selector?: {matchLabels?: Record<string, string>}}
  status?: {active?: number; succeeded?: number; failed?: number; conditions?: Array<{type: string; status: string; reason?: string; message?: string}>}
}

/** How often the wait looks at the Job and its pods. */
const JOB_CHECK_INTERVAL_MS = 1000
/** Log lines of the failed run shown with the sentence. */
const JOB_LOG_LINES = 10

/** What the Job controller's conditions say: Complete and Failed are final. */
export function jobState(job: Job): JobState {
  const holds = (type: string) => job.status?.conditions?.some((condition) => condition.type === type && condition.status === 'True')
  if (holds('Complete')) return 'Complete'
  if (holds('Failed')) return 'Failed'
  return 'Running'
}

/**
 * The live Jobs `up` deletes before it applies: those whose rendered object changed (new image, env, command: the
 * API server refuses to change a Job's pod template), and those that failed (running `up` again means "try again",
 * as `docker compose up` re-runs a one-shot service). An unchanged Job that completed is left alone.
 */
export function jobsToReplace(desired: KubeObject[], live: KubeObject[]): string[] {
  const liveJobs = new Map(live.filter((object) => object.kind === 'Job').map((object) => [object.metadata.name, object as Job]))
  return desired
    .filter((object) => object.kind === 'Job')
    .filter((object) => {
      const current = liveJobs.get(object.metadata.name)
      if (!current) return false
      return current.metadata.annotations?.[APPLIED_HASH_ANNOTATION] !== object.metadata.annotations?.[APPLIED_HASH_ANNOTATION] || jobState(current) === 'Failed'
    })
    .map((object) => object.metadata.name)
}

/** Deletes Jobs with their pods (foreground), waiting until they are gone, so the new Job never meets the old pods. */
export async function deleteJobs(kube: Kube, namespace: string, names: string[], timeoutSeconds: number): Promise<void> {
  if (names.length === 0) return
  const result = await kube.kubectl(['delete', ...names.map((name) => `job/${name}`), '--cascade=foreground', '--ignore-not-found', '--wait=true', `--timeout=${timeoutSeconds}s`], {namespace, allowFailure: true})
  if (result.exitCode !== 0) {
    throw new UserError(`Could not delete the previous run of ${names.join(', ')} to run it again: ${result.stderr.trim().split('\n').at(-1)}`, {
      hint: `Delete it yourself with \`kubectl --context ${kube.context} -n ${namespace} delete job ${names.join(' ')}\`, then run \`devkube up\` again.`,
    })
  }
}

/** The pods of this Job (its own selector: the controller's uid label, so never an earlier run's). */
export async function jobPods(kube: Kube, namespace: string, job: Job): Promise<Pod[]> {
  const matchLabels = job.spec.selector?.matchLabels ?? {'batch.kubernetes.io/job-name': job.metadata.name}
  const selector = Object.entries(matchLabels).map(([key, value]) => `${key}=${value}`).join(',')
  return kube.list<Pod>('pods', namespace, selector, true)
}

/**
 * Waits until the Job completed. A failed Job, or a pod that cannot start at all (a missing image, a missing Secret
 * key), fails at once with one sentence: the exit code and the last lines its run wrote.
 */
export async function waitForJob(kube: Kube, namespace: string, name: string, options: {timeoutSeconds: number; signal: AbortSignal; progress: (line: string) => void}): Promise<void> {
  const deadline = Date.now() + options.timeoutSeconds * 1000
  let said = ''
  while (!options.signal.aborted) {
    const job = await kube.getJson<Job>(['job', name], namespace, true)
    if (!job) throw new UserError(`The job ${name} disappeared while devkube waited for it to finish.`, {hint: 'Something else deleted it; run `devkube up` again.'})
    const state = jobState(job)
    if (state === 'Complete') return
    const pods = await jobPods(kube, namespace, job)
    if (state === 'Failed') throw await jobFailure(kube, namespace, job, pods)
    const stuck = pods.map((pod) => diagnosePod(pod)).find((diagnosis) => diagnosis && (FATAL_WAITING_REASONS as readonly string[]).includes(diagnosis.reason))
    if (stuck) throw new UserError(`The job ${name} cannot run: ${stuck.message}`, {hint: stuck.hint})
    const line = `waiting for job "${name}" to complete: ${job.status?.active ?? 0} running, ${job.status?.failed ?? 0} failed`
    if (line !== said) options.progress((said = line))
    if (Date.now() > deadline) {
      throw new UserError(`The job ${name} did not finish within ${options.timeoutSeconds} s.`, {
        hint: `\`devkube logs ${name}\` shows what it is doing; raise --timeout if it is just slow.`,
      })
    }
    await abortableSleep(JOB_CHECK_INTERVAL_MS, options.signal)
  }
}

/** "The job migrate failed: its container exited with code 1 (2 attempts)." with the last run's log lines as the hint. */
export async function jobFailure(kube: Kube, namespace: string, job: Job, pods: Pod[]): Promise<UserError> {
  const name = job.metadata.name
  const failed = pods.filter((pod) => pod.status.phase === 'Failed').sort((a, b) => String(b.metadata.creationTimestamp ?? '').localeCompare(String(a.metadata.creationTimestamp ?? '')))
  const last = failed[0] ?? pods[0]
  const terminated = last?.status.containerStatuses?.map((status) => status.state?.terminated ?? status.lastState?.terminated).find(Boolean)
  const attempts = job.status?.failed ?? failed.length
  const condition = job.status?.conditions?.find((entry) => entry.type === 'Failed')
  const how = terminated?.exitCode !== undefined ? `its container exited with code ${terminated.exitCode}${terminated.reason === 'OOMKilled' ? ' (out of memory)' : ''}` : (condition?.message ?? 'its pod failed')
  let logs = ''
  if (last) {
    const result = await kube.kubectl(['logs', last.metadata.name, `--tail=${JOB_LOG_LINES}`], {namespace, allowFailure: true, quiet: true})
    logs = result.exitCode === 0 ? redact(stripVTControlCharacters(result.stdout.trimEnd())) : ''
  }
  const lastLine = logs.split('\n').filter((line) => line.trim()).at(-1)
  return new UserError(`The job ${name} failed: ${how}${attempts > 1 ? ` on each of ${attempts} attempts` : ''}${lastLine ? `; its last line: ${lastLine.trim()}` : ''}.`, {
    hint: [`Fix it and run \`devkube up\` again: devkube runs a failed job afresh (\`devkube logs ${name}\` shows its output).`, logs ? `Last ${JOB_LOG_LINES} log lines of ${last!.metadata.name}:\n${logs}` : ''].filter(Boolean).join('\n'),
  })
}
