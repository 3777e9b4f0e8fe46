/**
 * Before devkube talks to a cluster it proves that the `kind-<cluster>` context really is that kind
 * cluster: a context of that name pointing anywhere else (a renamed production context, a stale
 * entry) stops devkube with an explanation. Only the kubeconfig file is read; no context is used
 * or changed.
 */
import {UserError} from './errors.js'
import {clusterServer, contextName} from './kind.js'
import {missingContextError} from './kube.js'
import {run} from './runner.js'

interface KubeconfigView {
  contexts?: Array<{name: string; context?: {cluster?: string}}> | null
  clusters?: Array<{name: string; cluster?: {server?: string}}> | null
}

export async function verifyKindContext(cluster: string): Promise<void> {
  const context = contextName(cluster)
  const [viewResult, kindServer] = await Promise.all([
    run(['kubectl', 'config', 'view', '-o', 'json'], {quiet: true}),
    clusterServer(cluster),
  ])
  const view = JSON.parse(viewResult.stdout || '{}') as KubeconfigView
  const entry = view.contexts?.find((candidate) => candidate.name === context)
  if (!entry) throw missingContextError(cluster)
  const server = view.clusters?.find((candidate) => candidate.name === entry.context?.cluster)?.cluster?.server
  if (!kindServer) {
    throw new UserError(`kind cannot find the cluster "${cluster}" that the context "${context}" names.`, {
      hint: `Run \`devkube up\` to create it, or \`kind get clusters\` to see which clusters exist.`,
    })
  }
  if (server !== kindServer) {
    throw new UserError(
      `The context "${context}" does not point at the kind cluster "${cluster}": it points at ${server ?? 'no server'}, but kind's cluster is at ${kindServer}.`,
      {hint: `devkube will not deploy through it. Run \`kind export kubeconfig --name ${cluster}\` to repair the context, then run the command again.`},
    )
  }
}
