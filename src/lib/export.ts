/**
 * `devkube export`: the objects `up` applies, per environment, written as a Helm chart or as
 * kustomize base + overlays, so the same app can go to a cluster devkube does not run.
 *
 * Nothing here renders manifests of its own: every environment's objects come from
 * manifests.desiredState(), the function `up` applies. They are then "portable" — devkube's
 * bookkeeping (applied hashes, namespace, the generated .env Secret) taken off — and either
 * parametrised (Helm: the fields devkube.yaml controls become values) or diffed against the default
 * environment (kustomize: overlays hold only what differs). Secret values are never read: the
 * exported objects refer to a Secret by a fixed name that the README says how to create.
 */
import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {stringify} from 'yaml'
import {DEFAULT_ENVIRONMENT, type AppConfig, type ConfigOverrides} from './config.js'
import {imageId, imageUser, type ImageUser} from './docker.js'
import {UserError} from './errors.js'
import {imageRepository, sourceImageTag} from './image-tag.js'
import {INSTANCE_LABEL, MANAGED_BY, MANAGED_BY_LABEL, NAME_LABEL, type KubeObject} from './kube.js'
import {APPLIED_HASH_ANNOTATION, CONFIG_HASH_ANNOTATION, desiredState, ENVIRONMENT_LABEL, readManifests} from './manifests.js'
import {resolveProject} from './project.js'
import {writeFileAtomic} from './scaffold.js'
import {renderTemplate} from './templates.js'

/** One environment as `up --env` would apply it, made portable. */
export interface ExportedEnvironment {
  environment: string
  namespace: string
  /** The image `up` builds for this environment: devkube.local/<name>:<content hash>. */
  image: {repository: string; tag: string}
  /** The Secret the app reads its .env values from, when the environment has an env file. */
  secretName?: string
  objects: KubeObject[]
}

export interface ExportSource {
  name: string
  /** The default environment first. */
  environments: ExportedEnvironment[]
}

export interface ExportOptions {
  helm?: string
  kustomize?: string
  force: boolean
  /** Image repository prefix for the exported image references, e.g. registry.example.com/team. */
  registry?: string
}

export interface ExportResult {
  name: string
  environments: string[]
  written: Array<{format: 'helm' | 'kustomize'; dir: string; files: string[]}>
}

/** Name of the Secret that holds an app's .env values outside devkube (devkube's own is content-named). */
export function exportedSecretName(appName: string): string {
  return `${appName}-secret`
}

/** Every environment of the project, rendered by desiredState() exactly as `up --env` renders it. */
export async function exportSource(projectDir: string, overrides: ConfigOverrides = {}): Promise<ExportSource> {
  const project = resolveProject(projectDir, {...overrides, environment: DEFAULT_ENVIRONMENT}, {requireApp: false})
  const base = project.config
  // An app with `services:` is rendered by up per service (desiredAppState); export does not follow it yet.
  if (project.services.length !== 1 || project.services[0].manifests === undefined) {
    throw new UserError(`devkube export does not handle apps with \`services:\` yet (${base.name} has ${project.services.map((service) => service.name).join(', ')}).`, {
      hint: 'Export works for a single app with its own manifests folder (k8s/); for now, write the chart or overlays of a multi-service app by hand.',
    })
  }
  const names = [DEFAULT_ENVIRONMENT, ...base.environmentNames.filter((name) => name !== DEFAULT_ENVIRONMENT)]
  const environments: ExportedEnvironment[] = []
  for (const environment of names) {
    const config = environment === DEFAULT_ENVIRONMENT ? base : resolveProject(projectDir, {...overrides, environment}, {requireApp: false}).config
    environments.push(await exportEnvironment(config))
  }
  return {name: base.name, environments}
}

