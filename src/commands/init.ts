import {input, number, select} from '@inquirer/prompts'
import {existsSync} from 'node:fs'
import path from 'node:path'
import {Flags} from '@oclif/core'
import {DevkubeCommand} from '../lib/base-command.js'
import {findComposeFile} from '../lib/compose.js'
import {type ComposeInitResult, composeImportLines, initFromCompose} from '../lib/compose-init.js'
import {defaultName, readConfigFile, resolveConfig} from '../lib/config.js'
import {CONFIG_FIELDS, describeSpec, type Language} from '../lib/config-schema.js'
import {type NodeChoices, NodeChoiceNeeded} from '../lib/detect-node.js'
import {goCommands} from '../lib/detect-go.js'
import {type Detection, detectApp, type DetectionFact, hasOwnDockerfile, SCAFFOLD_LANGUAGES} from '../lib/detect.js'
import {InterruptedError, isUserError, UserError} from '../lib/errors.js'
import {chalk, isInteractive} from '../lib/output.js'
import {type FileAction, scaffold, type ScaffoldedFile} from '../lib/scaffold.js'

export interface InitResult {
  projectDir: string
  lang: Language
  name: string
  port: number
  /** What detection found and where each came from (the lines init prints under the summary). */
  facts: DetectionFact[]
  files: ScaffoldedFile[]
}

const LANGUAGE_CHOICES: {value: Language; name: string}[] = [
  {value: 'node', name: 'Node.js'},
  {value: 'python', name: 'Python (Flask, FastAPI or plain)'},
  {value: 'go', name: 'Go'},
  {value: 'static', name: 'Static site (nginx)'},
  {value: 'dockerfile', name: 'My own Dockerfile'},
]

export default class Init extends DevkubeCommand {
  static summary = 'Write a Dockerfile, Kubernetes manifests and devkube.yaml for the app in this folder.'

  static description = `Detects what the app is (Node, Python, Go, a static site, or a project with its own Dockerfile) and
the port it listens on, then writes what \`devkube up\` needs: Dockerfile, .dockerignore, k8s/base and
k8s/overlays/dev, and devkube.yaml, and adds .env and .devkube/ to .gitignore.

In a folder with compose.yaml or docker-compose.yml it imports the services from it instead: devkube.yaml
gets a service per compose service (known database images become backing services with generated
credentials), secret-looking values go to git-ignored <service>.secrets.env files, and everything that
cannot be carried over is listed. --no-compose sets up one app as if there were no compose file.

Existing files are left alone unless --force; a Dockerfile the project brought is never replaced.
On a terminal it asks for the name, language and port, showing what it detected; with --yes, in CI or
without a terminal it asks nothing and uses the detected values.

devkube.yaml holds every setting; all keys are optional (flags win over the file, defaults fill the rest):

  name: hello              # DNS-1123 name; default: the folder name
  lang: node               # node | python | go | static | dockerfile
  cluster: devkube         # kind cluster, shared by projects
  port: 8080               # the port the app listens on
  forward: 8080            # http://localhost:8080
  replicas: 1
  build: {context: ., dockerfile: Dockerfile, args: {}}
  manifests: k8s
  env: {GREETING: hi}
  healthPath: /
  resources: {requests: {cpu: 50m, memory: 64Mi}, limits: {cpu: 500m, memory: 256Mi}}
  strategy: {maxSurge: 1, maxUnavailable: 0}
  environments: {staging: {replicas: 2}}`

  static examples = [
    {description: 'Detect the app and answer the questions:', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'Accept every detected value (what CI and scripts want):', command: '<%= config.bin %> <%= command.id %> --yes'},
    {description: 'Say what the app is when detection cannot tell:', command: '<%= config.bin %> <%= command.id %> --yes --lang python --port 5000 --name api'},
    {description: 'A monorepo: say which workspace package runs (remembered in devkube.yaml):', command: '<%= config.bin %> <%= command.id %> --yes --package packages/api'},
    {description: 'Import the services of docker-compose.yml (what it does in a folder with one):', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'Rewrite the files devkube wrote before, and print the result as JSON:', command: '<%= config.bin %> <%= command.id %> --yes --force --json'},
  ]

  static enableJsonFlag = true

