/**
 * What `devkube init` writes into a project: Dockerfile, .dockerignore, k8s/, devkube.yaml, and the
 * .gitignore lines that keep secrets and local state out of git. `up` calls scaffold() too, as
 * `init --yes` would. No prompts and no printing here: callers decide what to ask and say.
 */
import {randomBytes} from 'node:crypto'
import {existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {CONFIG_FILE, DEFAULT_CLUSTER, DEFAULT_PORT, DEFAULT_RESOURCES, type Resources, type ServiceConfig} from './config.js'
import {type Language} from './config-schema.js'
import {type Detection, detectApp, GENERATED_MARKER, hasOwnDockerfile} from './detect.js'
import {DEFAULT_GO_VERSION} from './detect-go.js'
import {procfileArgv, procfileStartCommand} from './detect-procfile.js'
import {pythonStartCommand, type PythonDetails} from './detect-python.js'
import {nodeImageFiles} from './dockerfile-node.js'
import {UserError} from './errors.js'
import {quoteArg} from './shell-quote.js'
import {renderTemplate, type TemplateValues} from './templates.js'

export type FileAction = 'created' | 'overwritten' | 'kept' | 'updated'

export interface ScaffoldedFile {
  /** Relative to the project folder, with "/" separators. */
  path: string
  action: FileAction
}

/** What the files are made from: init's answers, or the resolved config when `up` scaffolds. */
export interface ScaffoldAnswers {
  name: string
  lang: Language
  port: number
  forward?: number
  cluster?: string
  replicas?: number
  healthPath?: string
  resources?: Resources
  strategy?: {maxSurge: number | string; maxUnavailable: number | string}
  /** Detection done already (for this lang); detected again when absent. */
  detection?: Detection
}

export interface ScaffoldOptions {
  /** Overwrite files that exist. A Dockerfile the project brought is still never replaced. */
  force?: boolean
}

/** Lines every project's .gitignore needs: the env file holds secrets, .devkube/ holds local state. */
export const GITIGNORE_LINES = ['.env', '.devkube/']
export const NGINX_CONF = 'nginx.conf'
/** What every build context leaves out: the env file (secrets) and devkube's own files, whose changes must not rebuild. */
export const DOCKERIGNORE_LINES = ['.env', '.devkube', 'devkube.yaml', 'k8s']

type PlannedFile =
  | {path: string; kind: 'whole'; content: string; replaceable: boolean}
  /** Lines that must be in the file: appended when missing; `content` is written when the file does not exist. */
  | {path: string; kind: 'lines'; lines: string[]; content: string; replaceable: boolean}

/** The files scaffold() would write, with their content: pure apart from reading the project. */
export function planScaffold(projectDir: string, answers: ScaffoldAnswers): PlannedFile[] {
  const dir = path.resolve(projectDir)
  const ownDockerfile = hasOwnDockerfile(dir)
  if (answers.lang === 'dockerfile' && !ownDockerfile) {
    throw new UserError(`lang is "dockerfile" but ${dir} has no Dockerfile of its own.`, {
      hint: 'Add your Dockerfile, or choose node, python, go or static to have devkube write one.',
    })
  }
  const values = manifestValues(answers)
  const files = imageFiles(dir, answers, ownDockerfile)
  files.push(
    {path: 'k8s/base/deployment.yaml', kind: 'whole', content: renderTemplate('k8s/base/deployment.yaml', values), replaceable: true},
    {path: 'k8s/base/service.yaml', kind: 'whole', content: renderTemplate('k8s/base/service.yaml', values), replaceable: true},
    {path: 'k8s/base/kustomization.yaml', kind: 'whole', content: renderTemplate('k8s/base/kustomization.yaml', values), replaceable: true},
    {path: 'k8s/overlays/dev/kustomization.yaml', kind: 'whole', content: renderTemplate('k8s/overlays/dev/kustomization.yaml', values), replaceable: true},
    {path: CONFIG_FILE, kind: 'whole', content: renderTemplate('devkube.yaml', values), replaceable: true},
    {path: '.gitignore', kind: 'lines', lines: GITIGNORE_LINES, content: `${GITIGNORE_LINES.join('\n')}\n`, replaceable: false},
  )
  return files
}

/** What builds the image: the Dockerfile devkube writes (or the project's own, kept), its extra files, .dockerignore. */
function imageFiles(dir: string, answers: ScaffoldAnswers, ownDockerfile: boolean): PlannedFile[] {
  const files: PlannedFile[] = []
  if (!ownDockerfile && answers.lang !== 'dockerfile') {
    const detection = answers.detection?.lang === answers.lang ? answers.detection : detectApp(dir, {lang: answers.lang, ...answers.detection?.node?.choices})
    if (answers.lang === 'node' && detection.node) {
      // Node projects get one of four Dockerfiles (src/lib/dockerfile-node.ts); an SPA also gets its nginx.conf.
      const image = nodeImageFiles(dir, detection.node, answers.port, detection.startCommand)
      files.push({path: 'Dockerfile', kind: 'whole', content: checkMarker(image.dockerfile, 'node'), replaceable: true})
      for (const [file, content] of Object.entries(image.extraFiles)) files.push({path: file, kind: 'whole', content, replaceable: true})
    } else {
      files.push({path: 'Dockerfile', kind: 'whole', content: dockerfile(answers.lang, answers.port, detection), replaceable: true})
    }
    if (answers.lang === 'static') {
      files.push({path: NGINX_CONF, kind: 'whole', content: renderTemplate('docker/nginx.conf', {port: answers.port, nginxConf: NGINX_CONF}), replaceable: true})
    }
  } else {
    files.push({path: 'Dockerfile', kind: 'whole', content: '', replaceable: false})
  }
  // A project's own .dockerignore gains these too: secrets and devkube's own files never enter the image.
  files.push({path: '.dockerignore', kind: 'lines', lines: DOCKERIGNORE_LINES, content: renderTemplate('docker/dockerignore', {}), replaceable: true})
  return files
}

/** A built service of an app with `services:` whose context has no Dockerfile, with what detection found there. */
export interface ServiceImageScaffold {
  service: string
  context: string
  answers: ScaffoldAnswers
}

/**
 * The built services whose context lacks the Dockerfile devkube.yaml expects there (the default
 * `<context>/Dockerfile`), each detected as a single app's folder is. Run before anything is written: a
 * context detection cannot place is one sentence naming the service and what to add.
 */
export function planServiceImages(projectDir: string, services: ServiceConfig[]): ServiceImageScaffold[] {
  const planned: ServiceImageScaffold[] = []
  for (const service of services) {
    if (service.source.kind !== 'build' || existsSync(service.source.dockerfile)) continue
    const {context, dockerfile} = service.source
    if (dockerfile !== path.join(context, 'Dockerfile')) continue
    const folder = path.relative(projectDir, context) || '.'
    let detection: Detection
    try {
      detection = detectApp(context, {lang: service.lang, langSource: `services.${service.name}.lang`})
    } catch (error) {
      if (!(error instanceof UserError)) throw error
      throw new UserError(`The service ${service.name} has no Dockerfile in ${folder}/ and devkube cannot write one: ${error.message.replace(/^[A-Z](?![A-Z])/, (first) => first.toLowerCase())}`, {
        hint: `Add ${path.join(folder, 'Dockerfile')}${service.lang ? '' : `, or set \`services.${service.name}.lang\` (node, python, go or static) in devkube.yaml`}.`,
      })
    }
    planned.push({service: service.name, context, answers: {name: service.name, lang: detection.lang, port: service.port ?? detection.port ?? DEFAULT_PORT, detection}})
  }
  return planned
}

/** Writes each planned service's Dockerfile (+ .dockerignore, nginx.conf, …) into its context; never overwrites. */
export function scaffoldServiceImages(projectDir: string, planned: ServiceImageScaffold[]): ScaffoldedFile[] {
  return planned.flatMap(({context, answers}) =>
    imageFiles(context, answers, hasOwnDockerfile(context)).map((file) => ({path: path.relative(projectDir, path.join(context, file.path)).split(path.sep).join('/'), action: apply(context, file, false)})),
  )
}

/**
 * Writes what the project is missing and reports what happened to each file. Existing files are
 * kept unless options.force; .gitignore and .dockerignore only ever gain the lines they lack.
 */
export function scaffold(projectDir: string, answers: ScaffoldAnswers, options: ScaffoldOptions = {}): ScaffoldedFile[] {
  const dir = path.resolve(projectDir)
  return planScaffold(dir, answers).map((planned) => ({path: planned.path, action: apply(dir, planned, Boolean(options.force))}))
}

function apply(dir: string, planned: PlannedFile, force: boolean): FileAction {
  const file = path.join(dir, ...planned.path.split('/'))
  if (!planned.replaceable && planned.kind === 'whole') return 'kept'
  if (!existsSync(file)) {
    writeFileAtomic(file, planned.content)
    return 'created'
  }
  const existing = readFileSync(file, 'utf8')
  if (planned.kind === 'whole' || (force && planned.replaceable)) {
    if (existing === planned.content || !force) return 'kept'
    writeFileAtomic(file, planned.content)
    return 'overwritten'
  }
  const missing = missingLines(existing, planned.lines)
  if (missing.length === 0) return 'kept'
  const separator = existing === '' || existing.endsWith('\n') ? '' : '\n'
  writeFileAtomic(file, `${existing}${separator}# Added by devkube: local secrets and state stay out of git and images.\n${missing.join('\n')}\n`)
  return 'updated'
}

/** The wanted ignore lines a file lacks; "/.env" or ".devkube" count as present. */
export function missingLines(text: string, wanted: string[]): string[] {
  const normalize = (line: string) => line.trim().replace(/^\//, '').replace(/\/$/, '')
  const present = new Set(text.split(/\r?\n/).map((line) => normalize(line)))
  return wanted.filter((line) => !present.has(normalize(line)))
}

/**
 * Write to a temporary file beside the target, then rename: Ctrl-C never leaves half a file. `mode` applies to a
 * new file (0600 for secrets); an existing file keeps its own.
 */
export function writeFileAtomic(file: string, content: string, newFileMode = 0o644): void {
  mkdirSync(path.dirname(file), {recursive: true})
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`)
  const mode = existsSync(file) ? statSync(file).mode & 0o777 : newFileMode
  try {
    writeFileSync(temporary, content, {mode})
    renameSync(temporary, file)
  } catch (error) {
    rmSync(temporary, {force: true})
    throw new UserError(`Cannot write ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}.`, {
      hint: 'Check that the project folder is writable.',
      cause: error,
    })
  }
}

/** Values for the k8s and devkube.yaml templates. Strings are JSON-quoted: JSON strings are valid YAML. */
function manifestValues(answers: ScaffoldAnswers): TemplateValues {
  const resources = answers.resources ?? DEFAULT_RESOURCES
  const strategy = answers.strategy ?? {maxSurge: 1, maxUnavailable: 0}
  // Choices detection could not make alone (which framework, which workspace package) stay with the project.
  const choices = answers.detection?.node?.choices ?? {}
  const nodeChoices = [
    choices.framework && `\n# Which framework's reading devkube uses: package.json lists more than one.\nframework: ${choices.framework}\n`,
    choices.package && `\n# The workspace package this app runs (the build context stays the repository root).\npackage: ${JSON.stringify(choices.package)}\n`,
  ].filter(Boolean).join('')
  return {
    name: answers.name,
    lang: answers.lang,
    nodeChoices,
    cluster: answers.cluster ?? DEFAULT_CLUSTER,
    port: answers.port,
    forward: answers.forward ?? answers.port,
    replicas: answers.replicas ?? 1,
    healthPath: JSON.stringify(answers.healthPath ?? '/'),
    requestsCpu: JSON.stringify(resources.requests.cpu),
    requestsMemory: JSON.stringify(resources.requests.memory),
    limitsCpu: JSON.stringify(resources.limits.cpu),
    limitsMemory: JSON.stringify(resources.limits.memory),
    maxSurge: JSON.stringify(strategy.maxSurge),
    maxUnavailable: JSON.stringify(strategy.maxUnavailable),
  }
}

function dockerfile(lang: Exclude<Language, 'dockerfile'>, port: number, detection: Detection): string {
  let content: string
  switch (lang) {
    case 'node': {
      // planScaffold renders Node projects from detection.node; a Node detection always carries it.
      throw new Error('A Node detection without its project details (detection.node) cannot be scaffolded.')
    }
    case 'python': {
      content = pythonDockerfile(detection, port)
      break
    }
    case 'go': {
      content = goDockerfile(detection, port)
      break
    }
    case 'static': {
      content = renderTemplate('docker/static.Dockerfile', {port, nginxConf: NGINX_CONF})
      break
    }
  }
  return checkMarker(content, lang)
}

/** Detection tells devkube's Dockerfile from the user's by its first line. */
function checkMarker(content: string, lang: string): string {
  if (!content.startsWith(GENERATED_MARKER)) throw new Error(`Dockerfile template for ${lang} must start with "${GENERATED_MARKER}".`)
  return content
}

/** Exec form (a JSON array), so the app is PID 1 and gets SIGTERM directly. */
function execForm(argv: string[]): string {
  return `[${argv.map((arg) => JSON.stringify(arg)).join(', ')}]`
}

function pythonDockerfile(detection: Detection, port: number): string {
  const python = detection.python
  // planScaffold detects as python before it gets here; a Detection of another language is a bug.
  if (!python) throw new Error('pythonDockerfile needs a Python detection')
  const version = detection.facts.find((fact) => fact.key === 'python')
  // A Procfile's web: line starts the app as written; otherwise the server detection chose, on this port.
  const startCommand = detection.procfile ? procfileStartCommand(detection.procfile) : pythonStartCommand(python, port, detection.entryFile)
  return renderTemplate('docker/python.Dockerfile', {
    port,
    framework: python.framework,
    pythonVersion: python.pythonVersion,
    pythonVersionSource: version?.source === 'default' || !version ? 'devkube\'s default' : `from ${version.source}`,
    installSteps: pythonInstallSteps(python).trimEnd(),
    buildSteps: python.collectStatic ? renderTemplate('docker/python/collectstatic.Dockerfile', {}).trimEnd() : '',
    startCommand: execForm(startCommand),
  })
}

/** The dependency install steps: one template fragment per installer, plus the server the list lacks. */
function pythonInstallSteps(python: PythonDetails): string {
  const server = python.missingServer ? [python.missingServer] : []
  const extraPackages = server.map((name) => ` ${name}`).join('')
  const serverStep = server.length > 0 ? ` \\\n && pip install --no-cache-dir ${server.join(' ')}` : ''
  switch (python.installer) {
    case 'requirements': {
      return renderTemplate('docker/python/install-requirements.Dockerfile', {extraPackages})
    }
    case 'poetry': {
      return renderTemplate('docker/python/install-poetry.Dockerfile', {serverStep})
    }
    case 'uv': {
      return renderTemplate('docker/python/install-uv.Dockerfile', {extraPackages})
    }
    case 'pipenv': {
      return renderTemplate('docker/python/install-pipenv.Dockerfile', {copyFiles: python.dependencyFiles.join(' '), serverStep})
    }
    case 'pyproject': {
      const packages = [...(python.pyprojectDependencies ?? []), ...server].map((name) => quoteArg(name)).join(' ')
      return renderTemplate('docker/python/install-pyproject.Dockerfile', {packages})
    }
    case 'none': {
      return renderTemplate('docker/python/install-none.Dockerfile', {serverStep: server.length > 0 ? `\nRUN pip install --no-cache-dir ${server.join(' ')}` : ''})
    }
  }
}

function goDockerfile(detection: Detection, port: number): string {
  const go = detection.go
  const version = detection.facts.find((fact) => fact.key === 'go')
  const procfileArgs = detection.procfile ? (procfileArgv(detection.procfile, port) ?? []).slice(1) : []
  return renderTemplate('docker/go.Dockerfile', {
    port,
    goPackage: go?.goPackage ?? detection.goPackage ?? '.',
    goVersion: go?.goVersion ?? DEFAULT_GO_VERSION,
    goVersionSource: version && version.source !== 'default' ? `from ${version.source}` : 'devkube\'s default',
    downloadStep: go?.vendored ? '# vendor/ holds the dependencies: nothing to download.' : 'RUN go mod download',
    modFlag: go?.vendored ? '-mod=vendor ' : '',
    entrypoint: execForm(['/app', ...procfileArgs]),
  })
}
