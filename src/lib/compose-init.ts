/**
 * `devkube init` in a folder with a compose file: writes devkube.yaml from the import (compose.ts), the secret
 * env files it moved secret values into (mode 0600), and the .gitignore lines that keep those out of git. Never
 * overwrites a file without `force`. The one prompt is `up`'s offer to import (offerComposeImport), on a terminal only.
 */
import {confirm} from '@inquirer/prompts'
import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {CONFIG_FILE, defaultName} from './config.js'
import {describeWarning, findComposeFile, importCompose, importedConfigYaml, type ImportedService, type ImportWarning, secretEnvFileText, SECRETS_FILE_SUFFIX} from './compose.js'
import {InterruptedError, UserError} from './errors.js'
import {chalk, isInteractive} from './output.js'
import {type FileAction, GITIGNORE_LINES, missingLines, type ScaffoldedFile, writeFileAtomic} from './scaffold.js'

export interface ImportedServiceSummary {
  name: string
  /** built | image | backing | job */
  kind: 'built' | 'image' | 'backing' | 'job'
  /** What runs: "built from api", "nginx:1.27", "postgres 16". */
  what: string
  port?: number
  forward?: number
}

export interface ComposeInitResult {
  projectDir: string
  /** The compose file the services came from. */
  source: string
  name: string
  services: ImportedServiceSummary[]
  warnings: ImportWarning[]
  files: ScaffoldedFile[]
}

export const COMPOSE_GITIGNORE_LINES = [...GITIGNORE_LINES, `*${SECRETS_FILE_SUFFIX}`]

export function initFromCompose(projectDir: string, options: {name?: string; force?: boolean; file?: string} = {}): ComposeInitResult {
  const dir = path.resolve(projectDir)
  const imported = importCompose(dir, options.file)
  const name = options.name ?? imported.name ?? defaultName(dir)
  // .gitignore first: a secrets file must never exist un-ignored, not even when a later write fails.
  const gitignore: ScaffoldedFile = {path: '.gitignore', action: addLines(dir, '.gitignore', COMPOSE_GITIGNORE_LINES)}
  const files: ScaffoldedFile[] = []
  for (const secretFile of imported.secretFiles) {
    files.push({path: secretFile.path, action: writeWhole(dir, secretFile.path, secretEnvFileText(secretFile, imported.source), Boolean(options.force), 0o600)})
  }
  files.push({path: CONFIG_FILE, action: writeWhole(dir, CONFIG_FILE, importedConfigYaml(imported, name), Boolean(options.force))}, gitignore)
  return {projectDir: dir, source: imported.source, name, services: Object.entries(imported.services).map(([service, spec]) => summarize(service, spec)), warnings: imported.warnings, files}
}

function writeWhole(dir: string, relative: string, content: string, force: boolean, mode?: number): FileAction {
  const file = path.join(dir, relative)
  if (!existsSync(file)) {
    writeFileAtomic(file, content, mode)
    return 'created'
  }
  if (!force || readFileSync(file, 'utf8') === content) return 'kept'
  writeFileAtomic(file, content, mode)
  return 'overwritten'
}

function addLines(dir: string, relative: string, lines: string[]): FileAction {
  const file = path.join(dir, relative)
  if (!existsSync(file)) {
    writeFileAtomic(file, `${lines.join('\n')}\n`)
    return 'created'
  }
  const existing = readFileSync(file, 'utf8')
  const missing = missingLines(existing, lines)
  if (missing.length === 0) return 'kept'
  const separator = existing === '' || existing.endsWith('\n') ? '' : '\n'
  writeFileAtomic(file, `${existing}${separator}# Added by devkube: local secrets and state stay out of git and images.\n${missing.join('\n')}\n`)
  return 'updated'
}

