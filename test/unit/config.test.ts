import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {parseConfig, readConfigFile, resolveConfig} from '../../src/lib/config.js'
import {UserError} from '../../src/lib/errors.js'

/** The UserError parseConfig throws for text, so a test can check both message and hint. */
function configError(text: string): UserError {
  try {
    parseConfig(text, 'devkube.yaml')
  } catch (error) {
    expect(error).toBeInstanceOf(UserError)
    return error as UserError
  }
  throw new Error(`expected ${JSON.stringify(text)} to be rejected`)
}

const folders: string[] = []
function project(name: string, files: Record<string, string> = {}): string {
  const root = mkdtempSync(path.join(tmpdir(), 'devkube-config-'))
  folders.push(root)
  const dir = path.join(root, name)
  mkdirSync(dir)
  for (const [file, content] of Object.entries(files)) writeFileSync(path.join(dir, file), content)
  return dir
}

afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, {recursive: true, force: true})
})

describe('parseConfig: syntax', () => {
  it('names file, line and column of a YAML syntax error', () => {
    const error = configError('name: hello\nport: 8080\nenv:\n  A: [1\n')
    expect(error.message).toMatch(/^devkube\.yaml:\d+:\d+: YAML syntax error: /)
    expect(error.hint).toMatch(/line and column/)
  })

  it('points at the line of a duplicate key', () => {
    expect(configError('name: a\nport: 1\nname: b\n').message).toMatch(/^devkube\.yaml:3:1: YAML syntax error: Map keys must be unique/)
  })

  it('rejects a file that is not a map', () => {
    expect(configError('- name: hello\n').message).toBe('devkube.yaml:1:1: `devkube.yaml` must be a map of settings such as "name: hello".')
  })

  it('accepts an empty file and a full one', () => {
    expect(parseConfig('', 'devkube.yaml')).toEqual({})
    expect(parseConfig('# only a comment\n', 'devkube.yaml')).toEqual({})
    const full = parseConfig(
      [
        'name: hello',
        'lang: node',
        'cluster: devkube',
        'namespace: hello',
        'port: 3000',
        'forward: 9000',
        'replicas: 0',
        'build: {context: ., dockerfile: Dockerfile, args: {NODE_IMAGE: "mirror/node:22", N: 1}}',
        'manifests: k8s',
        'env: {GREETING: hi, DEBUG: true}',
        'healthPath: /healthz',
        'resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {cpu: "1", memory: 1Gi}}',
        'strategy: {maxSurge: "25%", maxUnavailable: 0}',
        'environments: {staging: {replicas: 2}, prod: null}',
      ].join('\n'),
      'devkube.yaml',
    )
    expect(full).toMatchObject({name: 'hello', port: 3000, forward: 9000, replicas: 0, strategy: {maxSurge: '25%'}})
  })
})

describe('parseConfig: unknown keys', () => {
  it('names the unknown key, where it is, and the closest known one', () => {
    const error = configError('name: hello\nprot: 8080\n')
    expect(error.message).toBe('devkube.yaml:2:1: unknown key `prot`.')
    expect(error.hint).toBe('Did you mean `port`?')
  })

  it('does the same inside nested maps', () => {
    const error = configError('resources:\n  limit:\n    cpu: 1\n')
    expect(error.message).toContain('unknown key `resources.limit`')
    expect(error.hint).toBe('Did you mean `resources.limits`?')
  })

  it('lists the known keys when nothing is close', () => {
    const error = configError('zzzzzzzzzzzz: 1\n')
    expect(error.message).toContain('unknown key `zzzzzzzzzzzz`')
    expect(error.hint).toContain('Known keys: name, lang, framework, package, cluster')
  })
})

