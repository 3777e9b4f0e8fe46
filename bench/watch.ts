/**
 * The inner loop of `devkube up --watch` (issue 12): `npm run bench:watch [-- --edits N --speed F]`.
 * For a Python (examples/hello-python) and a Node (examples/hello-node) app, against the fake kind/kubectl with
 * the same simulated latencies and logging shims as bench/run.ts:
 *  - sync path: a one-line change of the source → the URL answers the new text (median of N edits), and
 *    devkube's own time in it: from the save to the "synced" line, minus the time of the tool calls it made;
 *  - rebuild path: the dependency file and the source changed → the URL answers the new text, minus the tools'
 *    time (devkube's overhead beyond the tools).
 * See bench/README.md.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {parseArgs} from 'node:util'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const LATENCY = {create: 25, build: 8, load: 4, rollout: 5, apply: 0.3}
const {values: cli} = parseArgs({options: {edits: {type: 'string', default: '5'}, speed: {type: 'string', default: '0.2'}, apps: {type: 'string', default: 'hello-python,hello-node'}}})
const edits = Number(cli.edits)
const speed = Number(cli.speed)
const epochOffsetMs = Date.now() - performance.now()
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

interface App {
  example: string
  /** The file and the text in it that the edits change. */
  source: string
  greeting: RegExp
  /** The dependency file and a harmless change of it. */
  dependencyFile: string
  touchDependencies: (text: string) => string
  buildArg: string
}

const APPS: App[] = [
  {example: 'hello-python', source: 'app.py', greeting: /return "Hello [^"]*"/, dependencyFile: 'requirements.txt', touchDependencies: (text) => `${text}# bench ${Date.now()}\n`, buildArg: 'PYTHON_IMAGE=devkube-standin/python:3.12'},
  {example: 'hello-node', source: 'server.js', greeting: /'Hello [^']*'/, dependencyFile: 'package.json', touchDependencies: (text) => text.replace(/"description": "[^"]*"/, `"description": "bench ${Date.now()}"`), buildArg: 'NODE_IMAGE=devkube-standin/node:22'},
]

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const {port} = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

async function waitForBody(port: number, expected: string, timeoutMs = 120_000): Promise<number> {
  const deadline = performance.now() + timeoutMs
  while (performance.now() < deadline) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/`, {signal: AbortSignal.timeout(2000)})
      if (response.ok && (await response.text()).includes(expected)) return performance.now()
    } catch {
      // Not answering yet.
    }
    await sleep(20)
  }
  throw new Error(`http://127.0.0.1:${port}/ did not answer "${expected}" within ${timeoutMs / 1000} s`)
}

