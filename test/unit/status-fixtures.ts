/**
 * A small in-memory cluster behind a FakeRunner, for the unit tests of status, down and logs: kind
 * answers for the clusters, kubectl answers get/delete for the objects, as the real tools would.
 */
import type {ContainerState, Deployment, KubeObject, Pod} from '../../src/lib/kube.js'
import {FakeRunner} from '../support/fake-runner.js'

export const SERVER = 'https://127.0.0.1:40000'

export interface PodSpec {
  name: string
  hash?: string
  uid?: string
  phase?: string
  ready?: boolean
  restarts?: number
  state?: ContainerState
  lastState?: ContainerState
  ageSeconds?: number
  containers?: string[]
  image?: string
  labels?: Record<string, string>
}

export function pod(spec: PodSpec): Pod {
  const containers = spec.containers ?? ['hello']
  const ready = spec.ready ?? true
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: spec.name,
      namespace: 'hello',
      uid: spec.uid ?? `uid-${spec.name}`,
      creationTimestamp: new Date(Date.now() - (spec.ageSeconds ?? 300) * 1000).toISOString(),
      labels: {'app.kubernetes.io/name': 'hello', 'app.kubernetes.io/managed-by': 'devkube', ...(spec.hash ? {'pod-template-hash': spec.hash} : {}), ...spec.labels},
    },
    spec: {containers: containers.map((name) => ({name, image: spec.image ?? 'devkube.local/hello:aaaaaaaaaaaa'}))},
    status: {
      phase: spec.phase ?? 'Running',
      containerStatuses: containers.map((name) => ({
        name,
        ready,
        restartCount: spec.restarts ?? 0,
        image: spec.image ?? 'devkube.local/hello:aaaaaaaaaaaa',
        state: spec.state ?? {running: {startedAt: new Date().toISOString()}},
        lastState: spec.lastState,
      })),
    },
  }
}

export function deployment(options: {name?: string; replicas?: number; ready?: number; updated?: number; image?: string} = {}): Deployment {
  const replicas = options.replicas ?? 1
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {name: options.name ?? 'hello', namespace: 'hello', uid: `uid-deployment-${options.name ?? 'hello'}`, labels: {'app.kubernetes.io/name': 'hello', 'app.kubernetes.io/managed-by': 'devkube'}},
    spec: {
      replicas,
      selector: {matchLabels: {'app.kubernetes.io/name': 'hello'}},
      template: {spec: {containers: [{name: 'hello', image: options.image ?? 'devkube.local/hello:aaaaaaaaaaaa'}]}},
    } as Deployment['spec'],
    status: {replicas, readyReplicas: options.ready ?? replicas, updatedReplicas: options.updated ?? replicas, availableReplicas: options.ready ?? replicas},
  }
}

/** A ReplicaSet of the `deployment()` above, as the Deployment controller makes it for one pod template. */
export function replicaSet(hash: string, revision: number, name = 'hello'): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name: `${name}-${hash}`,
      namespace: 'hello',
      uid: `uid-rs-${hash}`,
      labels: {'app.kubernetes.io/name': name, 'app.kubernetes.io/managed-by': 'devkube', 'pod-template-hash': hash},
      annotations: {'deployment.kubernetes.io/revision': String(revision)},
      ownerReferences: [{apiVersion: 'apps/v1', kind: 'Deployment', name, uid: `uid-deployment-${name}`, controller: true}],
    },
  }
}

export function namespaceObject(name: string, managed = true): KubeObject {
  return {apiVersion: 'v1', kind: 'Namespace', metadata: {name, labels: managed ? {'app.kubernetes.io/managed-by': 'devkube'} : {}}}
}

export function object(kind: string, name: string, labels: Record<string, string> = {'app.kubernetes.io/name': 'hello', 'app.kubernetes.io/managed-by': 'devkube'}, namespace = 'hello'): KubeObject {
  return {apiVersion: 'v1', kind, metadata: {name, namespace, labels}}
}

export interface World {
  clusters: string[]
  /** Objects by namespace ('' for cluster-scoped: namespaces, nodes). */
  objects: KubeObject[]
  nodeLabels?: Record<string, string>
  nodeReady?: boolean
  serverVersion?: string
  /** Node containers that are stopped (docker stop), by cluster. */
  stoppedClusters?: string[]
}

const KINDS: Record<string, string> = {
  pods: 'Pod',
  deployments: 'Deployment',
  'deployments.apps': 'Deployment',
  'replicasets.apps': 'ReplicaSet',
  services: 'Service',
  configmaps: 'ConfigMap',
  secrets: 'Secret',
  namespaces: 'Namespace',
  namespace: 'Namespace',
  nodes: 'Node',
  'ingresses.networking.k8s.io': 'Ingress',
  persistentvolumeclaims: 'PersistentVolumeClaim',
  serviceaccounts: 'ServiceAccount',
  'horizontalpodautoscalers.autoscaling': 'HorizontalPodAutoscaler',
  'poddisruptionbudgets.policy': 'PodDisruptionBudget',
  'networkpolicies.networking.k8s.io': 'NetworkPolicy',
  'roles.rbac.authorization.k8s.io': 'Role',
  'rolebindings.rbac.authorization.k8s.io': 'RoleBinding',
}

function matchesSelector(object: KubeObject, selector: string | undefined): boolean {
  if (!selector) return true
  return selector.split(',').every((term) => {
    const [key, value] = term.split('=')
    return object.metadata.labels?.[key] === value
  })
}

