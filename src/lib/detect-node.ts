/**
 * Node detection: reads package.json as a whole (scripts, dependencies, main, engines, packageManager,
 * workspaces), the lockfile and the framework's config, and decides which kind of image the project needs:
 * a plain server, a server with a build step, Next.js, or a static single-page app served by nginx.
 * Only reads files; every decision is listed as a fact with where it came from.
 */
import {readdirSync, readFileSync, statSync} from 'node:fs'
import path from 'node:path'
import {UserError} from './errors.js'

/** Which Dockerfile the project gets (templates/docker/node-<kind>.Dockerfile, node.Dockerfile for `server`). */
export type NodeKind = 'server' | 'build-server' | 'next' | 'spa'

export type PackageManagerName = 'npm' | 'yarn' | 'pnpm'

export interface PackageManager {
  name: PackageManagerName
  /** Yarn 2 and later (berry): `--immutable` instead of `--frozen-lockfile`, no `--production`. */
  berry: boolean
  /** The lockfile at the workspace root; undefined when there is none (versions are then not pinned). */
  lockfile?: string
  /** Installs every dependency (build stage), exactly as locked when there is a lockfile. */
  install: string
  /** Installs production dependencies only (runtime stage of a server with a build step). */
  installProduction: string
}

export interface NodeFact {
  key: string
  value: string
  source: string
}

export interface NodeProject {
  kind: NodeKind
  /** Human name, e.g. "Next.js", "Vite", "NestJS", "Express"; "Node.js" when no framework is known. */
  framework: string
  /** The `--framework` value that picks this reading, e.g. "next", "vite", "nest". */
  frameworkId: string
  packageManager: PackageManager
  /** The npm script that builds the app, e.g. "build"; undefined when there is none. */
  buildScript?: string
  /** Folder the build writes (relative to the package): what an SPA serves, what a built server runs. */
  outputDir?: string
  /** Next.js: next.config says `output: 'standalone'`, so the image runs .next/standalone/server.js. */
  nextStandalone?: boolean
  /** Major version of the node base image, from engines.node (else devkube's default). */
  nodeMajor: number
  /** The package to run, relative to the project folder: "." unless the project is a workspace monorepo. */
  packageDir: string
  /** package.json files (relative to the project folder) to copy before installing: root and every workspace. */
  manifests: string[]
  /** How the runtime starts the app, as an argv; undefined for an SPA (nginx serves it). */
  startCommand?: string[]
  /** The file `node` runs, when the start command is `node <file>`. */
  entryFile?: string
  port?: {port: number; source: string}
  facts: NodeFact[]
  /** The choices that settled this reading (flags or devkube.yaml); init records them in devkube.yaml. */
  choices: NodeChoices
}

/** Options that settle what detection cannot decide alone (from flags or devkube.yaml). */
export interface NodeChoices {
  /** A framework id from the readings detection found ("next", "vite", ...). */
  framework?: string
  /** The workspace package to run, relative to the project folder. */
  package?: string
}

/**
 * Detection found more than one reading. init asks on a terminal (`choices`), and otherwise says which
 * flag (or devkube.yaml key) picks one.
 */
export class NodeChoiceNeeded extends UserError {
  constructor(
    message: string,
    readonly flag: '--framework' | '--package',
    readonly choices: {value: string; name: string}[],
    hint: string,
  ) {
    super(message, {hint})
  }
}

export const DEFAULT_NODE_MAJOR = 22
/** Base image majors devkube picks from, preferred first: the default, then newest to oldest. */
const NODE_MAJORS = [DEFAULT_NODE_MAJOR, 24, 20, 18]

export interface PackageJson {
  name?: unknown
  main?: unknown
  scripts?: Record<string, unknown>
  dependencies?: Record<string, unknown>
  devDependencies?: Record<string, unknown>
  engines?: {node?: unknown}
  packageManager?: unknown
  workspaces?: unknown
}

export function readPackageJson(dir: string): PackageJson | undefined {
  const file = path.join(dir, 'package.json')
  if (!isFile(file)) return undefined
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown
    return parsed && typeof parsed === 'object' ? (parsed as PackageJson) : {}
  } catch (error) {
    throw new UserError(`package.json in ${dir} is not valid JSON: ${(error as Error).message}.`, {
      hint: 'Fix package.json (`npm pkg get name` shows whether npm can read it).',
    })
  }
}

