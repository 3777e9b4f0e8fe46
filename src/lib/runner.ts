/**
 * The one subprocess seam. Every call of docker, kind and kubectl goes through run() or start(), so
 * that --verbose can echo each command (with secrets masked), a failed call always becomes the same
 * typed error, and tests can swap the implementation with setRunner().
 */
import {spawn} from 'node:child_process'
import {execa} from 'execa'
import {UserError} from './errors.js'
import {redact} from './secrets.js'
import {quoteCommand} from './shell-quote.js'

export interface RunOptions {
  cwd?: string
  env?: Record<string, string | undefined>
  /** Written to the child's stdin. Secrets travel this way, never in argv (argv is visible in `ps`). */
  input?: string | Buffer
  timeoutMs?: number
  signal?: AbortSignal
  /** Return the result of a non-zero exit instead of throwing CommandError. */
  allowFailure?: boolean
  /** Called with each line of output as it arrives (for progress and log streaming). */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void
  /** Don't echo under --verbose: for calls repeated in a polling loop. */
  quiet?: boolean
}

export interface RunResult {
  argv: string[]
  exitCode: number
  stdout: string
  stderr: string
  /** The executable was not found on PATH. */
  notFound?: boolean
  /** Ended by a signal or by options.signal / timeoutMs. */
  killed?: boolean
}

export interface StartOptions {
  cwd?: string
  env?: Record<string, string | undefined>
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void
}

/** A long-running child (port-forward, logs -f). */
export interface BackgroundProcess {
  readonly argv: string[]
  readonly pid?: number
  readonly exited: Promise<RunResult>
  stop(): Promise<RunResult>
}

export interface Runner {
  run(argv: string[], options: RunOptions): Promise<RunResult>
  start(argv: string[], options: StartOptions): BackgroundProcess
}

const OUTPUT_TAIL_LINES = 20

export class CommandError extends UserError {
  readonly argv: string[]
  readonly command: string
  readonly result: RunResult

  constructor(result: RunResult) {
    const command = redact(quoteCommand(result.argv))
    super(`\`${command}\` failed with exit code ${result.exitCode}.`, {hint: outputTail(result) || undefined})
    this.name = 'CommandError'
    this.argv = result.argv
    this.command = command
    this.result = result
  }

  /** The last lines of what the command printed, secrets masked. */
  get tail(): string {
    return outputTail(this.result)
  }
}

export class ToolNotFoundError extends UserError {
  readonly tool: string
  constructor(tool: string) {
    super(`${tool} is not installed (it is not on PATH).`, {hint: installHint(tool)})
    this.name = 'ToolNotFoundError'
    this.tool = tool
  }
}

export function installHint(tool: string): string {
  switch (tool) {
    case 'docker': {
      return 'Install Docker Desktop (https://docs.docker.com/get-docker/) or Docker Engine, then run `devkube doctor`.'
    }
    case 'podman': {
      return 'Install Podman (https://podman.io/docs/installation), or unset KIND_EXPERIMENTAL_PROVIDER to use Docker, then run `devkube doctor`.'
    }
    case 'kind': {
      return 'Install kind v0.20 or newer: https://kind.sigs.k8s.io/docs/user/quick-start/#installation (e.g. `go install sigs.k8s.io/kind@latest` or `brew install kind`).'
    }
    case 'kubectl': {
      return 'Install kubectl: https://kubernetes.io/docs/tasks/tools/ (e.g. `brew install kubectl`).'
    }
    default: {
      return `Install ${tool} and make sure it is on PATH.`
    }
  }
}

export function outputTail(result: Pick<RunResult, 'stdout' | 'stderr'>, lines = OUTPUT_TAIL_LINES): string {
  const text = [result.stdout, result.stderr].filter(Boolean).join('\n').trimEnd()
  return redact(text.split('\n').slice(-lines).join('\n'))
}

