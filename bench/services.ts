/**
 * `npm run bench:services [-- --runs N --speed F]`: cold `up` of a three-service app (two built services and a
 * postgres backing service they both depend on) ÷ cold `up` of the single-service app, both in the same run.
 * Same fakes, latencies and logging shims as bench/run.ts (see bench/README.md, "Services").
 */
import {createHash, randomBytes} from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {check, exec, freePort, killGroup, median, readToolLog, running, runsAndSpeed, snapshotDevkube, stopProcess, waitForBody, type ToolCall} from './support.js'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const example = path.join(repoRoot, 'examples', 'hello-python')
const resultsDir = path.join(repoRoot, 'bench', 'results')
const buildArgs = ['--build-arg', 'PYTHON_IMAGE=devkube-standin/python:3.12']
/** The offline stand-in of postgres:16 (scripts/standin-images.sh). */
const POSTGRES_IMAGE = 'devkube-standin/postgres:16'
/** Seconds at speed 1: bench/run.ts's numbers. */
const LATENCY = {create: 25, build: 8, load: 4, rollout: 5, apply: 0.3}
const TARGET_RATIO = 1.2

const {runs, speed} = runsAndSpeed('0.2')

const runId = randomBytes(3).toString('hex')
const benchRoot = fs.mkdtempSync(path.join(os.tmpdir(), `devkube-bench-services-${runId}-`))
const devkubeRoot = path.join(benchRoot, 'devkube')
const devkubeBin = path.join(devkubeRoot, 'bin', 'run.js')

/** One app folder and its own fake cluster, kubeconfig and tool-call log; cleaned up afterwards. */
class World {
  readonly root: string
  readonly appDir: string
  readonly stateDir: string
  readonly log: string
  readonly env: NodeJS.ProcessEnv
  /** The image repositories its `up` builds into, removed at clean-up. */
  repositories: string[] = []

  constructor(readonly name: string) {
    this.root = path.join(benchRoot, name)
    this.appDir = path.join(this.root, name)
    this.stateDir = path.join(this.root, 'state')
    this.log = path.join(this.root, 'tools.tsv')
    fs.mkdirSync(this.appDir, {recursive: true})
    const env: NodeJS.ProcessEnv = {...process.env}
    delete env.DEVKUBE_BENCH_SHIM
    Object.assign(env, {
      PATH: [path.join(repoRoot, 'bench', 'fakes'), path.join(repoRoot, 'test', 'fakes', 'bin'), process.env.PATH].join(path.delimiter),
      DEVKUBE_FAKE_STATE: this.stateDir,
      KUBECONFIG: path.join(this.root, 'kubeconfig'),
      DEVKUBE_FAKE_LATENCY: `create=${LATENCY.create},load=${LATENCY.load},rollout=${LATENCY.rollout},apply=${LATENCY.apply}`,
      DEVKUBE_FAKE_SPEED: String(speed),
      DEVKUBE_BENCH_BUILD_LATENCY: String(LATENCY.build),
      DEVKUBE_BENCH_LOG: this.log,
      CI: 'true',
      NO_COLOR: '1',
    })
    this.env = env
  }