const script = (packageJson: PackageJson, name: string): string | undefined => {
  const value = packageJson.scripts?.[name]
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined
}

/** Whether the folder holds a Node app devkube can run: something to start, to build, or a workspace of them. */
export function looksLikeNodeApp(dir: string): boolean {
  const packageJson = readPackageJson(dir)
  if (!packageJson) return false
  if (workspacePatterns(dir, packageJson).length > 0) return true
  // A Vite or Next.js project is never a static site of its own sources, whatever its scripts say.
  const dependencies = {...asRecord(packageJson.dependencies), ...asRecord(packageJson.devDependencies)}
  if (APP_FRAMEWORKS.some((rule) => rule.dependency in dependencies)) return true
  return Boolean(script(packageJson, 'start') || script(packageJson, 'build') || nonEmpty(packageJson.main) || isFile(path.join(dir, 'server.js')))
}

// ---- frameworks ----------------------------------------------------------------------------------

interface FrameworkRule {
  id: string
  name: string
  dependency: string
  kind: 'next' | 'spa' | 'build-server' | 'server'
  /** SPA: the folder the build writes when the config does not say. */
  outputDir?: string
  /** Dependencies that mean this rule is only a building block of another framework (Vite under SvelteKit). */
  impliedBy?: string[]
}

/** In order of precedence for naming; several app frameworks at once are a question, not a guess. */
const APP_FRAMEWORKS: FrameworkRule[] = [
  {id: 'next', name: 'Next.js', dependency: 'next', kind: 'next'},
  {id: 'nest', name: 'NestJS', dependency: '@nestjs/core', kind: 'build-server', outputDir: 'dist'},
  {id: 'nuxt', name: 'Nuxt', dependency: 'nuxt', kind: 'build-server', outputDir: '.output'},
  {id: 'angular', name: 'Angular', dependency: '@angular/core', kind: 'spa', outputDir: 'dist'},
  {id: 'sveltekit', name: 'SvelteKit (static)', dependency: '@sveltejs/kit', kind: 'spa', outputDir: 'build'},
  {id: 'astro', name: 'Astro (static)', dependency: 'astro', kind: 'spa', outputDir: 'dist'},
  {id: 'cra', name: 'Create React App', dependency: 'react-scripts', kind: 'spa', outputDir: 'build'},
  {id: 'vite', name: 'Vite', dependency: 'vite', kind: 'spa', outputDir: 'dist', impliedBy: ['@sveltejs/kit', 'astro', 'nuxt', 'next', '@angular/core']},
]

const SERVER_FRAMEWORKS: {name: string; dependency: string}[] = [
  {name: 'Express', dependency: 'express'},
  {name: 'Fastify', dependency: 'fastify'},
  {name: 'Koa', dependency: 'koa'},
  {name: 'Hono', dependency: 'hono'},
]

/** Start scripts that run a development server, not the app: an SPA with only these is still an SPA. */
const DEV_SERVER_SCRIPT = /^(vite|vite preview|vite dev|react-scripts start|ng serve|astro (dev|preview)|serve\b)/

// ---- detection -----------------------------------------------------------------------------------