async function exportEnvironment(config: AppConfig): Promise<ExportedEnvironment> {
  const [imageTag, manifests] = await Promise.all([sourceImageTag(config), readManifests(config)])
  // An empty stand-in, never the file: the Secret's values must not reach anything export writes.
  const secretEnv = config.envFile ? {} : undefined
  const desired = desiredState({config, imageTag, manifests, secretEnv, manageNamespace: false, imageUser: await builtImageUser(imageTag)})
  const secretName = config.envFile ? exportedSecretName(config.name) : undefined
  const separator = imageTag.lastIndexOf(':')
  return {
    environment: config.environment,
    namespace: config.namespace,
    image: {repository: imageTag.slice(0, separator), tag: imageTag.slice(separator + 1)},
    secretName,
    objects: portable(desired.objects, config.name, secretName),
  }
}

/**
 * `up` lets the built image's USER decide runAsNonRoot; when that image is here, export does the
 * same, so the objects match. Without it (or without Docker) the manifests' own settings stand.
 */
async function builtImageUser(imageTag: string): Promise<ImageUser | undefined> {
  try {
    return (await imageId(imageTag)) ? await imageUser(imageTag) : undefined
  } catch {
    return undefined
  }
}

/**
 * desiredState()'s objects without what only devkube's own apply needs: the namespace (Helm and
 * kustomize set it), the applied-hash and settings-hash annotations (both tools roll pods through
 * the hashed ConfigMap name instead), and the .env Secret (referred to by a fixed name instead).
 */
export function portable(objects: KubeObject[], appName: string, secretName: string | undefined): KubeObject[] {
  const generatedSecret = objects.find((object) => object.kind === 'Secret' && object.metadata.name.startsWith(`${appName}-secret-`))
  const result: KubeObject[] = []
  for (const original of objects) {
    if (original === generatedSecret || original.kind === 'Namespace') continue
    const object = structuredClone(original)
    delete object.metadata.namespace
    withoutAnnotation(object.metadata, APPLIED_HASH_ANNOTATION)
    if (object.kind === 'Deployment') {
      const template = (object.spec as PodTemplateOwner).template
      if (template.metadata) withoutAnnotation(template.metadata, CONFIG_HASH_ANNOTATION)
      for (const container of template.spec.containers) {
        for (const source of container.envFrom ?? []) {
          if (generatedSecret && source.secretRef?.name === generatedSecret.metadata.name) source.secretRef.name = secretName!
        }
      }
    }
    result.push(object)
  }
  return result
}

function withoutAnnotation(metadata: {annotations?: Record<string, string>}, key: string): void {
  if (!metadata.annotations) return
  delete metadata.annotations[key]
  if (Object.keys(metadata.annotations).length === 0) delete metadata.annotations
}

interface Container {
  name: string
  image?: string
  ports?: Array<{containerPort?: number}>
  env?: Array<{name: string; value?: string}>
  envFrom?: Array<{configMapRef?: {name: string}; secretRef?: {name: string}}>
  resources?: unknown
  readinessProbe?: {httpGet?: {path?: string; port?: number | string}}
  livenessProbe?: {httpGet?: {path?: string; port?: number | string}}
}

interface PodTemplateOwner {
  replicas?: number
  strategy?: {rollingUpdate?: {maxSurge?: number | string; maxUnavailable?: number | string}}
  template: {metadata?: {annotations?: Record<string, string>; labels?: Record<string, string>}; spec: {containers: Container[]}}
}

/** The containers that run the image devkube builds (others, such as sidecars, are left as they are). */
function appContainers(deployment: KubeObject, image: ExportedEnvironment['image']): Container[] {
  if (deployment.kind !== 'Deployment') return []
  const wanted = `${image.repository}:${image.tag}`
  return (deployment.spec as PodTemplateOwner).template.spec.containers.filter((container) => container.image === wanted)
}

/** ConfigMap names are `<prefix>-<8 hex>`, the hash of their data: the prefix is what stays. */
const HASHED_NAME = /^(.*)-[0-9a-f]{8}$/

function configMapPrefix(name: string): string {
  return HASHED_NAME.exec(name)?.[1] ?? name
}

