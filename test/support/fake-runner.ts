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

export class FakeRunner implements Runner {
  readonly calls: RecordedCall[] = []
  private readonly handlers: Handler[] = []

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

  start(argv: string[], _options: StartOptions): BackgroundProcess {
    this.calls.push({argv})
    const exited = Promise.resolve({argv, exitCode: 0, stdout: '', stderr: ''})
    return {argv, exited, stop: async () => exited}
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
