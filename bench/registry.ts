/**
 * `npm run bench:registry [-- --runs N --speed F]`: the local registry's rows (issue 12), see bench/README.md
 * ("Local registry").
 *   R1 cold `up` with `registry:` ÷ the manual flow (kind create, build, kind load, apply, rollout), per run.
 *   R2 a 1.3 GB image (hello-python on the stand-in base), one-line change: `up` through the registry vs `up`
 *      with `kind load`, each from starting `up` to the new text answering; once per bench, both in that run.
 * Same fakes and logging shims as bench/run.ts. The registry is one registry:2 stand-in container for the whole
 * bench, seeded once with the base image's layers, as a registry that outlives clusters holds them in real use.
 */
import {createHash, randomBytes} from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {check, exec, freePort, killGroup, median, readToolLog, running, runsAndSpeed, snapshotDevkube, stopProcess, waitForBody, type ToolCall} from './support.js'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const example = path.join(repoRoot, 'examples', 'hello-python')
const manualFlow = path.join(repoRoot, 'bench', 'manual-flow.sh')
const resultsDir = path.join(repoRoot, 'bench', 'results')
const BASE_IMAGE = 'devkube-standin/python:3.12'
const REGISTRY_IMAGE = 'devkube-standin/registry:2'
const buildArgs = ['--build-arg', `PYTHON_IMAGE=${BASE_IMAGE}`]
/** Seconds at speed 1: bench/run.ts's numbers; a push moves the bytes a load moves, so it gets the load's time. */
const LATENCY = {create: 25, build: 8, load: 4, push: 4, rollout: 5, apply: 0.3}
const TARGET_RATIO = 0.75

const {runs, speed} = runsAndSpeed('1')

const runId = randomBytes(3).toString('hex')
const benchRoot = fs.mkdtempSync(path.join(os.tmpdir(), `devkube-bench-registry-${runId}-`))
const devkubeRoot = path.join(benchRoot, 'devkube')
const devkubeBin = path.join(devkubeRoot, 'bin', 'run.js')
const network = `devkube-bench-kind-${runId}`
const registry = {name: `devkube-bench-registry-${runId}`, port: 0}

interface Template {
  dockerfile: string
  dockerignore: string
}

/** One app folder with its own fake cluster, kubeconfig, data folder and tool-call log. */
class World {
  readonly root: string
  readonly appDir: string
  readonly stateDir: string
  readonly log: string
  readonly env: NodeJS.ProcessEnv
  port = 0

  constructor(
    readonly name: string,
    latency: Record<string, number>,
    extra: Record<string, string> = {},
  ) {
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
      XDG_DATA_HOME: path.join(this.root, 'data'),
      KIND_EXPERIMENTAL_DOCKER_NETWORK: network,
      DEVKUBE_FAKE_LATENCY: `create=${latency.create},load=${latency.load},rollout=${latency.rollout},apply=${latency.apply}`,
      DEVKUBE_FAKE_SPEED: String(speed),
      DEVKUBE_BENCH_BUILD_LATENCY: String(latency.build),
      DEVKUBE_BENCH_PUSH_LATENCY: String(latency.push),
      DEVKUBE_BENCH_LOG: this.log,
      CI: 'true',
      NO_COLOR: '1',
      ...extra,
    })
    this.env = env
  }

  /** examples/hello-python with the Dockerfile devkube writes and an answer of its own (so every image is built). */
  write(greeting: string, template: Template, devkubeYaml?: string): void {
    fs.cpSync(example, this.appDir, {recursive: true})
    this.setGreeting(greeting)
    fs.writeFileSync(path.join(this.appDir, 'Dockerfile'), template.dockerfile)
    fs.writeFileSync(path.join(this.appDir, '.dockerignore'), template.dockerignore)
    if (devkubeYaml) fs.writeFileSync(path.join(this.appDir, 'devkube.yaml'), devkubeYaml)
  }

  setGreeting(greeting: string): void {
    const app = path.join(this.appDir, 'app.py')
    fs.writeFileSync(app, fs.readFileSync(app, 'utf8').replace(/return "[^"]*"/, `return "${greeting}"`))
  }

  up(): ReturnType<typeof exec> {
    return exec([process.execPath, devkubeBin, 'up', '--detach', '--forward', String(this.port), ...buildArgs], {cwd: this.appDir, env: this.env, timeoutMs: 600_000})
  }

  async cleanup(): Promise<void> {
    try {
      const record = JSON.parse(fs.readFileSync(path.join(this.appDir, '.devkube', 'forward-dev.json'), 'utf8')) as {pid: number}
      await stopProcess(record.pid)
    } catch {
      // no forwarder
    }
    for (const cluster of ['devkube', 'manual']) await exec(['kind', 'delete', 'cluster', '--name', cluster], {env: this.env, timeoutMs: 60_000})
    const label = 'devkube.fake.state=' + createHash('sha256').update(path.resolve(this.stateDir)).digest('hex').slice(0, 16)
    const ids = (await exec(['docker', 'ps', '-aq', '--filter', `label=${label}`])).stdout.split('\n').filter(Boolean)
    if (ids.length) await exec(['docker', 'rm', '-f', ...ids])
    for (const repository of [`devkube.local/${this.name}`, `manual.local/${this.name}`, `localhost:${registry.port}/${this.name}`, `127.0.0.1:${registry.port}/${this.name}`]) {
      const images = (await exec(['docker', 'image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', repository])).stdout.split('\n').filter(Boolean)
      if (images.length) await exec(['docker', 'rmi', '-f', ...images])
    }
    fs.mkdirSync(path.join(resultsDir, 'logs', 'registry'), {recursive: true})
    if (fs.existsSync(this.log)) fs.copyFileSync(this.log, path.join(resultsDir, 'logs', 'registry', `${this.name}.tsv`))
    fs.rmSync(this.root, {recursive: true, force: true})
  }
}