/** kubectl's argv without --context/--namespace and their values, plus the namespace. */
export function kubectlWords(argv: string[]): {words: string[]; namespace?: string} {
  const words: string[] = []
  let namespace: string | undefined
  for (let index = 1; index < argv.length; index++) {
    if (argv[index] === '--context') {
      index++
      continue
    }
    if (argv[index] === '--namespace' || argv[index] === '-n') {
      namespace = argv[++index]
      continue
    }
    words.push(argv[index])
  }
  return {words, namespace}
}

export function worldRunner(world: World): FakeRunner {
  const runner = new FakeRunner()
  runner
    .when('kind get clusters', () => (world.clusters.length > 0 ? {stdout: `${world.clusters.join('\n')}\n`} : {stderr: 'No kind clusters found.\n'}))
    .when('kind get kubeconfig', (argv) => (world.clusters.includes(argv.at(-1)!) ? {stdout: `clusters:\n- cluster:\n    server: ${SERVER}\n  name: kind-${argv.at(-1)}\n`} : {exitCode: 1, stderr: `ERROR: could not locate any control plane nodes for cluster named '${argv.at(-1)}'.`}))
    .when('kubectl config view', () => ({
      stdout: JSON.stringify({
        contexts: world.clusters.map((name) => ({name: `kind-${name}`, context: {cluster: `kind-${name}`}})),
        clusters: world.clusters.map((name) => ({name: `kind-${name}`, cluster: {server: SERVER}})),
      }),
    }))
    .when('docker ps', (argv) => ({stdout: world.clusters.some((name) => argv.includes(`label=io.x-k8s.kind.cluster=${name}`)) ? 'kindest/node:v1.32.2\n' : ''}))
    .when('docker ps -a', (argv) => {
      const cluster = world.clusters.find((name) => argv.includes(`label=io.x-k8s.kind.cluster=${name}`))
      return {stdout: cluster ? `${cluster}-control-plane\t${world.stoppedClusters?.includes(cluster) ? 'exited' : 'running'}\n` : ''}
    })
    .when('kind delete cluster', (argv) => {
      const name = argv[argv.indexOf('--name') + 1]
      world.clusters = world.clusters.filter((cluster) => cluster !== name)
      world.objects = []
      return {stderr: `Deleting cluster "${name}" ...\n`}
    })
    .on((argv) => {
      if (argv[0] !== 'kubectl') return undefined
      const {words, namespace} = kubectlWords(argv)
      const [verb, what] = words
      if (verb === 'version') return {stdout: JSON.stringify({clientVersion: {gitVersion: 'v1.32.4'}, serverVersion: {gitVersion: world.serverVersion ?? 'v1.32.2'}})}
      if (verb === 'get') {
        const selector = words.includes('-l') ? words[words.indexOf('-l') + 1] : undefined
        if (what === 'nodes') {
          return {stdout: JSON.stringify({items: [{apiVersion: 'v1', kind: 'Node', metadata: {name: `${world.clusters[0]}-control-plane`, labels: world.nodeLabels ?? {'devkube.dev/managed-by': 'devkube'}}, status: {conditions: [{type: 'Ready', status: world.nodeReady === false ? 'False' : 'True'}], nodeInfo: {kubeletVersion: 'v1.32.2'}}}]})}
        }
        if (what === 'namespace' && words[2] && words[2] !== '-o') {
          const found = world.objects.find((candidate) => candidate.kind === 'Namespace' && candidate.metadata.name === words[2])
          return found ? {stdout: JSON.stringify(found)} : {exitCode: 1, stderr: `Error from server (NotFound): namespaces "${words[2]}" not found\n`}
        }
        const unknown = what.split(',').find((word) => !KINDS[word])
        if (unknown) return {exitCode: 1, stderr: `error: the server doesn't have a resource type "${unknown.split('.')[0]}"\n`}
        const kinds = what.split(',').map((word) => KINDS[word])
        const items = world.objects.filter((candidate) => kinds.includes(candidate.kind) && (candidate.kind === 'Namespace' || candidate.metadata.namespace === namespace) && matchesSelector(candidate, selector))
        return {stdout: JSON.stringify({apiVersion: 'v1', kind: 'List', items})}
      }
      if (verb === 'delete') {
        const lines: string[] = []
        if (what === 'namespace') {
          const name = words[2]
          const before = world.objects.length
          world.objects = world.objects.filter((candidate) => candidate.metadata.namespace !== name && !(candidate.kind === 'Namespace' && candidate.metadata.name === name))
          if (world.objects.length !== before) lines.push(`namespace "${name}" deleted`)
        } else {
          for (const reference of words.slice(1).filter((word) => word.includes('/'))) {
            const [kind, name] = reference.split('/')
            const before = world.objects.length
            world.objects = world.objects.filter((candidate) => !(candidate.kind.toLowerCase() === kind && candidate.metadata.name === name && candidate.metadata.namespace === namespace))
            if (world.objects.length !== before) lines.push(`${kind} "${name}" deleted`)
            // The Deployment's pods go with it.
            if (kind === 'deployment') world.objects = world.objects.filter((candidate) => !(candidate.kind === 'Pod' && candidate.metadata.namespace === namespace && candidate.metadata.labels?.['app.kubernetes.io/name'] === name))
          }
        }
        return {stdout: lines.map((line) => `${line}\n`).join('')}
      }
      return undefined
    })
  return runner
}
