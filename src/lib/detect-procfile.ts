/**
 * The Procfile convention (Heroku, Render, Dokku): its `web:` line is how the app starts, in any
 * language, with $PORT set to the port to listen on. Only reads files.
 */
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {isFile} from './detect-files.js'

export interface ProcfileWeb {
  /** The command as written, e.g. "gunicorn mysite.wsgi --bind 0.0.0.0:$PORT". */
  command: string
  /** Where it was found, e.g. "Procfile: web". */
  source: string
}

export function procfileWeb(dir: string): ProcfileWeb | undefined {
  const file = path.join(dir, 'Procfile')
  if (!isFile(file)) return undefined
  for (const line of readFileSync(file, 'utf8').split(/\r?\n/)) {
    const match = /^web\s*:\s*(.+)$/.exec(line.trim())
    if (match && match[1].trim()) return {command: match[1].trim(), source: 'Procfile: web'}
  }
  return undefined
}

/**
 * The argv that runs a Procfile command as the platforms do (a shell, so $PORT and `&&` work). A
 * single command is exec'd, so the app is PID 1 and gets SIGTERM itself instead of the shell.
 */
export function procfileStartCommand(web: ProcfileWeb): string[] {
  const simple = !/[;&|<>()`]|\bexec\b/.test(web.command)
  return ['sh', '-c', simple ? `exec ${web.command}` : web.command]
}

/**
 * For images without a shell (Go's static runtime): the command's words with $PORT / ${PORT} put in,
 * or undefined when it needs a shell (other variables, pipes, `&&`).
 */
export function procfileArgv(web: ProcfileWeb, port: number): string[] | undefined {
  const withPort = web.command.replaceAll(/\$\{PORT\}|\$PORT\b/g, String(port))
  if (/[$;&|<>()`'"\\]/.test(withPort)) return undefined
  return withPort.split(/\s+/).filter(Boolean)
}
