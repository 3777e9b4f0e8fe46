/** What the last successful `devkube up` in a project was given, kept in .devkube/ per environment. */
import type {AppConfig} from './config.js'
import {readJson, statePath, writeJsonAtomic} from './project-state.js'

/**
 * The --build-arg values of the last successful up, per environment: they are part of the image tag,
 * so `status` needs them to tell whether the running image matches the source.
 */
export function recordBuildArgs(config: AppConfig, buildArgs: Record<string, string>): void {
  const file = statePath(config.projectDir, LAST_UP_FILE)
  writeJsonAtomic(file, {...readJson<Record<string, unknown>>(file), [config.environment]: {buildArgs}})
}

export function recordedBuildArgs(config: AppConfig): Record<string, string> {
  const recorded = readJson<Record<string, {buildArgs?: Record<string, string>}>>(statePath(config.projectDir, LAST_UP_FILE))
  return recorded?.[config.environment]?.buildArgs ?? {}
}

const LAST_UP_FILE = 'last-up.json'
