/**
 * A fake `kind` + `kubectl` on PATH for integration tests, backed by real Docker (see test/fakes/README.md).
 *
 *   const tools = await createFakeToolchain({latency: {create: 2, load: 1}, speed: 0.1})
 *   await execa('node', ['bin/run.js', 'up'], {env: tools.env})
 *   const pods = await tools.pods('devkube', 'hello')
 *   await tools.killPodContainer('devkube', 'hello')
 *   tools.calls().filter((c) => c.tool === 'kind' && c.args[0] === 'load')   // what devkube ran
 *   await tools.cleanup()
 */
import {execFile} from 'node:child_process'
import {createHash} from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
export const repoRoot = path.resolve(here, '../..')
export const fakeBinDir = path.join(repoRoot, 'test', 'fakes', 'bin')
const inspectScript = path.join(repoRoot, 'test', 'fakes', 'lib', 'inspect.mjs')
const nodeBinDir = path.join(repoRoot, 'node_modules', '.bin')

export interface FakeToolchainOptions {
  /** Simulated tool latencies in seconds, e.g. {create: 25, load: 4, rollout: 5, apply: 0.3} (or `create=25,load=4`). */
  latency?: Record<string, number> | string
  /** Scales every latency and back-off (0.05 for quick runs). Default 1. */
  speed?: number
  /** Initial kubeconfig file content (e.g. a foreign current-context that must be left untouched). */
  kubeconfig?: string
  /** Extra environment for the tools. */
  env?: Record<string, string>
}

export interface ExecResult {
  code: number
  stdout: string
  stderr: string
}

export interface FakePod {
  apiVersion: string
  kind: 'Pod'
  metadata: {name: string; namespace: string; labels?: Record<string, string>; uid: string; creationTimestamp: string; deletionTimestamp?: string; deletionGracePeriodSeconds?: number}
  spec: {containers: Array<{name: string; image: string; [key: string]: unknown}>; [key: string]: unknown}
  status: {
    phase: string
    conditions?: Array<{type: string; status: string; reason?: string; message?: string}>
    containerStatuses?: Array<{
      name: string
      ready: boolean
      restartCount: number
      image: string
      imageID: string
      state: {running?: {startedAt: string}; waiting?: {reason: string; message?: string}; terminated?: {reason: string; exitCode: number}}
      lastState: {terminated?: {reason: string; exitCode: number}}
    }>
  }
  /** The Docker side: container ids (current and previous attempt) and ports published on 127.0.0.1. */
  containers: Record<string, {id: string | null; previousId: string | null; hostPorts: Record<string, number>; restartCount: number}>
}

/** One invocation of a fake tool, as recorded in <stateDir>/calls.jsonl. */
export interface FakeCall {
  tool: 'kind' | 'kubectl'
  args: string[]
  /** Epoch ms. */
  start: number
  end: number
  /** Exit code, or null when it died by a signal. */
  code: number | null
  signal?: string
}

export interface FakeToolchain {
  /** Environment for subprocesses: PATH with the fakes first, KUBECONFIG, DEVKUBE_FAKE_STATE, latency settings. */
  env: Record<string, string>
  stateDir: string
  kubeconfigPath: string
  binDir: string
  /** Runs a tool (`kind`, `kubectl`, `docker`, ...) with this toolchain's env. */
  exec(command: string, args: string[], options?: {input?: string; timeoutMs?: number}): Promise<ExecResult>
  /** Pods of a cluster (optionally one namespace), after a reconcile pass, with their Docker containers. */
  pods(cluster: string, namespace?: string): Promise<FakePod[]>
  /** The raw fake-cluster state, or null when the cluster does not exist. */
  clusterState(cluster: string): Promise<Record<string, unknown> | null>
  /** `docker kill`s the running container of a pod (the first pod in the namespace when none is named). Returns its id. */
  killPodContainer(cluster: string, namespace: string, podName?: string, container?: string): Promise<string>
  /** Every kind/kubectl invocation so far (e.g. count `kind load` / `kubectl apply` calls, sum the tools' time). */
  calls(): FakeCall[]
  /** Ids of every pod container this toolchain started (not the clusters' node containers). */
  containerIds(): Promise<string[]>
  /** Removes every container and file this toolchain made. */
  cleanup(): Promise<void>
}

export function execCommand(command: string, args: string[], options: {env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number} = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(
      command,
      args,
      {env: options.env ?? process.env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: options.timeoutMs ?? 120_000},
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 127) : 0
        resolve({code, stdout, stderr})
      },
    )
    // A child that exits without reading its input (docker with the daemon down) is not an error here.
    child.stdin?.on('error', () => {})
    child.stdin?.end(options.input ?? '')
  })
}

