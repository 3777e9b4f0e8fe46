/**
 * Reads a .env file for the app's Secret. Every value is registered as a secret the moment it is
 * read, so it is masked in anything devkube prints; errors name the file and line, never the value.
 */
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {UserError} from './errors.js'
import {registerSecret} from './secrets.js'

const LINE = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/

export function readEnvFile(file: string, projectDir = path.dirname(file)): Record<string, string> {
  const shown = path.relative(projectDir, file) || file
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new UserError(`Cannot read the env file ${shown}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}.`, {
      hint: 'Check that the file exists and is readable.',
    })
  }
  return parseEnv(text, shown)
}

/**
 * A service's env files as one set of values, later files overriding earlier ones (compose's env_file order);
 * undefined when it names none.
 */
export function readEnvFiles(files: string[], projectDir: string): Record<string, string> | undefined {
  if (files.length === 0) return undefined
  return Object.assign({}, ...files.map((file) => readEnvFile(file, projectDir))) as Record<string, string>
}

export function parseEnv(text: string, shown = '.env'): Record<string, string> {
  const values: Record<string, string> = {}
  const lines = text.split(/\r?\n/)
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const match = LINE.exec(line)
    if (!match) {
      // The line may hold a secret: say where and what shape is expected, never what it says.
      const key = /^[^=\s]*/.exec(line)?.[0]
      const what = line.includes('=') ? `the name "${key}" is not a valid variable name` : 'it has no "="'
      throw new UserError(`${shown}:${index + 1}: malformed line (${what}).`, {
        hint: `Each line of ${shown} must be KEY=value (KEY: letters, digits and "_"); comments start with "#".`,
      })
    }
    const [, key, rawValue] = match
    const value = unquote(rawValue, shown, index + 1)
    values[key] = value
    registerSecret(value)
  }
  return values
}

function unquote(rawValue: string, shown: string, lineNumber: number): string {
  const quote = rawValue[0]
  if (quote === '"' || quote === "'") {
    const end = rawValue.lastIndexOf(quote)
    if (end === 0) {
      throw new UserError(`${shown}:${lineNumber}: malformed line (a quoted value is not closed).`, {
        hint: `Close the ${quote === '"' ? 'double' : 'single'} quote on that line of ${shown}.`,
      })
    }
    const inner = rawValue.slice(1, end)
    return quote === '"' ? inner.replaceAll('\\n', '\n').replaceAll('\\"', '"') : inner
  }
  // Unquoted values end at an inline comment, as in docker's and dotenv's parsers.
  return rawValue.replace(/\s+#.*$/, '').trim()
}
