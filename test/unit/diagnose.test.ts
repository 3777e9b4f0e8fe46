import {describe, expect, it} from 'vitest'
import {diagnosePod, FATAL_WAITING_REASONS, withLogLines, type Diagnosis} from '../../src/lib/diagnose.js'
import type {Deployment} from '../../src/lib/kube.js'
import {newestReplicaSetPods} from '../../src/lib/app-pods.js'
import {deployment, pod, replicaSet} from './status-fixtures.js'

const waiting = (reason: string, message?: string) => pod({name: 'hello-abc-1', ready: false, state: {waiting: {reason, message}}})

describe('diagnosePod: container states waiting will not cure', () => {
  const sentences: Record<(typeof FATAL_WAITING_REASONS)[number], RegExp> = {
    RunContainerError: /^The container hello in pod hello-abc-1 cannot be started \(RunContainerError: exec: "gunicorn": executable file not found in \$PATH\)\.$/,
    CreateContainerError: /^The container hello in pod hello-abc-1 cannot be created \(CreateContainerError: exec: "gunicorn": executable file not found in \$PATH\)\.$/,
    CreateContainerConfigError: /^The container hello cannot be created: exec: "gunicorn": executable file not found in \$PATH \(CreateContainerConfigError\)\.$/,
    InvalidImageName: /^The image name devkube\.local\/hello:aaaaaaaaaaaa of container hello is not a valid image reference/,
    ErrImageNeverPull: /^The image devkube\.local\/hello:aaaaaaaaaaaa is not in the kind cluster, so the pod hello-abc-1 cannot start \(ErrImageNeverPull\)\.$/,
  }
  for (const reason of FATAL_WAITING_REASONS) {
    it(`${reason}: one sentence naming the state, and a hint`, () => {
      const diagnosis = diagnosePod(waiting(reason, 'exec: "gunicorn": executable file not found in $PATH\nmore detail'))
      expect(diagnosis?.reason).toBe(reason)
      expect(diagnosis?.message).toMatch(sentences[reason])
      expect(diagnosis?.hint).toBeTruthy()
    })
  }

  it("a failed pull of an image the cluster pulls (stock, backing, a target's registry) names the image and its registry, not kind", () => {
    const pulled = pod({name: 'db-0', ready: false, image: 'postgres:16', state: {waiting: {reason: 'ErrImagePull', message: 'failed to pull and unpack image "docker.io/library/postgres:16": pull access denied\nmore'}}})
    const diagnosis = diagnosePod(pulled)
    expect(diagnosis?.message).toBe('The cluster cannot pull the image postgres:16 for the pod db-0 (ErrImagePull: failed to pull and unpack image "docker.io/library/postgres:16": pull access denied).')
    expect(diagnosis?.hint).toContain('`image:` in devkube.yaml')
    // devkube's own image missing from kind stays the load sentence.
    const own = diagnosePod(pod({name: 'hello-abc-1', ready: false, state: {waiting: {reason: 'ImagePullBackOff'}}}))
    expect(own?.message).toMatch(/^The image devkube\.local\/hello:aaaaaaaaaaaa is not in the kind cluster/)
  })

  it('runAsNonRoot on a root image: the hint says how to declare a non-root user', () => {
    const diagnosis = diagnosePod(waiting('CreateContainerConfigError', 'container has runAsNonRoot and image will run as root (pod: "hello-abc-1_hello(uid)", container: hello)'))
    expect(diagnosis?.hint).toMatch(/add `USER <uid>` \(a number\) to the Dockerfile, or remove runAsNonRoot/)
  })
})

describe('diagnosePod: a process that ends', () => {
  it('exit code 0 is a process that exited instead of serving, not a crash', () => {
    const exited = pod({name: 'hello-abc-1', ready: false, restarts: 2, state: {waiting: {reason: 'CrashLoopBackOff'}}, lastState: {terminated: {reason: 'Completed', exitCode: 0}}})
    const diagnosis = diagnosePod(exited)
    expect(diagnosis?.reason).toBe('ExitedInsteadOfServing')
    expect(diagnosis?.message).toMatch(/^The process exited instead of serving \(not a long-running server\)/)
  })

  it('a non-zero exit is still a crash loop', () => {
    const crashed = pod({name: 'hello-abc-1', ready: false, restarts: 2, state: {waiting: {reason: 'CrashLoopBackOff'}}, lastState: {terminated: {reason: 'Error', exitCode: 1}}})
    expect(diagnosePod(crashed)?.reason).toBe('CrashLoopBackOff')
  })
})

