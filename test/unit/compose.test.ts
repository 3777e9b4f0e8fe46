import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {parse} from 'yaml'
import {interpolate} from '../../src/lib/compose-interpolation.js'
import {describeWarning, durationSeconds, importCompose, importedConfigYaml, secretEnvFileText, splitWords} from '../../src/lib/compose.js'
import {resolveConfig} from '../../src/lib/config.js'
import {parseEnv} from '../../src/lib/dotenv.js'
import {serviceManifests} from '../../src/lib/manifests.js'

const fixtures = path.resolve(import.meta.dirname, '../fixtures/compose')
const shapes = readdirSync(fixtures).filter((name) => existsSync(path.join(fixtures, name, 'expected')))

/**
 * Golden tests: each fixture folder holds a compose file of a common shape and, under expected/, the devkube.yaml,
 * the warnings and the secret env files the import must produce. The expected files were written by hand.
 */
describe('compose import (golden)', () => {
  it('covers at least six shapes', () => {
    expect(shapes.length).toBeGreaterThanOrEqual(6)
  })

  for (const shape of shapes) {
    it(shape, () => {
      const dir = path.join(fixtures, shape)
      const expected = (file: string) => readFileSync(path.join(dir, 'expected', file), 'utf8')
      const imported = importCompose(dir)
      expect(importedConfigYaml(imported, imported.name ?? shape)).toBe(expected('devkube.yaml'))
      expect(imported.warnings.map((warning) => `${describeWarning(warning)}\n`).join('')).toBe(expected('warnings.txt'))
      const secretFiles = readdirSync(path.join(dir, 'expected')).filter((file) => file.endsWith('.secrets.env'))
      expect(imported.secretFiles.map((file) => file.path).sort()).toEqual(secretFiles.sort())
      for (const file of imported.secretFiles) expect(secretEnvFileText(file, imported.source)).toBe(expected(file.path))
    })
  }

  it('never writes a secret value into devkube.yaml', () => {
    for (const shape of shapes) {
      const dir = path.join(fixtures, shape)
      const yaml = importedConfigYaml(importCompose(dir), shape)
      // The secrets the fixtures hold, as the expected secret files list them (read independently of the import).
      const expectedSecrets = readdirSync(path.join(dir, 'expected')).filter((file) => file.endsWith('.secrets.env'))
      for (const file of expectedSecrets) {
        for (const value of Object.values(parseEnv(readFileSync(path.join(dir, 'expected', file), 'utf8')))) expect(yaml, `${shape}: ${file}`).not.toContain(value)
      }
    }
  })

  it('writes devkube.yaml that parses back to the same services', () => {
    for (const shape of shapes) {
      const imported = importCompose(path.join(fixtures, shape))
      expect(parse(importedConfigYaml(imported, shape)).services).toEqual(JSON.parse(JSON.stringify(imported.services)))
    }
  })

  it('secret env files read back as written, quotes and newlines included', () => {
    const values = {PLAIN: 'abc123', SPACES: 'two words', QUOTE: `it's "quoted"`, MULTI: 'line1\nline2', URL: 'postgres://u:p@db:5432/x'}
    expect(parseEnv(secretEnvFileText({path: 'x.secrets.env', values}, 'compose.yaml'))).toEqual(values)
  })
})