function settingsConfigMaps(environment: ExportedEnvironment): Map<string, {service: string; object: KubeObject}> {
  const byName = new Map<string, {service: string; object: KubeObject}>()
  for (const deployment of environment.objects) {
    for (const container of appContainers(deployment, environment.image)) {
      for (const source of container.envFrom ?? []) {
        const object = environment.objects.find((candidate) => candidate.kind === 'ConfigMap' && candidate.metadata.name === source.configMapRef?.name)
        if (object) byName.set(object.metadata.name, {service: deployment.metadata.name, object})
      }
    }
  }
  return byName
}

// ---------------------------------------------------------------------------------------------
// Helm

/** A value a template takes: `scalar` goes on one line, `block` (a map) is written with toYaml. */
interface Slot {
  expression: string
  block: boolean
}

interface Parametrised {
  /** Template file name → its text; equal across environments when the chart can serve them all. */
  templates: Map<string, string>
  values: Record<string, unknown>
}

const SENTINEL = (index: number) => `__devkube_value_${index}__`

/**
 * Turns one environment's objects into chart templates and the values that reproduce them: each
 * field devkube.yaml controls is replaced by a marker, the objects are written as YAML, and the
 * markers become template expressions. Running it for every environment and getting the same
 * templates proves that values alone tell the environments apart.
 */
export function parametrise(environment: ExportedEnvironment): Parametrised {
  const slots: Slot[] = []
  const mark = (expression: string, block = false) => {
    slots.push({expression, block})
    return SENTINEL(slots.length - 1)
  }
  const services: Record<string, Record<string, unknown>> = {}
  const objects = structuredClone(environment.objects)
  const configMaps = settingsConfigMaps(environment)

  for (const deployment of objects) {
    const containers = appContainers(deployment, environment.image)
    if (containers.length === 0) continue
    const service = deployment.metadata.name
    const ref = `(index .Values.services ${JSON.stringify(service)})`
    const values: Record<string, unknown> = {image: {...environment.image}}
    services[service] = values
    const spec = deployment.spec as PodTemplateOwner
    values.replicas = spec.replicas
    spec.replicas = mark(`${ref}.replicas | toJson`) as unknown as number
    const rolling = spec.strategy?.rollingUpdate
    if (rolling) {
      values.strategy = {...rolling}
      for (const key of ['maxSurge', 'maxUnavailable'] as const) {
        if (rolling[key] !== undefined) rolling[key] = mark(`${ref}.strategy.${key} | toJson`)
      }
    }
    for (const container of containers) {
      container.image = mark(`printf "%s:%s" ${ref}.image.repository ${ref}.image.tag | toJson`)
      if (container.resources) {
        values.resources = container.resources
        container.resources = mark(`toYaml ${ref}.resources`, true)
      }
      const port = container.ports?.[0]?.containerPort
      if (port !== undefined) {
        values.port = port
        container.ports![0].containerPort = mark(`${ref}.port | toJson`) as unknown as number
      }
      for (const variable of container.env ?? []) {
        if (variable.name === 'PORT' && values.port !== undefined && variable.value === String(values.port)) variable.value = mark(`${ref}.port | toString | toJson`)
      }
      for (const probe of [container.readinessProbe, container.livenessProbe]) {
        const httpGet = probe?.httpGet
        if (!httpGet) continue
        if (httpGet.path !== undefined) {
          values.healthPath = httpGet.path
          httpGet.path = mark(`${ref}.healthPath | toJson`)
        }
        if (typeof httpGet.port === 'number' && httpGet.port === values.port) httpGet.port = mark(`${ref}.port | toJson`)
      }
      for (const source of container.envFrom ?? []) {
        if (source.configMapRef && configMaps.has(source.configMapRef.name)) {
          source.configMapRef.name = mark(configMapNameExpression(source.configMapRef.name, ref))
        }
        if (source.secretRef && source.secretRef.name === environment.secretName) {
          values.secretName = environment.secretName
          source.secretRef.name = mark(`${ref}.secretName | toJson`)
        }
      }
    }
  }
  for (const object of objects) {
    const settings = object.kind === 'ConfigMap' ? configMaps.get(object.metadata.name) : undefined
    if (settings) {
      const ref = `(index .Values.services ${JSON.stringify(settings.service)})`
      services[settings.service].env = object.data ?? {}
      object.metadata.name = mark(configMapNameExpression(object.metadata.name, ref))
      object.data = mark(`toYaml ${ref}.env`, true) as unknown as Record<string, string>
    }
    if (object.metadata.labels?.[ENVIRONMENT_LABEL] !== undefined) object.metadata.labels[ENVIRONMENT_LABEL] = mark('.Values.environment | toJson')
  }

  const templates = new Map<string, string>()
  for (const [index, object] of objects.entries()) {
    // Named by the object before marking; a settings ConfigMap by its name without the hash.
    const original = environment.objects[index]
    const name = configMaps.has(original.metadata.name) ? configMapPrefix(original.metadata.name) : original.metadata.name
    templates.set(`${original.kind.toLowerCase()}-${name}.yaml`, fillSlots(stringify(object, {lineWidth: 0}), slots))
  }
  return {templates, values: {environment: environment.environment, services}}
}

