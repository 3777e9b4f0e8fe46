/**
 * devkube's benchmark: `npm run bench [-- --runs N --speed F]`. See bench/README.md for what each row measures.
 *
 * Every run builds its worlds from nothing: a fresh fake-cluster state folder and kubeconfig, a copy of
 * examples/hello-python under a unique name (so its image is really built), and the fake kind/kubectl of
 * test/fakes with simulated latencies behind the logging shims in bench/fakes. devkube and the manual flow run
 * side by side in the same iteration, in alternating order, and each iteration removes what it made.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {parseArgs} from 'node:util'
import {check, freePort, readToolLog, sleep, snapshotDevkube as copyDevkube, stopProcess, waitForBody, type ToolCall} from './support.js'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const shimDir = path.join(repoRoot, 'bench', 'fakes')
const fakeBinDir = path.join(repoRoot, 'test', 'fakes', 'bin')
const manualFlow = path.join(repoRoot, 'bench', 'manual-flow.sh')
const exampleDir = path.join(repoRoot, 'examples', 'hello-python')
const resultsDir = path.join(repoRoot, 'bench', 'results')
const buildArgs = ['--build-arg', 'PYTHON_IMAGE=devkube-standin/python:3.12']

/** Seconds at speed 1, as a person waits for them on a real machine (the issue's numbers). */
const LATENCY = {create: 25, build: 8, load: 4, rollout: 5, apply: 0.3}

const TARGETS = {coldRatio: 0.6, noChangeSeconds: 0.5, changeOverheadSeconds: 0.3, versionSeconds: 0.25, rssMb: 150}

// ---------- options ----------

const {values: cli} = parseArgs({
  options: {
    runs: {type: 'string', default: '5'},
    speed: {type: 'string', default: '0.2'},
    help: {type: 'boolean', short: 'h'},
  },
})
if (cli.help) {
  console.log('Usage: npm run bench -- [--runs N] [--speed F]\n  --runs N   iterations (default 5; medians need 5 or more)\n  --speed F  factor on every simulated latency (default 0.2; 1 = the real tools\' seconds)')
  process.exit(0)
}
const runs = Number(cli.runs)
const speed = Number(cli.speed)
if (!Number.isInteger(runs) || runs < 1 || !(speed > 0)) {
  console.error('--runs takes a whole number ≥ 1 and --speed a number > 0.')
  process.exit(2)
}

// ---------- processes ----------

interface Exec {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  startedAt: number
  endedAt: number
  /** Peak resident set of the process itself (VmHWM), sampled while it ran; 0 when not sampled. */
  peakRssKb: number
}

interface ExecOptions {
  cwd?: string
  env?: NodeJS.ProcessEnv
  timeoutMs?: number
  sampleRss?: boolean
}

/** Children still running, so that an interrupted bench can end them (by process group) before it cleans up. */
const running = new Set<ChildProcess>()

interface Started {
  child: ChildProcess
  done: Promise<Exec>
}

/** Starts a command in its own process group (killed with it after timeoutMs). `done` never rejects for a non-zero exit. */
function start(argv: string[], options: ExecOptions = {}): Started {
  const startedAt = performance.now()
  const child = spawn(argv[0], argv.slice(1), {cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true})
  running.add(child)
  const done = new Promise<Exec>((resolve, reject) => {
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const sampler = options.sampleRss ? sampleRss(child) : undefined
    const timer = setTimeout(() => killGroup(child), options.timeoutMs ?? 180_000)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      running.delete(child)
      const endedAt = performance.now()
      clearTimeout(timer)
      resolve({code, signal, stdout, stderr, startedAt, endedAt, peakRssKb: sampler?.stop() ?? 0})
    })
  })
  return {child, done}
}

function exec(argv: string[], options: ExecOptions = {}): Promise<Exec> {
  return start(argv, options).done
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (child.pid === undefined) return
  try {
    process.kill(-child.pid, signal)
  } catch {
    // already gone
  }
}

/** VmHWM is the kernel's own high-water mark of the process's RSS: the last sample before exit is its peak. */
function sampleRss(child: ChildProcess): {stop: () => number} {
  let peak = 0
  const read = () => {
    if (child.pid === undefined) return
    try {
      const match = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'))
      if (match) peak = Math.max(peak, Number(match[1]))
    } catch {
      // exited between samples
    }
  }
  const timer = setInterval(read, 10)
  return {
    stop() {
      clearInterval(timer)
      return peak
    },
  }
}

