/**
 * Compose's variable interpolation (`$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`,
 * `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}`, nesting, `$$`), as the Compose Specification defines it. The
 * import reads variables from the project's .env only, not from the shell: what devkube.yaml says must not depend
 * on who ran `devkube init`, and a shell's variables may be secrets.
 */
import {UserError} from './errors.js'

export interface Interpolated {
  value: string
  /** Every variable the string referred to (set or not): the import treats values built from secrets as secrets. */
  variables: string[]
  /** Variables referred to without a default that are not set: compose substitutes "" and warns. */
  unset: string[]
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/

/** Interpolates one string. `where` names the value for the error a `${VAR:?message}` raises. */
export function interpolate(text: string, variables: Record<string, string>, where: string): Interpolated {
  const referenced = new Set<string>()
  const unset = new Set<string>()
  const value = expand(text, variables, where, referenced, unset)
  return {value, variables: [...referenced], unset: [...unset]}
}

function expand(text: string, variables: Record<string, string>, where: string, referenced: Set<string>, unset: Set<string>): string {
  let out = ''
  let index = 0
  while (index < text.length) {
    const dollar = text.indexOf('$', index)
    if (dollar === -1) {
      out += text.slice(index)
      break
    }
    out += text.slice(index, dollar)
    const next = text[dollar + 1]
    if (next === '$') {
      out += '$'
      index = dollar + 2
      continue
    }
    if (next === '{') {
      const end = closingBrace(text, dollar + 2)
      if (end === -1) {
        throw new UserError(`${where}: "\${" is not closed in ${JSON.stringify(text)}.`, {hint: 'Close it with "}", or write "$$" for a literal "$".'})
      }
      out += braced(text.slice(dollar + 2, end), variables, where, referenced, unset)
      index = end + 1
      continue
    }
    const name = NAME.exec(text.slice(dollar + 1))?.[0]
    if (name) {
      referenced.add(name)
      if (variables[name] === undefined) unset.add(name)
      out += variables[name] ?? ''
      index = dollar + 1 + name.length
      continue
    }
    // Not a variable (e.g. "$5"): compose keeps it as written.
    out += '$'
    index = dollar + 1
  }
  return out
}

/** The index of the "}" that closes a "${" whose body starts at `start`, counting nested "${...}". */
function closingBrace(text: string, start: number): number {
  let depth = 1
  for (let index = start; index < text.length; index++) {
    if (text[index] === '$' && text[index + 1] === '$') {
      index++
    } else if (text[index] === '$' && text[index + 1] === '{') {
      depth++
      index++
    } else if (text[index] === '}') {
      depth--
      if (depth === 0) return index
    }
  }
  return -1
}

function braced(body: string, variables: Record<string, string>, where: string, referenced: Set<string>, unset: Set<string>): string {
  const name = NAME.exec(body)?.[0]
  if (!name) throw new UserError(`${where}: "\${${body}}" is not a variable compose can substitute.`, {hint: 'Variable names are letters, digits and "_"; write "$$" for a literal "$".'})
  referenced.add(name)
  const rest = body.slice(name.length)
  const value = variables[name]
  const operator = /^(:?[-?+])/.exec(rest)?.[1]
  if (!operator) {
    if (rest !== '') throw new UserError(`${where}: "\${${body}}" uses a form compose does not support.`, {hint: 'Compose supports ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, ${VAR:+alt} and ${VAR+alt}.'})
    if (value === undefined) unset.add(name)
    return value ?? ''
  }
  const operand = () => expand(rest.slice(operator.length), variables, where, referenced, unset)
  // With ":" an empty value counts as unset; without it only a missing variable does.
  const present = operator.startsWith(':') ? value !== undefined && value !== '' : value !== undefined
  switch (operator.at(-1)) {
    case '-': {
      return present ? (value as string) : operand()
    }
    case '+': {
      return present ? operand() : ''
    }
    default: {
      if (present) return value as string
      const message = operand()
      throw new UserError(`${where} needs the variable ${name}${message ? `: ${message}` : ''}.`, {hint: `Set ${name} in the project's .env file (devkube reads variables from there, not from the shell).`})
    }
  }
}
