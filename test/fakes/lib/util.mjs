// Shared plumbing of the fake kind and kubectl: env, latency, docker calls, output and exit codes.
import {execFile, spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import fs from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'

const require = createRequire(import.meta.url)
let yamlModule
/** The `yaml` package, loaded on first use (it is a third of a call's start-up time). */
export function yaml() {
  yamlModule ??= require('yaml')
  return yamlModule
}

export class ExitError extends Error {
  constructor(code, stderr = '', stdout = '') {
    super(stderr || `exit ${code}`)
    this.code = code
    this.stderrText = stderr
    this.stdoutText = stdout
  }
}

/** Ends the command: `stderr` is printed as-is (caller includes the trailing newline). */
export function fail(stderr, code = 1) {
  throw new ExitError(code, stderr)
}

export function unsupported(tool, what) {
  throw new ExitError(2, `fake ${tool}: unsupported: ${what}\n`)
}

export function stateDir() {
  const dir = process.env.DEVKUBE_FAKE_STATE
  if (!dir) throw new ExitError(2, 'fake: DEVKUBE_FAKE_STATE is not set (it names the fake cluster state folder)\n')
  return path.resolve(dir)
}

/** Label put on every container the fakes start, so a test's cleanup finds exactly its own. */
export function stateLabel() {
  return 'devkube.fake.state=' + createHash('sha256').update(stateDir()).digest('hex').slice(0, 16)
}

export function speed() {
  const raw = process.env.DEVKUBE_FAKE_SPEED
  const value = raw === undefined || raw === '' ? 1 : Number(raw)
  return Number.isFinite(value) && value >= 0 ? value : 1
}

/** Simulated tool latency in ms for `key` (DEVKUBE_FAKE_LATENCY=create=25,load=4 in seconds), scaled by the speed. */
export function latencyMs(key) {
  const spec = process.env.DEVKUBE_FAKE_LATENCY ?? ''
  for (const part of spec.split(',')) {
    const [name, value] = part.split('=').map((s) => s.trim())
    if (name === key && value !== undefined) {
      const seconds = Number(value)
      if (Number.isFinite(seconds) && seconds > 0) return seconds * 1000 * speed()
    }
  }
  return 0
}

/** A duration that the real tools measure in seconds (backoffs, probe periods), scaled by DEVKUBE_FAKE_SPEED. */
export function scaledMs(seconds) {
  return seconds * 1000 * speed()
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

export async function simulateLatency(key) {
  const ms = latencyMs(key)
  if (ms > 0) await sleep(ms)
}

/** Runs docker; resolves {code, stdout, stderr} and never throws for a non-zero exit. */
export function docker(args, {input, timeoutMs = 120_000} = {}) {
  return new Promise((resolve) => {
    const child = execFile('docker', args, {maxBuffer: 256 * 1024 * 1024, timeout: timeoutMs, encoding: 'utf8'}, (error, stdout, stderr) => {
      let code = 0
      if (error) code = typeof error.code === 'number' ? error.code : 127
      if (error && error.code === 'ENOENT') stderr = 'docker: executable file not found in $PATH'
      resolve({code, stdout: stdout ?? '', stderr: stderr ?? ''})
    })
    if (input !== undefined) child.stdin.end(input)
  })
}

export function spawnDocker(args, options = {}) {
  return spawn('docker', args, {stdio: ['ignore', 'pipe', 'pipe'], ...options})
}

/** kind's PrettyCommand: shell-quote each word that needs it (alessio/shellescape rules). */
export function prettyCommand(argv) {
  return argv.map((word) => (word === '' ? "''" : /[^\w@%+=:,./-]/.test(word) ? `'${word.replaceAll("'", `'"'"'`)}'` : word)).join(' ')
}

/** Go's time.Duration parser for flags like --timeout=90s, --wait 1m30s. Returns ms, or NaN. */
export function parseGoDuration(text) {
  if (text === undefined || text === null) return Number.NaN
  const value = String(text).trim()
  if (value === '0') return 0
  if (/^\d+$/.test(value)) return Number.NaN
  const units = {ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000}
  let total = 0
  let rest = value
  const re = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/
  if (!rest) return Number.NaN
  while (rest) {
    const match = re.exec(rest)
    if (!match) return Number.NaN
    total += Number(match[1]) * units[match[2]]
    rest = rest.slice(match[0].length)
  }
  return total
}

/** Go's time.Duration.String() for whole seconds and above (what kind prints: 1m0s, 30s). */
export function formatGoDuration(ms) {
  if (ms < 1000) return ms === 0 ? '0s' : `${ms}ms`
  let seconds = Math.round(ms / 1000)
  const hours = Math.floor(seconds / 3600)
  seconds -= hours * 3600
  const minutes = Math.floor(seconds / 60)
  seconds -= minutes * 60
  if (hours) return `${hours}h${minutes}m${seconds}s`
  if (minutes) return `${minutes}m${seconds}s`
  return `${seconds}s`
}

/** JSON the way kubectl prints objects: keys sorted (Go maps), 4-space indent. */
export function kubeJson(value) {
  return JSON.stringify(sortKeys(value), null, 4) + '\n'
}

export function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value && typeof value === 'object') {
    const out = {}
    for (const key of Object.keys(value).sort()) out[key] = sortKeys(value[key])
    return out
  }
  return value
}

export function deepEqual(a, b) {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b))
}

export const clone = (value) => (value === undefined ? undefined : structuredClone(value))

export function randomSuffix(length = 5) {
  // Kubernetes' rand.String alphabet: no vowels, no 0/1/3 (avoids words and lookalikes).
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789'
  let out = ''
  for (let i = 0; i < length; i++) out += alphabet[Math.floor(Math.random() * alphabet.length)]
  return out
}