export function detectNodeProject(projectDir: string, choices: NodeChoices = {}): NodeProject {
  const root = readPackageJson(projectDir)
  if (!root) {
    throw new UserError(`There is no package.json in ${projectDir}.`, {
      hint: 'Run `npm init -y` and add a "start" script, or pass the language your app is written in with --lang.',
    })
  }
  const facts: NodeFact[] = []
  const workspaces = workspacePackages(projectDir, root)
  const packageDir = choosePackage(projectDir, root, workspaces, choices.package)
  if (packageDir !== '.') facts.push({key: 'package', value: packageDir, source: choices.package ? 'chosen (--package or devkube.yaml package)' : 'the only runnable workspace package'})
  const appDir = path.join(projectDir, packageDir)
  const packageJson = packageDir === '.' ? root : readPackageJson(appDir)
  if (!packageJson) throw new UserError(`${packageDir} has no package.json.`, {hint: 'Pass --package with a folder that holds a package.json.'})
  const pj = packageDir === '.' ? 'package.json' : `${packageDir}/package.json`

  const dependencies = {...asRecord(packageJson.dependencies), ...asRecord(packageJson.devDependencies)}
  const dependencySource = (name: string) => `${pj} ${name in asRecord(packageJson.dependencies) ? 'dependencies' : 'devDependencies'}.${name}`
  const framework = chooseFramework(dependencies, choices.framework)
  const server = SERVER_FRAMEWORKS.find((rule) => rule.dependency in dependencies)

  const buildScript = script(packageJson, 'build') ? 'build' : undefined
  const startName = ['start:prod', 'start'].find((name) => script(packageJson, name) && !DEV_SERVER_SCRIPT.test(script(packageJson, name) ?? ''))

  let kind: NodeKind
  let frameworkName: string
  let frameworkId: string
  if (framework && !(framework.kind === 'spa' && startName && server)) {
    // A Vite front end next to an Express server that starts with `node server.js` is that server, not an SPA.
    kind = framework.kind === 'server' ? (buildScript ? 'build-server' : 'server') : framework.kind
    frameworkName = framework.name
    frameworkId = framework.id
    facts.push({key: 'framework', value: framework.name, source: choices.framework ? `chosen (--framework ${framework.id})` : dependencySource(framework.dependency)})
  } else {
    kind = buildScript ? 'build-server' : 'server'
    frameworkName = server?.name ?? 'Node.js'
    frameworkId = server?.dependency ?? 'node'
    facts.push({key: 'framework', value: frameworkName, source: server ? dependencySource(server.dependency) : 'no framework among the dependencies'})
  }
  if (kind === 'spa' && !buildScript) {
    throw new UserError(`${pj} uses ${frameworkName} but has no "build" script, so devkube cannot make the files to serve.`, {
      hint: `Add "scripts": {"build": "${frameworkId === 'cra' ? 'react-scripts build' : frameworkId === 'angular' ? 'ng build' : 'vite build'}"} to ${pj}.`,
    })
  }

  const packageManager = detectPackageManager(projectDir, root)
  facts.push({key: 'package manager', value: packageManager.name + (packageManager.berry ? ' (berry)' : ''), source: packageManager.lockfile ?? (nonEmpty(root.packageManager) ? `package.json packageManager: ${String(root.packageManager)}` : 'default')})
  facts.push({
    key: 'install',
    value: packageManager.install,
    source: packageManager.lockfile ? `${packageManager.lockfile} pins every version` : 'no lockfile: versions are NOT pinned (commit a lockfile for repeatable builds)',
  })
  if (buildScript) facts.push({key: 'build script', value: `${buildScript}: ${script(packageJson, buildScript)}`, source: `${pj} scripts.${buildScript}`})

  const nodeMajor = nodeMajorFor(packageJson.engines?.node ?? root.engines?.node)
  facts.push({key: 'node image', value: `node:${nodeMajor.major}-slim (build arg NODE_IMAGE)`, source: nodeMajor.source})

  const project: NodeProject = {
    kind,
    framework: frameworkName,
    frameworkId,
    packageManager,
    buildScript,
    nodeMajor: nodeMajor.major,
    packageDir,
    manifests: ['package.json', ...workspaces.map((dir) => `${dir}/package.json`)],
    facts,
    choices: {...(choices.framework ? {framework: choices.framework} : {}), ...(choices.package ? {package: packageDir} : {})},
  }

  switch (kind) {
    case 'spa': {
      const output = spaOutputDir(appDir, framework!, packageJson)
      project.outputDir = output.dir
      facts.push({key: 'output folder', value: `${output.dir}/ (served by nginx, with index.html for unknown paths)`, source: output.source})
      break
    }
    case 'next': {
      const standalone = nextStandalone(appDir)
      project.nextStandalone = Boolean(standalone)
      project.startCommand = standalone ? ['node', 'server.js'] : ['node_modules/.bin/next', 'start', '-H', '0.0.0.0']
      project.port = {port: 3000, source: 'Next.js default'}
      facts.push({key: 'start command', value: standalone ? 'node server.js (standalone output)' : 'next start -H 0.0.0.0', source: standalone ?? 'next.config has no output: \'standalone\''})
      break
    }
    case 'build-server':
    case 'server': {
      const start = serverStart(appDir, packageJson, pj, {buildScript, framework})
      project.startCommand = start.startCommand
      project.entryFile = start.entryFile
      // The runtime stage of a built server takes only the build output when the app starts from inside it.
      project.outputDir = kind === 'build-server' ? start.outputDir : undefined
      facts.push({key: 'start command', value: start.startCommand.join(' '), source: start.source})
      if (project.outputDir) facts.push({key: 'output folder', value: `${project.outputDir}/ (with package.json: all the runtime image takes)`, source: `where ${start.entryFile} is`})
      break
    }
  }
  return project
}