describe('withLogLines: causes named from the log', () => {
  const crash: Diagnosis = {reason: 'CrashLoopBackOff', pod: 'hello-abc-1', message: 'The app keeps crashing', hint: 'Its last log lines are below.'}

  it('a write the non-root user may not make: says who it runs as and where it may write', () => {
    const log = "sqlite3.OperationalError: unable to open database file\nPermissionError: [Errno 13] Permission denied: '/app/db.sqlite3'"
    const explained = withLogLines(crash, log, {imageUser: '10001', writableDirs: ['its working directory /app', '/tmp']})
    expect(explained.cause).toBe('NotWritable')
    expect(explained.hint.split('\n')[0]).toBe(
      'The app runs as a non-root user (10001) and cannot write where it tries to: it may write to its working directory /app and /tmp; point its files (sqlite database, uploads, collected static files) there, or give that user the folder in the Dockerfile.',
    )
    expect(explained.hint).toContain('Last 20 log lines of hello-abc-1:\n' + log)
  })

  it('EACCES and read-only file systems count too; the own Dockerfile gets the general wording', () => {
    for (const log of ["Error: EACCES: permission denied, open '/data/x'", 'OSError: [Errno 30] Read-only file system: /srv']) {
      const explained = withLogLines(crash, log, {imageUser: 'app'})
      expect(explained.hint).toMatch(/^The app runs as a non-root user \(app\) .* it may write to \/tmp and the folders its Dockerfile gives that user/)
    }
  })

  it('DisallowedHost: a sentence about ALLOWED_HOSTS', () => {
    const log = "django.core.exceptions.DisallowedHost: Invalid HTTP_HOST header: '10.244.0.7:8000'. You may need to add '10.244.0.7' to ALLOWED_HOSTS."
    const explained = withLogLines({...crash, reason: 'ReadinessProbeFailing'}, log, {})
    expect(explained.cause).toBe('DisallowedHost')
    expect(explained.hint).toMatch(/^Django rejects the Host header .* ALLOWED_HOSTS in settings\.py/)
  })

  it('colour codes in the app\'s log lines never reach devkube\'s message', () => {
    const explained = withLogLines(crash, '\u001B[31mERROR\u001B[0m:    boom', {})
    expect(explained.hint).toContain('ERROR:    boom')
    expect(explained.hint).not.toContain('\u001B[')
  })

  it('a log without a known cause: only the log lines are added', () => {
    const explained = withLogLines(crash, 'KeyError: DATABASE_URL', {imageUser: '10001'})
    expect(explained.cause).toBeUndefined()
    expect(explained.hint).toBe('Its last log lines are below.\nLast 20 log lines of hello-abc-1:\nKeyError: DATABASE_URL')
  })
})

describe('newestReplicaSetPods: what was just deployed', () => {
  const oldPod = pod({name: 'hello-old-1', hash: 'old', ready: false, restarts: 5, state: {waiting: {reason: 'CrashLoopBackOff'}}})
  const newPod = pod({name: 'hello-new-1', hash: 'new', ready: false})
  const observed = (generation: number, observedGeneration: number): Deployment => {
    const object = deployment()
    object.metadata.generation = generation
    object.status = {...object.status, observedGeneration}
    return object
  }

  it('only the pods of the ReplicaSet with the highest revision', () => {
    const pods = newestReplicaSetPods(observed(2, 2), [replicaSet('old', 1), replicaSet('new', 2)], [oldPod, newPod])
    expect(pods.map((entry) => entry.metadata.name)).toEqual(['hello-new-1'])
  })

  it('a rollback makes an older ReplicaSet the newest revision again', () => {
    const pods = newestReplicaSetPods(observed(3, 3), [replicaSet('old', 3), replicaSet('new', 2)], [oldPod, newPod])
    expect(pods.map((entry) => entry.metadata.name)).toEqual(['hello-old-1'])
  })

  it('none while the Deployment controller has not seen the latest change yet', () => {
    expect(newestReplicaSetPods(observed(3, 2), [replicaSet('old', 1), replicaSet('new', 2)], [oldPod, newPod])).toEqual([])
  })

  it('leaves out Terminating pods: a rollback to a ReplicaSet may find its last pods still going, killed at the end of their grace period', () => {
    const going = pod({name: 'hello-old-2', hash: 'old', ready: false, state: {terminated: {reason: 'Error', exitCode: 137}}})
    going.metadata.deletionTimestamp = new Date().toISOString()
    const pods = newestReplicaSetPods(observed(3, 3), [replicaSet('old', 3), replicaSet('new', 2)], [going, oldPod])
    expect(pods.map((entry) => entry.metadata.name)).toEqual(['hello-old-1'])
    expect(diagnosePod(going)).toBeUndefined()
  })

  it('ignores ReplicaSets another Deployment owns', () => {
    expect(newestReplicaSetPods(observed(1, 1), [replicaSet('new', 9, 'other')], [newPod])).toEqual([])
  })
})
