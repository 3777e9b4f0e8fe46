import {afterEach, describe, expect, it} from 'vitest'
import {jobsToReplace, waitForJob, type Job} from '../../src/lib/jobs.js'
import {Kube, type KubeObject, type Pod} from '../../src/lib/kube.js'
import {APPLIED_HASH_ANNOTATION} from '../../src/lib/manifests.js'
import {setRunner} from '../../src/lib/runner.js'
import {registerSecret} from '../../src/lib/secrets.js'
import {FakeRunner} from '../support/fake-runner.js'

const job = (name: string, hash: string, conditions: Array<{type: string; status: string}> = [], status: Job['status'] = {}): Job => ({
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: {name, annotations: {[APPLIED_HASH_ANNOTATION]: hash}},
  spec: {backoffLimit: 1, selector: {matchLabels: {'batch.kubernetes.io/controller-uid': `uid-${name}`}}},
  status: {...status, conditions},
})

const failedPod = (name: string, exitCode: number, created: string): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {name, creationTimestamp: created},
  spec: {containers: [{name: 'migrate', image: 'devkube.local/migrate:1'}]},
  status: {phase: 'Failed', containerStatuses: [{name: 'migrate', ready: false, restartCount: 0, image: 'devkube.local/migrate:1', state: {terminated: {exitCode, reason: 'Error'}}}]},
})

describe('which live Jobs up deletes before applying', () => {
  const desired = [job('migrate', 'new'), job('seed', 'same'), job('fresh', 'x')] as KubeObject[]
  it('a changed Job (its pod template cannot change in place) and a failed one; never an unchanged completed one or a new one', () => {
    const live = [job('migrate', 'old', [{type: 'Complete', status: 'True'}]), job('seed', 'same', [{type: 'Complete', status: 'True'}])]
    expect(jobsToReplace(desired, live)).toEqual(['migrate'])
    const failed = [job('migrate', 'new', [{type: 'Complete', status: 'True'}]), job('seed', 'same', [{type: 'Failed', status: 'True'}])]
    expect(jobsToReplace(desired, failed)).toEqual(['seed'])
  })
})

describe('waiting for a Job', () => {
  let restore: (() => void) | undefined
  afterEach(() => restore?.())
  const kube = new Kube('devkube')
  const wait = () => waitForJob(kube, 'shop', 'migrate', {timeoutSeconds: 30, signal: new AbortController().signal, progress: () => {}})

  it('returns once the Job is Complete', async () => {
    restore = setRunner(new FakeRunner().on((argv) => (argv.includes('job') ? {stdout: JSON.stringify(job('migrate', 'h', [{type: 'Complete', status: 'True'}], {succeeded: 1}))} : undefined)))
    await expect(wait()).resolves.toBeUndefined()
  })

  it('a failed Job is one sentence with the exit code and its last log line, the log tail in the hint, secrets masked', async () => {
    registerSecret('hunter2-db-password')
    const pods = [failedPod('migrate-abcde', 2, '2026-01-01T00:00:00Z'), failedPod('migrate-fghij', 3, '2026-01-01T00:00:20Z')]
    let logsOf = ''
    restore = setRunner(
      new FakeRunner().on((argv) => {
        if (argv.includes('logs')) {
          logsOf = argv[argv.indexOf('logs') + 1]
          return {stdout: 'connecting with hunter2-db-password\nTraceback (most recent call last):\nRuntimeError: table visits exists\n'}
        }
        if (argv.includes('pods')) return argv.includes('batch.kubernetes.io/controller-uid=uid-migrate') ? {stdout: JSON.stringify({items: pods})} : {stdout: '{"items":[]}'}
        if (argv.includes('job')) return {stdout: JSON.stringify(job('migrate', 'h', [{type: 'Failed', status: 'True'}], {failed: 2}))}
        return undefined
      }),
    )
    const error = await wait().catch((caught: unknown) => caught as Error & {hint?: string})
    expect(error?.message).toBe('The job migrate failed: its container exited with code 3 on each of 2 attempts; its last line: RuntimeError: table visits exists.')
    // The newest failed run's log.
    expect(logsOf).toBe('migrate-fghij')
    expect(error?.hint).toContain('RuntimeError: table visits exists')
    expect(error?.hint).not.toContain('hunter2-db-password')
  })

  it('a pod that cannot start (a missing Secret key) fails at once instead of after the timeout', async () => {
    const stuck: Pod = {...failedPod('migrate-abcde', 0, '2026-01-01T00:00:00Z'), status: {phase: 'Pending', containerStatuses: [{name: 'migrate', ready: false, restartCount: 0, image: 'x', state: {waiting: {reason: 'CreateContainerConfigError', message: 'couldn\'t find key uri in Secret shop/db-credentials'}}}]}}
    restore = setRunner(
      new FakeRunner().on((argv) => {
        if (argv.includes('pods')) return {stdout: JSON.stringify({items: [stuck]})}
        if (argv.includes('job')) return {stdout: JSON.stringify(job('migrate', 'h', [], {active: 1}))}
        return undefined
      }),
    )
    await expect(wait()).rejects.toThrow(/^The job migrate cannot run: .*db-credentials/)
  })
})
