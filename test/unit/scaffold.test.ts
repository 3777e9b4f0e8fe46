import {chmodSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {detectApp} from '../../src/lib/detect.js'
import {missingLines, scaffold, type ScaffoldedFile, writeFileAtomic} from '../../src/lib/scaffold.js'

const examples = path.resolve(import.meta.dirname, '../../examples')
const folders: string[] = []

function copyOf(example: string): string {
  const dir = path.join(mkdtempSync(path.join(tmpdir(), 'devkube-scaffold-')), example)
  folders.push(path.dirname(dir))
  cpSync(path.join(examples, example), dir, {recursive: true})
  return dir
}

function project(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'devkube-scaffold-'))
  folders.push(dir)
  for (const [file, content] of Object.entries(files)) writeFileSync(path.join(dir, file), content)
  return dir
}

const actions = (files: ScaffoldedFile[]) => Object.fromEntries(files.map((file) => [file.path, file.action]))
const read = (dir: string, file: string) => readFileSync(path.join(dir, file), 'utf8')
const answers = {name: 'hello', lang: 'node' as const, port: 8080}

afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, {recursive: true, force: true})
})

describe('scaffold', () => {
  it('creates every file a fresh project needs', () => {
    const dir = copyOf('hello-node')
    const files = scaffold(dir, answers)
    expect(actions(files)).toEqual({
      Dockerfile: 'created',
      '.dockerignore': 'created',
      'k8s/base/deployment.yaml': 'created',
      'k8s/base/service.yaml': 'created',
      'k8s/base/kustomization.yaml': 'created',
      'k8s/overlays/dev/kustomization.yaml': 'created',
      'devkube.yaml': 'created',
      '.gitignore': 'created',
    })
    for (const file of files) expect(existsSync(path.join(dir, file.path)), file.path).toBe(true)
    expect(read(dir, '.gitignore')).toBe('.env\n.devkube/\n')
    expect(read(dir, '.dockerignore').split('\n')).toContain('.env')
    expect(read(dir, 'devkube.yaml')).toMatch(/^name: hello$/m)
  })

  it('writes nginx.conf next to the Dockerfile for a static site', () => {
    const dir = project({'index.html': '<h1>Hello World</h1>'})
    expect(actions(scaffold(dir, {name: 'site', lang: 'static', port: 8080}))['nginx.conf']).toBe('created')
    expect(read(dir, 'nginx.conf')).toMatch(/listen 8080;/)
  })

  it('keeps every existing file without force, and a second run changes nothing', () => {
    const dir = copyOf('hello-python')
    scaffold(dir, {...answers, lang: 'python'})
    writeFileSync(path.join(dir, 'k8s/base/service.yaml'), '# mine\n')
    const before = Object.fromEntries(['Dockerfile', 'devkube.yaml', '.gitignore', 'k8s/base/service.yaml'].map((file) => [file, read(dir, file)]))
    const second = scaffold(dir, {...answers, lang: 'python', port: 9000})
    expect(new Set(second.map((file) => file.action))).toEqual(new Set(['kept']))
    for (const [file, content] of Object.entries(before)) expect(read(dir, file), file).toBe(content)
  })

  it('overwrites existing files with force, and reports only those that changed', () => {
    const dir = copyOf('hello-go')
    scaffold(dir, {...answers, lang: 'go'})
    writeFileSync(path.join(dir, 'k8s/base/service.yaml'), '# mine\n')
    const files = actions(scaffold(dir, {...answers, lang: 'go', port: 9000}, {force: true}))
    expect(files['k8s/base/service.yaml']).toBe('overwritten')
    expect(files.Dockerfile).toBe('overwritten')
    expect(files['k8s/base/kustomization.yaml']).toBe('kept')
    expect(files['.gitignore']).toBe('kept')
    expect(read(dir, 'k8s/base/service.yaml')).toContain('port: 9000')
    expect(read(dir, 'Dockerfile')).toContain('EXPOSE 9000')
  })

  it('appends the missing .gitignore lines once, keeping what is there', () => {
    const dir = project({'.gitignore': 'node_modules\n/.env', 'index.html': ''})
    const first = actions(scaffold(dir, {name: 'site', lang: 'static', port: 8080}))
    expect(first['.gitignore']).toBe('updated')
    const text = read(dir, '.gitignore')
    expect(text.startsWith('node_modules\n/.env\n')).toBe(true)
    expect(text.split('\n').filter((line) => line === '.devkube/')).toHaveLength(1)
    expect(text.split('\n').filter((line) => line.replace(/^\//, '') === '.env')).toHaveLength(1)
    expect(actions(scaffold(dir, {name: 'site', lang: 'static', port: 8080}, {force: true}))['.gitignore']).toBe('kept')
    expect(read(dir, '.gitignore')).toBe(text)
  })

  it('adds .env to an existing .dockerignore without replacing it', () => {
    const dir = project({'.dockerignore': 'secrets/\n', 'index.html': ''})
    expect(actions(scaffold(dir, {name: 'site', lang: 'static', port: 8080}))['.dockerignore']).toBe('updated')
    expect(read(dir, '.dockerignore').split('\n')).toEqual(expect.arrayContaining(['secrets/', '.env']))
    expect(actions(scaffold(dir, {name: 'site', lang: 'static', port: 8080}))['.dockerignore']).toBe('kept')
  })

  it('never replaces the project\'s own Dockerfile, even with force', () => {
    const own = 'FROM busybox\nEXPOSE 5000\nCMD ["httpd", "-f"]\n'
    const dir = project({Dockerfile: own})
    const detection = detectApp(dir)
    expect(detection.lang).toBe('dockerfile')
    for (const force of [false, true]) {
      const files = actions(scaffold(dir, {name: 'own', lang: 'dockerfile', port: detection.port, detection}, {force}))
      expect(files.Dockerfile).toBe('kept')
      expect(files['devkube.yaml']).not.toBeUndefined()
      expect(read(dir, 'Dockerfile')).toBe(own)
    }
    expect(read(dir, 'k8s/base/deployment.yaml')).toContain('containerPort: 5000')
    expect(read(dir, 'devkube.yaml')).toMatch(/^lang: dockerfile$/m)
  })

  it('keeps the own Dockerfile even when a language is forced', () => {
    const own = 'FROM node:22\nCMD ["node", "x.js"]\n'
    const dir = project({Dockerfile: own, 'package.json': '{"scripts": {"start": "node x.js"}}'})
    expect(actions(scaffold(dir, answers, {force: true})).Dockerfile).toBe('kept')
    expect(read(dir, 'Dockerfile')).toBe(own)
  })

  it('refuses lang dockerfile when there is no Dockerfile', () => {
    expect(() => scaffold(project({'index.html': ''}), {name: 'x', lang: 'dockerfile', port: 8080})).toThrow('has no Dockerfile of its own')
  })

  it('leaves no temporary files behind', () => {
    const dir = copyOf('hello-node')
    scaffold(dir, answers)
    scaffold(dir, answers, {force: true})
    const all = readdirSync(dir, {recursive: true, encoding: 'utf8'})
    expect(all.filter((file) => file.endsWith('.tmp'))).toEqual([])
  })
})

describe('writeFileAtomic', () => {
  it('replaces the content whole and keeps the file mode', () => {
    const dir = project({'run.sh': 'old\n'})
    const file = path.join(dir, 'run.sh')
    chmodSync(file, 0o755)
    writeFileAtomic(file, 'new\n')
    expect(readFileSync(file, 'utf8')).toBe('new\n')
    expect(statSync(file).mode & 0o777).toBe(0o755)
    expect(readdirSync(dir)).toEqual(['run.sh'])
  })

  it('creates missing folders', () => {
    const dir = project({})
    writeFileAtomic(path.join(dir, 'a/b/c.txt'), 'x')
    expect(read(dir, 'a/b/c.txt')).toBe('x')
  })
})

describe('missingLines', () => {
  it('counts "/.env" and ".devkube" as present, ignoring spaces and CRLF', () => {
    expect(missingLines('/.env\r\n .devkube \r\n', ['.env', '.devkube/'])).toEqual([])
    expect(missingLines('.envrc\n.devkube-old\n', ['.env', '.devkube/'])).toEqual(['.env', '.devkube/'])
  })
})