/** The first start and last end of the top-level calls that match, relative to `from` (seconds). */
function phase(calls: ToolCall[], from: number, pattern: RegExp): string {
  const matching = calls.filter((call) => !call.nested && pattern.test(`${call.tool} ${call.args}`) && call.end !== undefined)
  if (matching.length === 0) return '—'
  const start = Math.min(...matching.map((call) => call.start)) - from
  const end = Math.max(...matching.map((call) => call.end!)) - from
  return `${(start / 1000).toFixed(2)}–${(end / 1000).toFixed(2)} s (${matching.length})`
}

const registryYaml = () => `registry: {name: ${registry.name}, port: ${registry.port}, image: ${REGISTRY_IMAGE}}\n`

interface ColdSample {
  devkubeS: number
  manualS: number
  ratio: number
  phases: Record<string, string>
}

async function coldRun(index: number, template: Template): Promise<ColdSample> {
  const mine = new World(`reg-${runId}-${index}`, LATENCY)
  const manual = new World(`man-${runId}-${index}`, LATENCY)
  try {
    mine.port = await freePort()
    manual.port = await freePort()
    mine.write(`Hello registry ${runId}-${index}`, template, registryYaml())
    manual.write(`Hello manual ${runId}-${index}`, template)
    const runMine = async () => {
      const result = check(await mine.up(), 'devkube up --registry (cold)')
      fs.writeFileSync(path.join(mine.root, 'up.out'), result.stdout + result.stderr)
      return {result, seconds: ((await waitForBody(mine.port, `Hello registry ${runId}-${index}`)) - result.startedAt) / 1000}
    }
    const runManual = async () => {
      const result = check(await exec(['bash', manualFlow, manual.appDir, manual.name, String(manual.port), ...buildArgs], {env: manual.env, timeoutMs: 600_000}), 'manual flow')
      return {result, seconds: (result.endedAt - result.startedAt) / 1000}
    }
    let a: Awaited<ReturnType<typeof runMine>>
    let b: Awaited<ReturnType<typeof runManual>>
    if (index % 2 === 0) {
      a = await runMine()
      b = await runManual()
    } else {
      b = await runManual()
      a = await runMine()
    }
    const calls = readToolLog(mine.log)
    const from = a.result.startedAt
    const phases = {
      'registry': phase(calls, from, /^docker (inspect --type container|run -d --restart)/),
      'kind create': phase(calls, from, /^kind create /),
      'docker build': phase(calls, from, /^docker (image |buildx )?build /),
      'docker push': phase(calls, from, /^docker push /),
      'kind load': phase(calls, from, /^kind load /),
      'kubectl apply': phase(calls, from, /^kubectl .*\bapply\b/),
      'rollout status': phase(calls, from, /^kubectl .*rollout status/),
    }
    return {devkubeS: a.seconds, manualS: b.seconds, ratio: a.seconds / b.seconds, phases}
  } finally {
    await mine.cleanup()
    await manual.cleanup()
  }
}

