/**
 * `devkube export` of apps with `services:`: examples/flask-postgres as compose import writes it, and
 * a web + worker + PostgreSQL + stock Redis app with a staging environment. For each: golden files of
 * the chart and the overlays; `helm lint`/`helm template` and `kubectl kustomize` (after the steps the
 * README gives for the secrets) over them; the objects they render equal what renderApp() — the one
 * function `up`'s apply step calls — gives `up --env` for that environment; and no secret value in
 * any file export writes.
 */
import {spawnSync} from 'node:child_process'
import {cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {BackingCredentials} from '../../src/lib/backing.js'
import {initFromCompose} from '../../src/lib/compose-init.js'
import {readEnvFile, readEnvFiles} from '../../src/lib/dotenv.js'
import {runExport} from '../../src/lib/export.js'
import {serviceImageTag} from '../../src/lib/image-tag.js'
import type {KubeObject} from '../../src/lib/kube.js'
import {renderApp} from '../../src/lib/manifests.js'
import {resolveProject} from '../../src/lib/project.js'
import {expectGolden, expectNoSecrets, filesUnder, objectsOf, tool} from '../support/export.js'
import {helmBinary, kubectlBinary} from '../support/helm.js'

const REPO = path.resolve(import.meta.dirname, '../..')
const root = mkdtempSync(path.join(tmpdir(), 'devkube-export-services-'))
let helm: string
let kubectl: string
let originalPath: string | undefined

beforeAll(() => {
  helm = helmBinary()
  kubectl = kubectlBinary()
  originalPath = process.env.PATH
  if (path.isAbsolute(kubectl)) process.env.PATH = `${path.dirname(kubectl)}${path.delimiter}${process.env.PATH}`
})

afterAll(() => {
  process.env.PATH = originalPath
  rmSync(root, {recursive: true, force: true})
})

/** A password in the pattern a Helm install generates (randAlphaNum 32). */
const GENERATED_PASSWORD = /^[A-Za-z0-9]{32}$/

interface Case {
  name: string
  /** Copies the app into `dir` and makes its devkube.yaml. */
  prepare: (dir: string) => void
  golden: string
  environments: string[]
  /** Values of the app's env files: never in an exported file. */
  secretValues: string[]
}

const cases: Case[] = [
  {
    name: 'flask-postgres',
    prepare: (dir) => {
      cpSync(path.join(REPO, 'examples', 'flask-postgres'), dir, {recursive: true})
      initFromCompose(dir)
    },
    golden: path.join(REPO, 'test/fixtures/export-golden-flask-postgres'),
    environments: ['dev'],
    secretValues: [],
  },
  {
    name: 'tasks',
    prepare: (dir) => cpSync(path.join(REPO, 'test/fixtures/export-services'), dir, {recursive: true}),
    golden: path.join(REPO, 'test/fixtures/export-golden-services'),
    environments: ['dev', 'staging'],
    secretValues: ['s3ss10n-export-key', 'm41l-export-pass', 'w3bh00k-export-token'],
  },
]

describe.each(cases)('devkube export of $name (services)', ({name, prepare, golden, environments, secretValues}) => {
  const project = path.join(root, name)
  const chart = path.join(root, `${name}-chart`)
  const overlays = path.join(root, `${name}-kustomize`)

  beforeAll(async () => {
    prepare(project)
    await runExport(project, {}, {helm: chart, kustomize: overlays, force: false})
  })

  /**
   * What up's apply step renders for the environment (renderApp, as applyServices calls it), with the
   * built services' content tags, the env files' values and the given credentials (a live Secret's).
   */
  async function upObjects(environment: string, credentials: (service: string) => BackingCredentials): Promise<KubeObject[]> {
    const {config, services} = resolveProject(project, {environment}, {requireApp: true})
    const tags = new Map<string, string>()
    for (const service of services) if (service.source.kind === 'build') tags.set(service.name, await serviceImageTag(config, service))
    const desired = await renderApp({
      config,
      services,
      manageNamespace: true,
      image: (service) => ({reference: tags.get(service.name)!}),
      credentials: async (spec) => credentials(spec.service),
      secretEnv: (service) => readEnvFiles(service.envFiles, project),
    })
    return desired.objects
  }

  /**
   * Objects without what export leaves to the other tool: the Namespace object, the namespace field,
   * devkube's apply/settings hashes, the hash in generated names (each tool hashes its own way), and
 * differences Kubernetes does not see.
   */
  function normalise(objects: KubeObject[], namespace: string | undefined): KubeObject[] {
    return objects
      .filter((object) => object.kind !== 'Namespace')
      .map((original) => {
        const object = structuredClone(original) as KubeObject & {spec?: any}
        if (namespace !== undefined) expect(object.metadata.namespace, `${object.kind}/${object.metadata.name}`).toBe(namespace)
        delete object.metadata.namespace
        delete object.metadata.annotations?.['devkube.dev/applied-hash']
        if (object.metadata.annotations && Object.keys(object.metadata.annotations).length === 0) delete object.metadata.annotations
        object.metadata.name = unhashed(object.metadata.name)
        // Equal to Kubernetes: no data and empty data; base64 with and without kustomize's line breaks.
        if (object.kind === 'ConfigMap' || object.kind === 'Secret') object.data ??= {}
        if (object.kind === 'Secret') object.data = Object.fromEntries(Object.entries(object.data as Record<string, string>).map(([key, value]) => [key, value.replaceAll(/\s/g, '')]))
        const template = object.spec?.template
        if (template) {
          delete template.metadata?.annotations?.['devkube.dev/config-hash']
          if (template.metadata?.annotations && Object.keys(template.metadata.annotations).length === 0) delete template.metadata.annotations
          for (const container of template.spec.containers) {
            for (const source of container.envFrom ?? []) {
              if (source.configMapRef) source.configMapRef.name = unhashed(source.configMapRef.name)
              if (source.secretRef) source.secretRef.name = unhashed(source.secretRef.name)
            }
          }
        }
        return object
      })
      .sort((a, b) => `${a.kind}/${a.metadata.name}`.localeCompare(`${b.kind}/${b.metadata.name}`))
  }

  const unhashed = (objectName: string) => objectName.replace(/^(.*-(?:env|secret))-[0-9a-z]{8,10}$/, '$1')

  const namespaceOf = (environment: string) => resolveProject(project, {environment}, {requireApp: false}).config.namespace
  const backingServices = () => resolveProject(project, {}, {requireApp: false}).services.filter((service) => service.source.kind === 'backing').map((service) => service.name)
  const credentialsSecret = (service: string) => `${service}-credentials`
  const decoded = (secret: KubeObject, key: string) => Buffer.from((secret.data as Record<string, string>)[key], 'base64').toString('utf8')

  it('writes the chart and the overlays the golden files hold, and no secret file', () => {
    expectGolden(chart, path.join(golden, 'helm'))
    expectGolden(overlays, path.join(golden, 'kustomize'))
    expect(filesUnder(chart)).toEqual(expect.arrayContaining(['Chart.yaml', 'values.yaml', 'templates/NOTES.txt', ...environments.map((environment) => `values-${environment}.yaml`)]))
    for (const service of backingServices()) expect(filesUnder(chart)).toContain(`templates/statefulset-${service}.yaml`)
    expect(filesUnder(overlays).filter((file) => file.endsWith('.env'))).toEqual([])
  })

  it('gives a chart helm lint accepts with every values file', () => {
    for (const environment of environments) {
      expect(tool(helm, ['lint', chart, '--strict', '-f', path.join(chart, `values-${environment}.yaml`)])).toContain('0 chart(s) failed')
    }
  })

  it.each(environments)('renders with helm template, for %s, the objects `up --env` applies, with a generated password', async (environment) => {
    const rendered = objectsOf(tool(helm, ['template', name, chart, '-f', path.join(chart, `values-${environment}.yaml`)]))
    // What Helm is told beyond `up`'s objects: Jobs are hooks, volumes and credentials outlive an uninstall.
    for (const object of rendered) {
      const expected = object.kind === 'Job' ? {'helm.sh/hook': 'post-install,post-upgrade', 'helm.sh/hook-delete-policy': 'before-hook-creation'} : object.kind === 'PersistentVolumeClaim' || object.kind === 'Secret' ? {'helm.sh/resource-policy': 'keep'} : undefined
      expect(object.metadata.annotations, `${object.kind}/${object.metadata.name}`).toEqual(expected)
      delete object.metadata.annotations
    }
    const generated = new Map<string, BackingCredentials>()
    for (const service of backingServices()) {
      const secret = rendered.find((object) => object.kind === 'Secret' && object.metadata.name === credentialsSecret(service))!
      expect(decoded(secret, 'password')).toMatch(GENERATED_PASSWORD)
      generated.set(service, {user: decoded(secret, 'username'), password: decoded(secret, 'password'), database: decoded(secret, 'database')})
    }
    // The env files' Secrets are the user's to create (NOTES.txt says how): not in the chart.
    const expected = (await upObjects(environment, (service) => generated.get(service)!)).filter((object) => !(object.kind === 'Secret' && object.metadata.name.includes('-secret-')))
    expect(normalise(rendered, undefined)).toEqual(normalise(expected, undefined))
  })

  it('makes no credentials Secret when auth.existingSecret names the user\'s own, and points every reader at it', () => {
    const [service] = backingServices()
    const rendered = objectsOf(tool(helm, ['template', name, chart, '--set', `services.${service}.auth.existingSecret=my-credentials`]))
    expect(rendered.filter((object) => object.kind === 'Secret')).toEqual([])
    const references = rendered.flatMap((object: any) => (object.spec?.template?.spec?.containers ?? []).flatMap((container: any) => (container.env ?? []).map((variable: any) => variable.valueFrom?.secretKeyRef?.name).filter(Boolean)))
    expect(references.length).toBeGreaterThan(0)
    expect(new Set(references)).toEqual(new Set(['my-credentials']))
  })

  it.each(environments)('renders with kubectl kustomize, for overlay %s after the README\'s secret steps, the objects `up --env` applies in its namespace', async (environment) => {
    runReadmeSecretSteps(project, overlays)
    const rendered = objectsOf(tool(kubectl, ['kustomize', path.join(overlays, 'overlays', environment)]))
    expect(rendered.find((object) => object.kind === 'Namespace')?.metadata.name).toBe(namespaceOf(environment))
    // The password is the one the README's command made for this overlay.
    const credentials = (service: string) => {
      const secret = rendered.find((object) => object.kind === 'Secret' && object.metadata.name === credentialsSecret(service))!
      expect(decoded(secret, 'password')).toMatch(/^[0-9a-f]{32}$/)
      return {user: decoded(secret, 'username'), password: decoded(secret, 'password'), database: decoded(secret, 'database')}
    }
    expect(normalise(rendered, namespaceOf(environment))).toEqual(normalise(await upObjects(environment, credentials), namespaceOf(environment)))
  })

  it('never writes a secret value: not the env files\' values, not a password the README\'s steps made; git ignores those files', async () => {
    runReadmeSecretSteps(project, overlays)
    const made = filesUnder(overlays).filter((file) => file.endsWith('.env'))
    expect(made.length).toBeGreaterThan(0)
    const passwords = made.flatMap((file) => Object.entries(readEnvFile(path.join(overlays, file), overlays)).filter(([key]) => key === 'password' || key === 'uri').map(([, value]) => value))
    const values = [...secretValues, ...passwords]
    if (values.length > 0) {
      expectNoSecrets(chart, values)
      expectNoSecrets(overlays, values, (file) => made.includes(file))
    }
    // A second export (--force) leaves the user's env files as they are.
    const before = made.map((file) => readFileSync(path.join(overlays, file), 'utf8'))
    await runExport(project, {}, {helm: chart, kustomize: overlays, force: true})
    expect(made.map((file) => readFileSync(path.join(overlays, file), 'utf8'))).toEqual(before)
    tool('git', ['-C', overlays, 'init', '--quiet'])
    for (const file of made) expect(spawnSync('git', ['-C', overlays, 'check-ignore', '--quiet', file]).status, `${file} is not git-ignored`).toBe(0)
  })
})

/**
 * Runs the shell blocks of the kustomize README's Secrets section, in the project folder, as a user
 * would: they copy the env files and make each overlay's credentials file. Once: a second run would
 * make new passwords.
 */
function runReadmeSecretSteps(project: string, overlays: string): void {
  const readme = readFileSync(path.join(overlays, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## Secrets'), readme.indexOf('## Image'))
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1])
  for (const block of blocks) {
    const firstTarget = /> (\S+\.env)$/m.exec(block)?.[1] ?? /^cp \S+ (\S+)$/m.exec(block)?.[1]
    if (firstTarget && existsSync(path.resolve(project, firstTarget))) continue
    const result = spawnSync('sh', ['-euc', block], {cwd: project, encoding: 'utf8'})
    if (result.status !== 0) throw new Error(`The README's step failed: ${block}\n${result.stderr}`)
  }
}

describe('an export folder inside a build context', () => {
  it('is named in a note (its files would change the image tag), and not once .dockerignore leaves it out', async () => {
    const project = path.join(root, 'inside')
    cpSync(path.join(REPO, 'test/fixtures/export-services'), project, {recursive: true})
    const first = await runExport(project, {}, {helm: path.join(project, 'chart'), force: false})
    expect(first.notes).toEqual(['web', 'worker', 'migrate'].map((service) => `chart/ is inside ${service}'s build context, so its files change ${service}'s image tag (up rebuilds, the next export gets a new tag): add \`chart/\` to .dockerignore, or export outside the project.`))
    writeFileSync(path.join(project, '.dockerignore'), '.env\n*.secrets.env\nchart/\n')
    const second = await runExport(project, {}, {helm: path.join(project, 'chart'), force: true})
    expect(second.notes).toEqual([])
  })
})

describe('an export with --registry', () => {
  it('moves the built services\' images there (same tags) in the chart and the overlays, and leaves stock and backing images as they are', async () => {
    const project = path.join(root, 'registry')
    cpSync(path.join(REPO, 'test/fixtures/export-services'), project, {recursive: true})
    const chart = path.join(root, 'registry-chart')
    const overlays = path.join(root, 'registry-kustomize')
    await runExport(project, {}, {helm: chart, kustomize: overlays, registry: 'registry.example.com/team/', force: false})
    runReadmeSecretSteps(project, overlays)
    const imagesOf = (objects: KubeObject[]) => Object.fromEntries(objects.filter((object: any) => object.spec?.template).map((object: any) => [object.metadata.name, object.spec.template.spec.containers[0].image]))
    const tag = (await serviceImageTag(resolveProject(project, {}, {requireApp: true}).config, resolveProject(project, {}, {requireApp: true}).services[0])).split(':')[1]
    const expected = {
      web: `registry.example.com/team/tasks-web:${tag}`,
      worker: `registry.example.com/team/tasks-worker:${tag}`,
      migrate: `registry.example.com/team/tasks-migrate:${tag}`,
      db: 'postgres:16',
      cache: 'redis:7',
    }
    expect(imagesOf(objectsOf(tool(helm, ['template', 'tasks', chart])))).toEqual(expected)
    expect(imagesOf(objectsOf(tool(kubectl, ['kustomize', path.join(overlays, 'overlays', 'dev')])))).toEqual(expected)
  })
})

describe('an app of stock images only', () => {
  it('exports a chart helm lint accepts and overlays kustomize renders, with nothing to build or push', async () => {
    const project = path.join(root, 'stock')
    mkdirSync(project, {recursive: true})
    writeFileSync(path.join(project, 'devkube.yaml'), 'name: stock\nservices:\n  proxy: {image: "nginx:1.27", port: 80, dependsOn: [cache]}\n  cache: {backing: redis}\n')
    const chart = path.join(root, 'stock-chart')
    const overlays = path.join(root, 'stock-kustomize')
    await runExport(project, {}, {helm: chart, kustomize: overlays, force: false})
    expect(tool(helm, ['lint', chart, '--strict'])).toContain('0 chart(s) failed')
    expect(readFileSync(path.join(chart, 'README.md'), 'utf8')).toContain('Every service runs a stock image, pulled as it is: `nginx:1.27`, `redis:7`.')
    runReadmeSecretSteps(project, overlays)
    const rendered = objectsOf(tool(kubectl, ['kustomize', path.join(overlays, 'overlays', 'dev')]))
    expect(rendered.map((object) => `${object.kind}/${object.metadata.name.replace(/-env-[0-9a-z]{10}$/, '-env-<hash>')}`).sort()).toEqual([
      'ConfigMap/proxy-env-<hash>',
      'Deployment/proxy',
      'Namespace/stock',
      'Secret/cache-credentials',
      'Service/cache',
      'Service/proxy',
      'StatefulSet/cache',
    ])
  })
})

describe('an export over an earlier one', () => {
  it('names the files of a service that is gone, and deletes nothing', async () => {
    const project = path.join(root, 'renamed')
    cpSync(path.join(REPO, 'test/fixtures/export-services'), project, {recursive: true})
    const chart = path.join(root, 'renamed-chart')
    expect((await runExport(project, {}, {helm: chart, force: false})).notes).toEqual([])
    writeFileSync(path.join(project, 'devkube.yaml'), readFileSync(path.join(project, 'devkube.yaml'), 'utf8').replace('  cache:\n    image: redis:7\n    ports: [6379]\n', '').replace('dependsOn: [migrate, db, cache]', 'dependsOn: [migrate, db]'))
    const again = await runExport(project, {}, {helm: chart, force: true})
    const gone = ['configmap-cache-env.yaml', 'deployment-cache.yaml', 'service-cache.yaml'].map((file) => path.join(chart, 'templates', file))
    expect(again.notes).toEqual([`${gone.join(', ')} are not part of this export (a service removed or renamed since an earlier one?): delete them if devkube wrote them, or they are still installed with the rest.`])
    for (const file of gone) expect(existsSync(file)).toBe(true)
  })
})