function chooseFramework(dependencies: Record<string, unknown>, chosen: string | undefined): FrameworkRule | undefined {
  const found = APP_FRAMEWORKS.filter((rule) => rule.dependency in dependencies && !rule.impliedBy?.some((other) => other in dependencies))
  if (chosen) {
    const rule = APP_FRAMEWORKS.find((candidate) => candidate.id === chosen)
    if (!rule) {
      throw new UserError(`--framework ${chosen} is not one devkube knows.`, {hint: `Pass one of ${APP_FRAMEWORKS.map((candidate) => candidate.id).join(', ')}.`})
    }
    return rule
  }
  if (found.length > 1) {
    throw new NodeChoiceNeeded(
      `package.json lists ${found.map((rule) => rule.name).join(' and ')}, so devkube cannot tell which one the app is.`,
      '--framework',
      found.map((rule) => ({value: rule.id, name: rule.name})),
      `Pass --framework ${found.map((rule) => rule.id).join('|')} (or set framework: in devkube.yaml).`,
    )
  }
  return found[0]
}

// ---- workspaces ----------------------------------------------------------------------------------

function workspacePatterns(dir: string, packageJson: PackageJson): string[] {
  const workspaces = packageJson.workspaces
  const fromPackage = Array.isArray(workspaces) ? workspaces : workspaces && typeof workspaces === 'object' ? (workspaces as {packages?: unknown}).packages : undefined
  const patterns = Array.isArray(fromPackage) ? fromPackage.filter((value): value is string => typeof value === 'string') : []
  const pnpmWorkspace = path.join(dir, 'pnpm-workspace.yaml')
  if (patterns.length === 0 && isFile(pnpmWorkspace)) {
    // Only the `packages:` list matters here: "  - 'packages/*'" lines.
    patterns.push(...[...readFileSync(pnpmWorkspace, 'utf8').matchAll(/^\s*-\s*['"]?([^'"\s#]+)['"]?/gm)].map((match) => match[1]))
  }
  return patterns
}