  static flags = {
    lang: Flags.string({description: 'What the app is written in (skips detection).', options: [...SCAFFOLD_LANGUAGES]}),
    name: Flags.string({description: 'App name (default: devkube.yaml, else the folder name made DNS-1123 safe).'}),
    port: Flags.integer({description: 'Port the app listens on (default: detected, else 8080).'}),
    yes: Flags.boolean({char: 'y', description: 'Ask nothing; use the detected values.'}),
    force: Flags.boolean({char: 'f', description: 'Overwrite files that exist (never a Dockerfile the project brought).'}),
    framework: Flags.string({description: 'Node: which framework the app is, when package.json lists several (e.g. next, vite, nest); kept in devkube.yaml.'}),
    package: Flags.string({description: 'Node monorepo: the workspace package to run (e.g. packages/api); kept in devkube.yaml.'}),
    cmd: Flags.string({description: 'Go: which cmd/<name> is the server, when cmd/ holds several.'}),
    compose: Flags.boolean({
      description: 'Import the services of compose.yaml / docker-compose.yml when the folder has one (--no-compose: set up one app instead).',
      default: true,
      allowNo: true,
    }),
  }

  async run(): Promise<InitResult | ComposeInitResult> {
    const {flags} = await this.parse(Init)
    const projectDir = process.cwd()
    const nameFlag = flags.name === undefined ? undefined : checkName(flags.name)
    const portFlag = flags.port === undefined ? undefined : checkPort(flags.port)
    const composeFile = flags.compose ? findComposeFile(projectDir) : undefined
    if (composeFile) {
      if (flags.lang || portFlag !== undefined) {
        throw new UserError(`--lang and --port describe one app, but ${composeFile} describes its services.`, {
          hint: `Set each service's port in devkube.yaml after the import, or pass --no-compose to set up one app without ${composeFile}.`,
        })
      }
      const result = initFromCompose(projectDir, {file: composeFile, name: nameFlag, force: flags.force})
      for (const line of composeImportLines(result, {force: flags.force})) this.log(line)
      return result
    }
    const interactive = !flags.yes && !this.jsonEnabled() && isInteractive()
    const loaded = readConfigFile(projectDir)

    let lang = (flags.lang as Language | undefined) ?? loaded.file.lang
    const target = loaded.file.build?.target
    let goCommand = flags.cmd
    const commands = existsSync(path.join(projectDir, 'go.mod')) ? goCommands(projectDir) : []
    if (interactive && goCommand === undefined && commands.length > 1 && (lang === undefined || lang === 'go')) {
      goCommand = await ask(() => select({message: 'cmd/ holds several commands: which one is the server?', choices: commands.map((value) => ({value, name: `cmd/${value}`}))}))
    }
    const detectOptions = {target, goCommand, langSource: flags.lang === undefined ? 'devkube.yaml' : '--lang'}
    const choices: NodeChoices = {framework: flags.framework ?? loaded.file.framework, package: flags.package ?? loaded.file.package}
    // Detection that needs a choice (two frameworks, a monorepo) asks on a terminal, and otherwise fails naming the flag.
    const detect = async (language: Language | undefined): Promise<Detection> => {
      for (;;) {
        try {
          return detectApp(projectDir, {lang: language, ...detectOptions, ...choices})
        } catch (error) {
          if (!interactive || !(error instanceof NodeChoiceNeeded)) throw error
          this.log(chalk.yellow(error.message))
          const picked = await ask(() => select({message: error.flag === '--package' ? 'Which package should run?' : 'Which framework is the app?', choices: error.choices}))
          if (error.flag === '--package') choices.package = picked
          else choices.framework = picked
        }
      }
    }
    let detection: Detection
    try {
      detection = await detect(lang)
    } catch (error) {
      // On a terminal, a folder detection cannot place is a question, not an error.
      if (!interactive || lang || !isUserError(error) || error instanceof NodeChoiceNeeded) throw error
      this.log(chalk.yellow(error.message))
      lang = await ask(() => select({message: 'What is the app written in?', choices: LANGUAGE_CHOICES}))
      detection = await detect(lang)
    }

    let name = nameFlag
    let port = portFlag
    if (interactive) {
      if (name === undefined) {
        name = await ask(() =>
          input({
            message: 'App name',
            default: loaded.file.name ?? safeDefaultName(projectDir),
            validate: (value) => nameProblem(value) ?? true,
          }),
        )
      }
      if (flags.lang === undefined && lang === undefined) {
        const chosen = await ask(() => select({message: `Language (detected ${detection.lang}: ${detection.reason})`, choices: LANGUAGE_CHOICES, default: detection.lang}))
        if (chosen !== detection.lang) detection = await detect(chosen)
      }
      if (port === undefined) {
        const detectedPort = loaded.file.port ?? detection.port
        port = await ask(() =>
          number({
            message: `Port the app listens on${detection.portSource ? ` (found in ${detection.portSource})` : ''}`,
            default: detectedPort,
            min: portSpec.min,
            max: portSpec.max,
            required: true,
          }),
        )
      }
    }

    const config = resolveConfig(projectDir, {name, port, lang: detection.lang}, {lang: detection.lang, port: detection.port}, loaded)
    const appLang = config.lang ?? detection.lang
    const files = scaffold(
      projectDir,
      {
        name: config.name,
        lang: appLang,
        port: config.port,
        forward: config.forward,
        cluster: config.cluster,
        replicas: config.replicas,
        healthPath: config.healthPath,
        resources: config.resources,
        strategy: config.strategy,
        detection,
      },
      {force: flags.force},
    )

    const ownDockerfile = hasOwnDockerfile(projectDir)
    const fixed = (file: ScaffoldedFile) => file.path === '.gitignore' || (file.path === 'Dockerfile' && ownDockerfile)
    // Where each value came from, truthfully: a flag, an answer, devkube.yaml, detection or a default.
    const nameSource = nameFlag !== undefined ? '--name' : name !== undefined ? 'your answer' : loaded.file.name ? 'devkube.yaml' : 'the folder name'
    const portSource = portFlag !== undefined ? '--port' : port !== undefined ? 'your answer' : loaded.file.port === undefined ? (detection.portSource ?? 'default') : 'devkube.yaml'
    this.log(`${chalk.bold(config.name)} ${chalk.dim(`(${nameSource})`)}: ${describeApp(appLang, detection, flags.lang === undefined ? (loaded.file.lang ? 'devkube.yaml' : undefined) : '--lang')}, listening on port ${config.port} ${chalk.dim(`(${portSource})`)}.`)
    const facts = [{key: 'port', value: String(config.port), source: portSource}, ...(detection.lang === appLang ? detection.facts.filter((fact) => fact.key !== 'port') : [])]
    const keyWidth = Math.max(0, ...facts.map((fact) => fact.key.length))
    for (const fact of facts) this.log(`  ${fact.key.padEnd(keyWidth)}  ${fact.value} ${chalk.dim(`(${fact.source})`)}`)
    this.log('')
    for (const file of files) {
      const note = file.action !== 'kept' ? '' : file.path === 'Dockerfile' && ownDockerfile ? ' (your own; devkube never replaces it)' : ' (already there)'
      this.log(`  ${ACTION_STYLE[file.action](file.action.padEnd(11))} ${file.path}${chalk.dim(note)}`)
    }
    this.log('')
    const rewritable = files.filter((file) => file.action === 'kept' && !fixed(file)).length
    if (rewritable > 0 && !flags.force) this.log(chalk.dim(`${rewritable} existing file${rewritable === 1 ? ' was' : 's were'} left alone; --force rewrites ${rewritable === 1 ? 'it' : 'them'}.`))
    this.log(`Next: ${chalk.bold('devkube up')} builds the image and runs it on the local kind cluster.`)
    return {projectDir, lang: appLang, name: config.name, port: config.port, facts, files}
  }
}

