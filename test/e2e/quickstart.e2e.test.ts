/**
 * The README quickstart against a REAL kind cluster. Runs only where kind and Docker exist and
 * DEVKUBE_E2E=1 (see .github/workflows/e2e.yml); everywhere else it says why it is skipped.
 */
import {execa} from 'execa'
import {cpSync, mkdtempSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

const repo = path.resolve(import.meta.dirname, '../..')
const cli = path.join(repo, 'bin/run.js')

async function has(tool: string, args: string[]): Promise<boolean> {
  const result = await execa(tool, args, {reject: false})
  return result.exitCode === 0
}

const enabled = process.env.DEVKUBE_E2E === '1'
const ready = enabled && (await has('kind', ['version'])) && (await has('docker', ['info']))
if (!ready) {
  console.warn(
    enabled
      ? 'e2e: skipped — DEVKUBE_E2E=1 but kind or a running Docker is missing.'
      : 'e2e: skipped — set DEVKUBE_E2E=1 on a machine with kind and Docker to run the quickstart against a real cluster.',
  )
}

describe.skipIf(!ready)('quickstart on real kind', () => {
  const cluster = `devkube-e2e-${process.pid}`
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'devkube-e2e-')), 'hello-python')
  cpSync(path.join(repo, 'examples/hello-python'), dir, {recursive: true})
  // `down` takes the cluster's name as --cluster-name (its --cluster means "the cluster too").
  const devkube = (...args: string[]) =>
    execa('node', [cli, ...args, args[0] === 'down' ? '--cluster-name' : '--cluster', cluster], {cwd: dir, reject: false, env: {CI: 'true'}})

  afterAll(async () => {
    await devkube('down', '--cluster', '--yes')
  }, 300_000)

  it('devkube up serves Hello World, a re-run changes nothing, down removes it', async () => {
    const up = await devkube('up', '--detach', '--forward', '18080')
    expect(up.exitCode, up.stderr + up.stdout).toBe(0)
    const body = await (await fetch('http://localhost:18080/')).text()
    expect(body.trim()).toBe('Hello World')

    const again = await devkube('up', '--detach', '--forward', '18080', '--json')
    expect(again.exitCode, again.stderr).toBe(0)
    const result = JSON.parse(again.stdout) as {changed: {imageBuilt: boolean; imageLoaded: boolean; applied: string[]; clusterCreated: boolean}}
    expect(result.changed).toMatchObject({imageBuilt: false, imageLoaded: false, applied: [], clusterCreated: false})

    const down = await devkube('down')
    expect(down.exitCode, down.stderr).toBe(0)
  }, 900_000)
})
