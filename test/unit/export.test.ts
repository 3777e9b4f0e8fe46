/**
 * `devkube export` on a Flask fixture with two environments (dev, staging): golden files of the
 * chart and the overlays, real `helm lint`/`helm template` and `kubectl kustomize` over them, and
 * the objects they render compared with what desiredState() gives `up --env` for the same
 * environment. The expected objects are derived here independently of export's own code.
 */
import {cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {readEnvFile} from '../../src/lib/dotenv.js'
import {isUserError} from '../../src/lib/errors.js'
import {runExport} from '../../src/lib/export.js'
import {sourceImageTag} from '../../src/lib/image-tag.js'
import type {KubeObject} from '../../src/lib/kube.js'
import {desiredState, readManifests} from '../../src/lib/manifests.js'
import {resolveProject} from '../../src/lib/project.js'
import {expectGolden, expectNoSecrets, filesUnder, objectsOf, tool} from '../support/export.js'
import {helmBinary, kubectlBinary} from '../support/helm.js'

const FIXTURE = path.resolve(import.meta.dirname, '../fixtures/export-shop')
const GOLDEN = path.resolve(import.meta.dirname, '../fixtures/export-golden')
const ENVIRONMENTS = ['dev', 'staging']
const SECRET_VALUES = ['s3cr3t-export-token', 'hunter2-export']

const root = mkdtempSync(path.join(tmpdir(), 'devkube-export-'))
const project = path.join(root, 'shop')
const chart = path.join(root, 'chart')
const overlays = path.join(root, 'kustomize')
let helm: string
let kubectl: string
let originalPath: string | undefined

beforeAll(async () => {
  helm = helmBinary()
  kubectl = kubectlBinary()
  // export runs `kubectl kustomize` through PATH, as `up` does.
  originalPath = process.env.PATH
  if (path.isAbsolute(kubectl)) process.env.PATH = `${path.dirname(kubectl)}${path.delimiter}${process.env.PATH}`
  cpSync(FIXTURE, project, {recursive: true})
  await runExport(project, {}, {helm: chart, kustomize: overlays, force: false})
})

afterAll(() => {
  process.env.PATH = originalPath
  rmSync(root, {recursive: true, force: true})
})

/** Settings ConfigMaps are named by a hash of their data, and each tool hashes its own way. */
const hashedConfigMap = (name: string) => name.replace(/^(.*-env)-[0-9a-z]{8,10}$/, '$1-<hash>')

/**
 * What `up --env` applies for the environment, with only what export is meant to leave to the
 * other tool taken off: the Namespace object, devkube's apply/settings hashes, the hash in the
 * ConfigMap's and the .env Secret's names, and (for Helm, where the user creates it) that Secret.
 */
async function upObjects(environment: string, namespaced: boolean, withSecret = false): Promise<KubeObject[]> {
  const {config} = resolveProject(project, {environment}, {requireApp: true})
  const secretEnv = readEnvFile(config.envFile!, project)
  const desired = desiredState({config, imageTag: await sourceImageTag(config), manifests: await readManifests(config), secretEnv, manageNamespace: true})
  return normalise(desired.objects.filter((object) => object.kind !== 'Namespace' && (withSecret || object.kind !== 'Secret')), namespaced ? config.namespace : undefined)
}

/** What the kustomize README says to do before applying: the .env copied next to each overlay's secretGenerator. */
function copyEnvFiles(dir: string): void {
  for (const environment of ENVIRONMENTS) cpSync(path.join(project, '.env'), path.join(dir, 'overlays', environment, 'shop-secret.env'))
}

function normalise(objects: KubeObject[], namespace: string | undefined): KubeObject[] {
  return objects
    .filter((object) => object.kind !== 'Namespace')
    .map((original) => {
      const object = structuredClone(original) as KubeObject & {spec?: any}
      if (namespace === undefined) delete object.metadata.namespace
      else expect(object.metadata.namespace).toBe(namespace)
      delete object.metadata.annotations?.['devkube.dev/applied-hash']
      if (object.metadata.annotations && Object.keys(object.metadata.annotations).length === 0) delete object.metadata.annotations
      if (object.kind === 'ConfigMap') object.metadata.name = hashedConfigMap(object.metadata.name)
      // Each tool names the Secret by its own hash of the data; kustomize breaks long base64 into lines.
      if (object.kind === 'Secret') {
        object.metadata.name = object.metadata.name.replace(/^shop-secret-[0-9a-z]{8,10}$/, 'shop-secret')
        object.data = Object.fromEntries(Object.entries(object.data as Record<string, string>).map(([key, value]) => [key, value.replaceAll(/\s/g, '')]))
      }
      if (object.kind === 'Deployment') {
        const template = object.spec.template
        delete template.metadata.annotations?.['devkube.dev/config-hash']
        if (template.metadata.annotations && Object.keys(template.metadata.annotations).length === 0) delete template.metadata.annotations
        for (const container of template.spec.containers) {
          for (const source of container.envFrom ?? []) {
            if (source.configMapRef) source.configMapRef.name = hashedConfigMap(source.configMapRef.name)
            if (source.secretRef) source.secretRef.name = source.secretRef.name.replace(/^shop-secret-[0-9a-z]{8,10}$/, 'shop-secret')
          }
        }
      }
      return object
    })
    .sort((a, b) => `${a.kind}/${a.metadata.name}`.localeCompare(`${b.kind}/${b.metadata.name}`))
}

describe('devkube export', () => {
  it('writes the chart and the overlays the golden files hold', () => {
    expectGolden(chart, path.join(GOLDEN, 'helm'))
    expectGolden(overlays, path.join(GOLDEN, 'kustomize'))
    expect(filesUnder(chart)).toEqual(expect.arrayContaining(['Chart.yaml', 'values.yaml', 'values-dev.yaml', 'values-staging.yaml', 'README.md', 'templates/NOTES.txt']))
    expect(filesUnder(overlays)).toEqual(expect.arrayContaining(['base/kustomization.yaml', 'overlays/dev/kustomization.yaml', 'overlays/staging/kustomization.yaml', '.gitignore']))
  })

  it('never puts a secret value in any exported file, and the READMEs say how to make the Secret', () => {
    expectNoSecrets(chart, SECRET_VALUES)
    expectNoSecrets(overlays, SECRET_VALUES)
    expect(readFileSync(path.join(chart, 'README.md'), 'utf8')).toContain('kubectl create secret generic shop-secret --from-env-file=.env --namespace shop-staging')
    expect(readFileSync(path.join(overlays, 'README.md'), 'utf8')).toContain('cp .env ../kustomize/overlays/staging/shop-secret.env')
  })

  it('gives a chart helm lint accepts with every values file', () => {
    for (const environment of ENVIRONMENTS) {
      const output = tool(helm, ['lint', chart, '--strict', '-f', path.join(chart, `values-${environment}.yaml`)])
      expect(output).toContain('0 chart(s) failed')
    }
  })

  it.each(ENVIRONMENTS)('renders with helm template, for %s, the objects `up --env` applies', async (environment) => {
    const rendered = objectsOf(tool(helm, ['template', 'shop', chart, '-f', path.join(chart, `values-${environment}.yaml`)]))
    expect(normalise(rendered, undefined)).toEqual(await upObjects(environment, false))
  })

  it.each(ENVIRONMENTS)('renders with kubectl kustomize, for overlay %s, the objects `up --env` applies in its namespace, its Secret from the copied .env', async (environment) => {
    copyEnvFiles(overlays)
    const rendered = objectsOf(tool(kubectl, ['kustomize', path.join(overlays, 'overlays', environment)]))
    expect(rendered.find((object) => object.kind === 'Namespace')?.metadata.name).toBe(environment === 'dev' ? 'shop' : 'shop-staging')
    const {config} = resolveProject(project, {environment}, {requireApp: true})
    expect(normalise(rendered, config.namespace)).toEqual(await upObjects(environment, true, true))
  })

  it('names the settings ConfigMap by its content, so changed values roll the pods', () => {
    const names = ENVIRONMENTS.map((environment) => objectsOf(tool(helm, ['template', 'shop', chart, '-f', path.join(chart, `values-${environment}.yaml`)])).find((object) => object.kind === 'ConfigMap')!.metadata.name)
    expect(names[0]).toMatch(/^shop-env-[0-9a-f]{8}$/)
    expect(names[1]).not.toBe(names[0])
  })

  it('refuses to overwrite a changed file without --force, writing nothing, and overwrites with it', async () => {
    const values = path.join(chart, 'values.yaml')
    const readme = path.join(overlays, 'README.md')
    const before = readFileSync(readme, 'utf8')
    writeFileSync(values, 'edited: by hand\n')
    rmSync(readme)
    const error = await runExport(project, {}, {helm: chart, kustomize: overlays, force: false}).catch((caught: unknown) => caught)
    expect(isUserError(error) && error.message).toContain(values)
    expect(isUserError(error) && error.hint).toContain('--force')
    expect(readFileSync(values, 'utf8')).toBe('edited: by hand\n')
    expect(existsSync(readme)).toBe(false)
    await runExport(project, {}, {helm: chart, kustomize: overlays, force: true})
    expect(readFileSync(values, 'utf8')).toBe(readFileSync(path.join(GOLDEN, 'helm', 'values.yaml'), 'utf8'))
    expect(readFileSync(readme, 'utf8')).toBe(before)
  })

  it('carries an overlay that changes more than devkube.yaml sets in kustomize, and refuses it for a chart', async () => {
    const other = path.join(root, 'shop-overlay')
    cpSync(FIXTURE, other, {recursive: true})
    const overlay = path.join(other, 'k8s', 'overlays', 'staging')
    mkdirSync(overlay, {recursive: true})
    writeFileSync(path.join(overlay, 'kustomization.yaml'), [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      'resources: [../../base]',
      'patches:',
      '  - target: {kind: Service, name: shop}',
      '    patch: |-',
      '      - {op: add, path: /metadata/annotations, value: {team: payments}}',
      '',
    ].join('\n'))
    const refused = await runExport(other, {}, {helm: path.join(root, 'chart-overlay'), force: false}).catch((caught: unknown) => caught)
    expect(isUserError(refused) && refused.message).toContain('Environment "staging" changes its manifests beyond what devkube.yaml sets')
    expect(existsSync(path.join(root, 'chart-overlay'))).toBe(false)

    const dir = path.join(root, 'kustomize-overlay')
    await runExport(other, {}, {kustomize: dir, force: false})
    copyEnvFiles(dir)
    const rendered = objectsOf(tool(kubectl, ['kustomize', path.join(dir, 'overlays', 'staging')]))
    expect(rendered.find((object) => object.kind === 'Service')?.metadata.annotations).toEqual({team: 'payments'})
    const {config} = resolveProject(other, {environment: 'staging'}, {requireApp: true})
    const desired = desiredState({config, imageTag: await sourceImageTag(config), manifests: await readManifests(config), secretEnv: readEnvFile(config.envFile!, other), manageNamespace: false})
    expect(normalise(rendered, 'shop-staging')).toEqual(normalise(desired.objects, 'shop-staging'))
  })
})