interface RedeploySample {
  registryS: number
  loadS: number
  imageMb: number
  pushed: string
}

/** R2: both sides deployed cold first (not measured), then the same one-line change, measured to the new answer. */
async function bigImageRedeploy(template: Template): Promise<RedeploySample> {
  // Bytes move for real on both sides (the push; kind load's `docker save`), so neither gets a simulated transfer time.
  const latency = {...LATENCY, load: 0, push: 0}
  const viaRegistry = new World(`big-reg-${runId}`, latency)
  const viaLoad = new World(`big-load-${runId}`, latency, {DEVKUBE_FAKE_LOAD_COPY: '1'})
  try {
    viaRegistry.port = await freePort()
    viaLoad.port = await freePort()
    viaRegistry.write(`Big registry ${runId}`, template, registryYaml())
    viaLoad.write(`Big load ${runId}`, template)
    check(await viaRegistry.up(), 'devkube up (registry, first deploy)')
    check(await viaLoad.up(), 'devkube up (kind load, first deploy)')
    await Promise.all([waitForBody(viaRegistry.port, `Big registry ${runId}`), waitForBody(viaLoad.port, `Big load ${runId}`)])
    const imageMb = Number((await exec(['docker', 'image', 'inspect', '--format', '{{.Size}}', `devkube.local/${viaLoad.name}:${(await exec(['docker', 'image', 'ls', '--format', '{{.Tag}}', `devkube.local/${viaLoad.name}`])).stdout.split('\n')[0]}`])).stdout.trim()) / 1e6
    const redeploy = async (world: World, greeting: string) => {
      world.setGreeting(greeting)
      const result = check(await world.up(), `devkube up after the change (${world.name})`)
      fs.writeFileSync(path.join(world.root, 'redeploy.out'), result.stdout + result.stderr)
      return {result, seconds: ((await waitForBody(world.port, greeting)) - result.startedAt) / 1000}
    }
    const load = await redeploy(viaLoad, `Big load changed ${runId}`)
    const reg = await redeploy(viaRegistry, `Big registry changed ${runId}`)
    const pushCalls = readToolLog(viaRegistry.log).filter((call) => !call.nested && call.tool === 'docker' && call.args.startsWith('push ') && call.start >= reg.result.startedAt)
    const pushed = pushCalls.map((call) => `${((call.end! - call.start) / 1000).toFixed(2)} s`).join(', ') || 'none'
    return {registryS: reg.seconds, loadS: load.seconds, imageMb, pushed}
  } finally {
    await viaRegistry.cleanup()
    await viaLoad.cleanup()
  }
}

