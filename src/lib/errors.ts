/**
 * User-facing errors. Anything a user can cause ends as a UserError: one sentence saying what happened
 * and a hint saying what to do. Commands turn it into that message and a non-zero exit; the stack
 * trace is shown only with --verbose or DEBUG.
 */
export class UserError extends Error {
  readonly hint?: string
  readonly exitCode: number

  constructor(message: string, options: {hint?: string; exitCode?: number; cause?: unknown} = {}) {
    super(message, {cause: options.cause})
    this.name = 'UserError'
    this.hint = options.hint
    this.exitCode = options.exitCode ?? 1
  }
}

/** Raised when the user interrupts (Ctrl-C): exit 130 like a shell, and nothing else to say. */
export class InterruptedError extends UserError {
  constructor(what = 'Interrupted') {
    super(`${what}.`, {exitCode: 130})
    this.name = 'InterruptedError'
  }
}

export function isUserError(error: unknown): error is UserError {
  return error instanceof UserError
}
