/**
 * Loading a project the way every command needs it: devkube.yaml (optional), app detection, flags,
 * resolved into one AppConfig.
 */
import {type Language} from './config-schema.js'
import {readConfigFile, resolveConfig, type AppConfig, type ConfigOverrides} from './config.js'
import {detectApp, type Detection} from './detect.js'
import {UserError} from './errors.js'

export interface LoadedProject {
  config: AppConfig
  /** Undefined when detection was optional and found nothing (day-2 commands need no language). */
  detection?: Detection
}

/**
 * `requireApp`: up and init need to know what to build, so an unrecognised folder is an error;
 * status, logs and down only need names and still work there.
 */
export function loadProject(projectDir: string, overrides: ConfigOverrides, options: {requireApp: boolean}): LoadedProject {
  const loaded = readConfigFile(projectDir)
  const lang: Language | undefined = overrides.lang ?? loaded.file.lang
  let detection: Detection | undefined
  try {
    detection = detectApp(projectDir, {lang, framework: loaded.file.framework, package: loaded.file.package})
  } catch (error) {
    if (options.requireApp) throw error
  }
  const config = resolveConfig(projectDir, overrides, {lang: detection?.lang, port: detection?.port}, loaded)
  return {config, detection}
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