async function main(): Promise<void> {
  snapshotDevkube(repoRoot, devkubeRoot)
  for (const image of [BASE_IMAGE, REGISTRY_IMAGE]) check(await exec(['docker', 'image', 'inspect', image]), `the stand-in image ${image} (run \`bash scripts/standin-images.sh\`)`)
  const templateDir = path.join(benchRoot, 'template')
  fs.cpSync(example, templateDir, {recursive: true})
  check(await exec([process.execPath, devkubeBin, 'init', '--yes'], {cwd: templateDir}), 'devkube init')
  const template = {dockerfile: fs.readFileSync(path.join(templateDir, 'Dockerfile'), 'utf8'), dockerignore: fs.readFileSync(path.join(templateDir, '.dockerignore'), 'utf8')}
  fs.rmSync(path.join(resultsDir, 'logs', 'registry'), {recursive: true, force: true})

  // The registry, running before the runs and seeded with the base image's layers (not measured).
  registry.port = await freePort()
  check(await exec(['docker', 'network', 'create', network]), 'docker network create')
  check(await exec(['docker', 'run', '-d', '--network', network, '-p', `127.0.0.1:${registry.port}:5000`, '--name', registry.name, REGISTRY_IMAGE]), 'the registry container')
  // Under the name devkube pushes to (localhost:<port>): Docker mounts a blob it pushed to another repository of
  // the same registry host instead of uploading it again, but only when the host name is the same.
  const seed = `localhost:${registry.port}/base/python:3.12`
  check(await exec(['docker', 'tag', BASE_IMAGE, seed]), 'docker tag')
  const seeded = check(await exec(['docker', 'push', seed], {timeoutMs: 900_000}), 'seeding the registry')
  console.log(`seeded the registry with ${BASE_IMAGE} in ${((seeded.endedAt - seeded.startedAt) / 1000).toFixed(1)} s (not measured)`)

  const loadAtStart = os.loadavg()
  console.log(`devkube registry bench: ${runs} runs at speed ${speed} (latencies at speed 1: kind create ${LATENCY.create} s, docker build ${LATENCY.build} s, kind load ${LATENCY.load} s, docker push ${LATENCY.push} s, rollout ${LATENCY.rollout} s, apply ${LATENCY.apply} s)`)
  const samples: ColdSample[] = []
  for (let i = 0; i < runs; i++) {
    const sample = await coldRun(i, template)
    samples.push(sample)
    console.log(`  run ${i + 1}/${runs}: cold up with registry ${sample.devkubeS.toFixed(2)} s vs manual ${sample.manualS.toFixed(2)} s (${sample.ratio.toFixed(2)}×)`)
    console.log(`    from its start: ${Object.entries(sample.phases).map(([key, value]) => `${key} ${value}`).join('; ')}`)
  }
  const big = await bigImageRedeploy(template)
  console.log(`  big image (${big.imageMb.toFixed(0)} MB), one-line change: registry ${big.registryS.toFixed(2)} s (push: ${big.pushed}) vs kind load ${big.loadS.toFixed(2)} s`)
  const loadAtEnd = os.loadavg()

  const ratio = median(samples.map((sample) => sample.ratio))
  const mine = median(samples.map((sample) => sample.devkubeS))
  const manual = median(samples.map((sample) => sample.manualS))
  // The dependency bound: create ∥ (build + push), then apply and rollout, ÷ the manual flow's sum.
  const bound = (Math.max(LATENCY.create, LATENCY.build + LATENCY.push) + LATENCY.apply + LATENCY.rollout) / (LATENCY.create + LATENCY.build + LATENCY.load + LATENCY.apply + LATENCY.rollout)
  console.log('\n| row | measured (median) | spread (min–max) | target | met? |\n| --- | --- | --- | --- | --- |')
  console.log(`| R1 cold \`up\` with the registry ÷ manual flow | **${ratio.median.toFixed(2)}×** (${mine.median.toFixed(2)} s vs ${manual.median.toFixed(2)} s) | ${ratio.min.toFixed(2)}×–${ratio.max.toFixed(2)}× | ≤ ${TARGET_RATIO}× | ${ratio.median <= TARGET_RATIO ? 'yes' : 'no'} (bound: ${bound.toFixed(2)}×) |`)
  console.log(`| R2 ${big.imageMb.toFixed(0)} MB image, one-line change: registry redeploy vs \`kind load\` redeploy | **${big.registryS.toFixed(2)} s vs ${big.loadS.toFixed(2)} s** (${(big.registryS / big.loadS).toFixed(2)}×) | one run | measured | — |`)
  console.log(`\nload average (1 min) ${loadAtStart[0].toFixed(1)} at the start, ${loadAtEnd[0].toFixed(1)} at the end, on ${os.cpus().length} CPUs; tool-call logs in bench/results/logs/registry/`)
  fs.mkdirSync(resultsDir, {recursive: true})
  fs.writeFileSync(path.join(resultsDir, 'registry-latest.json'), JSON.stringify({date: new Date().toISOString(), runs, speed, latencySeconds: LATENCY, loadavgAtStart: loadAtStart, loadavgAtEnd: loadAtEnd, ratio, devkube: mine, manual, bound, samples, big}, null, 2) + '\n')
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
  await exec(['docker', 'rm', '-f', registry.name])
  const seedImages = (await exec(['docker', 'image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', `localhost:${registry.port}/base/python`])).stdout.split('\n').filter(Boolean)
  if (seedImages.length) await exec(['docker', 'rmi', ...seedImages])
  await exec(['docker', 'network', 'rm', network])
  fs.rmSync(benchRoot, {recursive: true, force: true})
}
