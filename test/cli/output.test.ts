/**
 * What a user piping or scripting devkube sees: no colour codes under NO_COLOR (even when FORCE_COLOR asks
 * for them), and a reader that stops early (`| head -1`) ends devkube quietly with exit 0, its work done.
 */
import {execa} from 'execa'
import {cpSync, existsSync, mkdtempSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {cliEnv, cliPath, repo} from '../support/cli.js'

const ESCAPE = '\u001B['

function fixture(name: string): string {
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'devkube-output-')), path.basename(name))
  cpSync(path.join(repo, 'test', 'fixtures', name), dir, {recursive: true})
  return dir
}

describe('output for pipes and scripts', () => {
  it('NO_COLOR: init and an error carry no escape codes, even with FORCE_COLOR set', async () => {
    const dir = fixture('python/django')
    const env = cliEnv({NO_COLOR: '1', FORCE_COLOR: '3'})
    const init = await execa(process.execPath, [cliPath, 'init', '--yes'], {cwd: dir, env, extendEnv: false, reject: false, stdin: 'ignore'})
    expect(init.exitCode, init.stderr).toBe(0)
    expect(init.stdout).toContain('framework      Django')
    expect(init.stdout + init.stderr).not.toContain(ESCAPE)
    const failed = await execa(process.execPath, [cliPath, 'init', '--yes', '--port', '70000'], {cwd: dir, env, extendEnv: false, reject: false, stdin: 'ignore'})
    expect(failed.exitCode).not.toBe(0)
    expect(failed.stderr).toContain('--port must be')
    expect(failed.stdout + failed.stderr).not.toContain(ESCAPE)
  })

  it('`devkube init --yes | head -1` exits 0 and still writes every file', async () => {
    const dir = fixture('python/flask-factory')
    const piped = await execa('bash', ['-c', `set -o pipefail; "${process.execPath}" "${cliPath}" init --yes | head -1`], {cwd: dir, env: cliEnv({}), extendEnv: false, reject: false, stdin: 'ignore'})
    expect(piped.exitCode, piped.stderr).toBe(0)
    expect(piped.stdout.split('\n')).toHaveLength(1)
    expect(piped.stderr).not.toMatch(/unsettled top-level await|EPIPE/)
    for (const file of ['Dockerfile', 'devkube.yaml', 'k8s/base/deployment.yaml']) expect(existsSync(path.join(dir, file)), file).toBe(true)
  })
})
