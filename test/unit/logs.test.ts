import {mkdirSync, mkdtempSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {resolveConfig, type AppConfig} from '../../src/lib/config.js'
import {Kube, type Pod} from '../../src/lib/kube.js'
import {LogFollower, Prefixer, printLogs, runLogs, type LogsOptions} from '../../src/lib/logs.js'
import {chalk} from '../../src/lib/output.js'
import {setRunner, type BackgroundProcess, type RunResult, type StartOptions} from '../../src/lib/runner.js'
import {FakeRunner} from '../support/fake-runner.js'
import {until as waitUntil} from '../support/wait.js'
import {deployment, kubectlWords, namespaceObject, pod, worldRunner, type World} from './status-fixtures.js'

interface FakeStream {
  argv: string[]
  pod: string
  emit(line: string): void
  finish(exitCode: number, stderr?: string): void
  stopped: boolean
  done: boolean
}

/** A world whose `kubectl logs -f` children are held open until the test ends them. */
class StreamingRunner extends FakeRunner {
  readonly streams: FakeStream[] = []

  start(argv: string[], options: StartOptions): BackgroundProcess {
    this.calls.push({argv})
    let finish!: (result: RunResult) => void
    const exited = new Promise<RunResult>((resolve) => {
      finish = resolve
    })
    const {words} = kubectlWords(argv)
    const stream: FakeStream = {
      argv,
      pod: words[1],
      stopped: false,
      done: false,
      emit: (line) => options.onLine?.(line, 'stdout'),
      finish(exitCode, stderr = '') {
        if (stream.done) return
        stream.done = true
        if (stderr) options.onLine?.(stderr, 'stderr')
        finish({argv, exitCode, stdout: '', stderr})
      },
    }
    this.streams.push(stream)
    return {
      argv,
      pid: 1000 + this.streams.length,
      exited,
      async stop() {
        stream.stopped = true
        stream.finish(143)
        return exited
      },
    }
  }
}

function streamingWorld(world: World): StreamingRunner {
  const runner = new StreamingRunner()
  const base = worldRunner(world)
  runner.on((argv, options) => base.run(argv, options))
  return runner
}

const until = (condition: () => boolean, what: string) => waitUntil(condition, what, 3000, 5)

describe('devkube logs', () => {
  let config: AppConfig
  let world: World
  let restore: () => void
  let lines: string[]
  let notices: string[]
  const output = {line: (text: string) => lines.push(text), notice: (text: string) => notices.push(text)}
  const previousLevel = chalk.level
  const base: LogsOptions = {follow: false, previous: false}

  beforeEach(() => {
    chalk.level = 0
    const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'devkube-logs-')), 'hello')
    mkdirSync(dir)
    config = resolveConfig(dir, {})
    world = {clusters: ['devkube'], objects: [namespaceObject('hello'), deployment()]}
    lines = []
    notices = []
    restore = () => {}
  })
  afterEach(() => {
    restore()
    chalk.level = previousLevel
  })

  it('prints each pod’s recent lines with its short name, oldest pod first', async () => {
    const pods = [pod({name: 'hello-7d9f8b6c4-aaaaa', hash: '7d9f8b6c4', ageSeconds: 600}), pod({name: 'hello-7d9f8b6c4-bbbbb', hash: '7d9f8b6c4', ageSeconds: 60})]
    const runner = new FakeRunner().on((argv) => {
      const {words} = kubectlWords(argv)
      if (words[0] !== 'logs') return undefined
      return words[1].endsWith('aaaaa') ? {stdout: 'listening\nGET /\n'} : {stdout: 'listening\n'}
    })
    restore = setRunner(runner)
    await printLogs(new Kube('devkube'), config, pods, base, output)
    expect(lines).toEqual(['7d9f-aaaaa | listening', '7d9f-aaaaa | GET /', '7d9f-bbbbb | listening'])
    expect(runner.calls.map((call) => call.argv.slice(3))).toEqual([
      ['--namespace', 'hello', 'logs', 'hello-7d9f8b6c4-aaaaa', '-c', 'hello', '--tail=20'],
      ['--namespace', 'hello', 'logs', 'hello-7d9f8b6c4-bbbbb', '-c', 'hello', '--tail=20'],
    ])
  })

  it('names the container when a pod has several, and passes --since, --previous and --tail through', async () => {
    const runner = new FakeRunner().on((argv) => (kubectlWords(argv).words[0] === 'logs' ? {stdout: `from ${argv[argv.indexOf('-c') + 1]}\n`} : undefined))
    restore = setRunner(runner)
    await printLogs(new Kube('devkube'), config, [pod({name: 'hello-5b7c-ccccc', hash: '5b7c', containers: ['hello', 'sidecar']})], {...base, since: '10m', previous: true}, output)
    expect(lines).toEqual(['5b7c-ccccc/hello   | from hello', '5b7c-ccccc/sidecar | from sidecar'])
    expect(runner.calls[0].argv.slice(5)).toEqual(['logs', 'hello-5b7c-ccccc', '-c', 'hello', '--tail=-1', '--since=10m', '--previous'])
  })

  it('says why a pod has no previous logs instead of failing', async () => {
    restore = setRunner(new FakeRunner().on(() => ({exitCode: 1, stderr: 'Error from server (BadRequest): previous terminated container "hello" in pod "hello-5b7c-ccccc" not found\n'})))
    await printLogs(new Kube('devkube'), config, [pod({name: 'hello-5b7c-ccccc', hash: '5b7c'})], {...base, previous: true}, output)
    expect(lines).toEqual([])
    expect(notices).toEqual(['5b7c-ccccc | (previous terminated container "hello" in pod "hello-5b7c-ccccc" not found)'])
  })

  it('says the app is not running when it has no pods', async () => {
    restore = setRunner(worldRunner(world))
    await expect(runLogs(config, new Kube('devkube'), base, output)).rejects.toMatchObject({
      message: 'hello is not running: it has no pods in namespace hello of kind-devkube.',
      hint: '`devkube up` starts it.',
    })
    world.clusters = []
    await expect(runLogs(config, new Kube('devkube'), base, output)).rejects.toMatchObject({message: 'hello is not running: the kind cluster "devkube" does not exist.'})
  })

  it('follows a pod that is replaced: drops the old one, shows the new one from its first line', async () => {
    const first = pod({name: 'hello-aaaa1111-xxxxx', hash: 'aaaa1111', uid: 'u1'})
    world.objects.push(first)
    const runner = streamingWorld(world)
    restore = setRunner(runner)
    const follower = new LogFollower(new Kube('devkube'), config, 'app.kubernetes.io/name=hello', {...base, follow: true}, output, 10)
    const running = follower.run([first])
    await until(() => runner.streams.length === 1, 'the first stream')
    expect(runner.streams[0].argv.slice(5)).toEqual(['logs', 'hello-aaaa1111-xxxxx', '-c', 'hello', '--tail=20', '-f'])
    runner.streams[0].emit('old pod says hi')

    // A redeploy: the old pod goes away, its stream ends, a new pod appears.
    const second = pod({name: 'hello-bbbb2222-yyyyy', hash: 'bbbb2222', uid: 'u2'})
    world.objects = world.objects.filter((entry) => entry !== first).concat(second)
    runner.streams[0].finish(0)
    await until(() => runner.streams.length === 2, 'the stream of the new pod')
    expect(runner.streams[1].argv.slice(5)).toEqual(['logs', 'hello-bbbb2222-yyyyy', '-c', 'hello', '--tail=-1', '-f'])
    runner.streams[1].emit('new pod says hi')

    // The new pod's container restarts: its next instance is followed as well, from its start.
    const restarted: Pod = pod({name: 'hello-bbbb2222-yyyyy', hash: 'bbbb2222', uid: 'u2', restarts: 1})
    runner.streams[1].finish(0)
    world.objects = world.objects.filter((entry) => entry !== second).concat(restarted)
    await until(() => runner.streams.length === 3, 'the stream of the restarted container')
    runner.streams[2].emit('back again')
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(runner.streams).toHaveLength(3)

    await follower.stop()
    await running
    expect(runner.streams.every((stream) => stream.done)).toBe(true)
    expect(runner.streams[2].stopped).toBe(true)
    expect(lines).toEqual(['aaaa-xxxxx | old pod says hi', 'bbbb-yyyyy | new pod says hi', 'bbbb-yyyyy | back again'])
    expect(notices).toEqual(['── aaaa-xxxxx is gone', '── following bbbb-yyyyy (new pod)', '── bbbb-yyyyy: container hello restarted'])
  })

  it('never attaches to a Terminating pod; one it follows is said to be going and runs to its last line', async () => {
    const terminating = (entry: Pod): Pod => ({...entry, metadata: {...entry.metadata, deletionTimestamp: new Date(Date.now() + 30_000).toISOString()}})
    const old = pod({name: 'hello-aaaa1111-xxxxx', hash: 'aaaa1111', uid: 'u1'})
    const current = pod({name: 'hello-bbbb2222-yyyyy', hash: 'bbbb2222', uid: 'u2'})
    world.objects.push(old)
    const runner = streamingWorld(world)
    restore = setRunner(runner)
    const follower = new LogFollower(new Kube('devkube'), config, 'app.kubernetes.io/name=hello', {...base, follow: true}, output, 10)
    const running = follower.run([old])
    await until(() => runner.streams.length === 1, 'the first stream')

    // A redeploy on a real cluster: the old pod stays, Terminating and still running, for its grace period.
    world.objects = world.objects.filter((entry) => entry !== old).concat(terminating(old), current)
    await until(() => runner.streams.length === 2, 'the stream of the new pod')
    await until(() => notices.includes('── aaaa-xxxxx is terminating'), 'the terminating notice')
    runner.streams[0].emit('shutting down')
    expect(runner.streams[0].stopped).toBe(false)
    world.objects = world.objects.filter((entry) => entry.metadata.name !== old.metadata.name)
    runner.streams[0].finish(0)
    await until(() => notices.includes('── aaaa-xxxxx is gone'), 'the gone notice')
    await follower.stop()
    await running
    expect(lines).toEqual(['aaaa-xxxxx | shutting down'])
    expect(notices).toEqual(['── aaaa-xxxxx is terminating', '── following bbbb-yyyyy (new pod)', '── aaaa-xxxxx is gone'])

    // Started while a pod is still Terminating: only the current pod is followed.
    const late = new LogFollower(new Kube('devkube'), config, 'app.kubernetes.io/name=hello', {...base, follow: true}, output, 10)
    world.objects.push(terminating(old))
    const lateRun = late.run([terminating(old), current])
    await until(() => late.following.length === 1, 'the late follower\'s stream')
    expect(late.following).toEqual(['hello-bbbb2222-yyyyy'])
    await late.stop()
    await lateRun
  })

  it('retries a stream that failed before the container was ready, and waits for pods when all are gone', async () => {
    const only = pod({name: 'hello-aaaa1111-xxxxx', hash: 'aaaa1111'})
    world.objects.push(only)
    const runner = streamingWorld(world)
    restore = setRunner(runner)
    const follower = new LogFollower(new Kube('devkube'), config, 'app.kubernetes.io/name=hello', {...base, follow: true}, output, 10)
    const running = follower.run([only])
    await until(() => runner.streams.length === 1, 'the first stream')
    runner.streams[0].finish(1, 'Error from server (BadRequest): container "hello" in pod "hello-aaaa1111-xxxxx" is waiting to start: ContainerCreating')
    await until(() => runner.streams.length === 2, 'the retry')
    world.objects = world.objects.filter((entry) => entry !== only)
    await until(() => notices.includes('── waiting for pods of hello…'), 'the waiting notice')
    await follower.stop()
    await running
    expect(runner.streams.every((stream) => stream.done)).toBe(true)
  })

  it('gives each pod its own colour on a colour terminal, and none without colour', () => {
    const [a, b] = [pod({name: 'hello-7d9f8b6c4-aaaaa', hash: '7d9f8b6c4'}), pod({name: 'hello-7d9f8b6c4-bbbbb', hash: '7d9f8b6c4'})]
    chalk.level = 1
    const coloured = new Prefixer()
    const lineA = coloured.format(a, coloured.label(a, 'hello', false), 'x')
    const lineB = coloured.format(b, coloured.label(b, 'hello', false), 'x')
    expect(lineA).toMatch(/^\u001B\[\d+m7d9f-aaaaa \|\u001B\[39m x$/)
    expect(lineA.slice(0, 5)).not.toBe(lineB.slice(0, 5))
    chalk.level = 0
    const plain = new Prefixer()
    expect(plain.format(a, plain.label(a, 'hello', false), 'x')).toBe('7d9f-aaaaa | x')
  })
})
