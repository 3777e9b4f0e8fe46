/** Flags several commands share, defined once so they read and validate the same everywhere. */
import {Flags} from '@oclif/core'
import type {ConfigOverrides} from './config.js'

export const projectFlags = {
  env: Flags.string({char: 'e', description: 'Environment from devkube.yaml `environments:` (default: dev).', helpValue: 'NAME'}),
  cluster: Flags.string({description: 'kind cluster to use (default: devkube.yaml `cluster`, else "devkube").', helpValue: 'NAME'}),
  namespace: Flags.string({char: 'n', description: 'Namespace of the app (default: the app name, or <name>-<env>).', helpValue: 'NAME'}),
}

export const portFlag = (description: string) => Flags.integer({description, min: 1, max: 65_535, helpValue: 'PORT'})

export function projectOverrides(flags: {env?: string; cluster?: string; namespace?: string}): ConfigOverrides {
  return {environment: flags.env, cluster: flags.cluster, namespace: flags.namespace}
}

/** `--target NAME`: a cluster of devkube.yaml `targets:` instead of the local kind cluster. */
export const targetFlag = (description: string) => Flags.string({description, helpValue: 'NAME'})
