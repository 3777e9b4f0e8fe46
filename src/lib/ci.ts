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
  const shared = {
    name: config.name,
    cluster: config.cluster,
    forward: config.forward,
    healthPath: config.healthPath,
    installCommand: options.installCommand ?? DEFAULT_INSTALL_COMMAND,
  }
  const push = registry
    ? renderTemplate(`ci/${options.provider}-push.yml`, {name: config.name, registry, registryHost: registry.split('/')[0]})
    : ''
  const pushNote = registry
    ? `\n# On the main branch it pushes the image to ${registry}/${config.name} (content tag, never :latest); set the\n# ${options.provider === 'github' ? 'repository secrets REGISTRY_USERNAME and REGISTRY_PASSWORD' : 'CI/CD variables REGISTRY_USER and REGISTRY_PASSWORD (masked)'} for the login.`
    : ''
  const values = options.provider === 'github' ? {...shared, pushSteps: push, pushNote} : {...shared, pushScript: push, pushNote}
  return renderTemplate(`ci/${options.provider}.yml`, values)
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
