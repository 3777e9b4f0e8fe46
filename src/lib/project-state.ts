/**
 * devkube's own files inside a project: `.devkube/` holds the lock, the forwarder's record and its
 * log, and caches. It ignores itself in git, so a project needs no .gitignore change to stay clean.
 */
import {existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'

export const STATE_DIR = '.devkube'

/** Creates .devkube/ (ignoring itself in git) for a write; reads never create it. */
export function ensureStateDir(projectDir: string): string {
  const directory = path.join(projectDir, STATE_DIR)
  if (!existsSync(directory)) {
    mkdirSync(directory, {recursive: true})
    writeFileSync(path.join(directory, '.gitignore'), '*\n')
  }
  return directory
}

/** Where a state file lives. Only paths: status, down and doctor may run in any folder and leave nothing there. */
export function statePath(projectDir: string, name: string): string {
  return path.join(projectDir, STATE_DIR, name)
}

export function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T
  } catch {
    return undefined
  }
}

/** Written to a temporary file and renamed: Ctrl-C never leaves a half-written record. */
export function writeJsonAtomic(file: string, value: unknown): void {
  if (path.basename(path.dirname(file)) === STATE_DIR) ensureStateDir(path.dirname(path.dirname(file)))
  const temporary = `${file}.${process.pid}.tmp`
  writeFileSync(temporary, `${JSON.stringify(value, null, 2)}\n`)
  renameSync(temporary, file)
}

export function removeFile(file: string): void {
  rmSync(file, {force: true})
}

export function processAlive(pid: number | undefined): boolean {
  if (!pid) return false
  try {
    process.kill(pid, 0)
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
  // A killed process nobody has reaped yet (a zombie) still answers signal 0, but is gone.
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return true
  }
}