/** Wall time (ms) within [from, to] during which a finished tool call of the shims' log was running. */
function toolTimeMs(logFile: string, from: number, to: number): number {
  const spans = (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').filter(Boolean) : [])
    .map((line) => line.split('\t'))
    .filter(([, , end]) => end !== '-')
    .map(([, start, end]) => [Math.max(from, Number(start) * 1000 - epochOffsetMs), Math.min(to, Number(end) * 1000 - epochOffsetMs)] as const)
    .filter(([a, b]) => b > a)
    .sort((x, y) => x[0] - y[0])
  let total = 0
  let current: [number, number] | undefined
  for (const [a, b] of spans) {
    if (!current || a > current[1]) {
      if (current) total += current[1] - current[0]
      current = [a, b]
    } else current[1] = Math.max(current[1], b)
  }
  return total + (current ? current[1] - current[0] : 0)
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]

async function measure(app: App): Promise<{syncTotal: number[]; syncOwn: number[]; rebuildTotal: number; rebuildOverhead: number}> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'devkube-bench-watch-'))
  const name = `watch-${app.example}-${process.pid}`
  const appDir = path.join(root, name)
  fs.cpSync(path.join(repoRoot, 'examples', app.example), appDir, {recursive: true})
  const log = path.join(root, 'tools.tsv')
  const port = await freePort()
  const env = {
    ...process.env,
    PATH: [path.join(repoRoot, 'bench', 'fakes'), path.join(repoRoot, 'test', 'fakes', 'bin'), path.join(repoRoot, 'node_modules', '.bin'), process.env.PATH].join(path.delimiter),
    DEVKUBE_FAKE_STATE: path.join(root, 'state'),
    KUBECONFIG: path.join(root, 'kubeconfig'),
    DEVKUBE_FAKE_LATENCY: `create=${LATENCY.create},load=${LATENCY.load},rollout=${LATENCY.rollout},apply=${LATENCY.apply}`,
    DEVKUBE_FAKE_SPEED: String(speed),
    DEVKUBE_BENCH_BUILD_LATENCY: String(LATENCY.build),
    DEVKUBE_BENCH_LOG: log,
    CI: 'true',
    NO_COLOR: '1',
  }
  const sourceFile = path.join(appDir, app.source)
  const setGreeting = (text: string) => fs.writeFileSync(sourceFile, fs.readFileSync(sourceFile, 'utf8').replace(app.greeting, (match) => match.replace(/Hello [^"']*/, text)))
  setGreeting(`Hello World ${name}`)
  let output = ''
  const lineWaiters: Array<{pattern: RegExp; from: number; resolve: (at: number) => void}> = []
  const child: ChildProcess = spawn(process.execPath, [path.join(repoRoot, 'bin', 'run.js'), 'up', '--watch', '--forward', String(port), '--build-arg', app.buildArg], {cwd: appDir, env, stdio: ['ignore', 'pipe', 'pipe']})
  const onOutput = (chunk: Buffer) => {
    output += chunk.toString()
    for (const waiter of [...lineWaiters]) {
      if (waiter.pattern.test(output.slice(waiter.from))) {
        lineWaiters.splice(lineWaiters.indexOf(waiter), 1)
        waiter.resolve(performance.now())
      }
    }
  }
  child.stdout!.on('data', onOutput)
  child.stderr!.on('data', onOutput)
  const printed = (pattern: RegExp, from = output.length, timeoutMs = 300_000) =>
    Promise.race([
      new Promise<number>((resolve) => lineWaiters.push({pattern, from, resolve})),
      sleep(timeoutMs).then(() => Promise.reject(new Error(`no output matching ${pattern} within ${timeoutMs / 1000} s:\n${output.slice(from)}`))),
    ])
  try {
    await printed(/Ctrl-C stops watching/, 0)
    const syncTotal: number[] = []
    const syncOwn: number[] = []
    for (let edit = 1; edit <= edits; edit++) {
      const text = `Hello edit ${edit} ${name}`
      const synced = printed(/→ synced \d+ file/)
      const saved = performance.now()
      setGreeting(text)
      const syncedAt = await synced
      const answered = await waitForBody(port, text)
      syncTotal.push((answered - saved) / 1000)
      syncOwn.push((syncedAt - saved - toolTimeMs(log, saved, syncedAt)) / 1000)
      await sleep(500)
    }
    const text = `Hello rebuilt ${name}`
    const rebuilt = printed(/→ rebuilt/)
    const saved = performance.now()
    const dependencyFile = path.join(appDir, app.dependencyFile)
    fs.writeFileSync(dependencyFile, app.touchDependencies(fs.readFileSync(dependencyFile, 'utf8')))
    setGreeting(text)
    await rebuilt
    const answered = await waitForBody(port, text)
    const rebuildTotal = (answered - saved) / 1000
    return {syncTotal, syncOwn, rebuildTotal, rebuildOverhead: rebuildTotal - toolTimeMs(log, saved, answered) / 1000}
  } finally {
    child.kill('SIGINT')
    if (child.exitCode === null && child.signalCode === null) await new Promise((resolve) => child.once('exit', resolve))
    fs.writeFileSync(path.join(repoRoot, 'bench', 'results', `watch-${app.example}.out`), output)
    // The tool log (one line per kubectl/kind/docker call, see bench/fakes/shim.sh) says where the time went.
    if (fs.existsSync(log)) fs.copyFileSync(log, path.join(repoRoot, 'bench', 'results', `watch-${app.example}.tools.tsv`))
    spawn('kind', ['delete', 'cluster', '--name', 'devkube'], {env, stdio: 'ignore'}).once('exit', () => fs.rmSync(root, {recursive: true, force: true}))
    await sleep(3000)
  }
}

fs.mkdirSync(path.join(repoRoot, 'bench', 'results'), {recursive: true})
const rows: string[] = []
for (const app of APPS.filter((candidate) => cli.apps.split(',').includes(candidate.example))) {
  const result = await measure(app)
  const s = (value: number) => `${value.toFixed(2)} s`
  rows.push(`| ${app.example}: edit → new code answering, sync (median of ${edits}) | **${s(median(result.syncTotal))}** | ${s(Math.min(...result.syncTotal))}–${s(Math.max(...result.syncTotal))} | ≤ 2.0 s |`)
  rows.push(`| ${app.example}: devkube's own time in it | **${s(median(result.syncOwn))}** | ${s(Math.min(...result.syncOwn))}–${s(Math.max(...result.syncOwn))} | ≤ 0.3 s |`)
  rows.push(`| ${app.example}: rebuild path, devkube's overhead beyond the tools | **${s(result.rebuildOverhead)}** (of ${s(result.rebuildTotal)}) | one sample | ≤ 0.3 s |`)
}
console.log(`\nspeed ${speed}, ${edits} edits per app, load average ${os.loadavg()[0].toFixed(1)}\n\n| row | measured | spread | target |\n| --- | --- | --- | --- |\n${rows.join('\n')}\n`)
process.exit(0)
