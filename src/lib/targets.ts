/**
 * Deploy targets (`targets:` in devkube.yaml, `up|status|down --target NAME`): real clusters, each
 * named with its kube context, the registry its nodes pull from, and optionally the namespace and
 * environment. devkube never deploys to a context devkube.yaml does not list, never falls back to
 * the current context, and asks before the first deploy to each context (remembered by
 * ProjectState in .devkube/targets.json); without a terminal that confirmation is `--yes`.
 */
import type {ConfigFile} from './config.js'
import {closest} from './closest.js'
import {UserError} from './errors.js'
import type {ProjectState} from './project-state.js'
import {run} from './runner.js'

export interface Target {
  name: string
  /** The user's kube context, used as it is named (it is not a kind context). */
  context: string
  /** Where images are pushed and the cluster pulls them from, e.g. registry.example.com/team. */
  registry: string
  namespace?: string
  environment?: string
}

/** The target devkube.yaml names `name`, or one sentence saying which ones it does name. */
export function resolveTarget(file: ConfigFile, name: string): Target {
  const targets = file.targets ?? {}
  const entry = targets[name]
  if (!entry) {
    const known = Object.keys(targets)
    const suggestion = closest(name, known)
    throw new UserError(
      known.length === 0
        ? `There is no target "${name}": devkube.yaml lists no \`targets:\`, and devkube deploys only to targets it lists.`
        : `There is no target "${name}" in devkube.yaml; its targets are ${known.join(', ')}.`,
      {
        hint: known.length === 0
          ? 'Add one, e.g.\n  targets:\n    staging: {context: my-cluster, registry: registry.example.com/team}'
          : suggestion ? `Did you mean --target ${suggestion}?` : `Pass one of them (--target ${known[0]}), or add "${name}" under \`targets:\`.`,
      },
    )
  }
  return {name, context: entry.context, registry: entry.registry.replace(/\/+$/, ''), namespace: entry.namespace, environment: entry.environment}
}

/** The image repository a target pulls a service's image from. */
export function targetRepository(target: Target, imageName: string): string {
  return `${target.registry}/${imageName}`
}

export interface ConfirmOptions {
  yes: boolean
  interactive: boolean
  confirm: (message: string) => Promise<boolean>
  /** What will be deployed, for the question. */
  what: string
  namespace: string
}

/**
 * The first deploy to a context needs a yes: asked on a terminal, `--yes` otherwise. Once given,
 * it is remembered for that context in this project.
 */
export async function confirmFirstDeploy(state: ProjectState, target: Target, options: ConfirmOptions): Promise<void> {
  if (state.contextConfirmed(target.context)) return
  if (!options.yes) {
    if (!options.interactive) {
      throw new UserError(`Not deploying to the context "${target.context}" (target ${target.name}): the first deploy to a context needs a confirmation, and there is no terminal to ask on.`, {
        hint: `Run it again with --yes to confirm (devkube then remembers it for this context).`,
      })
    }
    if (!(await options.confirm(`Deploy ${options.what} to the context "${target.context}" (namespace ${options.namespace})?`))) {
      throw new UserError('Cancelled: nothing was deployed.', {hint: `Nothing changes until you confirm; \`devkube up\` without --target uses the local kind cluster.`})
    }
  }
  state.rememberConfirmedContext(target.context, target.name)
}

/** The context must exist in the kubeconfig; it is used by name on every call, never made current. */
export async function checkContextExists(target: Pick<Target, 'name' | 'context'>): Promise<void> {
  const result = await run(['kubectl', 'config', 'get-contexts', '-o', 'name'], {allowFailure: true, quiet: true})
  const contexts = result.stdout.split('\n').map((line) => line.trim()).filter(Boolean)
  if (!contexts.includes(target.context)) {
    throw new UserError(`The context "${target.context}" of target ${target.name} is not in your kubeconfig.`, {
      hint: `Add it (your cluster provider's "get credentials" command does), or fix \`targets.${target.name}.context\` in devkube.yaml; \`kubectl config get-contexts\` lists the contexts you have.`,
    })
  }
}
