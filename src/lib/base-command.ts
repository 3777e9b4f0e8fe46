/**
 * What every devkube command shares: --verbose, and turning any error into one sentence with a hint
 * and a non-zero exit (the stack trace only with --verbose or DEBUG).
 */
import {Command, Errors, Flags} from '@oclif/core'
import {isUserError} from './errors.js'
import {setCommandEcho} from './runner.js'
import {redact} from './secrets.js'
import {chalk} from './output.js'

export abstract class DevkubeCommand extends Command {
  static baseFlags = {
    verbose: Flags.boolean({
      description: 'Echo every docker/kind/kubectl command devkube runs, and show stack traces.',
      helpGroup: 'GLOBAL',
    }),
  }

  protected verbose = false

  async init(): Promise<void> {
    await super.init()
    // Read before run() parses, so even a failure while parsing or loading config can show details.
    this.verbose = this.argv.includes('--verbose') || Boolean(process.env.DEBUG)
    if (this.verbose) setCommandEcho((line) => process.stderr.write(chalk.dim(`${line}\n`)))
  }

  protected async catch(error: Error & {exitCode?: number}): Promise<unknown> {
    if (this.verbose && error.stack) process.stderr.write(`${redact(error.stack)}\n`)
    if (error instanceof Errors.CLIError && !isUserError(error)) {
      // oclif's own errors (unknown flag, missing argument) are already one clear sentence.
      return super.catch(error)
    }
    if (isUserError(error)) {
      return super.catch(
        new Errors.CLIError(redact(error.message), {
          exit: error.exitCode,
          suggestions: error.hint ? [redact(error.hint)] : undefined,
        }),
      )
    }
    return super.catch(
      new Errors.CLIError(`Unexpected error: ${redact(error.message)}`, {
        exit: 1,
        suggestions: ['Run again with --verbose to see where it happened, and report it if it persists.'],
      }),
    )
  }
}
