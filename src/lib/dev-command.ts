/**
 * What the pods run in watch mode: a command that reloads the app when synced files change.
 * `dev.command` in devkube.yaml wins; otherwise it follows from detection (the framework's own
 * reloading dev server, nodemon when the image has it, `node --watch`, `uvicorn --reload`).
 * Without one, synced files would not be picked up, so such a service rebuilds on every change.
 */
import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'
import type {Detection} from './detect.js'

/**
 * `reloadSignal`: the command does not watch files; devkube signals the container's main process
 * (PID 1, the command itself) after each sync instead. gunicorn reloads its workers on HUP
 * ("start the new worker processes … and gracefully shutdown older workers"; without --preload the
 * new workers import the app afresh), at once, where a file-polling reloader (Werkzeug's and Django's
 * stat reloaders look once a second) finds the change up to a second later and then starts a whole
 * new interpreter.
 */
export type DevCommand = {command: string[]; source: string; reloadSignal?: 'HUP'} | {none: string}

/** Dependencies that end up in the image (`npm ci --omit=dev` leaves devDependencies out). */
function runtimeDependencies(projectDir: string): Record<string, unknown> {
  const file = path.join(projectDir, 'package.json')
  if (!existsSync(file)) return {}
  try {
    return ((JSON.parse(readFileSync(file, 'utf8')) as {dependencies?: Record<string, unknown>}).dependencies ?? {})
  } catch {
    return {}
  }
}

export interface DevCommandInput {
  devCommand?: string[]
  port?: number
  /** The build context (where package.json is). */
  context: string
}

export function devCommand(config: DevCommandInput, detection: Detection | undefined): DevCommand {
  if (config.devCommand) return {command: config.devCommand, source: 'dev.command in devkube.yaml'}
  if (!detection) return {none: 'devkube does not know how this app starts'}
  const port = String(config.port ?? detection.port)
  if (detection.lang === 'node') {
    const dependencies = runtimeDependencies(config.context)
    if ('next' in dependencies) return {command: ['node_modules/.bin/next', 'dev', '--port', port, '--hostname', '0.0.0.0'], source: 'next dev'}
    if ('nodemon' in dependencies) return {command: ['node_modules/.bin/nodemon', ...(detection.entryFile ? [detection.entryFile] : [])], source: 'nodemon'}
    const start = detection.startCommand
    if (start?.[0] === 'node' && detection.entryFile) return {command: ['node', '--watch', ...start.slice(1)], source: 'node --watch'}
    return {none: 'the start script is not a plain `node <file>`; set dev.command in devkube.yaml (e.g. ["npm", "run", "dev"])'}
  }
  if (detection.lang === 'python') {
    const python = detection.python
    // The production server itself, reloaded by signal after each sync: where the project lists gunicorn.
    if ((python?.framework === 'flask' || python?.framework === 'django') && python.pythonApp && python.missingServer !== 'gunicorn') {
      return {command: ['gunicorn', '--bind', `0.0.0.0:${port}`, python.pythonApp], source: 'gunicorn, reloaded by HUP after each sync', reloadSignal: 'HUP'}
    }
    if (python?.framework === 'flask' && python.pythonApp) {
      return {command: ['python', '-m', 'flask', '--app', python.pythonApp, 'run', '--reload', '--host', '0.0.0.0', '--port', port], source: 'flask run --reload'}
    }
    if ((python?.framework === 'fastapi' || python?.framework === 'starlette') && python.pythonApp) {
      return {command: ['uvicorn', python.pythonApp, ...(python.factory ? ['--factory'] : []), '--host', '0.0.0.0', '--port', port, '--reload'], source: 'uvicorn --reload'}
    }
    if (python?.framework === 'django' || existsSync(path.join(config.context, 'manage.py'))) return {command: ['python', 'manage.py', 'runserver', `0.0.0.0:${port}`], source: 'manage.py runserver'}
    return {none: 'a plain Python script does not reload itself; set dev.command in devkube.yaml'}
  }
  return {none: `${detection.lang} apps are rebuilt on every change`}
}
