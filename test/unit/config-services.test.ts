import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {parseConfig, resolveConfig} from '../../src/lib/config.js'
import {UserError} from '../../src/lib/errors.js'
import {resolveProject} from '../../src/lib/project.js'

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
function project(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(tmpdir(), 'devkube-services-'))
  folders.push(root)
  const dir = path.join(root, 'shop')
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, file)), {recursive: true})
    writeFileSync(path.join(dir, file), content)
  }
  return dir
}

afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, {recursive: true, force: true})
})

const SHOP = `name: shop
replicas: 2
services:
  web:
    build: {context: web, target: prod, args: {K: v}}
    port: 5000
    forward: 8080
    env: {MODE: web}
    dependsOn: [db, cache]
    command: [gunicorn, app:app]
  api:
    build: {context: api}
    port: 3000
  db:
    backing: postgres
    version: "16"
  cache:
    image: redis:7
    ports: [6379]
environments:
  staging:
    replicas: 4
    services:
      web: {replicas: 3, env: {MODE: staging}}
      cache: {image: redis:7.2}
`

describe('devkube.yaml services:', () => {
  it('resolves built, stock and backing services with their settings, in file order', () => {
    const dir = project({'devkube.yaml': SHOP, 'web/Dockerfile': 'FROM x\n', 'api/Dockerfile': 'FROM x\n'})
    const config = resolveConfig(dir)
    expect(config.services.map((service) => service.name)).toEqual(['web', 'api', 'db', 'cache'])
    const [web, api, db, cache] = config.services
    expect(web).toMatchObject({
      source: {kind: 'build', context: path.join(dir, 'web'), dockerfile: path.join(dir, 'web', 'Dockerfile'), target: 'prod', args: {K: 'v'}},
      port: 5000,
      forward: 8080,
      replicas: 2,
      env: {MODE: 'web'},
      dependsOn: ['db', 'cache'],
      command: ['gunicorn', 'app:app'],
    })
    expect(api).toMatchObject({port: 3000, forward: undefined, dependsOn: []})
    expect(db).toMatchObject({source: {kind: 'backing', engine: 'postgres', version: '16'}, replicas: 1})
    expect(cache).toMatchObject({source: {kind: 'image', image: 'redis:7'}, port: 6379})
    expect(config.namespace).toBe('shop')
  })

  it('applies environments.<env>.services.<name> over the service, and the environment over the file', () => {
    const dir = project({'devkube.yaml': SHOP, 'web/Dockerfile': 'FROM x\n', 'api/Dockerfile': 'FROM x\n'})
    const config = resolveConfig(dir, {environment: 'staging'})
    const byName = Object.fromEntries(config.services.map((service) => [service.name, service]))
    expect(byName.web).toMatchObject({replicas: 3, env: {MODE: 'staging'}})
    expect(byName.api.replicas).toBe(4)
    expect(byName.cache.source).toEqual({kind: 'image', image: 'redis:7.2'})
    expect(config.namespace).toBe('shop-staging')
  })

  it('detects the port of a built service from its own folder when none is declared', () => {
    const dir = project({'devkube.yaml': 'name: shop\nservices:\n  front:\n    build: {context: front}\n', 'front/package.json': JSON.stringify({name: 'front', scripts: {start: 'node server.js'}}), 'front/server.js': 'require("http").createServer().listen(process.env.PORT || 4321)\n'})
    const resolved = resolveProject(dir, {}, {requireApp: true})
    expect(resolved.services[0].lang).toBe('node')
    expect(resolved.services[0].port).toBeTypeOf('number')
    // The folder itself holds no app: with services: that is fine.
    expect(resolved.detection).toBeUndefined()
  })

  it('keeps a single-app file as one built service named after the app, with its k8s/ folder', () => {
    const dir = project({'devkube.yaml': 'name: hello\nport: 3000\n'})
    const [service] = resolveConfig(dir).services
    expect(service).toMatchObject({name: 'hello', source: {kind: 'build', context: dir}, port: 3000, forward: 3000, manifests: path.join(dir, 'k8s'), dependsOn: []})
  })

  it.each([
    ['services:\n  Web:\n    image: x\n', 'devkube.yaml:2:3: `services.Web` must be named with lowercase letters, digits and "-"'],
    ['services:\n  web:\n    port: 80\n', 'devkube.yaml:2:3: the service `web` needs exactly one of `build`, `image` or `backing`.'],
    ['services:\n  web:\n    image: x\n    build: {context: .}\n', 'the service `web` needs exactly one of `build`, `image` or `backing`, but it has build and image.'],
    ['services:\n  db:\n    backing: oracle\n', '`services.db.backing` must be one of postgres, mysql, mariadb, redis, mongodb, rabbitmq, but it is "oracle"'],
    ['services:\n  web:\n    image: x\n    dependson: [db]\n', 'devkube.yaml:4:5: unknown key `services.web.dependson`.'],
    ['services:\n  web:\n    image: x\n    ports: [80, http]\n', '`services.web.ports[1]` must be a whole number from 1 to 65535, but it is "http"'],
    ['services:\n  web:\n    image: x\n    command: gunicorn\n', '`services.web.command` must be a list of strings, but it is "gunicorn"'],
    ['services:\n  web:\n    image: x\n    dependsOn: [dbb]\n  db:\n    backing: postgres\n', 'devkube.yaml:4:17: `services.web.dependsOn` names "dbb", which is not a service of this file.'],
    ['services:\n  a:\n    image: x\n    dependsOn: [b]\n  b:\n    image: x\n    dependsOn: [a]\n', 'the services depend on each other in a circle (a → b → a), so none could start first.'],
    ['environments:\n  staging:\n    services:\n      web: {backing: redis}\n', 'devkube.yaml:4:13: unknown key `environments.staging.services.web.backing`.'],
  ])('%j -> %s', (text, expected) => {
    const error = configError(text)
    expect(error.message).toContain(expected)
    expect(error.message).toMatch(/^devkube\.yaml:\d+:\d+: /)
  })

  it('suggests the service meant by a misspelt dependsOn', () => {
    const error = configError('services:\n  web:\n    image: x\n    dependsOn: [dbb]\n  db:\n    backing: postgres\n')
    expect(error.hint).toBe('Did you mean "db"?')
  })
})