function peakRssOf(pid: number): number {
  try {
    return Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0)
  } catch {
    return 0
  }
}

/** Wall time (ms) within [from, to] during which at least one finished tool call was running. */
function toolTimeMs(calls: ToolCall[], from: number, to: number): number {
  const spans = calls
    .filter((call) => call.end !== undefined)
    .map((call) => [Math.max(from, call.start), Math.min(to, call.end!)] as const)
    .filter(([a, b]) => b > a)
    .sort((x, y) => x[0] - y[0])
  let total = 0
  let [curStart, curEnd] = [Number.NaN, Number.NaN]
  for (const [a, b] of spans) {
    if (Number.isNaN(curStart) || a > curEnd) {
      if (!Number.isNaN(curStart)) total += curEnd - curStart
      ;[curStart, curEnd] = [a, b]
    } else curEnd = Math.max(curEnd, b)
  }
  if (!Number.isNaN(curStart)) total += curEnd - curStart
  return total
}

/**
 * Where a command's own time (wall minus tool time) goes: start-up (spawn to its first tool call), the gaps
 * between tool calls, and the tail after the last one.
 */
function ownTimeParts(calls: ToolCall[], from: number, to: number): {startupS: number; gapsS: number; tailS: number} {
  const finished = calls.filter((call) => !call.nested && call.end !== undefined && call.start >= from && call.end <= to)
  if (finished.length === 0) return {startupS: seconds(to - from), gapsS: 0, tailS: 0}
  const first = Math.min(...finished.map((call) => call.start))
  const last = Math.max(...finished.map((call) => call.end!))
  const own = to - from - toolTimeMs(calls, from, to)
  return {startupS: seconds(first - from), gapsS: seconds(own - (first - from) - (to - last)), tailS: seconds(to - last)}
}

/** The calls that change something: docker build, kind load, kubectl apply (made by devkube itself). */
function changingCalls(calls: ToolCall[]): {build: number; load: number; apply: number} {
  const top = calls.filter((call) => !call.nested)
  const has = (tool: string, pattern: RegExp) => top.filter((call) => call.tool === tool && pattern.test(` ${call.args} `)).length
  return {build: has('docker', /^ (image |buildx )?build /), load: has('kind', / load /), apply: has('kubectl', / apply /)}
}

// ---------- worlds: one app, one fake cluster, cleaned up afterwards ----------

const runId = randomBytes(3).toString('hex')
const benchRoot = fs.mkdtempSync(path.join(os.tmpdir(), `devkube-bench-${runId}-`))
/** The devkube under test: a snapshot of the build (see snapshotDevkube). */
const devkubeRoot = path.join(benchRoot, 'devkube')
const devkubeBin = path.join(devkubeRoot, 'bin', 'run.js')

/**
 * Copies the built CLI (bin, dist, templates, package.json, oclif.manifest.json when the build made one) so that
 * a rebuild of the checkout during the run (`npm run build` empties dist/ first) cannot break or change it.
 */
async function snapshotDevkube(): Promise<void> {
  // scripts/bench.sh may still be building dist/ when this starts.
  for (let i = 0; i < 60 && !fs.existsSync(path.join(repoRoot, 'dist', 'commands', 'up.js')); i++) await sleep(1000)
  copyDevkube(repoRoot, devkubeRoot)
}
const worlds = new Set<World>()

class World {
  readonly root: string
  readonly appDir: string
  readonly stateDir: string
  readonly logDir: string
  readonly env: NodeJS.ProcessEnv
  private logCount = 0

  constructor(
    readonly name: string,
    readonly cluster: string,
    readonly port: number,
  ) {
    this.root = path.join(benchRoot, name)
    this.appDir = path.join(this.root, name)
    this.stateDir = path.join(this.root, 'state')
    this.logDir = path.join(this.root, 'logs')
    fs.mkdirSync(this.logDir, {recursive: true})
    fs.cpSync(exampleDir, this.appDir, {recursive: true})
    const env: NodeJS.ProcessEnv = {...process.env}
    delete env.DEVKUBE_BENCH_SHIM
    delete env.DEVKUBE_BENCH_LOG
    Object.assign(env, {
      PATH: [shimDir, fakeBinDir, path.join(repoRoot, 'node_modules', '.bin'), process.env.PATH].join(path.delimiter),
      DEVKUBE_FAKE_STATE: this.stateDir,
      KUBECONFIG: path.join(this.root, 'kubeconfig'),
      DEVKUBE_FAKE_LATENCY: `create=${LATENCY.create},load=${LATENCY.load},rollout=${LATENCY.rollout},apply=${LATENCY.apply}`,
      DEVKUBE_FAKE_SPEED: String(speed),
      DEVKUBE_BENCH_BUILD_LATENCY: String(LATENCY.build),
      CI: 'true',
      NO_COLOR: '1',
    })
    this.env = env
    worlds.add(this)
  }

