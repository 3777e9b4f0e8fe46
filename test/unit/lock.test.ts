import {spawnSync} from 'node:child_process'
import {mkdtempSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {acquireLock} from '../../src/lib/lock.js'
import {ensureStateDir, statePath} from '../../src/lib/project-state.js'

describe('project lock', () => {
  it('refuses a second holder with a message naming the running command', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'devkube-lock-'))
    const lock = acquireLock(dir, 'up')
    // Another live process holds it: simulate by writing our parent's pid as the holder.
    lock.release()
    writeFileSync(statePath(dir, 'lock'), JSON.stringify({pid: process.ppid, command: 'up', since: 'now'}))
    expect(() => acquireLock(dir, 'up')).toThrow(/Another `devkube up` is already running in this folder \(pid \d+/)
  })

  it('takes over a lock whose process is gone', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'devkube-lock-'))
    ensureStateDir(dir)
    const finished = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'])
    writeFileSync(statePath(dir, 'lock'), JSON.stringify({pid: Number(finished.stdout.toString()), command: 'up', since: 'then'}))
    const lock = acquireLock(dir, 'up')
    lock.release()
    expect(() => acquireLock(dir, 'up').release()).not.toThrow()
  })
})