/**
 * The settings ConfigMap keeps devkube's naming (`<prefix>-<hash of its data>`), computed by Helm
 * from the values, so a changed setting gives a new name and rolls the pods, as with `up`.
 */
function configMapNameExpression(name: string, ref: string): string {
  return `printf "%s-%s" ${JSON.stringify(configMapPrefix(name))} (${ref}.env | toJson | sha256sum | trunc 8) | toJson`
}

/** Replaces the markers in written YAML with template expressions, at the indentation blocks need. */
function fillSlots(text: string, slots: Slot[]): string {
  const lines = text.split('\n').map((line) => {
    const block = /^(\s*)(- )?([^\s:]+): __devkube_value_(\d+)__$/.exec(line)
    if (block && slots[Number(block[4])].block) {
      const indent = block[1].length + (block[2] ? 2 : 0) + 2
      return `${block[1]}${block[2] ?? ''}${block[3]}:\n${' '.repeat(indent)}{{- ${slots[Number(block[4])].expression} | nindent ${indent} }}`
    }
    return line.replaceAll(/__devkube_value_(\d+)__/g, (_, index: string) => `{{ ${slots[Number(index)].expression} }}`)
  })
  return lines.join('\n')
}

export interface HelmChart {
  files: Map<string, string>
}

export function helmChart(source: ExportSource, registry?: string): HelmChart {
  const files = new Map<string, string>()
  const [defaults, ...others] = source.environments
  const reference = parametrise(withRegistry(defaults, source.name, registry))
  const valuesByEnvironment = new Map<string, Record<string, unknown>>([[defaults.environment, reference.values]])
  for (const environment of others) {
    const rendered = parametrise(withRegistry(environment, source.name, registry))
    const differing = [...rendered.templates].find(([file, text]) => reference.templates.get(file) !== text) ?? [...reference.templates.keys()].find((file) => !rendered.templates.has(file))
    if (differing || rendered.templates.size !== reference.templates.size) {
      const file = Array.isArray(differing) ? differing[0] : differing
      throw new UserError(`Environment "${environment.environment}" changes its manifests beyond what devkube.yaml sets (${file ?? 'a different set of objects'}), which a chart cannot express as values.`, {
        hint: 'Export it with --kustomize (overlays carry any change), or move the difference into devkube.yaml settings.',
      })
    }
    valuesByEnvironment.set(environment.environment, rendered.values)
  }

  const image = reference.values.services as Record<string, {image: {tag: string}}>
  const appVersion = Object.values(image)[0]?.image.tag ?? '0'
  files.set('Chart.yaml', renderTemplate('export/Chart.yaml', {name: JSON.stringify(source.name), appVersion: JSON.stringify(appVersion)}))
  files.set('values.yaml', `# Values of the "${defaults.environment}" environment (devkube.yaml); values-<env>.yaml holds what each environment changes.\n${stringify(reference.values, {lineWidth: 0})}`)
  for (const environment of source.environments) {
    const difference = valuesDifference(reference.values, valuesByEnvironment.get(environment.environment)!)
    const body = difference === undefined ? '{}\n' : stringify(difference, {lineWidth: 0})
    files.set(`values-${environment.environment}.yaml`, `# The "${environment.environment}" environment: helm install ${source.name} . -f values-${environment.environment}.yaml -n ${environment.namespace}\n${body}`)
  }
  for (const [file, text] of reference.templates) files.set(`templates/${file}`, text)
  files.set('README.md', renderTemplate('export/helm-README.md', {
    name: source.name,
    installCommands: source.environments.map((environment) => `helm upgrade --install ${source.name} . -f values-${environment.environment}.yaml --namespace ${environment.namespace} --create-namespace`).join('\n'),
    secretSection: secretSection(source),
    imageNote: imageNote(source, registry),
  }))
  return {files}
}