const portSpec = (() => {
  const spec = CONFIG_FIELDS.port
  if (spec.kind !== 'int') throw new Error('config-schema: port must be an int field')
  return spec
})()

/** The same rule devkube.yaml's `name` follows, worded for the flag. */
function nameProblem(value: string): string | undefined {
  const spec = CONFIG_FIELDS.name
  const problem = spec.kind === 'string' ? spec.check?.(value) : undefined
  return problem && `The name must be ${problem}.`
}

function checkName(value: string): string {
  const problem = nameProblem(value)
  if (problem) throw new UserError(`--name "${value}" is not a valid app name. ${problem}`, {hint: 'Pass a name such as --name my-app.'})
  return value
}

function checkPort(value: number): number {
  if (value < portSpec.min || value > portSpec.max) {
    throw new UserError(`--port must be ${describeSpec(portSpec)}, but it is ${value}.`, {hint: 'Pass the port your app listens on, e.g. --port 8080.'})
  }
  return value
}

function safeDefaultName(projectDir: string): string | undefined {
  try {
    return defaultName(projectDir)
  } catch {
    return undefined
  }
}

/** Ctrl-C at a prompt ends the command like Ctrl-C anywhere else: exit 130, nothing written. */
async function ask<T>(prompt: () => Promise<T>): Promise<T> {
  try {
    return await prompt()
  } catch (error) {
    if (error instanceof Error && error.name === 'ExitPromptError') throw new InterruptedError()
    throw error
  }
}

const APP_KIND: Record<Language, string> = {
  node: 'a Node.js app',
  python: 'a Python app',
  go: 'a Go app',
  static: 'a static site',
  dockerfile: 'an app with its own Dockerfile',
}

function describeApp(lang: Language, detection: Detection, langSource: string | undefined): string {
  const what = APP_KIND[lang]
  return `${what} (${detection.lang === lang ? (langSource ? `lang from ${langSource}` : detection.reason) : 'as chosen'})`
}

const ACTION_STYLE: Record<FileAction, (text: string) => string> = {
  created: chalk.green,
  overwritten: chalk.yellow,
  updated: chalk.cyan,
  kept: chalk.dim,
}