describe('compose import (details)', () => {
  const importText = (text: string) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'devkube-compose-'))
    try {
      writeFileSync(path.join(dir, 'compose.yaml'), text)
      return importCompose(dir)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  }

  it('maps settings that point at a backing service to the names backing.ts hands out', () => {
    const imported = importText(`services:
  api_server:
    image: example/api
    environment:
      MONGO_URL: mongodb://root:example@mongo:27017/
      MONGO_CONNECTION: mongodb://root:example@mongo:27017/shop?authSource=admin
      ADMIN_PASS: example
      MONGO_HOST: mongo
  mongo:
    image: docker.io/library/mongo:7.0
    environment:
      MONGO_INITDB_ROOT_USERNAME: root
      MONGO_INITDB_ROOT_PASSWORD: example
`)
    expect(imported.services).toEqual({
      'api-server': {
        image: 'example/api',
        env: {MONGO_CONNECTION: {from: 'mongo', key: 'MONGODB_URI'}, ADMIN_PASS: {from: 'mongo', key: 'MONGODB_PASSWORD'}, MONGO_HOST: 'mongo'},
        dependsOn: ['mongo'],
      },
      mongo: {backing: 'mongodb', version: '7.0'},
    })
    expect(imported.warnings.map((warning) => `${warning.service}: ${warning.key}`)).toEqual(['api-server: name', 'mongo: environment'])
    expect(imported.secretFiles).toEqual([])
  })

  it('says where a YAML error is and what a required variable needs', () => {
    expect(() => importText('services:\n  web:\n    image: [nginx\n')).toThrow(/^compose.yaml:\d+:\d+: /)
    expect(() => importText('services:\n  web:\n    image: nginx:${TAG:?set TAG in .env}\n')).toThrow('compose.yaml: services.web.image needs the variable TAG: set TAG in .env.')
  })
})

describe('an imported devkube.yaml, loaded as up loads it', () => {
  it("runs compose's command as the container's args, keeping the image's entrypoint", () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'devkube-compose-'))
    try {
      for (const [file, text] of Object.entries({
        'compose.yaml': 'services:\n  proxy:\n    image: nginx:1.27\n    command: [nginx-debug, -g, daemon off;]\n    ports: ["8081:80"]\n',
      })) writeFileSync(path.join(dir, file), text)
      const imported = importCompose(dir)
      writeFileSync(path.join(dir, 'devkube.yaml'), importedConfigYaml(imported, 'edge'))
      const [proxy] = resolveConfig(dir).services
      expect(proxy).toMatchObject({name: 'proxy', args: ['nginx-debug', '-g', 'daemon off;'], command: undefined})
      const [deployment] = serviceManifests(proxy)
      const container = (deployment.spec as {template: {spec: {containers: Array<Record<string, unknown>>}}}).template.spec.containers[0]
      expect(container.args).toEqual(['nginx-debug', '-g', 'daemon off;'])
      expect(container.command).toBeUndefined()
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})

describe('compose interpolation', () => {
  const variables = {SET: 'value', EMPTY: ''}
  const value = (text: string) => interpolate(text, variables, 'test').value

  it('substitutes, defaults, alternatives and escapes as the Compose Specification says', () => {
    expect(value('$SET ${SET}')).toBe('value value')
    expect(value('${UNSET:-def} ${EMPTY:-def} ${EMPTY-def} ${UNSET-def}')).toBe('def def  def')
    expect(value('${SET:+alt} ${EMPTY:+alt} ${EMPTY+alt} ${UNSET+alt}')).toBe('alt  alt ')
    expect(value('${UNSET:-${SET}} ${UNSET:-${ALSO:-deep}}')).toBe('value deep')
    expect(value('$$SET $${SET} cost $5')).toBe('$SET ${SET} cost $5')
  })

  it('reports unset variables and fails on required ones', () => {
    expect(interpolate('${UNSET}', variables, 'test').unset).toEqual(['UNSET'])
    expect(interpolate('${UNSET:-x}', variables, 'test').unset).toEqual([])
    expect(() => value('${EMPTY:?must be set}')).toThrow('test needs the variable EMPTY: must be set.')
    expect(value('${EMPTY?must be set}')).toBe('')
  })
})

describe('compose helpers', () => {
  it('splits command strings into words as compose does', () => {
    expect(splitWords(`sh -c "echo 'hi there' && sleep 1"`)).toEqual(['sh', '-c', "echo 'hi there' && sleep 1"])
    expect(splitWords(String.raw`a\ b '' c`)).toEqual(['a b', '', 'c'])
  })

  it('reads compose durations', () => {
    expect(durationSeconds('1m30s')).toBe(90)
    expect(durationSeconds('500ms')).toBe(1)
    expect(durationSeconds('2h')).toBe(7200)
    expect(durationSeconds('soon')).toBeUndefined()
  })
})