/**
 * What Helm must merge over values.yaml to get `target`: changed keys, and `null` for keys the
 * environment does not have (Helm deletes a key whose override is null). Undefined when equal.
 */
export function valuesDifference(base: unknown, target: unknown): unknown {
  if (isPlainObject(base) && isPlainObject(target)) {
    const result: Record<string, unknown> = {}
    for (const key of Object.keys(base)) if (!(key in target)) result[key] = null
    for (const [key, value] of Object.entries(target)) {
      const difference = key in base ? valuesDifference(base[key], value) : value
      if (difference !== undefined) result[key] = difference
    }
    return Object.keys(result).length === 0 ? undefined : result
  }
  return JSON.stringify(base) === JSON.stringify(target) ? undefined : target
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The environment with its image moved to the registry the user named (same tag). */
function withRegistry(environment: ExportedEnvironment, appName: string, registry?: string): ExportedEnvironment {
  if (!registry) return environment
  const repository = `${registry.replace(/\/+$/, '')}/${appName}`
  const from = `${environment.image.repository}:${environment.image.tag}`
  const objects = structuredClone(environment.objects)
  for (const deployment of objects) {
    for (const container of appContainers(deployment, environment.image)) if (container.image === from) container.image = `${repository}:${environment.image.tag}`
  }
  return {...environment, image: {repository, tag: environment.image.tag}, objects}
}

function secretSection(source: ExportSource): string {
  const withSecret = source.environments.filter((environment) => environment.secretName)
  if (withSecret.length === 0) return 'The app reads no secrets (the project has no `.env` file), so there is no Secret to create.'
  const lines = withSecret.map((environment) => `kubectl create secret generic ${environment.secretName} --from-env-file=.env --namespace ${environment.namespace}`)
  return [
    `The app reads its secrets from the Secret \`${withSecret[0].secretName}\`. Its values are not in these files (devkube never exports them): create it from your \`.env\` file in each namespace before installing:`,
    '',
    '```sh',
    ...lines,
    '```',
  ].join('\n')
}

function imageNote(source: ExportSource, registry?: string): string {
  const image = source.environments[0].image
  if (registry) return `The image is \`${registry.replace(/\/+$/, '')}/${source.name}:${image.tag}\`: push it there before installing (\`docker tag ${image.repository}:${image.tag} ${registry.replace(/\/+$/, '')}/${source.name}:${image.tag}\` then \`docker push\`).`
  return `The image is \`${image.repository}:${image.tag}\`, the tag \`devkube up\` builds (a hash of the source). A cluster other than devkube's kind cluster pulls images from a registry: export again with \`--registry REGISTRY\`, or set the image repository in the values / overlays.`
}

// ---------------------------------------------------------------------------------------------
// kustomize

export interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace'
  path: string
  value?: unknown
}

/** RFC 6902 operations that turn `from` into `to` (lists of different lengths are replaced whole). */
export function jsonPatch(from: unknown, to: unknown, at = ''): JsonPatchOperation[] {
  if (isPlainObject(from) && isPlainObject(to)) {
    const operations: JsonPatchOperation[] = []
    for (const key of Object.keys(from)) if (!(key in to)) operations.push({op: 'remove', path: `${at}/${escapePointer(key)}`})
    for (const [key, value] of Object.entries(to)) {
      const child = `${at}/${escapePointer(key)}`
      if (key in from) operations.push(...jsonPatch(from[key], value, child))
      else operations.push({op: 'add', path: child, value})
    }
    return operations
  }
  if (Array.isArray(from) && Array.isArray(to) && from.length === to.length) return from.flatMap((item, index) => jsonPatch(item, to[index], `${at}/${index}`))
  return JSON.stringify(from) === JSON.stringify(to) ? [] : [{op: 'replace', path: at, value: to}]
}

