// Jobs in the fake cluster, as the job controller and the kubelet of Kubernetes v1.32 run them (batch/v1): the API
// defaults, a run to completion, retries up to backoffLimit, the Failed condition, and the immutable pod template.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {buildTestHttpImage, createFakeToolchain, dockerAvailable, execCommand, type FakeToolchain} from '../support/fake-toolchain.js'
import {eventually} from '../support/wait.js'

const hasDocker = await dockerAvailable()

interface JobJson {
  metadata: {uid: string}
  spec: {backoffLimit: number; completions: number; parallelism: number; selector: {matchLabels: Record<string, string>}; template: {metadata: {labels: Record<string, string>}}}
  status: {succeeded?: number; failed?: number; active?: number; conditions?: Array<{type: string; status: string; reason?: string}>}
}

describe.skipIf(!hasDocker)('fake Jobs', () => {
  let tools: FakeToolchain
  const suffix = `${process.pid}`
  const cluster = `jobs-${suffix}`
  const ns = 'batch'
  const image = `devkube-fake-test/http:jobs-${suffix}`
  const kubectl = (args: string[], input?: string) => tools.exec('kubectl', ['--context', `kind-${cluster}`, '-n', ns, ...args], {input})
  const job = (name: string, script: string, options: {backoffLimit?: number; restartPolicy?: string} = {}) => `apiVersion: batch/v1
kind: Job
metadata: {name: ${name}}
spec:
  ${options.backoffLimit === undefined ? '' : `backoffLimit: ${options.backoffLimit}`}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      restartPolicy: ${options.restartPolicy ?? 'Never'}
      containers:
      - {name: run, image: "${image}", command: [node, -e, "${script}"]}
`
  const get = async (name: string) => JSON.parse((await kubectl(['get', 'job', name, '-o', 'json'])).stdout) as JobJson
  const condition = (status: JobJson['status'], type: string) => status.conditions?.find((entry) => entry.type === type && entry.status === 'True')

  beforeAll(async () => {
    await buildTestHttpImage(image, {body: 'jobs'})
    tools = await createFakeToolchain({speed: 0.05})
    expect((await tools.exec('kind', ['create', 'cluster', '--name', cluster, '--config', '-'], {input: 'kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n'})).code).toBe(0)
    expect((await tools.exec('kind', ['load', 'docker-image', image, '--name', cluster])).code).toBe(0)
    expect((await tools.exec('kubectl', ['--context', `kind-${cluster}`, 'create', 'namespace', ns])).code).toBe(0)
  })
  afterAll(async () => {
    await tools?.cleanup()
    await execCommand('docker', ['rmi', image])
  })

  it('runs to completion: API defaults, controller labels, Complete, the pod Succeeded with its log readable; a re-apply is unchanged', async () => {
    const manifest = job('ok', "console.log('migrated')")
    expect(await kubectl(['apply', '-f', '-'], manifest)).toEqual({code: 0, stdout: 'job.batch/ok created\n', stderr: ''})
    const created = await get('ok')
    expect([created.spec.backoffLimit, created.spec.completions, created.spec.parallelism]).toEqual([6, 1, 1])
    expect(created.spec.selector.matchLabels).toEqual({'batch.kubernetes.io/controller-uid': created.metadata.uid})
    expect(created.spec.template.metadata.labels).toMatchObject({app: 'ok', 'job-name': 'ok', 'batch.kubernetes.io/job-name': 'ok', 'controller-uid': created.metadata.uid})
    const done = await eventually('job ok Complete', async () => {
      const {status} = await get('ok')
      return condition(status, 'Complete') && status
    })
    expect(done.succeeded).toBe(1)
    expect(condition(done, 'SuccessCriteriaMet')).toBeDefined()
    const pods = JSON.parse((await kubectl(['get', 'pods', '-l', 'job-name=ok', '-o', 'json'])).stdout) as {items: Array<{metadata: {name: string}; status: {phase: string; containerStatuses: Array<{restartCount: number; state: {terminated?: {exitCode: number; reason: string}}}>}}>}
    expect(pods.items).toHaveLength(1)
    expect(pods.items[0].status.phase).toBe('Succeeded')
    expect(pods.items[0].status.containerStatuses[0].state.terminated).toMatchObject({exitCode: 0, reason: 'Completed'})
    expect(pods.items[0].status.containerStatuses[0].restartCount).toBe(0)
    expect((await kubectl(['logs', pods.items[0].metadata.name])).stdout).toBe('migrated\n')
    expect((await kubectl(['apply', '-f', '-'], manifest)).stdout).toBe('job.batch/ok unchanged\n')
  })

  it('a changed pod template is refused as immutable; restartPolicy Always is refused', async () => {
    const changed = await kubectl(['apply', '-f', '-'], job('ok', "console.log('v2')"))
    expect(changed.code).toBe(1)
    expect(changed.stderr).toMatch(/^The Job "ok" is invalid: spec\.template: Invalid value: core\.PodTemplateSpec\{.*\}: field is immutable\n$/)
    const always = await kubectl(['apply', '-f', '-'], job('always', 'process.exit(0)', {restartPolicy: 'Always'}))
    expect(always.code).toBe(1)
    expect(always.stderr).toContain('spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"')
  })

  it('a failing run is retried with a new pod up to backoffLimit, then the Job is Failed (BackoffLimitExceeded)', async () => {
    expect((await kubectl(['apply', '-f', '-'], job('bad', "console.log('boom'); process.exit(3)", {backoffLimit: 1}))).code).toBe(0)
    const failed = await eventually('job bad Failed', async () => {
      const {status} = await get('bad')
      return condition(status, 'Failed') && status
    }, 60_000)
    expect(failed.failed).toBe(2)
    expect(condition(failed, 'Failed')?.reason).toBe('BackoffLimitExceeded')
    expect(condition(failed, 'Complete')).toBeUndefined()
    const pods = JSON.parse((await kubectl(['get', 'pods', '-l', 'job-name=bad', '-o', 'json'])).stdout) as {items: Array<{status: {phase: string; containerStatuses: Array<{state: {terminated?: {exitCode: number}}}>}}>}
    expect(pods.items.map((pod) => [pod.status.phase, pod.status.containerStatuses[0].state.terminated?.exitCode])).toEqual([
      ['Failed', 3],
      ['Failed', 3],
    ])
  })

  it('deleting a Job deletes its pods', async () => {
    expect((await kubectl(['delete', 'job', 'bad', '--cascade=foreground', '--wait=true'])).stdout).toBe('job.batch "bad" deleted\n')
    expect(JSON.parse((await kubectl(['get', 'pods', '-l', 'job-name=bad', '-o', 'json'])).stdout).items).toEqual([])
  })
})
