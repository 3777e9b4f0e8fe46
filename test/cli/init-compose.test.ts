import {spawnSync, type SpawnSyncReturns} from 'node:child_process'
import {cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterEach, beforeAll, describe, expect, it} from 'vitest'
import {parse} from 'yaml'

const repo = path.resolve(import.meta.dirname, '../..')
const bin = path.join(repo, 'bin', 'run.js')
const folders: string[] = []

function ensureBuilt(): void {
  if (existsSync(path.join(repo, 'dist', 'lib', 'compose-init.js'))) return
  const build = spawnSync('npm', ['run', 'build'], {cwd: repo, encoding: 'utf8'})
  if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stdout}\n${build.stderr}`)
}

function devkube(cwd: string, args: string[]): SpawnSyncReturns<string> {
  // No TTY (pipes) and no CI variable: what a script sees.
  const env = {...process.env, NO_COLOR: '1', CI: undefined, DEBUG: undefined}
  return spawnSync(process.execPath, [bin, ...args], {cwd, env, input: '', encoding: 'utf8', timeout: 30_000})
}

/** A copy of an example or a compose fixture, in a folder named like it (the app name). */
function copyOf(source: string): string {
  const dir = path.join(mkdtempSync(path.join(tmpdir(), 'devkube-cli-compose-')), path.basename(source))
  folders.push(path.dirname(dir))
  cpSync(path.join(repo, source), dir, {recursive: true})
  rmSync(path.join(dir, 'expected'), {recursive: true, force: true})
  return dir
}

const errorText = (result: SpawnSyncReturns<string>) => result.stderr.replaceAll(/\s*\n ›\s+/g, ' ')
const read = (dir: string, file: string) => readFileSync(path.join(dir, file), 'utf8')

beforeAll(() => ensureBuilt(), 300_000)
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, {recursive: true, force: true})
})

describe('devkube init in a compose project (built CLI)', () => {
  it('imports examples/flask-postgres: web built from ., db a postgres backing service, one warning', () => {
    const dir = copyOf('examples/flask-postgres')
    const result = devkube(dir, ['init'])
    expect(result.stderr).toBe('')
    expect(result.status).toBe(0)
    const config = parse(read(dir, 'devkube.yaml'))
    expect(config).toEqual({
      name: 'flask-postgres',
      services: {
        web: {build: {context: '.'}, port: 5000, forward: 8080, dependsOn: ['db'], healthPath: '/health'},
        db: {backing: 'postgres', version: '16'},
      },
    })
    expect(read(dir, 'devkube.yaml')).toMatch(/^# Imported by `devkube init` from docker-compose.yml/)
    expect(result.stdout).toContain('flask-postgres: 2 services imported from docker-compose.yml.')
    expect(result.stdout).toMatch(/^ {2}db {3}postgres 16 \(backing service\)$/m)
    const warnings = result.stdout.split('\n').filter((line) => line.startsWith('  ! '))
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/^ {2}! db: environment: POSTGRES_PASSWORD, POSTGRES_DB are dropped: devkube generates db's credentials once, in the Secret db-credentials;/)
    // The compose file's default password is not carried anywhere.
    expect(read(dir, 'devkube.yaml')).not.toContain(':postgres@')
    // Nothing of the single-app scaffold: the services are described by devkube.yaml alone.
    expect(existsSync(path.join(dir, 'k8s'))).toBe(false)
  })

  it('--json carries the services and the warnings, and prints nothing else', () => {
    const dir = copyOf('test/fixtures/compose/unsupported')
    const result = devkube(dir, ['init', '--json'])
    expect(result.status).toBe(0)
    const output = JSON.parse(result.stdout)
    expect(output.services.map((service: {name: string}) => service.name)).toEqual(['app', 'mailer'])
    expect(output.warnings).toContainEqual({service: 'app', key: 'network_mode', message: expect.stringContaining('pods get their own network')})
    expect(output.warnings).toContainEqual({service: 'debug', key: 'profiles', message: expect.stringContaining('left out')})
    expect(output.warnings).toHaveLength(16)
  })

  it('moves secret values to a 0600 git-ignored file and keeps existing files without --force', () => {
    const dir = copyOf('test/fixtures/compose/build-options')
    const first = devkube(dir, ['init'])
    expect(first.status).toBe(0)
    expect(first.stdout).toMatch(/created\s+api\.secrets\.env \(secret values from the compose file; git-ignored\)/)
    expect(read(dir, 'api.secrets.env')).toContain('STRIPE_API_KEY=sk_test_4eC39HqLyjWDarjtT1zdp7dc')
    expect(statSync(path.join(dir, 'api.secrets.env')).mode & 0o777).toBe(0o600)
    expect(read(dir, 'devkube.yaml')).not.toContain('sk_test_')
    expect(read(dir, '.gitignore').split('\n')).toEqual(expect.arrayContaining(['.env', '.devkube/', '*.secrets.env']))

    writeFileSync(path.join(dir, 'devkube.yaml'), '# mine\n')
    const second = devkube(dir, ['init'])
    expect(second.status).toBe(0)
    expect(read(dir, 'devkube.yaml')).toBe('# mine\n')
    expect(second.stdout).toMatch(/kept\s+devkube\.yaml \(already there\)/)
    expect(second.stdout).toContain('--force rewrites them from compose.yaml')

    const forced = devkube(dir, ['init', '--force'])
    expect(forced.status).toBe(0)
    expect(forced.stdout).toMatch(/overwritten\s+devkube\.yaml/)
    expect(parse(read(dir, 'devkube.yaml')).name).toBe('shop-api')
  })

  it('refuses --lang and --port with a compose file, and --no-compose sets up one app instead', () => {
    const dir = copyOf('examples/flask-postgres')
    const refused = devkube(dir, ['init', '--port', '5000'])
    expect(refused.status).not.toBe(0)
    expect(errorText(refused)).toContain('--lang and --port describe one app, but docker-compose.yml describes its services.')
    expect(existsSync(path.join(dir, 'devkube.yaml'))).toBe(false)

    const single = devkube(dir, ['init', '--no-compose', '--yes'])
    expect(single.status).toBe(0)
    expect(parse(read(dir, 'devkube.yaml')).services).toBeUndefined()
  })

  it('up without devkube.yaml and without a terminal says to run init, and changes nothing', () => {
    const dir = copyOf('examples/flask-postgres')
    const result = devkube(dir, ['up'])
    expect(result.status).not.toBe(0)
    expect(errorText(result)).toContain('This folder has docker-compose.yml but no devkube.yaml: run `devkube init` to import docker-compose.yml.')
    expect(existsSync(path.join(dir, 'devkube.yaml'))).toBe(false)
    expect(existsSync(path.join(dir, '.devkube'))).toBe(false)
  })
})
