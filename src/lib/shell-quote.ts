/** Quotes argv so the printed command can be copied and pasted into a POSIX shell. */
export function quoteArg(arg: string): string {
  if (arg === '') return "''"
  if (/^[\w@%+=:,./-]+$/.test(arg)) return arg
  return `'${arg.replaceAll("'", `'\\''`)}'`
}

export function quoteCommand(argv: readonly string[]): string {
  return argv.map((arg) => quoteArg(arg)).join(' ')
}
