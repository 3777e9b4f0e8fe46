/** Flags several commands share, defined once so they read and validate the same everywhere. */
import {Flags} from '@oclif/core'
import type {ConfigOverrides} from './config.js'
import {UserError} from './errors.js'

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

/**
 * `--port`/`--forward` of `up` and `forward`: PORT (a one-service app, or an app's one built service) or
 * SERVICE=PORT, repeatable, for the services of an app with `services:`.
 */
export const servicePortFlag = (description: string) => Flags.string({description, multiple: true, helpValue: '[SERVICE=]PORT'})

/** The values of one servicePortFlag: the plain PORT (at most one) and SERVICE=PORT pairs. */
export function parseServicePorts(values: string[] | undefined, flag: string): {port?: number; byService?: Record<string, number>} {
  let port: number | undefined
  const byService: Record<string, number> = {}
  for (const value of values ?? []) {
    const match = /^(?:([^=]+)=)?(\d+)$/.exec(value.trim())
    const number = match ? Number(match[2]) : Number.NaN
    if (!match || number < 1 || number > 65_535) {
      throw new UserError(`${flag} ${value} is not a port: it takes PORT or SERVICE=PORT, with PORT from 1 to 65535.`, {hint: `For example ${flag} 8080, or ${flag} web=8080 for the service web.`})
    }
    if (match[1] === undefined) {
      if (port !== undefined && port !== number) throw new UserError(`${flag} is given two plain ports (${port} and ${number}).`, {hint: `Give one, or name each service: ${flag} web=${port} ${flag} api=${number}.`})
      port = number
    } else byService[match[1]] = number
  }
  return {port, byService: Object.keys(byService).length > 0 ? byService : undefined}
}

/** The ConfigOverrides of --port and --forward (both servicePortFlag). */
export function portOverrides(flags: {port?: string[]; forward?: string[]}): ConfigOverrides {
  const port = parseServicePorts(flags.port, '--port')
  const forward = parseServicePorts(flags.forward, '--forward')
  return {port: port.port, servicePorts: port.byService, forward: forward.port, serviceForwards: forward.byService}
}