export async function dockerAvailable(): Promise<boolean> {
  const result = await execCommand('docker', ['version', '--format', '{{.Server.Version}}'], {timeoutMs: 15_000})
  return result.code === 0
}

function latencyText(latency: FakeToolchainOptions['latency']): string {
  if (!latency) return ''
  if (typeof latency === 'string') return latency
  return Object.entries(latency)
    .map(([key, seconds]) => `${key}=${seconds}`)
    .join(',')
}

export async function createFakeToolchain(options: FakeToolchainOptions = {}): Promise<FakeToolchain> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'devkube-fakes-'))
  const stateDir = path.join(root, 'state')
  const kubeconfigPath = path.join(root, 'kubeconfig')
  fs.mkdirSync(stateDir)
  if (options.kubeconfig !== undefined) fs.writeFileSync(kubeconfigPath, options.kubeconfig, {mode: 0o600})
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value
  Object.assign(env, {
    PATH: [fakeBinDir, nodeBinDir, process.env.PATH ?? ''].join(path.delimiter),
    KUBECONFIG: kubeconfigPath,
    DEVKUBE_FAKE_STATE: stateDir,
    DEVKUBE_FAKE_LATENCY: latencyText(options.latency),
    DEVKUBE_FAKE_SPEED: String(options.speed ?? 1),
    ...options.env,
  })
  // Same label as test/fakes/lib/util.mjs stateLabel(): every container of this toolchain carries it.
  const label = 'devkube.fake.state=' + createHash('sha256').update(path.resolve(stateDir)).digest('hex').slice(0, 16)

  const exec: FakeToolchain['exec'] = (command, args, execOptions = {}) => execCommand(command, args, {env, ...execOptions})

  const pods: FakeToolchain['pods'] = async (cluster, namespace) => {
    const result = await exec(process.execPath, [inspectScript, 'pods', cluster, namespace ?? ''])
    if (result.code !== 0) throw new Error(`fake inspect failed: ${result.stderr}`)
    return JSON.parse(result.stdout) as FakePod[]
  }

  const clusterState: FakeToolchain['clusterState'] = async (cluster) => {
    const result = await exec(process.execPath, [inspectScript, 'cluster', cluster])
    return JSON.parse(result.stdout) as Record<string, unknown> | null
  }

  const killPodContainer: FakeToolchain['killPodContainer'] = async (cluster, namespace, podName, container) => {
    const all = await pods(cluster, namespace)
    const pod = podName ? all.find((p) => p.metadata.name === podName) : all[0]
    if (!pod) throw new Error(`no pod ${podName ?? ''} in ${cluster}/${namespace}`)
    const runtime = container ? pod.containers[container] : Object.values(pod.containers)[0]
    if (!runtime?.id) throw new Error(`pod ${pod.metadata.name} has no running container`)
    const result = await exec('docker', ['kill', runtime.id])
    if (result.code !== 0) throw new Error(`docker kill failed: ${result.stderr}`)
    return runtime.id
  }

  const labelledContainers = async (...filters: string[]) => {
    const result = await exec('docker', ['ps', '-aq', '--filter', `label=${label}`, ...filters.flatMap((filter) => ['--filter', filter])])
    return result.stdout.split('\n').filter(Boolean)
  }
  const containerIds: FakeToolchain['containerIds'] = () => labelledContainers('label=devkube.fake.pod')

  const calls: FakeToolchain['calls'] = () => {
    const file = path.join(stateDir, 'calls.jsonl')
    if (!fs.existsSync(file)) return []
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as FakeCall)
  }

  const cleanup: FakeToolchain['cleanup'] = async () => {
    const ids = await labelledContainers()
    if (ids.length) await exec('docker', ['rm', '-f', ...ids])
    // The Docker volumes behind PersistentVolumeClaims carry the same label.
    const volumes = (await exec('docker', ['volume', 'ls', '-q', '--filter', `label=${label}`])).stdout.split('\n').filter(Boolean)
    if (volumes.length) await exec('docker', ['volume', 'rm', '-f', ...volumes])
    // And the networks the pods of its clusters shared (cluster DNS).
    const networks = (await exec('docker', ['network', 'ls', '-q', '--filter', `label=${label}`])).stdout.split('\n').filter(Boolean)
    if (networks.length) await exec('docker', ['network', 'rm', ...networks])
    fs.rmSync(root, {recursive: true, force: true})
  }

  return {env, stateDir, kubeconfigPath, binDir: fakeBinDir, exec, pods, clusterState, killPodContainer, calls, containerIds, cleanup}
}

