import {spawnSync, type SpawnSyncReturns} from 'node:child_process'
import {cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterEach, beforeAll, describe, expect, it} from 'vitest'

const repo = path.resolve(import.meta.dirname, '../..')
const bin = path.join(repo, 'bin', 'run.js')
const folders: string[] = []

/** The tests run the built CLI, as a user would; build it once when dist/ lacks it. */
function ensureBuilt(): void {
  if (existsSync(path.join(repo, 'dist', 'commands', 'init.js'))) return
  const build = spawnSync('npm', ['run', 'build'], {cwd: repo, encoding: 'utf8'})
  if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stdout}\n${build.stderr}`)
}

function devkube(cwd: string, args: string[]): SpawnSyncReturns<string> {
  // No TTY (pipes) and no CI variable: what a script sees. A prompt here would hang until the timeout.
  const env = {...process.env, NO_COLOR: '1', CI: undefined, DEBUG: undefined}
  return spawnSync(process.execPath, [bin, ...args], {cwd, env, input: '', encoding: 'utf8', timeout: 30_000})
}

function copyOf(example: string): string {
  const dir = path.join(mkdtempSync(path.join(tmpdir(), 'devkube-cli-init-')), example)
  folders.push(path.dirname(dir))
  cpSync(path.join(repo, 'examples', example), dir, {recursive: true})
  return dir
}

/** oclif wraps error messages at the terminal width, each line starting " ›": join them back. */
const errorText = (result: SpawnSyncReturns<string>) => result.stderr.replaceAll(/\s*\n ›\s+/g, ' ')
const read = (dir: string, file: string) => readFileSync(path.join(dir, file), 'utf8')
const GENERATED = ['Dockerfile', '.dockerignore', 'k8s/base/deployment.yaml', 'k8s/base/service.yaml', 'k8s/base/kustomization.yaml', 'k8s/overlays/dev/kustomization.yaml', 'devkube.yaml', '.gitignore']

beforeAll(() => ensureBuilt(), 300_000)
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, {recursive: true, force: true})
})

describe('devkube init (built CLI)', () => {
  it('--yes writes every file, lists them, and names the next command', () => {
    const dir = copyOf('hello-node')
    const result = devkube(dir, ['init', '--yes'])
    expect(result.stderr).toBe('')
    expect(result.status).toBe(0)
    for (const file of GENERATED) {
      expect(existsSync(path.join(dir, file)), file).toBe(true)
      expect(result.stdout).toMatch(new RegExp(`created\\s+${file.replaceAll('.', '\\.')}$`, 'm'))
    }
    expect(result.stdout).toMatch(/^hello-node( \(the folder name\))?: a Node\.js app \(package\.json: Node\.js server\), listening on port 8080/m)
    expect(result.stdout).toMatch(/Next: devkube up/)
    expect(read(dir, 'devkube.yaml')).toMatch(/^name: hello-node$/m)
  })

  it('a second run keeps every file and says --force rewrites them', () => {
    const dir = copyOf('hello-python')
    expect(devkube(dir, ['init', '--yes']).status).toBe(0)
    writeFileSync(path.join(dir, 'Dockerfile'), `${read(dir, 'Dockerfile')}# my edit\n`)
    const result = devkube(dir, ['init', '--yes', '--port', '5000'])
    expect(result.status).toBe(0)
    for (const file of GENERATED) expect(result.stdout).toMatch(new RegExp(`kept\\s+${file.replaceAll('.', '\\.')}`, 'm'))
    expect(result.stdout).toContain('--force rewrites them')
    expect(read(dir, 'Dockerfile')).toContain('# my edit')
    expect(read(dir, 'Dockerfile')).toContain('EXPOSE 8080')
  })

  it('--force overwrites what changed', () => {
    const dir = copyOf('hello-go')
    expect(devkube(dir, ['init', '--yes']).status).toBe(0)
    writeFileSync(path.join(dir, 'k8s/base/service.yaml'), '# broken\n')
    const result = devkube(dir, ['init', '--yes', '--force'])
    expect(result.status).toBe(0)
    expect(result.stdout).toMatch(/overwritten\s+k8s\/base\/service\.yaml/)
    expect(result.stdout).toMatch(/kept\s+k8s\/base\/deployment\.yaml/)
    expect(read(dir, 'k8s/base/service.yaml')).toContain('kind: Service')
  })

  it('--json prints only the result as JSON on stdout', () => {
    const dir = copyOf('hello-python')
    const result = devkube(dir, ['init', '--yes', '--json', '--name', 'api', '--port', '5000'])
    expect(result.status).toBe(0)
    const json = JSON.parse(result.stdout)
    expect(json).toEqual({
      projectDir: dir,
      lang: 'python',
      name: 'api',
      port: 5000,
      // Where each value came from: the port from the flag, not from detection.
      facts: expect.arrayContaining([{key: 'port', value: '5000', source: '--port'}, {key: 'framework', value: 'Flask', source: 'app.py'}]),
      files: GENERATED.map((file) => ({path: file, action: 'created'})),
    })
    expect(read(dir, 'Dockerfile')).toContain('"gunicorn", "--bind", "0.0.0.0:5000", "app:app"')
    expect(read(dir, 'devkube.yaml')).toMatch(/^port: 5000$/m)
  })

  it('without a TTY and without --yes it asks nothing and uses the detected values', () => {
    const dir = copyOf('hello-node')
    const result = devkube(dir, ['init'])
    expect(result.error).toBeUndefined()
    expect(result.status).toBe(0)
    expect(result.stdout).not.toMatch(/\?\s/)
    expect(existsSync(path.join(dir, 'devkube.yaml'))).toBe(true)
  })

  it('an unrecognised folder exits non-zero with what it looked for and --lang, and no stack trace', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'devkube-cli-init-'))
    folders.push(dir)
    writeFileSync(path.join(dir, 'notes.txt'), 'nothing to run\n')
    const result = devkube(dir, ['init', '--yes'])
    expect(result.status).not.toBe(0)
    expect(result.stdout).toBe('')
    expect(errorText(result)).toContain('Cannot tell what kind of app is in')
    expect(errorText(result)).toContain('package.json')
    expect(errorText(result)).toContain('--lang node|python|go|static')
    expect(result.stderr).not.toMatch(/^\s+at /m)
    expect(existsSync(path.join(dir, 'devkube.yaml'))).toBe(false)
  })

  it('rejects --port and --name by the same rules as devkube.yaml', () => {
    const dir = copyOf('hello-node')
    const port = devkube(dir, ['init', '--yes', '--port', '70000'])
    expect(port.status).not.toBe(0)
    expect(errorText(port)).toContain('--port must be a whole number from 1 to 65535, but it is 70000')
    const name = devkube(dir, ['init', '--yes', '--name', 'My_App'])
    expect(name.status).not.toBe(0)
    expect(errorText(name)).toContain('--name "My_App" is not a valid app name')
    expect(errorText(name)).toContain('DNS-1123')
    expect(existsSync(path.join(dir, 'devkube.yaml'))).toBe(false)
  })

  it('--lang is trusted over detection', () => {
    const dir = copyOf('hello-node')
    writeFileSync(path.join(dir, 'index.html'), '<h1>Hello World</h1>')
    const result = devkube(dir, ['init', '--yes', '--lang', 'static', '--json'])
    expect(result.status).toBe(0)
    expect(JSON.parse(result.stdout).lang).toBe('static')
    expect(read(dir, 'Dockerfile')).toContain('NGINX_IMAGE')
  })

  it('a broken devkube.yaml is reported with file, line and column', () => {
    const dir = copyOf('hello-node')
    writeFileSync(path.join(dir, 'devkube.yaml'), 'name: hello\nprot: 80\n')
    const result = devkube(dir, ['init', '--yes'])
    expect(result.status).not.toBe(0)
    expect(errorText(result)).toContain(`${path.join(dir, 'devkube.yaml')}:2:1: unknown key \`prot\``)
    expect(errorText(result)).toContain('Did you mean `port`?')
  })

  it('--help shows the flags and examples', () => {
    const result = devkube(repo, ['init', '--help'])
    expect(result.status).toBe(0)
    for (const text of ['--lang', '--name', '--port', '--yes', '--force', '--json', 'EXAMPLES', 'devkube init --yes']) expect(result.stdout).toContain(text)
  })
})

