/**
 * What the day-2 CLI tests (logs, status, down, doctor) share: the built CLI run as a user would run
 * it (no TTY, no colour) against the fake kind/kubectl backed by real Docker, and a deployed copy of
 * examples/hello-node to look at.
 */
import {execFile, spawn, type ChildProcess} from 'node:child_process'
import {cpSync, mkdtempSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {buildArgFlags, ensureStandinImages, freeLoopbackPort} from '../support/docker.js'
import {createFakeToolchain, execCommand, type ExecResult, type FakeToolchain} from '../support/fake-toolchain.js'

export const repo = path.resolve(import.meta.dirname, '../..')
export const bin = path.join(repo, 'bin', 'run.js')

/** oclif wraps error messages at the terminal width, each line starting " ›": join them back. */
export const errorText = (result: ExecResult) => result.stderr.replaceAll(/\s*\n ›\s+/g, ' ').trim()

export interface Day2World {
  tools: FakeToolchain
  /** A copy of examples/hello-node named "hello", so the app and its namespace are "hello". */
  dir: string
  env: Record<string, string>
  buildArgs: string[]
  devkube(args: string[], options?: {cwd?: string; env?: Record<string, string>; timeoutMs?: number}): Promise<ExecResult>
  /** `devkube up` with the stand-in base image; throws with its output when it fails. */
  up(extra?: string[]): Promise<ExecResult>
  cleanup(): Promise<void>
}

export async function day2World(): Promise<Day2World> {
  const tools = await createFakeToolchain({speed: 0.05})
  const root = mkdtempSync(path.join(os.tmpdir(), 'devkube-cli-day2-'))
  const dir = path.join(root, 'hello')
  cpSync(path.join(repo, 'examples', 'hello-node'), dir, {recursive: true})
  const env: Record<string, string> = {...tools.env, NO_COLOR: '1'}
  delete env.CI
  delete env.DEBUG
  const buildArgs = buildArgFlags({NODE_IMAGE: (await ensureStandinImages()).NODE_IMAGE})
  const devkube: Day2World['devkube'] = (args, options = {}) =>
    runIn(options.cwd ?? dir, process.execPath, [bin, ...args], {...env, ...options.env}, options.timeoutMs ?? 120_000)
  return {
    tools,
    dir,
    env,
    buildArgs,
    devkube,
    async up(extra = ['--no-forward']) {
      const result = await devkube(['up', ...buildArgs, ...extra])
      if (result.code !== 0) throw new Error(`devkube up failed (${result.code}):\n${result.stdout}\n${result.stderr}`)
      return result
    },
    async cleanup() {
      // A detached forwarder of a failed test must not outlive it.
      await devkube(['down', '--cluster', '--yes'], {timeoutMs: 60_000}).catch(() => undefined)
      await tools.cleanup()
      rmSync(root, {recursive: true, force: true})
    },
  }
}

export {freeLoopbackPort}

/** Runs a command in a folder, stdin closed (no TTY, as in a script), and collects its output. */
export function runIn(cwd: string, command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(command, args, {cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs}, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 127) : 0
      resolve({code, stdout, stderr})
    })
    child.stdin?.end('')
  })
}

/** A long-running devkube (logs -f) whose output is collected as it comes. */
export interface Running {
  child: ChildProcess
  stdout(): string
  stderr(): string
  exited: Promise<number | null>
  waitFor(pattern: RegExp, stream?: 'stdout' | 'stderr', timeoutMs?: number): Promise<void>
}

export function startDevkube(world: Day2World, args: string[]): Running {
  const child = spawn(process.execPath, [bin, ...args], {cwd: world.dir, env: world.env, stdio: ['ignore', 'pipe', 'pipe']})
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    async waitFor(pattern, stream = 'stdout', timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs
      while (!pattern.test(stream === 'stdout' ? stdout : stderr)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern} on ${stream}; stdout:\n${stdout}\nstderr:\n${stderr}`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    },
  }
}

/** Processes whose command line mentions `text` (children devkube should have ended). */
export async function processesMentioning(text: string): Promise<string[]> {
  const result = await execCommand('ps', ['-eo', 'pid,args'])
  return result.stdout.split('\n').filter((line) => line.includes(text) && !line.includes('ps -eo'))
}