/** pod-template-hash: a stable hash of the pod template, in the same alphabet as the real one. */
export function templateHash(template) {
  const digest = createHash('sha256').update(JSON.stringify(sortKeys(template))).digest()
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789'
  let out = ''
  for (let i = 0; i < 10; i++) out += alphabet[digest[i] % alphabet.length]
  return out
}

export function uid() {
  const hex = createHash('sha256').update(String(Math.random()) + Date.now() + process.pid).digest('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`
}

export const nowIso = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z')

export async function readStdin() {
  if (process.stdin.isTTY) return ''
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  return Buffer.concat(chunks).toString('utf8')
}

/**
 * Runs a CLI main function: prints an ExitError's text and exits with its code. Output is flushed before
 * exiting so that a parent reading pipes gets everything.
 */
let callRecord
/**
 * Appends one JSON line per invocation to $DEVKUBE_FAKE_STATE/calls.jsonl ({tool, args, start, end, code,
 * signal}): benchmarks count calls (builds/loads/applies) and subtract the tools' time from devkube's.
 */
export function recordCall(tool, args) {
  if (!process.env.DEVKUBE_FAKE_STATE) return
  callRecord = {tool, args, start: Date.now()}
  process.on('exit', (code) => finishCall({code}))
}

export function finishCall(result) {
  if (!callRecord || callRecord.end) return
  callRecord.end = Date.now()
  Object.assign(callRecord, result)
  try {
    fs.mkdirSync(process.env.DEVKUBE_FAKE_STATE, {recursive: true})
    fs.appendFileSync(path.join(process.env.DEVKUBE_FAKE_STATE, 'calls.jsonl'), JSON.stringify(callRecord) + '\n')
  } catch {
    // The state folder was removed (test cleanup): nothing to record into.
  }
}

/** Dies by `signal` the way a Go binary does on SIGTERM, after recording the call. */
export function dieBySignal(signal) {
  finishCall({code: null, signal})
  process.removeAllListeners(signal)
  process.kill(process.pid, signal)
}

export async function runMain(main) {
  let code = 0
  try {
    code = (await main()) ?? 0
  } catch (error) {
    if (error instanceof ExitError) {
      if (error.stdoutText) process.stdout.write(error.stdoutText)
      if (error.stderrText) process.stderr.write(error.stderrText)
      code = error.code
    } else {
      process.stderr.write(`fake: internal error: ${error?.stack ?? error}\n`)
      code = 3
    }
  }
  await new Promise((resolve) => process.stdout.write('', resolve))
  await new Promise((resolve) => process.stderr.write('', resolve))
  process.exit(code)
}

/** klog's header for an error line: `E1125 10:00:00.123456   12345 file.go:123] `. */
export function klogPrefix(file) {
  const d = new Date()
  const pad = (n, w = 2) => String(n).padStart(w, '0')
  return `E${pad(d.getMonth() + 1)}${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds() * 1000, 6)} ${String(process.pid).padStart(7)} ${file}] `
}

/** Where the Docker API listens, from DOCKER_HOST (unix or tcp), or undefined when the CLI must be used. */
export function dockerEndpoint() {
  const host = process.env.DOCKER_HOST
  if (!host) return {socketPath: '/var/run/docker.sock'}
  if (host.startsWith('unix://')) return {socketPath: host.slice('unix://'.length)}
  const tcp = /^tcp:\/\/([^:/]+):(\d+)/.exec(host)
  if (tcp && !process.env.DOCKER_TLS_VERIFY) return {host: tcp[1], port: Number(tcp[2])}
  return undefined
}

/**
 * One GET to the Docker API over a raw socket (node:net is cheap to load, node:http is not): the whole
 * answer (status line, headers, body), or undefined when the daemon does not answer within timeoutMs.
 */
async function dockerGet(endpoint, apiPath, timeoutMs) {
  const net = await import('node:net')
  return new Promise((resolve) => {
    const socket = endpoint.socketPath ? net.connect(endpoint.socketPath) : net.connect(endpoint.port, endpoint.host)
    let answer = ''
    const done = (value) => {
      socket.destroy()
      resolve(value)
    }
    socket.setTimeout(timeoutMs, () => done(undefined))
    socket.on('connect', () => socket.write(`GET ${apiPath} HTTP/1.0\r\nHost: docker\r\n\r\n`))
    socket.on('data', (chunk) => (answer += chunk))
    socket.on('error', () => done(undefined))
    socket.on('end', () => done(answer))
  })
}

/** Is the Docker daemon up? (A raw /_ping.) */
export async function dockerPing(timeoutMs = 3000) {
  const endpoint = dockerEndpoint()
  if (!endpoint) return true
  return /^HTTP\/1\.[01] 200/.test((await dockerGet(endpoint, '/_ping', timeoutMs)) ?? '')
}

/**
 * Whether a container runs, asked from the Docker API in-process (no docker CLI per kubectl call):
 * 'running', 'stopped', 'missing', or 'down' when the daemon does not answer.
 */
export async function dockerContainerState(name, timeoutMs = 3000) {
  const endpoint = dockerEndpoint()
  if (!endpoint) return 'running'
  const answer = (await dockerGet(endpoint, `/containers/${encodeURIComponent(name)}/json`, timeoutMs)) ?? ''
  if (/^HTTP\/1\.[01] 404/.test(answer)) return 'missing'
  if (!/^HTTP\/1\.[01] 200/.test(answer)) return 'down'
  return /"Running":\s*true/.test(answer) ? 'running' : 'stopped'
}

/** The Docker name of a fake kind node: kind's name made unique per state folder (the docker shim shows kind's). */
export function nodeContainerName(nodeName) {
  return `${nodeName}-${stateLabel().split('=')[1].slice(0, 8)}`
}
