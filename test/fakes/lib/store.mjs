// Cluster state: one JSON file per cluster under DEVKUBE_FAKE_STATE, guarded by a lock directory because
// several fake processes (a port-forward and other kubectl calls) touch it at once.
import fs from 'node:fs'
import path from 'node:path'
import {sleep, stateDir} from './util.mjs'

const clustersDir = () => path.join(stateDir(), 'clusters')
const clusterFile = (name) => path.join(clustersDir(), `${name}.json`)
const lockDir = (name) => path.join(stateDir(), 'locks', `${name}.lock`)

export function listClusterNames() {
  try {
    return fs
      .readdirSync(clustersDir())
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -5))
      .sort()
  } catch {
    return []
  }
}

export function readCluster(name) {
  try {
    return JSON.parse(fs.readFileSync(clusterFile(name), 'utf8'))
  } catch {
    return undefined
  }
}

export function writeCluster(state) {
  fs.mkdirSync(clustersDir(), {recursive: true})
  const file = clusterFile(state.name)
  const tmp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(tmp, JSON.stringify(state))
  fs.renameSync(tmp, file)
}

export function removeCluster(name) {
  fs.rmSync(clusterFile(name), {force: true})
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return error.code === 'EPERM'
  }
}

const held = new Map()

export async function lock(name, timeoutMs = 60_000) {
  if (held.has(name)) {
    held.set(name, held.get(name) + 1)
    return
  }
  const dir = lockDir(name)
  fs.mkdirSync(path.dirname(dir), {recursive: true})
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      fs.mkdirSync(dir)
      fs.writeFileSync(path.join(dir, 'owner'), String(process.pid))
      held.set(name, 1)
      return
    } catch (error) {
      if (error.code !== 'EEXIST') throw error
    }
    // A holder that died (SIGKILL) leaves its lock behind: take it over.
    try {
      const owner = Number(fs.readFileSync(path.join(dir, 'owner'), 'utf8'))
      const age = Date.now() - fs.statSync(dir).mtimeMs
      if ((owner && !pidAlive(owner)) || age > 30_000) fs.rmSync(dir, {recursive: true, force: true})
    } catch {
      // The owner file is not written yet, or the lock was just released.
    }
    if (Date.now() > deadline) throw new Error(`fake: timed out waiting for the lock of cluster ${name}`)
    await sleep(10 + Math.random() * 15)
  }
}

export function unlock(name) {
  const count = held.get(name)
  if (!count) return
  if (count > 1) {
    held.set(name, count - 1)
    return
  }
  held.delete(name)
  fs.rmSync(lockDir(name), {recursive: true, force: true})
}

/** Runs fn(state) under the cluster's lock and saves the state afterwards (if it still exists). */
export async function withCluster(name, fn) {
  await lock(name)
  try {
    const state = readCluster(name)
    const result = await fn(state)
    if (state && !state.deleted) writeCluster(state)
    return result
  } finally {
    unlock(name)
  }
}

process.on('exit', () => {
  for (const name of held.keys()) fs.rmSync(lockDir(name), {recursive: true, force: true})
})