function summarize(name: string, service: ImportedService): ImportedServiceSummary {
  const ports = {...(service.port === undefined ? {} : {port: service.port}), ...(service.forward === undefined ? {} : {forward: service.forward})}
  if (service.backing) return {name, kind: 'backing', what: [service.backing, service.version ?? service.image].filter(Boolean).join(' '), ...ports}
  const kind = service.kind === 'job' ? 'job' : service.build ? 'built' : 'image'
  const what = service.build ? `built from ${service.build.context}` : (service.image ?? '(nothing to run)')
  return {name, kind, what, ...ports}
}

const ACTION_STYLE: Record<FileAction, (text: string) => string> = {
  created: chalk.green,
  overwritten: chalk.yellow,
  updated: chalk.cyan,
  kept: chalk.dim,
}

/** What init (and up, when it imports) prints: the services, the files, every warning, and what to run next. */
export function composeImportLines(result: ComposeInitResult, options: {force?: boolean}): string[] {
  const lines = [`${chalk.bold(result.name)}: ${result.services.length} service${result.services.length === 1 ? '' : 's'} imported from ${result.source}.`, '']
  const width = Math.max(...result.services.map((service) => service.name.length))
  for (const service of result.services) {
    const ports = [service.port === undefined ? '' : `port ${service.port}`, service.forward === undefined ? '' : `localhost:${service.forward}`].filter(Boolean).join(', ')
    const role = service.kind === 'backing' ? ' (backing service)' : service.kind === 'job' ? ' (runs once, as a Job)' : ''
    lines.push(`  ${service.name.padEnd(width)}  ${service.what}${role}${ports ? chalk.dim(`  ${ports}`) : ''}`)
  }
  lines.push('')
  for (const file of result.files) {
    const note = file.path.endsWith(SECRETS_FILE_SUFFIX) ? ' (secret values from the compose file; git-ignored)' : file.action === 'kept' && file.path !== '.gitignore' ? ' (already there)' : ''
    lines.push(`  ${ACTION_STYLE[file.action](file.action.padEnd(11))} ${file.path}${chalk.dim(note)}`)
  }
  lines.push('')
  if (result.warnings.length > 0) {
    lines.push(chalk.yellow('Not carried over as it was (also listed at the top of devkube.yaml):'))
    for (const warning of result.warnings) lines.push(`  ${chalk.yellow('!')} ${describeWarning(warning)}`)
    lines.push('')
  }
  const kept = result.files.filter((file) => file.action === 'kept' && file.path !== '.gitignore').length
  if (kept > 0 && !options.force) lines.push(chalk.dim(`${kept} existing file${kept === 1 ? ' was' : 's were'} left alone; --force rewrites ${kept === 1 ? 'it' : 'them'} from ${result.source}.`))
  lines.push(`Next: ${chalk.bold('devkube up')} builds the images and runs the services on the local kind cluster.`)
  return lines
}

/**
 * `devkube up` in a folder with a compose file and no devkube.yaml: on a terminal, offer the import (and do it);
 * otherwise, or when declined, a sentence saying to run `devkube init`. Does nothing when devkube.yaml exists.
 */
export async function offerComposeImport(projectDir: string, options: {json: boolean; log: (line: string) => void}): Promise<void> {
  if (existsSync(path.join(projectDir, CONFIG_FILE))) return
  const composeFile = findComposeFile(projectDir)
  if (!composeFile) return
  const refuse = () => new UserError(`This folder has ${composeFile} but no devkube.yaml: run \`devkube init\` to import ${composeFile}.`)
  if (options.json || !isInteractive()) throw refuse()
  let accepted: boolean
  try {
    accepted = await confirm({message: `This folder has ${composeFile} but no devkube.yaml. Import its services into devkube.yaml now?`, default: true})
  } catch (error) {
    if (error instanceof Error && error.name === 'ExitPromptError') throw new InterruptedError()
    throw error
  }
  if (!accepted) throw refuse()
  const result = initFromCompose(projectDir, {file: composeFile})
  // Everything init would say but its "Next:" line: up goes on by itself.
  for (const line of composeImportLines(result, {}).slice(0, -1)) options.log(line)
}
