/**
 * Orphan detection: processes still running that were started with a given environment value (the
 * fake toolchain's state dir), i.e. kubectl/kind/docker children a devkube run left behind.
 */
import {readdirSync, readFileSync} from 'node:fs'

export interface LeftoverProcess {
  pid: number
  command: string
}

export function processesWithEnv(marker: string, options: {exclude?: number[]} = {}): LeftoverProcess[] {
  const found: LeftoverProcess[] = []
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry)
    if (!Number.isInteger(pid) || pid === process.pid || options.exclude?.includes(pid)) continue
    try {
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8')
      if (!environ.includes(marker)) continue
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim()
      const state = /^State:\s+(\w)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
      if (state === 'Z') continue
      found.push({pid, command})
    } catch {
      // The process ended while we looked, or is not ours to read.
    }
  }
  return found
}

/** Waits briefly for stragglers that are already exiting, then returns what is still there. */
export async function leftoverProcesses(marker: string, graceMs = 3000): Promise<LeftoverProcess[]> {
  const deadline = Date.now() + graceMs
  let found = processesWithEnv(marker)
  while (found.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200))
    found = processesWithEnv(marker)
  }
  return found
}