  /** A built service's folder: examples/hello-python with the Dockerfile devkube writes and its own answer. */
  addService(folder: string, greeting: string, template: Template): void {
    const dir = path.join(this.appDir, folder)
    fs.cpSync(example, dir, {recursive: true})
    const app = path.join(dir, 'app.py')
    fs.writeFileSync(app, fs.readFileSync(app, 'utf8').replace(/return "Hello World[^"]*"/, `return "${greeting}"`))
    fs.writeFileSync(path.join(dir, 'Dockerfile'), template.dockerfile)
    fs.writeFileSync(path.join(dir, '.dockerignore'), template.dockerignore)
  }

  up(args: string[]) {
    return exec([process.execPath, devkubeBin, 'up', '--detach', ...buildArgs, ...args], {cwd: this.appDir, env: this.env, timeoutMs: 300_000})
  }

  async cleanup(): Promise<void> {
    try {
      const record = JSON.parse(fs.readFileSync(path.join(this.appDir, '.devkube', 'forward-dev.json'), 'utf8')) as {pid: number}
      await stopProcess(record.pid)
    } catch {
      // no forwarder
    }
    await exec(['kind', 'delete', 'cluster', '--name', 'devkube'], {env: this.env, timeoutMs: 60_000})
    // Containers and volumes the fakes labelled for this state folder (test/fakes/lib/util.mjs stateLabel()).
    const label = 'devkube.fake.state=' + createHash('sha256').update(path.resolve(this.stateDir)).digest('hex').slice(0, 16)
    const ids = (await exec(['docker', 'ps', '-aq', '--filter', `label=${label}`])).stdout.split('\n').filter(Boolean)
    if (ids.length) await exec(['docker', 'rm', '-f', ...ids])
    const volumes = (await exec(['docker', 'volume', 'ls', '-q', '--filter', `label=${label}`])).stdout.split('\n').filter(Boolean)
    if (volumes.length) await exec(['docker', 'volume', 'rm', '-f', ...volumes])
    for (const repository of this.repositories) {
      const ids = (await exec(['docker', 'image', 'ls', '-q', repository])).stdout.split('\n').filter(Boolean)
      if (ids.length) await exec(['docker', 'rmi', '-f', ...new Set(ids)])
    }
    fs.mkdirSync(path.join(resultsDir, 'logs', 'services'), {recursive: true})
    if (fs.existsSync(this.log)) fs.copyFileSync(this.log, path.join(resultsDir, 'logs', 'services', `${this.name}.tsv`))
    fs.rmSync(this.root, {recursive: true, force: true})
  }
}

interface Template {
  dockerfile: string
  dockerignore: string
}

interface Sample {
  singleS: number
  servicesS: number
  ratio: number
  /** Where the three-service `up`'s time went, from its tool-call log (seconds from its start). */
  phases: Record<string, string>
}

/** The first start and last end of the top-level calls that match, relative to `from` (seconds). */
function phase(calls: ToolCall[], from: number, pattern: RegExp): string {
  const matching = calls.filter((call) => !call.nested && pattern.test(`${call.tool} ${call.args}`) && call.end !== undefined)
  if (matching.length === 0) return '—'
  const start = Math.min(...matching.map((call) => call.start)) - from
  const end = Math.max(...matching.map((call) => call.end!)) - from
  return `${(start / 1000).toFixed(2)}–${(end / 1000).toFixed(2)} s (${matching.length})`
}

async function iteration(index: number, template: Template): Promise<Sample> {
  const single = new World(`single-${runId}-${index}`)
  const multi = new World(`shop-${runId}-${index}`)
  try {
    const singlePort = await freePort()
    const [webPort, apiPort] = [await freePort(), await freePort()]
    // Unique answers: every image is really built, none found in Docker's cache from another run or side.
    fs.rmSync(single.appDir, {recursive: true})
    single.addService('.', `Hello single ${runId}-${index}`, template)
    single.repositories = [`devkube.local/${single.name}`]
    multi.addService('web', `Hello web ${runId}-${index}`, template)
    multi.addService('api', `Hello api ${runId}-${index}`, template)
    multi.repositories = [`devkube.local/${multi.name}-web`, `devkube.local/${multi.name}-api`]
    fs.writeFileSync(
      path.join(multi.appDir, 'devkube.yaml'),
      [
        `name: ${multi.name}`,
        'services:',
        '  web:',
        '    build: {context: web}',
        `    forward: ${webPort}`,
        '    dependsOn: [db]',
        '  api:',
        '    build: {context: api}',
        `    forward: ${apiPort}`,
        '    dependsOn: [db]',
        '  db:',
        '    backing: postgres',
        `    image: ${POSTGRES_IMAGE}`,
        '',
      ].join('\n'),
    )
    const runSingle = async () => {
      const result = check(await single.up(['--forward', String(singlePort)]), 'devkube up (one service)')
      const answered = await waitForBody(singlePort, `Hello single ${runId}-${index}`)
      return {result, seconds: (answered - result.startedAt) / 1000}
    }
    const runMulti = async () => {
      const result = check(await multi.up([]), 'devkube up (three services)')
      const answered = Math.max(await waitForBody(webPort, `Hello web ${runId}-${index}`), await waitForBody(apiPort, `Hello api ${runId}-${index}`))
      return {result, seconds: (answered - result.startedAt) / 1000}
    }
    // Alternating order, so neither side always runs on the machine the other has just warmed.
    let one: Awaited<ReturnType<typeof runSingle>>
    let three: Awaited<ReturnType<typeof runMulti>>
    if (index % 2 === 0) {
      one = await runSingle()
      three = await runMulti()
    } else {
      three = await runMulti()
      one = await runSingle()
    }
    fs.writeFileSync(path.join(multi.root, 'up.out'), three.result.stdout + three.result.stderr)
    const calls = readToolLog(multi.log)
    const from = three.result.startedAt
    const phases = {
      'kind create': phase(calls, from, /^kind create /),
      'docker build': phase(calls, from, /^docker (image |buildx )?build /),
      'kind load': phase(calls, from, /^kind load /),
      'kubectl apply': phase(calls, from, /^kubectl .*\bapply\b/),
      'rollout status': phase(calls, from, /^kubectl .*rollout status/),
      'port-forward': phase(calls, from, /^kubectl .*port-forward/),
    }
    return {singleS: one.seconds, servicesS: three.seconds, ratio: three.seconds / one.seconds, phases}
  } finally {
    await multi.cleanup()
    await single.cleanup()
  }
}

async function main(): Promise<void> {
  snapshotDevkube(repoRoot, devkubeRoot)
  for (const image of ['devkube-standin/python:3.12', POSTGRES_IMAGE]) check(await exec(['docker', 'image', 'inspect', image]), `the stand-in image ${image} (run \`bash scripts/standin-images.sh\`)`)
  // The Dockerfile devkube writes for hello-python, in place on both sides: both measure the same builds.
  const templateDir = path.join(benchRoot, 'template')
  fs.cpSync(example, templateDir, {recursive: true})
  check(await exec([process.execPath, devkubeBin, 'init', '--yes'], {cwd: templateDir}), 'devkube init')
  const template = {dockerfile: fs.readFileSync(path.join(templateDir, 'Dockerfile'), 'utf8'), dockerignore: fs.readFileSync(path.join(templateDir, '.dockerignore'), 'utf8')}
  fs.rmSync(path.join(resultsDir, 'logs', 'services'), {recursive: true, force: true})

  const loadAtStart = os.loadavg()
  console.log(`devkube services bench: ${runs} runs at speed ${speed} (latencies at speed 1: kind create ${LATENCY.create} s, docker build ${LATENCY.build} s, kind load ${LATENCY.load} s, rollout ${LATENCY.rollout} s, apply ${LATENCY.apply} s)`)
  const samples: Sample[] = []
  for (let i = 0; i < runs; i++) {
    const sample = await iteration(i, template)
    samples.push(sample)
    console.log(`  run ${i + 1}/${runs}: three services ${sample.servicesS.toFixed(2)} s vs one ${sample.singleS.toFixed(2)} s (${sample.ratio.toFixed(2)}×)`)
    console.log(`    three-service up, from its start: ${Object.entries(sample.phases).map(([key, value]) => `${key} ${value}`).join('; ')}`)
  }
  const ratio = median(samples.map((sample) => sample.ratio))
  const one = median(samples.map((sample) => sample.singleS))
  const three = median(samples.map((sample) => sample.servicesS))
  // The dependency bound: the one-service critical path plus one more rollout wave (the apps wait for postgres).
  const bound = (LATENCY.create + LATENCY.load + LATENCY.apply + 2 * LATENCY.rollout + LATENCY.apply) / (LATENCY.create + LATENCY.load + LATENCY.apply + LATENCY.rollout)
  console.log('\n| row | measured (median) | spread (min–max) | target | met? |\n| --- | --- | --- | --- | --- |')
  console.log(`| S1 cold \`up\`, 3 services ÷ 1 service | **${ratio.median.toFixed(2)}×** (${three.median.toFixed(2)} s vs ${one.median.toFixed(2)} s) | ${ratio.min.toFixed(2)}×–${ratio.max.toFixed(2)}× | ≤ ${TARGET_RATIO}× | ${ratio.median <= TARGET_RATIO ? 'yes' : 'no'} (bound: ${bound.toFixed(2)}×) |`)
  console.log(`\nload average (1 min) ${loadAtStart[0].toFixed(1)} at the start, ${os.loadavg()[0].toFixed(1)} at the end, on ${os.cpus().length} CPUs; tool-call logs in bench/results/logs/services/`)
  fs.mkdirSync(resultsDir, {recursive: true})
  fs.writeFileSync(path.join(resultsDir, 'services-latest.json'), JSON.stringify({date: new Date().toISOString(), runs, speed, latencySeconds: LATENCY, loadavgAtStart: loadAtStart, loadavgAtEnd: os.loadavg(), ratio, single: one, services: three, bound, samples}, null, 2) + '\n')
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    for (const child of running) killGroup(child)
    process.exitCode = 130
  })
}

try {
  await main()
} catch (error) {
  console.error(`bench failed: ${(error as Error).message}`)
  process.exitCode = 1
} finally {
  fs.rmSync(benchRoot, {recursive: true, force: true})
}
