/**
 * One `devkube up` per project folder at a time: a second one refuses with a clear message instead of
 * interleaving builds and applies. A lock left by a process that no longer exists is taken over.
 */
import {openSync, writeSync, closeSync} from 'node:fs'
import {UserError} from './errors.js'
import {ensureStateDir, processAlive, readJson, removeFile, statePath} from './project-state.js'

interface LockRecord {
  pid: number
  command: string
  since: string
}

export interface ProjectLock {
  release(): void
}

export function acquireLock(projectDir: string, command: string): ProjectLock {
  ensureStateDir(projectDir)
  const file = statePath(projectDir, 'lock')
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const descriptor = openSync(file, 'wx')
      writeSync(descriptor, JSON.stringify({pid: process.pid, command, since: new Date().toISOString()} satisfies LockRecord))
      closeSync(descriptor)
      let released = false
      return {
        release() {
          if (released) return
          released = true
          removeFile(file)
        },
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const holder = readJson<LockRecord>(file)
      if (holder && processAlive(holder.pid) && holder.pid !== process.pid) {
        throw new UserError(`Another \`devkube ${holder.command}\` is already running in this folder (pid ${holder.pid}, since ${holder.since}).`, {
          hint: 'Wait for it to finish, or stop it (Ctrl-C in its terminal), then run the command again.',
        })
      }
      // The holder is gone (killed, crashed): its lock means nothing any more.
      removeFile(file)
    }
  }
  throw new UserError('Could not take the project lock in .devkube/.', {hint: 'Remove .devkube/lock if no devkube is running, then try again.'})
}
