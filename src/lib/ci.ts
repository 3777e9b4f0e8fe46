/**
 * `devkube ci`: a pipeline for GitHub Actions or GitLab CI that does in a CI job what a developer does
 * on the laptop — build the image and deploy it to a kind cluster created in the job
 * (`devkube up --no-forward --json`), check that the app answers through `devkube forward`, and
 * `devkube down` — and, on the main branch, pushes the image to the registry the user names. The
 * pipelines are templates/ci/*.yml; values come from the project's resolved config.
 */
import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'
import type {AppConfig} from './config.js'
import {UserError} from './errors.js'
import {writeFileAtomic} from './scaffold.js'
import {renderTemplate} from './templates.js'
import {isSingleApp} from './up.js'

export type CiProvider = 'github' | 'gitlab'

export const CI_FILES: Record<CiProvider, string> = {
  github: path.join('.github', 'workflows', 'devkube.yml'),
  gitlab: '.gitlab-ci.yml',
}

/** How the CI job gets devkube; the published package by default. */
export const DEFAULT_INSTALL_COMMAND = 'npm install --global devkube'

export interface CiOptions {
  provider: CiProvider
  /** Registry (and path) the main branch pushes the image to, e.g. ghcr.io/acme. */
  registry?: string
  force: boolean
  installCommand?: string
}

export interface CiResult {
  provider: CiProvider
  file: string
  action: 'created' | 'overwritten' | 'kept'
  registry?: string
}

/** The pipeline's text for this project. */
export function renderPipeline(config: AppConfig, options: Pick<CiOptions, 'provider' | 'registry' | 'installCommand'>): string {
  const registry = options.registry ? checkRegistry(options.registry) : undefined
  const services = !isSingleApp(config)
  const shared = {
    name: config.name,
    cluster: config.cluster,
    installCommand: options.installCommand ?? DEFAULT_INSTALL_COMMAND,
    deployTitle: services ? 'Build the images and deploy the services' : 'Build the image and deploy it',
    checkTitle: services ? 'Check that the services answer' : 'Check that the app answers',
    checkScript: checkScript(config, options.provider),
  }
  const builtServices = config.services.filter((service) => service.source.kind === 'build').map((service) => service.name)
  const push = registry
    ? renderTemplate(`ci/${options.provider}${services ? '-services' : ''}-push.yml`, {name: config.name, registry, registryHost: registry.split('/')[0], builtServices: builtServices.join(' ')})
    : ''
  const what = services ? `the built services' images (${builtServices.join(', ')}) to ${registry}/${config.name}-<service>` : `the image to ${registry}/${config.name}`
  const pushNote = registry
    ? `\n# On the main branch it pushes ${what} (content tags, never :latest); set the\n# ${options.provider === 'github' ? 'repository secrets REGISTRY_USERNAME and REGISTRY_PASSWORD' : 'CI/CD variables REGISTRY_USER and REGISTRY_PASSWORD (masked)'} for the login.`
    : ''
  const values = options.provider === 'github' ? {...shared, pushSteps: push, pushNote} : {...shared, pushScript: push, pushNote}
  return renderTemplate(`ci/${options.provider}.yml`, values)
}

/**
 * The commands that check the app answers, as lines of the provider's script: a single app's URL is
 * known (its forward port); services get theirs from `devkube status --json` once forwarded, and each
 * built service with a port is asked for its healthPath. Services without HTTP (workers, databases)
 * are checked by `up` itself, which waits until every workload is ready.
 */
function checkScript(config: AppConfig, provider: CiProvider): string {
  const curl = 'curl --fail --silent --show-error --retry 15 --retry-delay 2 --retry-all-errors'
  const lines = ['devkube forward --detach']
  if (isSingleApp(config)) {
    lines.push(`${curl} http://localhost:${config.forward}${config.healthPath}`)
  } else {
    // status exits 1 while a forward does not answer yet; the curl retries below wait for that.
    lines.push('devkube status --json > devkube-status.json || true')
    for (const service of config.services.filter((candidate) => candidate.source.kind === 'build' && candidate.port !== undefined)) {
      lines.push(`${curl} "$(node -p 'require("./devkube-status.json").services.find((service) => service.name === ${JSON.stringify(service.name)}).url')${service.healthPath}"`)
    }
  }
  // GitHub: lines of a `run: |` block; GitLab: items of `script:`, quoted when they hold YAML's special characters.
  return provider === 'github'
    ? lines.map((line) => `          ${line}`).join('\n')
    : lines.map((line) => `    - ${/^[\w .:/>|&-]+$/.test(line) ? line : JSON.stringify(line)}`).join('\n')
}

/** A registry is a host with an optional path, as docker names it: no scheme, no tag. */
function checkRegistry(registry: string): string {
  const trimmed = registry.replace(/\/+$/, '')
  if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d+)?(\/[a-z0-9._-]+)*$/.test(trimmed)) {
    throw new UserError(`"${registry}" is not a registry name.`, {hint: 'Pass --registry as a host with an optional path, without https:// or a tag, e.g. ghcr.io/acme or registry.example.com:5000/team.'})
  }
  return trimmed
}

export function writePipeline(config: AppConfig, options: CiOptions): CiResult {
  const text = renderPipeline(config, options)
  const relative = CI_FILES[options.provider]
  const file = path.join(config.projectDir, relative)
  const exists = existsSync(file)
  if (exists && readFileSync(file, 'utf8') === text) return {provider: options.provider, file: relative, action: 'kept', registry: options.registry}
  if (exists && !options.force) {
    throw new UserError(`${relative} already exists.`, {hint: 'Pass --force to replace it with devkube\'s pipeline, or merge the two by hand (`devkube ci --help` shows what the pipeline does).'})
  }
  writeFileAtomic(file, text)
  return {provider: options.provider, file: relative, action: exists ? 'overwritten' : 'created', registry: options.registry}
}