describe('devkube init on Node projects (built CLI)', () => {
  function copyOfFixture(fixture: string): string {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'devkube-cli-init-')), fixture)
    folders.push(path.dirname(dir))
    cpSync(path.join(repo, 'test', 'fixtures', 'node', fixture), dir, {recursive: true})
    return dir
  }

  it('prints one line per fact with where it came from, and --json carries the same facts', () => {
    const dir = copyOfFixture('nest-app')
    const result = devkube(dir, ['init', '--yes'])
    expect(result.status, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/^ {2}framework\s+NestJS \(package\.json dependencies\.@nestjs\/core\)$/m)
    expect(result.stdout).toMatch(/^ {2}package manager\s+npm \(package-lock\.json\)$/m)
    expect(result.stdout).toMatch(/^ {2}build script\s+build: tsc -p tsconfig\.build\.json \(package\.json scripts\.build\)$/m)
    expect(result.stdout).toMatch(/^ {2}port\s+3000 \(src\/main\.ts: PORT \?\? 3000\)$/m)
    const json = JSON.parse(devkube(dir, ['init', '--yes', '--json']).stdout) as {facts: {key: string; value: string; source: string}[]}
    expect(json.facts).toContainEqual({key: 'start command', value: 'node dist/main', source: 'package.json scripts.start:prod'})
    expect(read(dir, 'Dockerfile')).toContain('AS production-dependencies')
  })

  it('a monorepo without a TTY stops with one sentence naming --package, and writes nothing', () => {
    const dir = copyOfFixture('monorepo')
    const result = devkube(dir, ['init'])
    expect(result.status).not.toBe(0)
    expect(errorText(result)).toContain('is a monorepo (package.json has workspaces) with 2 packages that could run: packages/api, packages/web')
    expect(errorText(result)).toContain('Pass --package packages/api')
    expect(result.stderr).not.toMatch(/^\s+at /m)
    expect(existsSync(path.join(dir, 'devkube.yaml'))).toBe(false)
  })

  it('--package is kept in devkube.yaml, so the next run (and up) needs no flag', () => {
    const dir = copyOfFixture('monorepo')
    expect(devkube(dir, ['init', '--yes', '--package', 'packages/api']).status).toBe(0)
    expect(read(dir, 'devkube.yaml')).toMatch(/^package: "packages\/api"$/m)
    expect(read(dir, 'Dockerfile')).toContain('COPY packages/web/package.json packages/web/')
    const again = devkube(dir, ['init', '--yes', '--force'])
    expect(again.status, again.stderr).toBe(0)
    expect(again.stdout).toMatch(/^ {2}package\s+packages\/api/m)
  })

  it('a "main" that does not exist is said at init, before anything is built', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'devkube-cli-init-'))
    folders.push(dir)
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({name: 'app', main: 'src/server.js'}))
    const result = devkube(dir, ['init', '--yes'])
    expect(result.status).not.toBe(0)
    expect(errorText(result)).toContain('package.json "main" runs src/server.js, but src/server.js does not exist')
    expect(existsSync(path.join(dir, 'Dockerfile'))).toBe(false)
  })

  it('a Vite app is an SPA built in the image, never a static site of its sources', () => {
    const dir = copyOfFixture('vite-react')
    const result = devkube(dir, ['init', '--yes', '--json'])
    expect(result.status, result.stderr).toBe(0)
    expect(JSON.parse(result.stdout)).toMatchObject({lang: 'node', port: 8080})
    expect(read(dir, 'Dockerfile')).toContain('RUN npm run build')
    expect(read(dir, 'nginx.conf')).toContain('try_files $uri $uri/ /index.html;')
  })
})