  /** A fresh tool-call log for the next command. */
  newLog(label: string): string {
    return path.join(this.logDir, `${String(++this.logCount).padStart(2, '0')}-${label}.tsv`)
  }

  /** Runs devkube; its output is kept next to the tool-call log. */
  async devkube(args: string[], log: string, options: {sampleRss?: boolean; timeoutMs?: number} = {}): Promise<Exec> {
    const result = await this.startDevkube(args, log, options).done
    fs.writeFileSync(log.replace(/\.tsv$/, '.out'), `$ devkube ${args.join(' ')}\n${result.stdout}${result.stderr}`)
    return result
  }

  startDevkube(args: string[], log: string, options: {sampleRss?: boolean; timeoutMs?: number} = {}): Started {
    return start([process.execPath, devkubeBin, ...args], {cwd: this.appDir, env: {...this.env, DEVKUBE_BENCH_LOG: log}, ...options})
  }

  /** Makes the app's answer (and so its image) unique: the build can never be a cache hit of an earlier run. */
  setGreeting(text: string): void {
    const file = path.join(this.appDir, 'app.py')
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/return "Hello World[^"]*"/, `return "${text}"`))
  }

  forwarderPid(): number | undefined {
    try {
      return (JSON.parse(fs.readFileSync(path.join(this.appDir, '.devkube', 'forward-dev.json'), 'utf8')) as {pid: number}).pid
    } catch {
      return undefined
    }
  }

  /** Stops the forwarder devkube started for this world, deletes the fake cluster and the images, removes the files. */
  async cleanup(): Promise<void> {
    if (!worlds.has(this)) return
    worlds.delete(this)
    const pid = this.forwarderPid()
    if (pid !== undefined) await stopProcess(pid)
    await exec(['kind', 'delete', 'cluster', '--name', this.cluster], {env: this.env, timeoutMs: 60_000})
    // Containers the fakes labelled for this state folder, should `kind delete` have missed one.
    // (the label of test/fakes/lib/util.mjs stateLabel())
    const label = 'devkube.fake.state=' + createHash('sha256').update(path.resolve(this.stateDir)).digest('hex').slice(0, 16)
    const ids = (await exec(['docker', 'ps', '-aq', '--filter', `label=${label}`])).stdout.split('\n').filter(Boolean)
    if (ids.length) await exec(['docker', 'rm', '-f', ...ids])
    for (const repository of [`devkube.local/${this.name}`, `manual.local/${this.name}`]) {
      const images = (await exec(['docker', 'image', 'ls', '-q', repository])).stdout.split('\n').filter(Boolean)
      if (images.length === 0) continue
      const removed = await exec(['docker', 'rmi', '-f', ...new Set(images)])
      if (removed.code !== 0) console.error(`cleanup: docker rmi ${repository} failed: ${removed.stderr.trim()}`)
    }
    // The tool-call logs stay for a look at where the time went.
    fs.cpSync(this.logDir, path.join(resultsDir, 'logs', this.name), {recursive: true})
    fs.rmSync(this.root, {recursive: true, force: true})
  }
}