export class ExecaRunner implements Runner {
  async run(argv: string[], options: RunOptions): Promise<RunResult> {
    const [file, ...args] = argv
    const child = execa(file, args, {
      cwd: options.cwd,
      env: options.env,
      input: options.input,
      stdin: options.input === undefined ? 'ignore' : undefined,
      timeout: options.timeoutMs,
      cancelSignal: options.signal,
      reject: false,
      stripFinalNewline: false,
      forceKillAfterDelay: 2000,
    })
    if (options.onLine) forwardLines(child, options.onLine)
    const result = await child
    return {
      argv,
      exitCode: result.exitCode ?? (result.code === 'ENOENT' ? 127 : 1),
      stdout: String(result.stdout ?? ''),
      stderr: String(result.stderr ?? ''),
      notFound: result.code === 'ENOENT',
      killed: result.isTerminated || result.isCanceled || result.timedOut,
    }
  }

  start(argv: string[], options: StartOptions): BackgroundProcess {
    const [file, ...args] = argv
    const child = execa(file, args, {
      cwd: options.cwd,
      env: options.env,
      stdin: 'ignore',
      reject: false,
      buffer: false,
      forceKillAfterDelay: 2000,
    })
    if (options.onLine) forwardLines(child, options.onLine)
    const exited = child.then((result) => ({
      argv,
      exitCode: result.exitCode ?? (result.code === 'ENOENT' ? 127 : 1),
      stdout: '',
      stderr: result.code === 'ENOENT' ? '' : String(result.stderr ?? ''),
      notFound: result.code === 'ENOENT',
      killed: result.isTerminated,
    }))
    return {
      argv,
      pid: child.pid,
      exited,
      async stop() {
        child.kill('SIGTERM')
        return exited
      },
    }
  }
}

function forwardLines(
  child: {stdout?: NodeJS.ReadableStream | null; stderr?: NodeJS.ReadableStream | null},
  onLine: (line: string, stream: 'stdout' | 'stderr') => void,
): void {
  for (const stream of ['stdout', 'stderr'] as const) {
    let pending = ''
    const source = child[stream]
    source?.on('data', (chunk: Buffer) => {
      pending += chunk.toString()
      const lines = pending.split('\n')
      pending = lines.pop() ?? ''
      for (const line of lines) onLine(line.replace(/\r$/, ''), stream)
    })
    source?.on('end', () => {
      if (pending) onLine(pending, stream)
      pending = ''
    })
  }
}

let currentRunner: Runner = new ExecaRunner()
let echo: ((line: string) => void) | undefined

/** Tests swap the runner here; returns a function that puts the previous one back. */
export function setRunner(runner: Runner): () => void {
  const previous = currentRunner
  currentRunner = runner
  return () => {
    currentRunner = previous
  }
}

/** --verbose: every command is echoed (secrets masked) before it runs. */
export function setCommandEcho(writer: ((line: string) => void) | undefined): void {
  echo = writer
}

export async function run(argv: string[], options: RunOptions = {}): Promise<RunResult> {
  if (echo && !options.quiet) echo(`$ ${redact(quoteCommand(argv))}${options.input === undefined ? '' : ' < (stdin)'}`)
  const result = await currentRunner.run(argv, options)
  if (result.notFound) throw new ToolNotFoundError(argv[0])
  if (result.exitCode !== 0 && !options.allowFailure && !(result.killed && options.signal?.aborted)) {
    throw new CommandError(result)
  }
  return result
}

export function start(argv: string[], options: StartOptions = {}): BackgroundProcess {
  if (echo) echo(`$ ${redact(quoteCommand(argv))} &`)
  return currentRunner.start(argv, options)
}

/**
 * Starts a process that outlives devkube (the background port forwarder): its own process group,
 * output to a log file, not waited for. Returns its pid.
 */
export function spawnDetached(argv: string[], options: {cwd?: string; logFd: number}): number {
  if (echo) echo(`$ ${redact(quoteCommand(argv))} (background)`)
  const child = spawn(argv[0], argv.slice(1), {cwd: options.cwd, detached: true, stdio: ['ignore', options.logFd, options.logFd]})
  child.unref()
  if (child.pid === undefined) throw new UserError(`Could not start ${argv[0]}.`, {hint: 'Check that it exists and is executable.'})
  return child.pid
}