function escapePointer(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1')
}

/**
 * An environment's objects as the kustomize base sees them: the image without its tag (the images
 * transformer sets it), settings ConfigMaps left to configMapGenerator (their references named by the
 * generator's name), and no environment label (the `labels` transformer sets it).
 */
function kustomizeShape(environment: ExportedEnvironment): {objects: KubeObject[]; settings: Array<{name: string; data: Record<string, string>}>} {
  const configMaps = settingsConfigMaps(environment)
  const objects: KubeObject[] = []
  for (const original of environment.objects) {
    if (configMaps.has(original.metadata.name) && original.kind === 'ConfigMap') continue
    const object = structuredClone(original)
    for (const container of appContainers(object, environment.image)) {
      container.image = environment.image.repository
      for (const source of container.envFrom ?? []) {
        if (source.configMapRef && configMaps.has(source.configMapRef.name)) source.configMapRef.name = configMapPrefix(source.configMapRef.name)
      }
    }
    if (object.metadata.labels) delete object.metadata.labels[ENVIRONMENT_LABEL]
    objects.push(object)
  }
  const settings = [...configMaps.values()].map(({object}) => ({name: configMapPrefix(object.metadata.name), data: (object.data ?? {}) as Record<string, string>}))
  return {objects, settings}
}

const objectKey = (object: KubeObject) => `${object.kind}/${object.metadata.name}`
const objectFile = (object: KubeObject) => `${object.kind.toLowerCase()}-${object.metadata.name}.yaml`

export function kustomizeTree(source: ExportSource, registry?: string): Map<string, string> {
  const files = new Map<string, string>()
  const [defaults] = source.environments
  const base = kustomizeShape(defaults)
  const commonLabels = {[NAME_LABEL]: source.name, [INSTANCE_LABEL]: source.name, [MANAGED_BY_LABEL]: MANAGED_BY}
  const generator = (settings: {name: string; data: Record<string, string>}, behavior?: string) => ({
    name: settings.name,
    ...(behavior ? {behavior} : {}),
    literals: Object.entries(settings.data).map(([key, value]) => `${key}=${value}`),
    options: {labels: commonLabels},
  })
  for (const object of base.objects) files.set(`base/${objectFile(object)}`, stringify(object, {lineWidth: 0}))
  files.set('base/kustomization.yaml', `# Generated by devkube export: the "${defaults.environment}" environment's objects, shared by every overlay.\n${stringify({
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources: base.objects.map((object) => objectFile(object)),
    ...(base.settings.length > 0 ? {configMapGenerator: base.settings.map((settings) => generator(settings))} : {}),
  }, {lineWidth: 0})}`)

  for (const environment of source.environments) {
    const shape = kustomizeShape(environment)
    const baseByKey = new Map(base.objects.map((object) => [objectKey(object), object]))
    const added = shape.objects.filter((object) => !baseByKey.has(objectKey(object)))
    const patches: Array<Record<string, unknown>> = []
    for (const object of shape.objects) {
      const from = baseByKey.get(objectKey(object))
      if (!from) continue
      const operations = jsonPatch(from, object)
      if (operations.length > 0) patches.push({target: {kind: object.kind, name: object.metadata.name}, patch: stringify(operations, {lineWidth: 0})})
    }
    const present = new Set(shape.objects.map((object) => objectKey(object)))
    for (const object of base.objects) {
      if (!present.has(objectKey(object))) patches.push({patch: stringify({$patch: 'delete', apiVersion: object.apiVersion, kind: object.kind, metadata: {name: object.metadata.name}}, {lineWidth: 0})})
    }
    const dir = `overlays/${environment.environment}`
    for (const object of added) files.set(`${dir}/${objectFile(object)}`, stringify(object, {lineWidth: 0}))
    const namespace = {apiVersion: 'v1', kind: 'Namespace', metadata: {name: environment.namespace, labels: {[MANAGED_BY_LABEL]: MANAGED_BY}}}
    files.set(`${dir}/namespace.yaml`, stringify(namespace))
    const newName = registry ? `${registry.replace(/\/+$/, '')}/${source.name}` : undefined
    const kustomization = {
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      namespace: environment.namespace,
      resources: ['../../base', 'namespace.yaml', ...added.map((object) => objectFile(object))],
      labels: [{pairs: {[ENVIRONMENT_LABEL]: environment.environment}}],
      images: [{name: imageRepository(source.name), ...(newName ? {newName} : {}), newTag: environment.image.tag}],
      ...(shape.settings.length > 0 ? {configMapGenerator: shape.settings.map((settings) => generator(settings, 'replace'))} : {}),
      ...(patches.length > 0 ? {patches} : {}),
    }
    files.set(`${dir}/kustomization.yaml`, `# Generated by devkube export: the "${environment.environment}" environment (kubectl apply -k ${dir}).\n${stringify(kustomization, {lineWidth: 0})}`)
  }
  files.set('README.md', renderTemplate('export/kustomize-README.md', {
    name: source.name,
    applyCommands: source.environments.map((environment) => `kubectl apply -k overlays/${environment.environment}`).join('\n'),
    secretSection: secretSection(source),
    imageNote: imageNote(source, registry),
  }))
  return files
}

