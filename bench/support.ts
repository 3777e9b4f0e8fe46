/**
 * What the benches share: processes in their own group (ended on Ctrl-C), free ports, a wait for an HTTP
 * answer, the shims' tool-call logs (bench/fakes/shim.sh) and the medians. bench/run.ts starts its processes
 * its own way (it samples their memory) and takes the rest from here.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {parseArgs} from 'node:util'

export interface Exec {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  startedAt: number
  endedAt: number
}

/** Children still running, so that an interrupted bench can end them (by process group) before it cleans up. */
export const running = new Set<ChildProcess>()

/** Runs a command in its own process group (killed with it after timeoutMs); never rejects for a non-zero exit. */
export function exec(argv: string[], options: {cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number} = {}): Promise<Exec> {
  const startedAt = performance.now()
  const child = spawn(argv[0], argv.slice(1), {cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true})
  running.add(child)
  return new Promise<Exec>((resolve, reject) => {
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const timer = setTimeout(() => killGroup(child), options.timeoutMs ?? 180_000)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      running.delete(child)
      clearTimeout(timer)
      resolve({code, signal, stdout, stderr, startedAt, endedAt: performance.now()})
    })
  })
}

export function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return
  try {
    process.kill(-child.pid, 'SIGKILL')
  } catch {
    // already gone
  }
}

export function check<T extends Exec>(result: T, what: string): T {
  if (result.code !== 0) {
    const tail = `${result.stdout}\n${result.stderr}`.trim().split('\n').slice(-25).join('\n')
    throw new Error(`${what} failed (exit ${result.code ?? result.signal}):\n${tail}`)
  }
  return result
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** GETs http://127.0.0.1:port/ until the body contains `expected`; resolves with when it did (performance.now()). */
export async function waitForBody(port: number, expected: string, timeoutMs = 60_000): Promise<number> {
  const deadline = performance.now() + timeoutMs
  let last = ''
  while (performance.now() < deadline) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/`, {signal: AbortSignal.timeout(2000)})
      last = await response.text()
      if (response.ok && last.includes(expected)) return performance.now()
    } catch (error) {
      last = String((error as Error).cause ?? error)
    }
    await sleep(25)
  }
  throw new Error(`http://127.0.0.1:${port}/ did not answer "${expected}" within ${timeoutMs / 1000} s (last: ${last.slice(0, 200)})`)
}

/** Ends a process by pid (the background forwarder), SIGKILL after 5 s. */
export async function stopProcess(pid: number): Promise<void> {
  const alive = () => {
    try {
      process.kill(pid, 0)
      return true
    } catch {
      return false
    }
  }
  if (!alive()) return
  process.kill(pid, 'SIGTERM')
  for (let i = 0; i < 100 && alive(); i++) await sleep(50)
  if (alive()) process.kill(pid, 'SIGKILL')
}

export interface ToolCall {
  tool: string
  /** ms on the performance.now() clock of this process */
  start: number
  end?: number
  code?: number
  nested: boolean
  args: string
}

/** performance.now() and the shims' $EPOCHREALTIME on one clock. */
const epochOffsetMs = Date.now() - performance.now()

export function readToolLog(file: string): ToolCall[] {
  if (!fs.existsSync(file)) return []
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [tool, start, end, code, nested, ...args] = line.split('\t')
      return {
        tool,
        start: Number(start) * 1000 - epochOffsetMs,
        end: end === '-' ? undefined : Number(end) * 1000 - epochOffsetMs,
        code: code === '-' ? undefined : Number(code),
        nested: nested === '1',
        args: args.join('\t'),
      }
    })
}

export function median(values: number[]): {median: number; min: number; max: number} {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = (sorted.length - 1) / 2
  return {median: (sorted[Math.floor(mid)] + sorted[Math.ceil(mid)]) / 2, min: sorted[0], max: sorted.at(-1)!}
}

/** `--runs N --speed F` of a bench, checked (exits 2 with a sentence on a bad value). */
export function runsAndSpeed(defaultSpeed: string): {runs: number; speed: number} {
  const {values: cli} = parseArgs({options: {runs: {type: 'string', default: '3'}, speed: {type: 'string', default: defaultSpeed}}})
  const runs = Number(cli.runs)
  const speed = Number(cli.speed)
  if (!Number.isInteger(runs) || runs < 1 || !(speed > 0)) {
    console.error('--runs takes a whole number ≥ 1 and --speed a number > 0.')
    process.exit(2)
  }
  return {runs, speed}
}

/** A copy of the built CLI in devkubeRoot, so that a rebuild of the checkout during the run cannot change what it measures. */
export function snapshotDevkube(repoRoot: string, devkubeRoot: string): void {
  if (!fs.existsSync(path.join(repoRoot, 'dist', 'commands', 'up.js'))) throw new Error('dist/ is missing: run `npm run build` first.')
  fs.mkdirSync(devkubeRoot)
  for (const entry of ['bin', 'dist', 'templates', 'package.json', 'oclif.manifest.json']) {
    if (fs.existsSync(path.join(repoRoot, entry))) fs.cpSync(path.join(repoRoot, entry), path.join(devkubeRoot, entry), {recursive: true})
  }
  fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(devkubeRoot, 'node_modules'))
}