let cleaningUp = false
async function cleanupAll(): Promise<void> {
  if (cleaningUp) return
  cleaningUp = true
  for (const world of [...worlds]) await world.cleanup().catch((error: Error) => console.error(`cleanup of ${world.name}: ${error.message}`))
  if (nodeRebuildTags.size > 0) await exec(['docker', 'image', 'rm', '-f', ...nodeRebuildTags])
  fs.rmSync(benchRoot, {recursive: true, force: true})
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: cleaning up…`)
    for (const child of running) killGroup(child)
    void cleanupAll().then(() => process.exit(130))
  })
}

// ---------- one iteration ----------

interface Sample {
  coldDevkubeS: number
  coldManualS: number
  coldRatio: number
  coldUpRssMb: number
  noChangeWallS: number
  noChangeOwnS: number
  noChangeCalls: {build: number; load: number; apply: number}
  noChangeToolCalls: number
  noChangeUpRssMb: number
  noChangeOwnParts: ReturnType<typeof ownTimeParts>
  changeTotalS: number
  changeToolsS: number
  changeOverheadS: number
  changeUpWallS: number
  changeUpOverheadS: number
  changeUpRssMb: number
  changeUpOwnParts: ReturnType<typeof ownTimeParts>
  /** From `up` returning to the URL answering with the new text (the background forwarder reconnecting). */
  changeForwardGapS: number
  forwarderRssMb: number
  logsRssMb: number
  startup: {nodeS: number[]; versionS: number[]; statusWallS: number[]; statusOwnS: number[]}
  toolCallMs: Record<string, number[]>
}

const mb = (kb: number) => kb / 1024
const seconds = (ms: number) => ms / 1000

async function iteration(index: number, template: {dockerfile: string; dockerignore: string}): Promise<Sample> {
  const name = `bench-${runId}-${index}`
  const devkubeWorld = new World(`${name}`, 'devkube', await freePort())
  const manualWorld = new World(`${name}-m`, 'manual', await freePort())
  try {
    // Unique answers, so both builds really run: neither side may find the other's layers in Docker's cache.
    const greeting = `Hello World ${runId}-${index}`
    devkubeWorld.setGreeting(greeting)
    manualWorld.setGreeting(`${greeting} (by hand)`)
    fs.writeFileSync(path.join(manualWorld.appDir, 'Dockerfile'), template.dockerfile)
    fs.writeFileSync(path.join(manualWorld.appDir, '.dockerignore'), template.dockerignore)

    // Row 1: cold start, side by side; the order alternates so neither side always runs on a warmer machine.
    const runDevkubeCold = async () => {
      const log = devkubeWorld.newLog('cold-up')
      const result = check(await devkubeWorld.devkube(['up', '--detach', '--forward', String(devkubeWorld.port), ...buildArgs], log, {sampleRss: true}), 'cold devkube up')
      const answered = await waitForBody(devkubeWorld.port, greeting)
      return {seconds: seconds(answered - result.startedAt), rssMb: mb(result.peakRssKb), log}
    }
    const runManualCold = async () => {
      const log = manualWorld.newLog('manual')
      const result = check(await exec(['bash', '-x', manualFlow, manualWorld.appDir, manualWorld.name, String(manualWorld.port), ...buildArgs], {env: {...manualWorld.env, DEVKUBE_BENCH_LOG: log}}), 'manual flow')
      if (!result.stdout.includes(`${greeting} (by hand)`)) throw new Error(`the manual flow's app answered ${JSON.stringify(result.stdout.trim().split('\n').at(-1))}`)
      fs.writeFileSync(log.replace(/\.tsv$/, '.out'), `${result.stdout}${result.stderr}`)
      return {seconds: seconds(result.endedAt - result.startedAt), log}
    }
    let cold: Awaited<ReturnType<typeof runDevkubeCold>>
    let manual: Awaited<ReturnType<typeof runManualCold>>
    if (index % 2 === 0) {
      cold = await runDevkubeCold()
      manual = await runManualCold()
    } else {
      manual = await runManualCold()
      cold = await runDevkubeCold()
    }
    await manualWorld.cleanup()

    // Row 2: nothing changed.
    const noChangeLog = devkubeWorld.newLog('nochange-up')
    const noChange = check(await devkubeWorld.devkube(['up', '--detach', '--forward', String(devkubeWorld.port), ...buildArgs], noChangeLog, {sampleRss: true}), 'no-change devkube up')
    const noChangeCalls = readToolLog(noChangeLog)
    const noChangeWall = noChange.endedAt - noChange.startedAt

    // Row 4: start-up, against a deployed app (status asks the cluster).
    const startup: Sample['startup'] = {nodeS: [], versionS: [], statusWallS: [], statusOwnS: []}
    for (let i = 0; i < 3; i++) {
      const node = check(await exec([process.execPath, '-e', '0']), 'node -e 0')
      startup.nodeS.push(seconds(node.endedAt - node.startedAt))
      const version = check(await devkubeWorld.devkube(['--version'], devkubeWorld.newLog('version')), 'devkube --version')
      startup.versionS.push(seconds(version.endedAt - version.startedAt))
      const statusLog = devkubeWorld.newLog('status')
      const status = check(await devkubeWorld.devkube(['status'], statusLog), 'devkube status')
      startup.statusWallS.push(seconds(status.endedAt - status.startedAt))
      startup.statusOwnS.push(seconds(status.endedAt - status.startedAt - toolTimeMs(readToolLog(statusLog), status.startedAt, status.endedAt)))
    }

    // Row 3: a one-line source change, until the URL answers with the new text.
    const changed = `Hello again ${runId}-${index}`
    devkubeWorld.setGreeting(changed)
    const changeLog = devkubeWorld.newLog('change-up')
    const change = check(await devkubeWorld.devkube(['up', '--detach', '--forward', String(devkubeWorld.port), ...buildArgs], changeLog, {sampleRss: true}), 'devkube up after a change')
    const answered = await waitForBody(devkubeWorld.port, changed)
    const changeCalls = readToolLog(changeLog)
    const changeTotal = answered - change.startedAt
    const changeTools = toolTimeMs(changeCalls, change.startedAt, change.endedAt)

    // Row 5: logs -f while the app answers some requests.
    const logsRun = devkubeWorld.startDevkube(['logs', '-f'], devkubeWorld.newLog('logs'), {sampleRss: true, timeoutMs: 30_000})
    for (let i = 0; i < 20; i++) {
      await fetch(`http://127.0.0.1:${devkubeWorld.port}/`, {signal: AbortSignal.timeout(2000)}).then((r) => r.text()).catch(() => '')
      await sleep(100)
    }
    await sleep(1000)
    logsRun.child.kill('SIGINT')
    const logs = await logsRun.done
    const forwarderPid = devkubeWorld.forwarderPid()

    const toolCallMs: Record<string, number[]> = {}
    for (const file of fs.readdirSync(devkubeWorld.logDir).filter((name) => name.endsWith('.tsv'))) {
      for (const call of readToolLog(path.join(devkubeWorld.logDir, file))) {
        if (call.end === undefined || call.nested) continue
        const key = `${call.tool} ${call.args.replace(/--context \S+ |--namespace \S+ /g, '').split(' ')[0]}`
        ;(toolCallMs[key] ??= []).push(call.end - call.start)
      }
    }

    const sample: Sample = {
      coldDevkubeS: cold.seconds,
      coldManualS: manual.seconds,
      coldRatio: cold.seconds / manual.seconds,
      coldUpRssMb: cold.rssMb,
      noChangeWallS: seconds(noChangeWall),
      noChangeOwnS: seconds(noChangeWall - toolTimeMs(noChangeCalls, noChange.startedAt, noChange.endedAt)),
      noChangeCalls: changingCalls(noChangeCalls),
      noChangeToolCalls: noChangeCalls.filter((call) => !call.nested).length,
      noChangeUpRssMb: mb(noChange.peakRssKb),
      noChangeOwnParts: ownTimeParts(noChangeCalls, noChange.startedAt, noChange.endedAt),
      changeTotalS: seconds(changeTotal),
      changeToolsS: seconds(changeTools),
      changeOverheadS: seconds(changeTotal - changeTools),
      changeUpWallS: seconds(change.endedAt - change.startedAt),
      changeUpOverheadS: seconds(change.endedAt - change.startedAt - changeTools),
      changeUpRssMb: mb(change.peakRssKb),
      changeUpOwnParts: ownTimeParts(changeCalls, change.startedAt, change.endedAt),
      changeForwardGapS: seconds(answered - change.endedAt),
      forwarderRssMb: forwarderPid === undefined ? 0 : mb(peakRssOf(forwarderPid)),
      logsRssMb: mb(logs.peakRssKb),
      startup,
      toolCallMs,
    }
    return sample
  } finally {
    await manualWorld.cleanup()
    await devkubeWorld.cleanup()
  }
}

