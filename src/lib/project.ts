/**
 * A project resolved once, the way every command needs it: devkube.yaml (optional) with its
 * services, app detection, flags, the `Kube` of its cluster and its `.devkube/` records. Commands
 * call `resolveProject` and pass the result on; nothing resolves the config a second time.
 */
import {type Language} from './config-schema.js'
import {readConfigFile, resolveConfig, type AppConfig, type ConfigOverrides, type ServiceConfig} from './config.js'
import {detectApp, type Detection} from './detect.js'
import {UserError} from './errors.js'
import {Kube} from './kube.js'
import {ProjectState, recordsKey} from './project-state.js'
import {resolveTarget, type Target} from './targets.js'

export interface Project {
  dir: string
  /** App-wide values (name, cluster, namespace, environment) and, for a single-app file, its settings. */
  config: AppConfig
  services: ServiceConfig[]
  /** Undefined when detection was optional and found nothing (day-2 commands need no language). */
  detection?: Detection
  kube: Kube
  state: ProjectState
  /** The deploy target (`--target NAME`): its context, registry, namespace and environment. */
  target?: Target
}

/**
 * `requireApp`: up and init need to know what to build, so an unrecognised folder is an error;
 * status, logs and down only need names and still work there.
 */
export function resolveProject(projectDir: string, overrides: ConfigOverrides, options: {requireApp: boolean; target?: string}): Project {
  const loaded = readConfigFile(projectDir)
  // A target names its own namespace and environment; flags still win over it, as over the file.
  const target = options.target === undefined ? undefined : resolveTarget(loaded.file, options.target)
  if (target) overrides = {...overrides, environment: overrides.environment ?? target.environment, namespace: overrides.namespace ?? target.namespace}
  const lang: Language | undefined = overrides.lang ?? loaded.file.lang
  let detection: Detection | undefined
  // With `services:` each built service is detected in its own context; the folder itself may hold none.
  if (!loaded.file.services) {
    try {
      const environment = overrides.environment ? loaded.file.environments?.[overrides.environment] : undefined
      detection = detectApp(projectDir, {
        lang,
        target: environment?.build?.target ?? loaded.file.build?.target,
        langSource: overrides.lang ? '--lang' : 'devkube.yaml',
        framework: loaded.file.framework,
        package: loaded.file.package,
      })
    } catch (error) {
      if (options.requireApp) throw error
    }
  }
  const detectService = (context: string) => {
    try {
      const found = detectApp(context, {})
      return {lang: found.lang, port: found.port}
    } catch {
      return {}
    }
  }
  const config = resolveConfig(projectDir, overrides, {lang: detection?.lang, port: detection?.port}, loaded, detectService)
  // A target's records (what was deployed, its forwarder) are its own, apart from the local cluster's.
  const state = new ProjectState(config.projectDir, recordsKey(config.environment, target?.name))
  return {dir: config.projectDir, config, services: config.services, detection, kube: new Kube(config.cluster, target), state, target}
}

/** The service named `name`, or a sentence listing the app's services. */
export function serviceNamed(project: Project, name: string): ServiceConfig {
  const service = project.services.find((candidate) => candidate.name === name)
  if (!service) {
    throw new UserError(`${project.config.name} has no service "${name}".`, {hint: `Its services: ${project.services.map((entry) => entry.name).join(', ')}.`})
  }
  return service
}

/** key=value pairs from repeated --build-arg flags. */
export function parseKeyValues(pairs: string[] | undefined, flag: string): Record<string, string> {
  const values: Record<string, string> = {}
  for (const pair of pairs ?? []) {
    const index = pair.indexOf('=')
    if (index <= 0) {
      throw new UserError(`${flag} takes KEY=VALUE, but got "${pair}".`, {hint: `For example: ${flag} NODE_IMAGE=node:22-slim`})
    }
    values[pair.slice(0, index)] = pair.slice(index + 1)
  }
  return values
}