describe('parseConfig: wrong types and values', () => {
  it.each([
    ['port: "8080"\n', '`port` must be a whole number from 1 to 65535, but it is "8080"'],
    ['port: abc\n', '`port` must be a whole number from 1 to 65535, but it is "abc"'],
    ['replicas: two\n', '`replicas` must be a whole number from 0 to 1000, but it is "two"'],
    ['name: 42\n', '`name` must be a string, but it is 42'],
    ['env: [A, B]\n', '`env` must be a map of names to values (strings, numbers or booleans), but it is a list'],
    ['env:\n  A: {b: 1}\n', '`env.A` must be a string, number or boolean, but it is a map'],
    ['build: ./app\n', '`build` must be a map with the keys context, dockerfile, target, args, but it is "./app"'],
    ['build:\n  args: [x]\n', '`build.args` must be a map of names to values'],
    ['lang: ruby\n', '`lang` must be one of node, python, go, static, dockerfile, but it is "ruby"'],
    ['healthPath: health\n', '`healthPath` must be an HTTP path starting with "/", but it is "health"'],
    ['manifests: ""\n', '`manifests` must be a path relative to the project folder'],
    ['cluster: My_Cluster\n', '`cluster` must be lowercase letters, digits, "." and "-" (kind cluster names)'],
    ['strategy:\n  maxSurge: "x%"\n', '`strategy.maxSurge` must be a whole number or a percentage such as "25%"'],
    ['port:\n', '`port` must be a whole number from 1 to 65535, but it is empty'],
  ])('%j -> %s', (text, expected) => {
    const error = configError(text)
    expect(error.message).toContain(expected)
    expect(error.message).toMatch(/^devkube\.yaml:\d+:\d+: /)
  })

  it.each(['My_App', 'my app', '-app', 'app-', 'a'.repeat(64), 'Hello'])('rejects the name %j as not DNS-1123', (name) => {
    const error = configError(`name: "${name}"\n`)
    expect(error.message).toContain('`name` must be lowercase letters, digits and "-"')
    expect(error.message).toContain('(DNS-1123)')
    expect(error.hint).toContain('Fix `name` in devkube.yaml')
  })

  it.each([
    ['port', 0],
    ['port', 70_000],
    ['port', -1],
    ['port', 80.5],
    ['forward', 0],
    ['forward', 65_536],
  ])('rejects %s: %d', (key, value) => {
    expect(configError(`${key}: ${value}\n`).message).toBe(`devkube.yaml:1:${key.length + 3}: \`${key}\` must be a whole number from 1 to 65535, but it is ${value}.`)
  })

  it('accepts the edges of the port range', () => {
    expect(parseConfig('port: 1\nforward: 65535\n', 'devkube.yaml')).toEqual({port: 1, forward: 65_535})
  })

  it('rejects negative replicas and accepts zero', () => {
    expect(configError('replicas: -1\n').message).toBe('devkube.yaml:1:11: `replicas` must be a whole number from 0 to 1000, but it is -1.')
    expect(parseConfig('replicas: 0\n', 'devkube.yaml')).toEqual({replicas: 0})
  })

  it.each(['1BAD', 'MY-VAR', 'A B', 'É'])('rejects the env var name %j', (name) => {
    const error = configError(`env:\n  "${name}": x\n`)
    expect(error.message).toContain(`\`env.${name}\` must be named with environment variable names`)
    expect(error.message).toMatch(/^devkube\.yaml:2:3: /)
  })

  it('accepts env var names with "_" and digits after the first character', () => {
    expect(parseConfig('env:\n  _A1: x\n  GREETING: 3\n', 'devkube.yaml').env).toEqual({_A1: 'x', GREETING: 3})
  })

  it.each([
    ['cpu', 'lots'],
    ['cpu', '-1'],
    ['cpu', '100 m'],
    ['memory', '1GB'],
    ['memory', '64mi'],
  ])('rejects the resource quantity %s: %j', (resource, value) => {
    const error = configError(`resources:\n  requests:\n    ${resource}: "${value}"\n`)
    expect(error.message).toContain(`\`resources.requests.${resource}\` must be a Kubernetes quantity such as "250m"`)
  })

  it.each(['250m', '1', '0.5', '128Mi', '1Gi', '1G', '500k'])('accepts the quantity %j', (value) => {
    expect(() => parseConfig(`resources:\n  limits:\n    cpu: "${value}"\n    memory: "${value}"\n`, 'devkube.yaml')).not.toThrow()
  })
})