// ---------- statistics and the table ----------

interface Stat {
  median: number
  min: number
  max: number
  q1: number
  q3: number
  n: number
}

// ---------- Node: a one-line change reuses the dependency layer ----------

/**
 * Once per bench (a cold Node build takes tens of seconds): the Vite fixture's Dockerfile as `init` writes it, built
 * cold, then again after a one-line source change. The rebuild must find the install step in the cache (no
 * "added N packages" in its log). Real `docker build` on the stand-in images, no simulated latency.
 */
async function nodeRebuild(): Promise<{coldS: number; rebuildS: number; installRan: boolean}> {
  const dir = path.join(benchRoot, 'node-rebuild', 'vite-react')
  fs.cpSync(path.join(repoRoot, 'test', 'fixtures', 'node', 'vite-react'), dir, {recursive: true})
  // A manifest unique to this run, so the cold build's install cannot come from an earlier build's cache.
  const manifest = path.join(dir, 'package.json')
  fs.writeFileSync(manifest, JSON.stringify({...JSON.parse(fs.readFileSync(manifest, 'utf8')), description: `devkube bench ${runId}`}, null, 2))
  check(await exec(['node', devkubeBin, 'init', '--yes'], {cwd: dir}), 'devkube init of the Vite fixture')
  const tag = `devkube-bench/node-rebuild:${runId}`
  nodeRebuildTags.add(tag)
  const build = async () => {
    const result = check(
      await exec(['docker', 'build', '--build-arg', 'NODE_IMAGE=devkube-standin/node:22', '--build-arg', 'NGINX_IMAGE=devkube-standin/nginx:latest', '-t', tag, '.'], {cwd: dir, env: {...process.env, DOCKER_BUILDKIT: '0'}, timeoutMs: 600_000}),
      'docker build of the Vite fixture',
    )
    fs.writeFileSync(path.join(resultsDir, 'logs', `node-rebuild-${nodeRebuildTags.size}-${Date.now()}.log`), result.stdout + result.stderr)
    return result
  }
  const cold = await build()
  const app = path.join(dir, 'src', 'App.jsx')
  fs.writeFileSync(app, fs.readFileSync(app, 'utf8').replace('<h1>Vite + React</h1>', '<h1>Vite + React, changed</h1>'))
  const rebuild = await build()
  const installRan = /added \d+ packages/.test(rebuild.stdout) || !/RUN npm ci[^\n]*\n ---> Using cache/.test(rebuild.stdout)
  return {coldS: seconds(cold.endedAt - cold.startedAt), rebuildS: seconds(rebuild.endedAt - rebuild.startedAt), installRan}
}