/** Workspace package folders (relative, "/"-separated), from patterns such as "packages/*" or "apps/web". */
function workspacePackages(dir: string, packageJson: PackageJson): string[] {
  const folders: string[] = []
  for (const pattern of workspacePatterns(dir, packageJson)) {
    if (pattern.startsWith('!')) continue
    const clean = pattern.replace(/^\.\//, '').replace(/\/$/, '')
    if (clean.endsWith('/*') || clean.endsWith('/**')) {
      const parent = clean.replace(/\/\*\*?$/, '')
      let entries: string[] = []
      try {
        entries = readdirSync(path.join(dir, parent)).sort()
      } catch {}
      for (const entry of entries) if (isFile(path.join(dir, parent, entry, 'package.json'))) folders.push(`${parent}/${entry}`)
    } else if (!clean.includes('*') && isFile(path.join(dir, clean, 'package.json'))) {
      folders.push(clean)
    }
  }
  return [...new Set(folders)]
}

function choosePackage(dir: string, root: PackageJson, workspaces: string[], chosen: string | undefined): string {
  if (chosen) {
    const normalized = chosen.replace(/^\.\//, '').replace(/\/$/, '') || '.'
    if (!isFile(path.join(dir, normalized, 'package.json'))) {
      throw new UserError(`--package ${chosen} has no package.json in ${dir}.`, {
        hint: workspaces.length > 0 ? `Pass one of the workspace packages: ${workspaces.join(', ')}.` : 'Pass the folder of the package to run.',
      })
    }
    return normalized
  }
  if (workspaces.length === 0) return '.'
  // A root that starts an app itself is the app; the workspaces are its libraries.
  if (script(root, 'start')) return '.'
  const runnable = workspaces.filter((folder) => {
    const packageJson = readPackageJson(path.join(dir, folder))
    return packageJson && (script(packageJson, 'start') || script(packageJson, 'build'))
  })
  if (runnable.length === 1) return runnable[0]
  throw new NodeChoiceNeeded(
    `${dir} is a monorepo (package.json has workspaces) with ${runnable.length === 0 ? 'no package that starts or builds' : `${runnable.length} packages that could run: ${runnable.join(', ')}`}, so devkube cannot tell which one to run.`,
    '--package',
    (runnable.length > 0 ? runnable : workspaces).map((folder) => ({value: folder, name: folder})),
    `Pass --package ${(runnable[0] ?? workspaces[0] ?? 'packages/app')} (or set package: in devkube.yaml).`,
  )
}

// ---- package manager -----------------------------------------------------------------------------

function detectPackageManager(rootDir: string, root: PackageJson): PackageManager {
  const declared = nonEmpty(root.packageManager) ? /^(npm|yarn|pnpm)@(\d+)/.exec(String(root.packageManager)) : null
  let name: PackageManagerName = 'npm'
  let lockfile: string | undefined
  if (isFile(path.join(rootDir, 'pnpm-lock.yaml'))) [name, lockfile] = ['pnpm', 'pnpm-lock.yaml']
  else if (isFile(path.join(rootDir, 'yarn.lock'))) [name, lockfile] = ['yarn', 'yarn.lock']
  else if (isFile(path.join(rootDir, 'package-lock.json'))) [name, lockfile] = ['npm', 'package-lock.json']
  else if (isFile(path.join(rootDir, 'npm-shrinkwrap.json'))) [name, lockfile] = ['npm', 'npm-shrinkwrap.json']
  else if (declared) name = declared[1] as PackageManagerName
  const berry =
    name === 'yarn' &&
    ((declared?.[1] === 'yarn' && Number(declared[2]) >= 2) ||
      isFile(path.join(rootDir, '.yarnrc.yml')) ||
      (lockfile !== undefined && readFileSync(path.join(rootDir, lockfile), 'utf8').includes('__metadata:')))
  return {name, berry, lockfile, ...installCommands(name, berry, lockfile !== undefined)}
}

/** The commands each package manager installs with: exactly the lockfile's versions when there is one. */
export function installCommands(name: PackageManagerName, berry: boolean, locked: boolean): {install: string; installProduction: string} {
  switch (name) {
    case 'npm': {
      return locked
        ? {install: 'npm ci --no-audit --no-fund', installProduction: 'npm ci --omit=dev --no-audit --no-fund'}
        : {install: 'npm install --no-audit --no-fund', installProduction: 'npm install --omit=dev --no-audit --no-fund'}
    }
    case 'pnpm': {
      const frozen = locked ? ' --frozen-lockfile' : ''
      return {install: `pnpm install${frozen}`, installProduction: `pnpm install${frozen} --prod`}
    }
    case 'yarn': {
      if (berry) {
        // Yarn 4 has `workspaces focus` built in; it installs what the workspaces need for production.
        return {install: `yarn install${locked ? ' --immutable' : ''}`, installProduction: 'yarn workspaces focus --all --production'}
      }
      const frozen = locked ? ' --frozen-lockfile' : ''
      return {install: `yarn install${frozen}`, installProduction: `yarn install${frozen} --production`}
    }
  }
}

// ---- node version --------------------------------------------------------------------------------

/** The base image major for engines.node: the default when it allows it, else the newest it allows. */
function nodeMajorFor(engines: unknown): {major: number; source: string} {
  if (!nonEmpty(engines)) return {major: DEFAULT_NODE_MAJOR, source: 'default'}
  const range = String(engines)
  const major = NODE_MAJORS.find((candidate) => rangeAllowsMajor(range, candidate))
  if (major === undefined) {
    throw new UserError(`package.json engines.node is "${range}", which allows none of Node ${[...NODE_MAJORS].sort().join(', ')}.`, {
      hint: 'Set engines.node to a supported range such as ">=20", or pass the base image with --build-arg NODE_IMAGE=... in devkube.yaml build.args.',
    })
  }
  return {major, source: `package.json engines.node "${range}"`}
}

/** Whether a semver range (">=18", "^20.9", "20.x", ">=18 <23", "^18 || ^20") allows some version of that major. */
export function rangeAllowsMajor(range: string, major: number): boolean {
  const low = major * 1e6
  const high = (major + 1) * 1e6
  return range.split('||').some((alternative) => {
    let min = low
    let max = high
    const comparators = alternative.trim().replaceAll(/([<>=^~]+)\s+/g, '$1').split(/\s+/).filter(Boolean)
    for (const comparator of comparators) {
      const match = /^(>=|<=|>|<|=|\^|~)?v?(\d+|[x*])(?:\.(\d+|[x*]))?(?:\.(\d+|[x*]))?/.exec(comparator)
      if (!match) return true // unknown syntax: do not rule the major out
      const [, operator = '', majorPart, minorPart, patchPart] = match
      if (majorPart === 'x' || majorPart === '*') continue
      const wild = (part?: string) => part === undefined || part === 'x' || part === '*'
      const version = Number(majorPart) * 1e6 + (wild(minorPart) ? 0 : Number(minorPart) * 1e3) + (wild(patchPart) ? 0 : Number(patchPart))
      // The end of the range the version's wildcards leave open (">=20" vs "<=20.x").
      const next = wild(minorPart) ? (Number(majorPart) + 1) * 1e6 : wild(patchPart) ? version + 1e3 : version + 1
      switch (operator) {
        case '>=': { min = Math.max(min, version); break }
        case '>': { min = Math.max(min, next); break }
        case '<': { max = Math.min(max, version); break }
        case '<=': { max = Math.min(max, next); break }
        case '^': { min = Math.max(min, version); max = Math.min(max, (Number(majorPart) + 1) * 1e6); break }
        case '~': { min = Math.max(min, version); max = Math.min(max, wild(minorPart) ? (Number(majorPart) + 1) * 1e6 : Number(majorPart) * 1e6 + (Number(minorPart) + 1) * 1e3); break }
        default: { min = Math.max(min, version); max = Math.min(max, next) }
      }
    }
    return min < max
  })
}

// ---- output folders and start commands -----------------------------------------------------------

function spaOutputDir(appDir: string, framework: FrameworkRule, packageJson: PackageJson): {dir: string; source: string} {
  const configured = (files: string[], pattern: RegExp, what: string) => {
    for (const file of files) {
      const text = readText(path.join(appDir, file))
      const match = text && pattern.exec(text)
      if (match) return {dir: match[1].replace(/^\.\//, '').replace(/\/$/, ''), source: `${file} ${what}`}
    }
    return undefined
  }
  const fallback = {dir: framework.outputDir ?? 'dist', source: `default for ${framework.name}`}
  switch (framework.id) {
    case 'vite': {
      const fromScript = /--outDir[= ](\S+)/.exec(script(packageJson, 'build') ?? '')
      if (fromScript) return {dir: fromScript[1], source: 'package.json scripts.build --outDir'}
      return configured(['vite.config.ts', 'vite.config.js', 'vite.config.mjs', 'vite.config.mts'], /\boutDir\s*:\s*['"`]([^'"`]+)['"`]/, 'build.outDir') ?? fallback
    }
    case 'angular': {
      // angular.json: "outputPath": "dist/app" (the application builder writes browser/ inside it).
      const found = configured(['angular.json'], /"outputPath"\s*:\s*"([^"]+)"/, 'outputPath')
      if (!found) return fallback
      const builder = /"builder"\s*:\s*"@angular-devkit\/build-angular:application"|"builder"\s*:\s*"@angular\/build:application"/.test(readText(path.join(appDir, 'angular.json')) ?? '')
      return builder ? {dir: `${found.dir}/browser`, source: `${found.source} (application builder: browser/)`} : found
    }
    case 'sveltekit': {
      return configured(['svelte.config.js', 'svelte.config.mjs'], /\bpages\s*:\s*['"`]([^'"`]+)['"`]/, 'adapter-static pages') ?? fallback
    }
    case 'astro': {
      return configured(['astro.config.mjs', 'astro.config.ts', 'astro.config.js'], /\boutDir\s*:\s*['"`]([^'"`]+)['"`]/, 'outDir') ?? fallback
    }
    default: {
      return fallback
    }
  }
}

/** The next.config line that makes a standalone build, as a fact source; undefined when there is none. */
function nextStandalone(appDir: string): string | undefined {
  for (const file of ['next.config.mjs', 'next.config.js', 'next.config.ts', 'next.config.cjs']) {
    const text = readText(path.join(appDir, file))
    if (text && /\boutput\s*:\s*['"`]standalone['"`]/.test(text)) return `${file} output: 'standalone'`
  }
  return undefined
}

interface ServerStart {
  startCommand: string[]
  entryFile?: string
  /** The build output folder the entry file is in, if any. */
  outputDir?: string
  /** Where the start command came from, for its fact. */
  source: string
}

/**
 * How a server starts: `start:prod`, else `start`, else `main`, else server.js. A `node <file>` command runs
 * node directly (signals reach the app, no npm process in between); the file must exist, or be what the
 * build writes.
 */
function serverStart(appDir: string, packageJson: PackageJson, pj: string, context: {buildScript?: string; framework?: FrameworkRule}): ServerStart {
  const buildOutputs = new Set([compilerOutDir(appDir), context.framework?.outputDir, 'dist', 'build', '.output'].filter((value): value is string => Boolean(value)))
  const producedByBuild = (file: string) => context.buildScript !== undefined && [...buildOutputs].some((dir) => file === dir || file.startsWith(`${dir}/`))
  const exists = (file: string) => isFile(path.join(appDir, file)) || isFile(path.join(appDir, `${file}.js`)) || isFile(path.join(appDir, file, 'index.js'))
  const outputOf = (file: string) => [...buildOutputs].find((dir) => file.startsWith(`${dir}/`))
  const check = (file: string, said: string) => {
    const clean = file.replace(/^\.\//, '')
    if (!exists(clean) && !producedByBuild(clean)) {
      throw new UserError(`${said} runs ${clean}, but ${clean} does not exist${context.buildScript ? ' and the build script does not write it' : ' and there is no build script that would make it'}.`, {
        hint: `Fix the path in ${pj}, or add a "build" script that writes ${clean}.`,
      })
    }
    return clean
  }

  for (const name of ['start:prod', 'start']) {
    const command = script(packageJson, name)
    if (!command || DEV_SERVER_SCRIPT.test(command)) continue
    const plainNode = /^node((?:\s+[\w./@=:-]+)+)$/.exec(command)
    if (plainNode) {
      const argv = ['node', ...plainNode[1].trim().split(/\s+/)]
      const file = argv.findLast((word) => !word.startsWith('-') && word !== 'node')
      const entryFile = file && check(file, `${pj} scripts.${name}`)
      return {startCommand: argv, entryFile, outputDir: entryFile ? outputOf(entryFile) : undefined, source: `${pj} scripts.${name}`}
    }
    // Anything more (a shell line, another tool) needs npm to run it; npm runs any package manager's scripts.
    return {startCommand: name === 'start' ? ['npm', 'start'] : ['npm', 'run', name], source: `${pj} scripts.${name}: ${command}`}
  }
  if (context.framework?.id === 'nuxt') {
    // Nuxt's starter has no start script: the build writes a self-contained server to .output/.
    return {startCommand: ['node', '.output/server/index.mjs'], entryFile: '.output/server/index.mjs', outputDir: '.output', source: 'Nuxt\'s build output (.output/server/index.mjs)'}
  }
  if (nonEmpty(packageJson.main)) {
    const entryFile = check(String(packageJson.main).trim(), `${pj} "main"`)
    return {startCommand: ['node', entryFile], entryFile, outputDir: outputOf(entryFile), source: `${pj} main`}
  }
  if (isFile(path.join(appDir, 'server.js'))) {
    return {startCommand: ['node', 'server.js'], entryFile: 'server.js', source: 'server.js (what npm start runs without a start script)'}
  }
  throw new UserError(`${pj} has neither a "start" script nor "main", so devkube cannot tell how to start the app.`, {
    hint: `Add "scripts": {"start": "node server.js"} (with your entry file) to ${pj}.`,
  })
}

/** tsconfig.json's compilerOptions.outDir, the usual place a TypeScript server's build goes. */
function compilerOutDir(appDir: string): string | undefined {
  for (const file of ['tsconfig.build.json', 'tsconfig.json']) {
    const match = /"outDir"\s*:\s*"([^"]+)"/.exec(readText(path.join(appDir, file)) ?? '')
    if (match) return match[1].replace(/^\.\//, '').replace(/\/$/, '')
  }
  return undefined
}

// ---- helpers -------------------------------------------------------------------------------------

const nonEmpty = (value: unknown): boolean => typeof value === 'string' && value.trim() !== ''

const asRecord = (value: unknown): Record<string, unknown> => (value && typeof value === 'object' ? (value as Record<string, unknown>) : {})

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

function isFile(file: string): boolean {
  try {
    return statSync(file).isFile()
  } catch {
    return false
  }
}