// ---------------------------------------------------------------------------------------------
// Writing

/** Files (dir-joined) that exist with other content: writing them needs --force. */
function conflicts(dir: string, files: Map<string, string>): string[] {
  return [...files].filter(([file, content]) => {
    const target = path.join(dir, file)
    return existsSync(target) && readFileSync(target, 'utf8') !== content
  }).map(([file]) => path.join(dir, file))
}

/**
 * Refuses, before anything is written, when a file exists with other content and --force is not
 * given: an export is written whole or not at all.
 */
export function checkOverwrites(outputs: Array<{dir: string; files: Map<string, string>}>, force: boolean): void {
  const found = outputs.flatMap((output) => conflicts(output.dir, output.files))
  if (found.length === 0 || force) return
  const shown = found.slice(0, 3).join(', ') + (found.length > 3 ? ', …' : '')
  throw new UserError(`${found.length === 1 ? 'A file' : `${found.length} files`} of the export already exist${found.length === 1 ? 's' : ''} with other content (${shown}).`, {
    hint: 'Pass --force to overwrite them, or export into an empty folder.',
  })
}

/** Writes the files that are missing or differ; returns them. */
export function writeExport(dir: string, files: Map<string, string>): string[] {
  const written: string[] = []
  for (const [file, content] of files) {
    const target = path.join(dir, file)
    if (existsSync(target) && readFileSync(target, 'utf8') === content) continue
    writeFileAtomic(target, content)
    written.push(file)
  }
  return written
}

export async function runExport(projectDir: string, overrides: ConfigOverrides, options: ExportOptions): Promise<ExportResult> {
  if (!options.helm && !options.kustomize) {
    throw new UserError('Nothing to export: name a format.', {hint: 'Pass --helm DIR (a chart) or --kustomize DIR (base + overlays), or both.'})
  }
  const source = await exportSource(projectDir, overrides)
  // Both are rendered before either is written, so an environment a chart cannot express leaves nothing behind.
  const helmFiles = options.helm ? helmChart(source, options.registry).files : undefined
  const kustomizeFiles = options.kustomize ? kustomizeTree(source, options.registry) : undefined
  const outputs = [
    ...(options.helm && helmFiles ? [{format: 'helm' as const, dir: options.helm, files: helmFiles}] : []),
    ...(options.kustomize && kustomizeFiles ? [{format: 'kustomize' as const, dir: options.kustomize, files: kustomizeFiles}] : []),
  ]
  checkOverwrites(outputs, options.force)
  const written = outputs.map((output) => ({format: output.format, dir: output.dir, files: writeExport(output.dir, output.files)}))
  return {name: source.name, environments: source.environments.map((environment) => environment.environment), written}
}