// ---------- test images ----------

const BASE_IMAGE = 'devkube-fake-test/node:22'
const STANDIN_IMAGE = 'devkube-standin/node:22'

async function imageExists(image: string): Promise<boolean> {
  return (await execCommand('docker', ['image', 'inspect', image], {timeoutMs: 30_000})).code === 0
}

/**
 * A base image with Node 22 and nothing else, made offline: the stand-in `devkube-standin/node:22` when it exists,
 * else a `docker import` of this machine's Node binary and its shared libraries (labelled devkube.fake=test-base).
 */
export async function ensureNodeBaseImage(): Promise<string> {
  if (await imageExists(STANDIN_IMAGE)) return STANDIN_IMAGE
  if (await imageExists(BASE_IMAGE)) return BASE_IMAGE
  const nodeBinary = fs.realpathSync(process.execPath)
  const ldd = await execCommand('ldd', [nodeBinary])
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'devkube-fake-rootfs-'))
  try {
    const copy = (source: string, target: string) => {
      fs.mkdirSync(path.join(root, path.dirname(target)), {recursive: true})
      fs.copyFileSync(fs.realpathSync(source), path.join(root, target))
    }
    copy(nodeBinary, '/usr/local/bin/node')
    for (const match of ldd.stdout.matchAll(/(\/\S+\.so[.\d]*)/g)) copy(match[1], match[1])
    fs.mkdirSync(path.join(root, 'tmp'), {mode: 0o1777})
    fs.mkdirSync(path.join(root, 'app'))
    const tar = path.join(os.tmpdir(), `devkube-fake-rootfs-${process.pid}.tar`)
    const packed = await execCommand('tar', ['-C', root, '-cf', tar, '.'])
    if (packed.code !== 0) throw new Error(`tar failed: ${packed.stderr}`)
    const imported = await execCommand('docker', ['import', '-c', 'ENV PATH=/usr/local/bin:/usr/bin:/bin', '-c', 'LABEL devkube.fake=test-base', tar, BASE_IMAGE])
    fs.rmSync(tar, {force: true})
    if (imported.code !== 0) throw new Error(`docker import failed: ${imported.stderr}`)
  } finally {
    fs.rmSync(root, {recursive: true, force: true})
  }
  return BASE_IMAGE
}

export interface TestHttpImageOptions {
  /** Body answered on every path (default `Hello World`); the env var GREETING overrides it at run time. */
  body?: string
  /** Listen port (default 8080; the env var PORT overrides it). */
  port?: number
}

/**
 * Builds a tiny HTTP server image (Node) tagged `tag`: answers `body` on `/`, exits with code 3 on `/crash`,
 * logs `listening on <port>` on stdout and a line on stderr.
 */
export async function buildTestHttpImage(tag: string, options: TestHttpImageOptions = {}): Promise<string> {
  const base = await ensureNodeBaseImage()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'devkube-fake-image-'))
  try {
    const body = JSON.stringify(options.body ?? 'Hello World')
    fs.writeFileSync(
      path.join(dir, 'server.js'),
      [
        "const http = require('http')",
        `const port = Number(process.env.PORT || ${options.port ?? 8080})`,
        "console.log('listening on ' + port)",
        // Docker copies a container's stdout and stderr in two goroutines, so lines written to both at the same
        // moment reach the log in either order (as with the kubelet's CRI log). The gap keeps the order the tests
        // read stable on a loaded machine, and the server listens only after both lines are out.
        'setTimeout(() => {',
        "  console.error('stderr says hi')",
        '  http.createServer((req, res) => {',
        "    if (req.url === '/crash') { res.end('bye'); process.exit(3) }",
        `    res.end((process.env.GREETING || ${body}) + '\\n')`,
        '  }).listen(port)',
        '}, 300)',
        '',
      ].join('\n'),
    )
    fs.writeFileSync(path.join(dir, 'Dockerfile'), `FROM ${base}\nCOPY server.js /app/server.js\nCMD ["node", "/app/server.js"]\n`)
    const built = await execCommand('docker', ['build', '-q', '-t', tag, '--label', 'devkube.fake=test-image', dir])
    if (built.code !== 0) throw new Error(`docker build failed: ${built.stderr}`)
  } finally {
    fs.rmSync(dir, {recursive: true, force: true})
  }
  return tag
}