const nodeRebuildTags = new Set<string>()

function stat(values: number[]): Stat {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q: number) => {
    const pos = (sorted.length - 1) * q
    const lower = Math.floor(pos)
    return sorted[lower] + (sorted[Math.ceil(pos)] - sorted[lower]) * (pos - lower)
  }
  return {median: at(0.5), min: sorted[0], max: sorted.at(-1)!, q1: at(0.25), q3: at(0.75), n: sorted.length}
}

interface Row {
  id: string
  what: string
  stat: Stat
  unit: 's' | '×' | 'MB' | 'calls'
  target?: number
  /** Extra context printed after the row. */
  note?: string
}

function format(value: number, unit: Row['unit']): string {
  if (unit === '×') return `${value.toFixed(2)}×`
  if (unit === 'MB') return `${value.toFixed(0)} MB`
  if (unit === 'calls') return `${value}`
  return `${value.toFixed(value < 1 ? 3 : 2)} s`
}

function renderTable(rows: Row[]): string {
  const header = ['row', 'measured (median)', 'spread (min–max)', 'target', 'met?']
  const lines = rows.map((row) => [
    `${row.id} ${row.what}`,
    format(row.stat.median, row.unit),
    row.stat.n > 1 ? `${format(row.stat.min, row.unit)}–${format(row.stat.max, row.unit)}` : '',
    row.target === undefined ? '—' : `≤ ${format(row.target, row.unit)}`,
    row.target === undefined ? '(info)' : row.stat.median <= row.target ? 'yes' : 'NO',
  ])
  const widths = header.map((cell, i) => Math.max(cell.length, ...lines.map((line) => line[i].length)))
  const render = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i])).join(' | ')} |`
  return [render(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(render)].join('\n')
}

// ---------- main ----------

async function main(): Promise<void> {
  await snapshotDevkube()
  check(await exec(['docker', 'image', 'inspect', 'devkube-standin/python:3.12']), 'the stand-in base image devkube-standin/python:3.12 (run `bash scripts/standin-images.sh`)')

  // The manual flow's Dockerfile is the one devkube writes, so both sides build the same thing.
  const templateWorld = new World(`bench-${runId}-t`, 'template', 0)
  check(await templateWorld.devkube(['init', '--yes'], templateWorld.newLog('init')), 'devkube init')
  const template = {
    dockerfile: fs.readFileSync(path.join(templateWorld.appDir, 'Dockerfile'), 'utf8'),
    dockerignore: fs.readFileSync(path.join(templateWorld.appDir, '.dockerignore'), 'utf8'),
  }
  fs.rmSync(templateWorld.root, {recursive: true, force: true})
  worlds.delete(templateWorld)

  fs.rmSync(path.join(resultsDir, 'logs'), {recursive: true, force: true})
  const started = performance.now()
  const loadAtStart = os.loadavg()
  console.log(`devkube bench: ${runs} runs at speed ${speed} (latencies at speed 1: kind create ${LATENCY.create} s, docker build ${LATENCY.build} s, kind load ${LATENCY.load} s, rollout ${LATENCY.rollout} s, apply ${LATENCY.apply} s)`)
  const samples: Sample[] = []
  for (let i = 0; i < runs; i++) {
    const sample = await iteration(i, template)
    samples.push(sample)
    console.log(
      `  run ${i + 1}/${runs}: cold ${sample.coldDevkubeS.toFixed(2)} s vs manual ${sample.coldManualS.toFixed(2)} s (${sample.coldRatio.toFixed(2)}×), ` +
        `no-change ${sample.noChangeWallS.toFixed(2)} s (own ${sample.noChangeOwnS.toFixed(2)} s), change ${sample.changeTotalS.toFixed(2)} s (overhead ${sample.changeOverheadS.toFixed(2)} s)`,
    )
  }

  fs.mkdirSync(path.join(resultsDir, 'logs'), {recursive: true})
  const node = await nodeRebuild()
  console.log(`  node: cold build ${node.coldS.toFixed(1)} s, rebuild after a one-line change ${node.rebuildS.toFixed(1)} s (install ${node.installRan ? 'RAN' : 'cached'})`)

  const all = <K extends keyof Sample>(key: K) => samples.map((sample) => sample[key] as number)
  const flat = (pick: (s: Sample) => number[]) => samples.flatMap(pick)
  const ideal = (LATENCY.create + LATENCY.load + LATENCY.apply + LATENCY.rollout) / (LATENCY.create + LATENCY.build + LATENCY.load + LATENCY.apply + LATENCY.rollout)
  const part = (pick: (s: Sample) => number) => stat(samples.map(pick)).median.toFixed(2)
  const calls = samples.map((sample) => sample.noChangeCalls.build + sample.noChangeCalls.load + sample.noChangeCalls.apply)
  const rows: Row[] = [
    {id: '1', what: 'cold up ÷ manual flow', stat: stat(all('coldRatio')), unit: '×', target: TARGETS.coldRatio, note: `devkube ${stat(all('coldDevkubeS')).median.toFixed(2)} s vs manual ${stat(all('coldManualS')).median.toFixed(2)} s; the dependency bound (create→load→apply→rollout) is ${ideal.toFixed(2)}×`},
    {id: '2a', what: 'no-change up: own time', stat: stat(all('noChangeOwnS')), unit: 's', target: TARGETS.noChangeSeconds},
    {id: '2b', what: 'no-change up: wall time', stat: stat(all('noChangeWallS')), unit: 's', note: `${stat(all('noChangeToolCalls')).median} tool calls per run; own time = start-up ${part((s) => s.noChangeOwnParts.startupS)} s + between calls ${part((s) => s.noChangeOwnParts.gapsS)} s + after the last ${part((s) => s.noChangeOwnParts.tailS)} s`},
    {id: '2c', what: 'no-change up: build+load+apply calls', stat: stat(calls), unit: 'calls', target: 0},
    {id: '3', what: 'change → new pods answer: overhead', stat: stat(all('changeOverheadS')), unit: 's', target: TARGETS.changeOverheadSeconds, note: `total ${stat(all('changeTotalS')).median.toFixed(2)} s, tools ${stat(all('changeToolsS')).median.toFixed(2)} s; \`up\` itself ${stat(all('changeUpWallS')).median.toFixed(2)} s, own time ${stat(all('changeUpOverheadS')).median.toFixed(2)} s = start-up ${part((s) => s.changeUpOwnParts.startupS)} s + between calls ${part((s) => s.changeUpOwnParts.gapsS)} s + after the last ${part((s) => s.changeUpOwnParts.tailS)} s; then ${stat(all('changeForwardGapS')).median.toFixed(2)} s until the forwarder serves the new pod`},
    {id: '4a', what: 'devkube --version', stat: stat(flat((s) => s.startup.versionS)), unit: 's', target: TARGETS.versionSeconds},
    {id: '4b', what: 'devkube status: wall time', stat: stat(flat((s) => s.startup.statusWallS)), unit: 's'},
    {id: '4c', what: 'devkube status: own time', stat: stat(flat((s) => s.startup.statusOwnS)), unit: 's'},
    {id: '4d', what: 'node -e 0 (the floor)', stat: stat(flat((s) => s.startup.nodeS)), unit: 's'},
    {id: '5a', what: 'peak RSS: devkube up (cold)', stat: stat(all('coldUpRssMb')), unit: 'MB', target: TARGETS.rssMb},
    {id: '5b', what: 'peak RSS: devkube logs -f', stat: stat(all('logsRssMb')), unit: 'MB', target: TARGETS.rssMb},
    {id: '5c', what: 'peak RSS: background forwarder', stat: stat(all('forwarderRssMb')), unit: 'MB'},
    {id: '6a', what: 'Node (Vite) rebuild after a one-line change', stat: stat([node.rebuildS]), unit: 's', note: `vs a cold build of ${node.coldS.toFixed(1)} s (${(node.rebuildS / node.coldS).toFixed(2)}×); the install step ${node.installRan ? 'RAN again' : 'came from the cache (no install in the build log)'}`},
    {id: '6b', what: 'Node (Vite) cold build', stat: stat([node.coldS]), unit: 's'},
    {id: '6c', what: 'Node rebuild: install steps run', stat: stat([node.installRan ? 1 : 0]), unit: 'calls', target: 0},
  ]
  console.log(`\n${renderTable(rows)}\n`)
  for (const row of rows) if (row.note) console.log(`${row.id}: ${row.note}`)
  const versionMedian = stat(flat((s) => s.startup.versionS)).median
  const nodeMedian = stat(flat((s) => s.startup.nodeS)).median
  console.log(`4: --version is ${(versionMedian / nodeMedian).toFixed(1)}× node -e 0`)

  const toolCallMs: Record<string, Stat> = {}
  const merged: Record<string, number[]> = {}
  for (const sample of samples) for (const [key, values] of Object.entries(sample.toolCallMs)) (merged[key] ??= []).push(...values)
  for (const [key, values] of Object.entries(merged).sort()) toolCallMs[key] = stat(values)
  const quick = ['docker version', 'docker image', 'kind version', 'kind get', 'kubectl version', 'kubectl get', 'kubectl config', 'kubectl kustomize']
  console.log(`tool calls (median ms, through the shims): ${quick.filter((key) => toolCallMs[key]).map((key) => `${key} ${toolCallMs[key].median.toFixed(0)}`).join(', ')}`)
  console.log(`load average (1 min) ${loadAtStart[0].toFixed(1)} at the start, ${os.loadavg()[0].toFixed(1)} at the end, on ${os.cpus().length} CPUs`)
  console.log(`\n${((performance.now() - started) / 1000).toFixed(0)} s in all; results in ${path.relative(process.cwd(), path.join(resultsDir, 'latest.json'))} (and a dated copy), tool-call logs in ${path.relative(process.cwd(), path.join(resultsDir, 'logs'))}/`)

  fs.mkdirSync(resultsDir, {recursive: true})
  const results = {
    date: new Date().toISOString(),
    runs,
    speed,
    latencySeconds: LATENCY,
    machine: {cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memoryGb: Math.round(os.totalmem() / 2 ** 30), node: process.version, loadavgAtStart: loadAtStart, loadavgAtEnd: os.loadavg()},
    rows: rows.map((row) => ({id: row.id, what: row.what, unit: row.unit, ...row.stat, target: row.target ?? null, met: row.target === undefined ? null : row.stat.median <= row.target, note: row.note ?? null})),
    toolCallMs,
    samples,
  }
  const json = JSON.stringify(results, null, 2) + '\n'
  fs.writeFileSync(path.join(resultsDir, 'latest.json'), json)
  fs.writeFileSync(path.join(resultsDir, `${results.date.replaceAll(':', '-').slice(0, 19)}-speed-${speed}.json`), json)
}

try {
  await main()
} catch (error) {
  console.error(`bench failed: ${(error as Error).message}`)
  process.exitCode = 1
} finally {
  await cleanupAll()
}
