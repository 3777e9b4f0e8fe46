// Jobs, as the job controller (Kubernetes v1.32) runs them: pods `<job>-<suffix>` made from the template with the
// controller's labels, one at a time (parallelism and completions 1, NonIndexed), a new pod after a failure once the
// back-off (10 s, doubling) is over, until `completions` pods Succeeded (conditions SuccessCriteriaMet, Complete) or
// more than `backoffLimit` Failed (FailureTarget, Failed with reason BackoffLimitExceeded; running pods deleted).
// The kubelet's part (a container that exits is not restarted under restartPolicy Never, and its pod ends Succeeded
// or Failed) is in world.mjs. A Job's pod template is immutable: see immutableJobUpdate.
import {clone, nowIso, randomSuffix, scaledMs} from './util.mjs'
import {addEvent, initPod, isPodReady, putObject} from './world.mjs'

const ownedPods = (state, job) =>
  Object.values(state.objects).filter((o) => o.kind === 'Pod' && o.metadata.ownerReferences?.[0]?.uid === job.metadata.uid)

const terminal = (pod) => pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed'

const holds = (job, type) => job.status?.conditions?.some((condition) => condition.type === type && condition.status === 'True')

/** The API server's answer when an apply changes a Job's pod template (or selector), else undefined. */
export function immutableJobUpdate(live, next) {
  if (JSON.stringify(live.spec?.template) === JSON.stringify(next.spec?.template)) return undefined
  return `spec.template: Invalid value: core.PodTemplateSpec{ObjectMeta:v1.ObjectMeta{Name:"", GenerateName:"", Namespace:"", Labels:map[string]string{"batch.kubernetes.io/controller-uid":"${live.metadata.uid}", "batch.kubernetes.io/job-name":"${live.metadata.name}"}}, Spec:core.PodSpec{...}}: field is immutable`
}

function createPod(state, job) {
  const template = clone(job.spec.template)
  const name = `${job.metadata.name}-${randomSuffix()}`
  const spec = template.spec
  spec.tolerations ??= [
    {effect: 'NoExecute', key: 'node.kubernetes.io/not-ready', operator: 'Exists', tolerationSeconds: 300},
    {effect: 'NoExecute', key: 'node.kubernetes.io/unreachable', operator: 'Exists', tolerationSeconds: 300},
  ]
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      generateName: `${job.metadata.name}-`,
      namespace: job.metadata.namespace,
      labels: {...(template.metadata?.labels ?? {})},
      ...(template.metadata?.annotations ? {annotations: {...template.metadata.annotations}} : {}),
      finalizers: ['batch.kubernetes.io/job-tracking'],
      ownerReferences: [{apiVersion: 'batch/v1', kind: 'Job', name: job.metadata.name, uid: job.metadata.uid, controller: true, blockOwnerDeletion: true}],
    },
    spec,
  }
  initPod(state, pod)
  putObject(state, pod)
  addEvent(state, job, 'Normal', 'SuccessfulCreate', `Created pod: ${name}`)
  return pod
}

/** status as the controller writes it; active, succeeded and failed are omitted when 0 (omitempty), ready is not. */
function writeStatus(state, job) {
  const pods = ownedPods(state, job)
  const succeeded = pods.filter((pod) => pod.status?.phase === 'Succeeded').length
  const failed = pods.filter((pod) => pod.status?.phase === 'Failed').length
  const active = pods.filter((pod) => !terminal(pod))
  const status = {...(job.status ?? {})}
  status.startTime ??= nowIso()
  status.active = active.length
  status.ready = active.filter(isPodReady).length
  status.succeeded = succeeded
  status.failed = failed
  status.terminating = 0
  status.uncountedTerminatedPods = {}
  for (const field of ['active', 'succeeded', 'failed']) if (!status[field]) delete status[field]
  job.status = status
  return {succeeded, failed, active}
}

function finish(state, job, conditions, event) {
  const now = nowIso()
  job.status.conditions = conditions.map(([type, reason, message]) => ({lastProbeTime: now, lastTransitionTime: now, ...(message ? {message} : {}), ...(reason ? {reason} : {}), status: 'True', type}))
  addEvent(state, job, ...event)
}

/**
 * One pass of the job controller: records finished runs, decides Complete or Failed, and otherwise starts the next
 * pod once the back-off after the last failure is over. Returns the pods to delete; new pods go to `created`.
 */
export function syncJob(state, job, created) {
  if (holds(job, 'Complete') || holds(job, 'Failed') || job.spec.suspend) return []
  const completions = job.spec.completions ?? 1
  const backoffLimit = job.spec.backoffLimit ?? 6
  const {succeeded, failed, active} = writeStatus(state, job)
  job.fake ??= {}
  if (succeeded >= completions) {
    job.status.completionTime = nowIso()
    finish(state, job, [['SuccessCriteriaMet', 'CompletionsReached', 'Reached expected number of succeeded pods'], ['Complete', 'CompletionsReached', 'Reached expected number of succeeded pods']], ['Normal', 'Completed', 'Job completed'])
    return []
  }
  if (failed > backoffLimit) {
    finish(state, job, [['FailureTarget', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit'], ['Failed', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit']], ['Warning', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit'])
    return active
  }
  // The controller's back-off before replacing a failed pod: 10 s, doubled per failure (capped at 6 min).
  if (failed > (job.fake.seenFailed ?? 0)) {
    job.fake.seenFailed = failed
    job.fake.nextPodAt = Date.now() + scaledMs(Math.min(360, 10 * 2 ** (failed - 1)))
  }
  const parallelism = job.spec.parallelism ?? 1
  if (active.length === 0 && parallelism > 0 && Date.now() >= (job.fake.nextPodAt ?? 0)) created.push(createPod(state, job))
  return []
}

/** status after the kubelet's pass; a run that ended in it makes the Job Complete or Failed on the next sync. */
export function updateJobStatus(state, job) {
  if (holds(job, 'Complete') || holds(job, 'Failed')) return
  writeStatus(state, job)
  const completions = job.spec.completions ?? 1
  if ((job.status.succeeded ?? 0) >= completions || (job.status.failed ?? 0) > (job.spec.backoffLimit ?? 6)) syncJob(state, job, [])
}
