/**
 * A Runner that answers by argv and records every call: tests fake the tools at the process
 * boundary (as ctlptl's FakeCmdRunner does), never by mocking a library's internals.
 */
import type {BackgroundProcess, RunOptions, RunResult, Runner, StartOptions} from '../../src/lib/runner.js'

export type Answer = Partial<Pick<RunResult, 'exitCode' | 'stdout' | 'stderr' | 'notFound'>>
export type Handler = (argv: string[], options: RunOptions) => Answer | undefined | Promise<Answer | undefined>

export interface RecordedCall {
  argv: string[]
  input?: string
}

/**
 * A long-running child (port-forward, logs -f) that the test drives: it says lines and exits when
 * the test tells it to, or when devkube stops it (as a signal would: exit 143, killed).
 */
export class FakeProcess implements BackgroundProcess {
  readonly exited: Promise<RunResult>
  stopped = false
  private finish!: (result: RunResult) => void
  private done = false

  constructor(
    readonly argv: string[],
    private readonly options: StartOptions,
    readonly pid = 40_000 + Math.floor(Math.random() * 10_000),
  ) {
    this.exited = new Promise((resolve) => {
      this.finish = resolve
    })
  }

  get running(): boolean {
    return !this.done
  }

  /** The child prints a line (what devkube's onLine sees). */
  say(line: string, stream: 'stdout' | 'stderr' = 'stdout'): this {
    if (!this.done) this.options.onLine?.(line, stream)
    return this
  }

  /** The child exits by itself, e.g. kubectl's `error: lost connection to pod`. */
  exit(exitCode: number, answer: Partial<Pick<RunResult, 'stderr' | 'notFound'>> = {}): void {
    if (answer.stderr) for (const line of answer.stderr.split('\n')) this.say(line, 'stderr')
    this.settle({argv: this.argv, exitCode, stdout: '', stderr: answer.stderr ?? '', notFound: answer.notFound})
  }

  async stop(): Promise<RunResult> {
    this.stopped = true
    this.settle({argv: this.argv, exitCode: 143, stdout: '', stderr: '', killed: true})
    return this.exited
  }

  private settle(result: RunResult): void {
    if (this.done) return
    this.done = true
    this.finish(result)
  }
}

export type StartHandler = (process: FakeProcess) => void

export class FakeRunner implements Runner {
  readonly calls: RecordedCall[] = []
  /** Every long-running child started, in order. */
  readonly started: FakeProcess[] = []
  private readonly handlers: Handler[] = []
  private readonly startHandlers: Array<{prefix: string; handler: StartHandler}> = []

  /** Later handlers win; a handler returning undefined passes the call on. */
  on(handler: Handler): this {
    this.handlers.unshift(handler)
    return this
  }

  /** Answers calls whose argv starts with `prefix` (words, joined by spaces). */
  when(prefix: string, answer: Answer | ((argv: string[], options: RunOptions) => Answer)): this {
    return this.on((argv, options) => {
      if (!matches(argv, prefix)) return undefined
      return typeof answer === 'function' ? answer(argv, options) : answer
    })
  }

  async run(argv: string[], options: RunOptions): Promise<RunResult> {
    this.calls.push({argv, input: options.input?.toString()})
    for (const handler of this.handlers) {
      const answer = await handler(argv, options)
      if (answer) return {argv, exitCode: 0, stdout: '', stderr: '', ...answer}
    }
    throw new Error(`FakeRunner: no answer for: ${argv.join(' ')}`)
  }

  /**
   * Long-running children whose argv starts with `prefix` are handed to `handler`, which drives them
   * (say lines, exit). Later handlers win. Unhandled children exit 0 at once.
   */
  whenStarted(prefix: string, handler: StartHandler): this {
    this.startHandlers.unshift({prefix, handler})
    return this
  }

  start(argv: string[], options: StartOptions): BackgroundProcess {
    this.calls.push({argv})
    const child = new FakeProcess(argv, options)
    this.started.push(child)
    const match = this.startHandlers.find(({prefix}) => matches(argv, prefix))
    // Asynchronously, as a real child's output arrives after start() has returned.
    queueMicrotask(() => (match ? match.handler(child) : child.exit(0)))
    return child
  }

  /** Calls whose argv contains these words in this order (e.g. "docker build"). */
  callsOf(words: string): RecordedCall[] {
    return this.calls.filter((call) => containsInOrder(call.argv, words.split(' ')))
  }
}

function matches(argv: string[], prefix: string): boolean {
  const words = prefix.split(' ')
  return words.every((word, index) => argv[index] === word)
}

function containsInOrder(argv: string[], words: string[]): boolean {
  let position = 0
  for (const arg of argv) {
    if (arg === words[position]) position++
    if (position === words.length) return true
  }
  return false
}
