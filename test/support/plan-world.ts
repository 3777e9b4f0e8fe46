/** A FakeRunner world of docker, kind and kubectl that keeps state, to drive the up plan through several runs. */
import {spawnSync} from 'node:child_process'
import {parseAllDocuments} from 'yaml'
import type {KubeObject} from '../../src/lib/kube.js'
import {FakeRunner} from './fake-runner.js'

/** Just enough of docker, kind and kubectl, keeping state, to drive the plan through twice. */
export function worldRunner(hooks: {onBuild?: (tag: string) => Promise<void>} = {}) {
  const world = {clusters: new Set<string>(), images: new Set<string>(), nodeImages: new Set<string>(), objects: new Map<string, KubeObject>()}
  const key = (object: KubeObject) => `${object.kind}/${object.metadata.name}`
  const runner = new FakeRunner()
    .when('docker version', {stdout: '28.2.2 28.2.2\n'})
    .when('kind version', {stdout: 'kind v0.27.0 go1.23.6 linux/amd64\n'})
    .when('kubectl version --client', {stdout: JSON.stringify({clientVersion: {gitVersion: 'v1.32.4'}})})
    .when('kind get clusters', () => ({stdout: [...world.clusters].join('\n')}))
    .when('docker ps -a', (argv) => ({stdout: [...world.clusters].filter((name) => argv.includes(`label=io.x-k8s.kind.cluster=${name}`)).map((name) => `${name}-control-plane\trunning\n`).join('')}))
    .when('kind create cluster', (argv) => {
      world.clusters.add(argv[argv.indexOf('--name') + 1])
      return {stderr: 'Creating cluster ...'}
    })
    .when('docker image inspect', (argv) => (world.images.has(argv.at(-1)!) ? {stdout: argv.includes('{{.Config.User}}') ? '10001\n' : 'sha256:1\n'} : {exitCode: 1, stderr: 'Error: No such image'}))
    .on(async (argv) => {
      if (argv[0] !== 'docker' || argv[1] !== 'build') return undefined
      const tag = argv[argv.indexOf('-t') + 1]
      await hooks.onBuild?.(tag)
      world.images.add(tag)
      return {stdout: 'Successfully built\n'}
    })
    .when('kubectl config view', {stdout: JSON.stringify({contexts: [{name: 'kind-devkube', context: {cluster: 'kind-devkube'}}], clusters: [{name: 'kind-devkube', cluster: {server: 'https://127.0.0.1:40000'}}]})})
    .when('kind get kubeconfig', {stdout: 'clusters:\n- cluster:\n    server: https://127.0.0.1:40000\n  name: kind-devkube\n'})
    .when('kind load docker-image', (argv) => {
      // Every image named before the flags, as kind takes several in one call.
      for (const image of argv.slice(3, argv.indexOf('--name'))) world.nodeImages.add(image)
      return {stderr: 'loading...'}
    })
    .when('kubectl kustomize', (argv) => {
      const result = spawnSync('kubectl', argv.slice(1), {encoding: 'utf8'})
      return {exitCode: result.status ?? 1, stdout: result.stdout, stderr: result.stderr}
    })
    .on((argv, options) => {
      if (argv[0] !== 'kubectl') return undefined
      const words = argv.filter((arg, index) => !['--context', '--namespace'].includes(argv[index - 1] ?? '') && !arg.startsWith('--'))
      const [, verb, what, name] = words
      if (verb === 'get' && what === 'nodes') return {stdout: JSON.stringify({items: [{status: {images: [{names: [...world.nodeImages]}]}}]})}
      if (verb === 'get' && what === 'namespace') {
        const namespace = world.objects.get(`Namespace/${name}`)
        return namespace ? {stdout: JSON.stringify(namespace)} : {exitCode: 1, stderr: `Error from server (NotFound): namespaces "${name}" not found`}
      }
      if (verb === 'get' && what === 'deployment') {
        const deployment = world.objects.get(`Deployment/${name}`)
        return {stdout: JSON.stringify({...deployment, status: {replicas: 1, updatedReplicas: 1, availableReplicas: 1, readyReplicas: 1}})}
      }
      const kinds: Record<string, string> = {statefulset: 'StatefulSet', secret: 'Secret', persistentvolumeclaim: 'PersistentVolumeClaim'}
      if (verb === 'get' && name && kinds[what]) {
        const object = world.objects.get(`${kinds[what]}/${name}`)
        if (!object) return {exitCode: 1, stderr: `Error from server (NotFound): ${what}s "${name}" not found`}
        return {stdout: JSON.stringify({...object, status: {replicas: 1, updatedReplicas: 1, currentReplicas: 1, availableReplicas: 1, readyReplicas: 1}})}
      }
      if (verb === 'get') return {stdout: JSON.stringify({items: [...world.objects.values()].filter((object) => object.kind !== 'Namespace')})}
      if (verb === 'apply') {
        const lines = parseAllDocuments(String(options.input)).map((document) => {
          const object = document.toJS() as KubeObject
          const previous = world.objects.get(key(object))
          world.objects.set(key(object), object)
          const verbDone = !previous ? 'created' : JSON.stringify(previous) === JSON.stringify(object) ? 'unchanged' : 'configured'
          return `${object.kind.toLowerCase()}/${object.metadata.name} ${verbDone}`
        })
        return {stdout: `${lines.join('\n')}\n`}
      }
      if (verb === 'rollout') return {stdout: 'deployment "hello-node" successfully rolled out\n'}
      return undefined
    })
  return {runner, world}
}