describe('parseConfig: environments', () => {
  it('accepts overrides of everything but name and lang', () => {
    const parsed = parseConfig('environments:\n  staging:\n    replicas: 2\n    env: {A: b}\n    forward: 9000\n', 'devkube.yaml')
    expect(parsed.environments).toEqual({staging: {replicas: 2, env: {A: 'b'}, forward: 9000}})
  })

  it('rejects an environment name that is not lowercase', () => {
    expect(configError('environments:\n  Staging: {}\n').message).toContain('`environments.Staging` must be named with lowercase letters, digits and "-"')
  })

  it('rejects name and lang inside an environment, listing what may be overridden', () => {
    const error = configError('environments:\n  staging:\n    name: other\n')
    expect(error.message).toBe('devkube.yaml:3:5: unknown key `environments.staging.name`.')
    expect(error.hint).toContain('Known keys under `environments.staging`: cluster, namespace, port')
  })

  it('validates the values inside an environment', () => {
    expect(configError('environments:\n  staging:\n    port: 0\n').message).toContain('`environments.staging.port` must be a whole number from 1 to 65535, but it is 0')
    expect(configError('environments:\n  staging: 3\n').message).toContain('`environments.staging` must be a map of settings to override, but it is 3')
    expect(configError('environments: [staging]\n').message).toContain('`environments` must be a map of environment names to settings')
  })
})

describe('readConfigFile', () => {
  it('returns {} without devkube.yaml: the file is optional', () => {
    expect(readConfigFile(project('app'))).toEqual({file: {}})
  })

  it('names the real path of the file in errors', () => {
    const dir = project('app', {'devkube.yaml': 'name: hello\nport: 0\n'})
    expect(() => readConfigFile(dir)).toThrow(`${path.join(dir, 'devkube.yaml')}:2:7: \`port\` must be`)
  })
})

describe('resolveConfig', () => {
  it('fills every value from defaults when there is no file', () => {
    const dir = project('My App_2')
    const config = resolveConfig(dir)
    expect(config).toMatchObject({
      name: 'my-app-2',
      namespace: 'my-app-2',
      cluster: 'devkube',
      environment: 'dev',
      environmentNames: ['dev'],
      port: 8080,
      forward: 8080,
      replicas: 1,
      healthPath: '/',
      env: {},
      build: {context: dir, dockerfile: path.join(dir, 'Dockerfile'), args: {}},
      manifests: path.join(dir, 'k8s'),
      resources: {requests: {cpu: '50m', memory: '64Mi'}, limits: {cpu: '500m', memory: '256Mi'}},
      strategy: {maxSurge: 1, maxUnavailable: 0},
    })
    expect(config.configPath).toBeUndefined()
    expect(config.envFile).toBeUndefined()
  })

  it('uses what detection found for keys nobody set', () => {
    const config = resolveConfig(project('app'), {}, {lang: 'python', port: 5000})
    expect(config).toMatchObject({lang: 'python', port: 5000, forward: 5000})
  })

  it('lets the file win over detection and defaults, and fills the rest from defaults', () => {
    const dir = project('app', {'devkube.yaml': 'name: hello\nport: 3000\nresources:\n  limits:\n    memory: 1Gi\n'})
    const config = resolveConfig(dir, {}, {lang: 'node', port: 9999})
    expect(config).toMatchObject({name: 'hello', namespace: 'hello', port: 3000, forward: 3000, lang: 'node', replicas: 1})
    expect(config.resources).toEqual({requests: {cpu: '50m', memory: '64Mi'}, limits: {cpu: '500m', memory: '1Gi'}})
    expect(config.configPath).toBe(path.join(dir, 'devkube.yaml'))
  })

  it('lets flags win over the file', () => {
    const dir = project('app', {'devkube.yaml': 'name: hello\nport: 3000\nforward: 3001\nreplicas: 2\ncluster: one\nlang: node\nbuild:\n  args: {A: file, B: file}\n'})
    const config = resolveConfig(dir, {name: 'other', port: 4000, forward: 4001, replicas: 3, cluster: 'two', lang: 'go', buildArgs: {A: 'flag'}})
    expect(config).toMatchObject({name: 'other', namespace: 'other', port: 4000, forward: 4001, replicas: 3, cluster: 'two', lang: 'go'})
    expect(config.build.args).toEqual({A: 'flag', B: 'file'})
  })

  it('defaults the namespace to the name in dev and to <name>-<env> in other environments', () => {
    const dir = project('app', {'devkube.yaml': 'name: hello\nreplicas: 1\nenvironments:\n  staging:\n    replicas: 2\n'})
    expect(resolveConfig(dir).namespace).toBe('hello')
    const staging = resolveConfig(dir, {environment: 'staging'})
    expect(staging).toMatchObject({environment: 'staging', namespace: 'hello-staging', replicas: 2, environmentNames: ['dev', 'staging']})
  })

  it('keeps an explicit namespace', () => {
    const dir = project('app', {'devkube.yaml': 'name: hello\nnamespace: team-a\n'})
    expect(resolveConfig(dir).namespace).toBe('team-a')
  })

  it('merges env and build args of the environment over the top level', () => {
    const dir = project('app', {'devkube.yaml': 'env: {A: "1", B: "2"}\nenvironments:\n  staging:\n    env: {B: "3"}\n'})
    expect(resolveConfig(dir, {environment: 'staging'}).env).toEqual({A: '1', B: '3'})
  })

  it('rejects an unknown environment and suggests the closest', () => {
    const dir = project('app', {'devkube.yaml': 'environments:\n  staging: {}\n'})
    const error = (() => {
      try {
        resolveConfig(dir, {environment: 'stagin'})
      } catch (caught) {
        return caught as UserError
      }
      throw new Error('expected an error')
    })()
    expect(error.message).toBe('Unknown environment "stagin".')
    expect(error.hint).toContain('did you mean "staging"?')
  })

  it('fails when envFile names a file that does not exist', () => {
    const dir = project('app', {'devkube.yaml': 'envFile: secrets.env\n'})
    expect(() => resolveConfig(dir)).toThrow('The env file secrets.env named by `envFile` does not exist.')
  })

  it('uses .env when it exists and envFile is not set, and nothing when it does not', () => {
    const withEnv = project('app', {'.env': 'TOKEN=x\n'})
    expect(resolveConfig(withEnv).envFile).toBe(path.join(withEnv, '.env'))
    expect(resolveConfig(project('app')).envFile).toBeUndefined()
  })

  it('fails with a hint when the folder name gives no usable app name', () => {
    expect(() => resolveConfig(project('___'))).toThrow('Cannot make an app name from the folder name "___".')
    expect(resolveConfig(project('___'), {name: 'ok'}).name).toBe('ok')
  })
})

describe('parseConfig: watch mode (sync, dev.command)', () => {
  it('takes sync as a boolean and dev.command as a list of strings, for the app and its service', () => {
    const dir = project('watched', {'devkube.yaml': 'sync: false\ndev: {command: ["node", "--watch", "server.js"]}\n'})
    const config = resolveConfig(dir)
    expect(config.services[0]).toMatchObject({sync: false, devCommand: ['node', '--watch', 'server.js']})
  })

  it('says what is allowed for a wrong value', () => {
    expect(configError('sync: "yes"\n').message).toBe('devkube.yaml:1:7: `sync` must be true or false, but it is "yes".')
    expect(configError('dev: {command: node server.js}\n').message).toMatch(/^devkube\.yaml:1:16: `dev\.command` must be a list of strings/)
  })
})
