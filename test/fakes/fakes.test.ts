// The fake kind and kubectl answer as the real tools do (../../../shared/KIND-KUBECTL.md): same stream, text and
// exit code; and their cluster runs real Docker containers. Needs Docker; skipped (with a message) without it.
import {spawn, type ChildProcess} from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import YAML from 'yaml'
import {
  buildTestHttpImage,
  createFakeToolchain,
  dockerAvailable,
  execCommand,
  type FakePod,
  type FakeToolchain,
} from '../support/fake-toolchain.js'
import {eventually} from '../support/wait.js'

const hasDocker = await dockerAvailable()
if (!hasDocker) console.log('test/fakes: Docker is not available, skipping the fake kind/kubectl tests')

const suffix = `${process.pid}`
const imageV1 = `devkube-fake-test/http:v1-${suffix}`
const imageV2 = `devkube-fake-test/http:v2-${suffix}`

function kindConfig(extra = ''): string {
  return `kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n${extra}`
}

function manifests(opts: {namespace: string; image: string; replicas?: number; readiness?: boolean; extra?: string}): string {
  const probe = opts.readiness === false ? '' : `\n        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}`
  return `apiVersion: v1
kind: Namespace
metadata: {name: ${opts.namespace}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: hello, namespace: ${opts.namespace}, labels: {app.kubernetes.io/name: hello}}
spec:
  replicas: ${opts.replicas ?? 1}
  selector: {matchLabels: {app.kubernetes.io/name: hello}}
  template:
    metadata: {labels: {app.kubernetes.io/name: hello}}
    spec:
      containers:
      - name: hello
        image: ${opts.image}
        ports: [{containerPort: 8080}]${probe}${opts.extra ?? ''}
---
apiVersion: v1
kind: Service
metadata: {name: hello, namespace: ${opts.namespace}}
spec:
  selector: {app.kubernetes.io/name: hello}
  ports: [{port: 80, targetPort: 8080}]
`
}

interface Forward {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  exited: Promise<number | null>
  port: number
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer()
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

async function startForward(tools: FakeToolchain, args: string[], port: number): Promise<Forward> {
  const child = spawn('kubectl', args, {env: tools.env, stdio: ['ignore', 'pipe', 'pipe']})
  let out = ''
  let err = ''
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (err += d))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const deadline = Date.now() + 20_000
  while (!out.includes('Forwarding from') && child.exitCode === null && Date.now() < deadline) await sleep(50)
  return {child, stdout: () => out, stderr: () => err, exited, port}
}

/** A GET on a connection of its own (fetch would reuse a kept-alive one, and kubectl acts per connection). */
function requestOnNewConnection(port: number, timeoutMs: number): Promise<'answered' | 'no answer'> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.0\r\n\r\n'))
    const done = (result: 'answered' | 'no answer') => {
      socket.destroy()
      resolve(result)
    }
    socket.setTimeout(timeoutMs, () => done('no answer'))
    socket.on('data', () => done('answered'))
    socket.on('error', () => done('no answer'))
    socket.on('end', () => done('no answer'))
  })
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))


describe.skipIf(!hasDocker)('fake kind', () => {
  let tools: FakeToolchain
  const cluster = `kindtest-${suffix}`
  beforeAll(async () => {
    await buildTestHttpImage(imageV1, {body: 'v1'})
    tools = await createFakeToolchain({speed: 0.05})
  })
  afterAll(async () => {
    await tools?.cleanup()
    await execCommand('docker', ['rmi', imageV1])
  })
  const kind = (args: string[], input?: string) => tools.exec('kind', args, {input})

  it('prints its version on stdout', async () => {
    expect(await kind(['version'])).toEqual({code: 0, stdout: 'kind v0.27.0 go1.23.6 linux/amd64\n', stderr: ''})
  })

  it('says on stderr that there are no clusters, exit 0', async () => {
    expect(await kind(['get', 'clusters'])).toEqual({code: 0, stdout: '', stderr: 'No kind clusters found.\n'})
  })

  it('rejects a config with an unknown field, a wrong apiVersion, or an invalid name', async () => {
    const unknown = await kind(['create', 'cluster', '--name', cluster, '--config', '-'], kindConfig('nodes:\n- role: control-plane\n  bogus: 1\n'))
    expect(unknown).toEqual({
      code: 1,
      stdout: '',
      stderr: 'ERROR: failed to create cluster: unable to decode config: yaml: unmarshal errors:\n  line 5: field bogus not found in type v1alpha4.Node\n',
    })
    const apiVersion = await kind(['create', 'cluster', '--name', cluster, '--config', '-'], 'kind: Cluster\napiVersion: kind.x-k8s.io/v1\n')
    expect(apiVersion.stderr).toBe('ERROR: failed to create cluster: unknown apiVersion: kind.x-k8s.io/v1\n')
    const name = await kind(['create', 'cluster', '--name', 'Bad_Name', '--config', '-'], kindConfig())
    expect(name).toMatchObject({code: 1, stderr: "ERROR: failed to create cluster: 'Bad_Name' is not a valid cluster name, cluster names must match `^[a-z0-9.-]+$`\n"})
    expect(fs.existsSync(tools.kubeconfigPath)).toBe(false)
  })

  it('creates a cluster: progress on stderr, kubeconfig entries kind-X, current-context set', async () => {
    const created = await kind(['create', 'cluster', '--name', cluster, '--config', '-', '--wait', '60s'], kindConfig('nodes:\n- role: control-plane\n'))
    expect(created.code).toBe(0)
    expect(created.stdout).toBe('')
    const lines = created.stderr.split('\n')
    expect(lines.slice(0, 15)).toEqual([
      `Creating cluster "${cluster}" ...`,
      ' • Ensuring node image (kindest/node:v1.32.2) 🖼  ...',
      ' ✓ Ensuring node image (kindest/node:v1.32.2) 🖼',
      ' • Preparing nodes 📦   ...',
      ' ✓ Preparing nodes 📦 ',
      ' • Writing configuration 📜  ...',
      ' ✓ Writing configuration 📜',
      ' • Starting control-plane 🕹️  ...',
      ' ✓ Starting control-plane 🕹️',
      ' • Installing CNI 🔌  ...',
      ' ✓ Installing CNI 🔌',
      ' • Installing StorageClass 💾  ...',
      ' ✓ Installing StorageClass 💾',
      ' • Waiting ≤ 1m0s for control-plane = Ready ⏳  ...',
      ' ✓ Waiting ≤ 1m0s for control-plane = Ready ⏳',
    ])
    expect(created.stderr).toContain(`Set kubectl context to "kind-${cluster}"\n`)
    const config = YAML.parse(fs.readFileSync(tools.kubeconfigPath, 'utf8'))
    expect(config['current-context']).toBe(`kind-${cluster}`)
    expect(config.clusters[0].name).toBe(`kind-${cluster}`)
    expect(config.clusters[0].cluster.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    expect(config.users[0].name).toBe(`kind-${cluster}`)
    expect(config.contexts[0]).toEqual({context: {cluster: `kind-${cluster}`, user: `kind-${cluster}`}, name: `kind-${cluster}`})

    expect(await kind(['get', 'clusters'])).toEqual({code: 0, stdout: `${cluster}\n`, stderr: ''})
    expect(await kind(['get', 'nodes', '--name', cluster])).toEqual({code: 0, stdout: `${cluster}-control-plane\n`, stderr: ''})
    const kubeconfig = await kind(['get', 'kubeconfig', '--name', cluster])
    expect(YAML.parse(kubeconfig.stdout)['current-context']).toBe(`kind-${cluster}`)
  })

  it('refuses to create a cluster that exists', async () => {
    const again = await kind(['create', 'cluster', '--name', cluster, '--config', '-'], kindConfig())
    expect(again).toEqual({code: 1, stdout: '', stderr: `ERROR: failed to create cluster: node(s) already exist for a cluster with the name "${cluster}"\n`})
  })

  it('loads only images present in Docker, into existing clusters, once', async () => {
    expect(await kind(['load', 'docker-image', 'devkube-fake-test/absent:1', '--name', cluster])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'ERROR: image: "devkube-fake-test/absent:1" not present locally\n',
    })
    expect(await kind(['load', 'docker-image', imageV1, '--name', 'nosuch'])).toEqual({code: 1, stdout: '', stderr: 'ERROR: no nodes found for cluster "nosuch"\n'})
    const id = (await execCommand('docker', ['image', 'inspect', '-f', '{{.Id}}', imageV1])).stdout.trim()
    expect(await kind(['load', 'docker-image', imageV1, '--name', cluster])).toEqual({
      code: 0,
      stdout: '',
      stderr: `Image: "${imageV1}" with ID "${id}" not yet present on node "${cluster}-control-plane", loading...\n`,
    })
    expect(await kind(['load', 'docker-image', imageV1, '--name', cluster])).toEqual({
      code: 0,
      stdout: '',
      stderr: `Image: "${imageV1}" with ID "${id}" found to be already present on all nodes.\n`,
    })
    const nodes = JSON.parse((await tools.exec('kubectl', ['--context', `kind-${cluster}`, 'get', 'nodes', '-o', 'json'])).stdout)
    expect(nodes.items[0].status.images.flatMap((i: {names: string[]}) => i.names)).toContain(`docker.io/${imageV1}`)
    expect(nodes.items[0].status.nodeInfo.kubeletVersion).toBe('v1.32.2')
    expect(nodes.items[0].status.conditions.find((c: {type: string}) => c.type === 'Ready').status).toBe('True')
  })

  it('loads an image archive made by docker save', async () => {
    const tar = `${tools.stateDir}/image.tar`
    const tag = `devkube-fake-test/archived:${suffix}`
    await execCommand('docker', ['tag', imageV1, tag])
    try {
      await execCommand('docker', ['save', '-o', tar, tag])
      expect(await kind(['load', 'image-archive', tar, '--name', cluster])).toEqual({code: 0, stdout: '', stderr: ''})
      const state = (await tools.clusterState(cluster)) as {images: Record<string, unknown>}
      expect(Object.keys(state.images)).toContain(`docker.io/${tag}`)
    } finally {
      await execCommand('docker', ['rmi', tag])
    }
    expect((await kind(['load', 'image-archive', '/nonexistent.tar', '--name', cluster])).stderr).toBe('ERROR: stat /nonexistent.tar: no such file or directory\n')
  })

  it('fails with the Docker daemon message when Docker is down', async () => {
    const down = await tools.exec('env', ['DOCKER_HOST=unix:///nonexistent/docker.sock', 'kind', 'get', 'clusters'])
    expect(down.code).toBe(1)
    expect(down.stderr).toMatch(/^ERROR: failed to list clusters: command "docker ps -a --filter label=io.x-k8s.kind.cluster --format '\{\{.Label "io.x-k8s.kind.cluster"\}\}'" failed with error: exit status 1\n\nCommand Output: Cannot connect to the Docker daemon/)
  })

  it('deletes a cluster: kubeconfig entries go, a foreign current-context stays', async () => {
    const config = YAML.parse(fs.readFileSync(tools.kubeconfigPath, 'utf8'))
    config.contexts.push({name: 'prod', context: {cluster: 'prod', user: 'prod'}})
    config.clusters.push({name: 'prod', cluster: {server: 'https://prod.example.com'}})
    config['current-context'] = `kind-${cluster}`
    fs.writeFileSync(tools.kubeconfigPath, YAML.stringify(config))
    const deleted = await kind(['delete', 'cluster', '--name', cluster])
    expect(deleted).toEqual({code: 0, stdout: '', stderr: `Deleting cluster "${cluster}" ...\nDeleted nodes: ["${cluster}-control-plane"]\n`})
    const after = YAML.parse(fs.readFileSync(tools.kubeconfigPath, 'utf8'))
    expect(after['current-context']).toBe('')
    expect(after.contexts.map((c: {name: string}) => c.name)).toEqual(['prod'])
    expect(await kind(['delete', 'cluster', '--name', cluster])).toEqual({code: 0, stdout: '', stderr: `Deleting cluster "${cluster}" ...\n`})
    expect(await kind(['get', 'clusters'])).toEqual({code: 0, stdout: '', stderr: 'No kind clusters found.\n'})
  })

  it('says "unsupported" for commands it does not fake', async () => {
    expect(await kind(['export', 'logs'])).toMatchObject({code: 2, stderr: 'fake kind: unsupported: export logs\n'})
  })

  it('records every call for benchmarks', () => {
    const calls = tools.calls()
    expect(calls.length).toBeGreaterThan(10)
    const loads = calls.filter((c) => c.tool === 'kind' && c.args[0] === 'load' && c.args[1] === 'docker-image')
    expect(loads.map((c) => c.code)).toEqual([1, 1, 0, 0])
    for (const call of calls) expect(call.end).toBeGreaterThanOrEqual(call.start)
  })
})

describe.skipIf(!hasDocker)('fake kubectl', () => {
  let tools: FakeToolchain
  const cluster = `kctl-${suffix}`
  const ctx = `kind-${cluster}`
  const ns = 'demo'
  const kubectl = (args: string[], input?: string) => tools.exec('kubectl', ['--context', ctx, ...args], {input})
  const forwards: Forward[] = []

  beforeAll(async () => {
    await buildTestHttpImage(imageV1, {body: 'v1'})
    await buildTestHttpImage(imageV2, {body: 'v2'})
    tools = await createFakeToolchain({speed: 0.05})
    const created = await tools.exec('kind', ['create', 'cluster', '--name', cluster, '--config', '-'], {input: kindConfig()})
    expect(created.code).toBe(0)
    for (const image of [imageV1, imageV2]) expect((await tools.exec('kind', ['load', 'docker-image', image, '--name', cluster])).code).toBe(0)
  })
  afterAll(async () => {
    for (const f of forwards) f.child.kill('SIGTERM')
    await tools?.cleanup()
    await execCommand('docker', ['rmi', imageV1, imageV2])
  })

  async function podsReady(namespace: string, image?: string): Promise<FakePod[] | undefined> {
    const pods = await tools.pods(cluster, namespace)
    const ok = pods.length > 0 && pods.every((p) => p.status.containerStatuses?.every((s) => s.ready) && (!image || p.spec.containers[0].image === image))
    return ok ? pods : undefined
  }

  it('checks the context like real kubectl', async () => {
    expect(await tools.exec('kubectl', ['--context', 'kind-nope', 'get', 'pods'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'Error in configuration: context was not found for specified context: kind-nope\n',
    })
    const config = YAML.parse(fs.readFileSync(tools.kubeconfigPath, 'utf8'))
    config.clusters.push({name: 'other', cluster: {server: 'https://127.0.0.1:1'}})
    config.contexts.push({name: 'other', context: {cluster: 'other', user: ctx}})
    fs.writeFileSync(tools.kubeconfigPath, YAML.stringify(config))
    const refused = await tools.exec('kubectl', ['--context', 'other', 'get', 'pods', '-n', ns])
    expect(refused.code).toBe(1)
    expect(refused.stdout).toBe('')
    expect(refused.stderr.split('\n').at(-2)).toBe('The connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?')
  })

  it('answers config and version queries', async () => {
    expect(await kubectl(['config', 'current-context'])).toEqual({code: 0, stdout: `${ctx}\n`, stderr: ''})
    expect((await kubectl(['config', 'get-contexts', '-o', 'name'])).stdout).toBe(`${ctx}\nother\n`)
    const view = JSON.parse((await kubectl(['config', 'view', '-o', 'json'])).stdout)
    expect(view.clusters.find((c: {name: string}) => c.name === ctx).cluster['certificate-authority-data']).toBe('DATA+OMITTED')
    expect(view['current-context']).toBe(ctx)
    const client = JSON.parse((await kubectl(['version', '--client', '-o', 'json'])).stdout)
    expect(client.clientVersion.gitVersion).toMatch(/^v1\.\d+\.\d+/)
    expect(client.serverVersion).toBeUndefined()
    const server = JSON.parse((await kubectl(['version', '-o', 'json'])).stdout)
    expect(server.serverVersion.gitVersion).toBe('v1.32.2')
  })

  it('applies: created, then unchanged, then configured; a missing namespace is NotFound', async () => {
    const orphan = await kubectl(['apply', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: missing}\ndata: {a: b}\n')
    expect(orphan).toEqual({code: 1, stdout: '', stderr: 'Error from server (NotFound): error when creating "STDIN": namespaces "missing" not found\n'})
    const text = manifests({namespace: ns, image: imageV1})
    expect(await kubectl(['apply', '-f', '-'], text)).toEqual({
      code: 0,
      stdout: `namespace/${ns} created\ndeployment.apps/hello created\nservice/hello created\n`,
      stderr: '',
    })
    expect((await kubectl(['apply', '-f', '-'], text)).stdout).toBe(`namespace/${ns} unchanged\ndeployment.apps/hello unchanged\nservice/hello unchanged\n`)
    const relabelled = text.replace('metadata: {name: hello, namespace: demo}\nspec:\n  selector', 'metadata: {name: hello, namespace: demo, labels: {x: y}}\nspec:\n  selector')
    expect((await kubectl(['apply', '-f', '-'], relabelled)).stdout).toBe(`namespace/${ns} unchanged\ndeployment.apps/hello unchanged\nservice/hello configured\n`)
  })

  it('gets objects as JSON lists or single objects, with NotFound errors', async () => {
    const list = JSON.parse((await kubectl(['get', 'deployments,services', '-n', ns, '-l', 'app.kubernetes.io/name=hello', '-o', 'json'])).stdout)
    expect(list.kind).toBe('List')
    expect(list.items.map((i: {kind: string}) => i.kind)).toEqual(['Deployment'])
    const one = JSON.parse((await kubectl(['get', 'deployment', 'hello', '-n', ns, '-o', 'json'])).stdout)
    expect(one.kind).toBe('Deployment')
    expect(one.spec.template.spec.containers[0].imagePullPolicy).toBe('IfNotPresent')
    expect(await kubectl(['get', 'deployment', 'nope', '-n', ns, '-o', 'json'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'Error from server (NotFound): deployments.apps "nope" not found\n',
    })
    const namespaces = JSON.parse((await kubectl(['get', 'namespaces', '-l', `kubernetes.io/metadata.name=${ns}`, '-o', 'json'])).stdout)
    expect(namespaces.items.map((n: {metadata: {name: string}}) => n.metadata.name)).toEqual([ns])
  })

  it('rolls out: a Deployment of a loaded image becomes ready and port-forward serves it', async () => {
    const status = await kubectl(['rollout', 'status', 'deployment/hello', '-n', ns, '--timeout=30s'])
    expect(status.code).toBe(0)
    expect(status.stdout.split('\n').at(-2)).toBe('deployment "hello" successfully rolled out')
    const pods = await tools.pods(cluster, ns)
    expect(pods).toHaveLength(1)
    expect(pods[0].status.phase).toBe('Running')
    expect(pods[0].status.containerStatuses![0]).toMatchObject({name: 'hello', ready: true, restartCount: 0, image: `docker.io/${imageV1}`})
    expect(pods[0].status.containerStatuses![0].imageID).toMatch(/^sha256:/)

    const port = await freePort()
    const forwardArgs = ['--context', ctx, 'port-forward', 'svc/hello', `${port}:80`, '-n', ns]
    let forward = await startForward(tools, forwardArgs, port)
    forwards.push(forward)
    expect(forward.stdout()).toContain(`Forwarding from 127.0.0.1:${port} -> 8080\n`)
    const response = await fetch(`http://127.0.0.1:${port}/`)
    expect(await response.text()).toBe('v1\n')
    expect(forward.stdout()).toContain(`Handling connection for ${port}\n`)
    // A port check (connect, hang up at once) is no error: the forward stays.
    await new Promise<void>((resolve) => net.connect(port, '127.0.0.1', function (this: net.Socket) {
      this.destroy()
      resolve()
    }))
    await sleep(500)
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('v1\n')
    expect(forward.child.exitCode).toBeNull()

    // A taken local port is the real error.
    const taken = await kubectl(['port-forward', 'svc/hello', `${port}:80`, '-n', ns])
    expect(taken.code).toBe(1)
    expect(taken.stderr.split('\n').at(-2)).toBe(`error: unable to listen on any of the requested ports: [{${port} 8080}]`)

    // kubectl stuck on its error stream (kubectl #686): the process lives on, accepts, forwards nothing.
    fs.writeFileSync(`${tools.stateDir}/port-forward-hang`, '')
    expect(await requestOnNewConnection(port, 1500)).toBe('no answer')
    expect(forward.stderr()).toMatch(/error creating error stream for port \d+ -> 8080: Timeout occurred/)
    expect(forward.child.exitCode).toBeNull()
    forward.child.kill('SIGINT')
    expect(await forward.exited).toBe(0)
    forward = await startForward(tools, forwardArgs, port)
    forwards.push(forward)
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('v1\n')

    // The pod's container dies: port-forward notices on the next connection only (as kubectl), exits, and the pod restarts in place.
    const killed = await tools.killPodContainer(cluster, ns)
    await sleep(1500)
    expect(forward.child.exitCode).toBeNull()
    await requestOnNewConnection(port, 3000)
    expect(await forward.exited).toBe(1)
    expect(forward.stderr()).toMatch(/error: lost connection to pod\n$/)
    const restarted = await eventually('the pod to restart', async () => {
      const [pod] = await tools.pods(cluster, ns)
      return pod?.status.containerStatuses?.[0].restartCount === 1 && pod.status.containerStatuses[0].ready ? pod : undefined
    })
    expect(restarted.metadata.name).toBe(pods[0].metadata.name)
    expect(restarted.status.containerStatuses![0].lastState.terminated).toMatchObject({exitCode: 137, reason: 'Error'})
    expect(restarted.containers.hello.previousId).toBe(killed)
  })

  it('logs: one pod, -l with --prefix, --previous, and the max-streams error', async () => {
    const [pod] = await tools.pods(cluster, ns)
    const single = await kubectl(['logs', pod.metadata.name, '-n', ns])
    expect(single).toEqual({code: 0, stdout: 'listening on 8080\nstderr says hi\n', stderr: ''})
    const previous = await kubectl(['logs', pod.metadata.name, '-n', ns, '--previous'])
    expect(previous.stdout).toBe('listening on 8080\nstderr says hi\n')
    const labelled = await kubectl(['logs', '-l', 'app.kubernetes.io/name=hello', '-n', ns, '--prefix', '--tail=1'])
    expect(labelled.stdout).toBe(`[pod/${pod.metadata.name}/hello] stderr says hi\n`)
    expect(await kubectl(['logs', '-l', 'app=none', '-n', ns])).toEqual({code: 0, stdout: '', stderr: `No resources found in ${ns} namespace.\n`})
    expect(await kubectl(['logs', 'nope', '-n', ns])).toEqual({code: 1, stdout: '', stderr: 'Error from server (NotFound): pods "nope" not found\n'})
  })

  it('rolls out a new template: new pods replace the old ones; history and undo', async () => {
    const applied = await kubectl(['apply', '-f', '-'], manifests({namespace: ns, image: imageV2, replicas: 2}))
    expect(applied.stdout).toContain('deployment.apps/hello configured\n')
    const status = await kubectl(['rollout', 'status', 'deployment/hello', '-n', ns, '--timeout=40s'])
    expect(status.code).toBe(0)
    expect(status.stdout).toMatch(/Waiting for deployment "hello" rollout to finish: /)
    const pods = await eventually('two v2 pods', async () => {
      const all = await tools.pods(cluster, ns)
      return all.length === 2 && all.every((p) => p.spec.containers[0].image === imageV2) ? all : undefined
    })
    expect(pods.every((p) => p.status.containerStatuses![0].ready)).toBe(true)
    const port = await freePort()
    const forward = await startForward(tools, ['--context', ctx, 'port-forward', 'svc/hello', `${port}:80`, '-n', ns], port)
    forwards.push(forward)
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('v2\n')
    forward.child.kill('SIGINT')
    expect(await forward.exited).toBe(0)

    const history = await kubectl(['rollout', 'history', 'deployment/hello', '-n', ns])
    expect(history.stdout).toBe('deployment.apps/hello \nREVISION  CHANGE-CAUSE\n1         <none>\n2         <none>\n\n')
    expect(await kubectl(['rollout', 'undo', 'deployment/hello', '-n', ns])).toEqual({code: 0, stdout: 'deployment.apps/hello rolled back\n', stderr: ''})
    expect((await kubectl(['rollout', 'status', 'deployment/hello', '-n', ns, '--timeout=40s'])).code).toBe(0)
    expect(await eventually('v1 pods again', () => podsReady(ns, imageV1))).toHaveLength(2)
    expect(await kubectl(['scale', 'deployment/hello', '--replicas=1', '-n', ns])).toEqual({code: 0, stdout: 'deployment.apps/hello scaled\n', stderr: ''})
    await eventually('one pod', async () => ((await tools.pods(cluster, ns)).length === 1 ? true : undefined))
  })

  it('a pod whose image was never loaded does not get ready, with the real reasons', async () => {
    const text = (name: string, image: string, policy = '') => `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: ${ns}}
spec:
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      containers:
      - {name: app, image: "${image}"${policy ? `, imagePullPolicy: ${policy}` : ''}}
`
    await kubectl(['apply', '-f', '-'], [text('notloaded', 'devkube.local/app:0123456789ab'), text('never', 'devkube.local/app:0123456789ab', 'Never'), text('latest', imageV1.replace(/:.*/, ':latest'))].join('---\n'))
    const timeout = await kubectl(['rollout', 'status', 'deployment/notloaded', '-n', ns, '--timeout=2s'])
    expect(timeout.code).toBe(1)
    expect(timeout.stdout).toContain('Waiting for deployment "notloaded" rollout to finish: 0 of 1 updated replicas are available...\n')
    expect(timeout.stderr).toBe('error: timed out waiting for the condition\n')
    const waiting = async (app: string) => {
      const pods = await tools.pods(cluster, ns)
      return pods.find((p) => p.metadata.labels?.app === app)!.status.containerStatuses![0].state.waiting
    }
    expect(await waiting('notloaded')).toEqual({reason: 'ImagePullBackOff', message: 'Back-off pulling image "devkube.local/app:0123456789ab"'})
    expect(await waiting('never')).toEqual({reason: 'ErrImageNeverPull', message: 'Container image "devkube.local/app:0123456789ab" is not present with pull policy of Never'})
    // :latest means imagePullPolicy Always: even a loaded image ends in ImagePullBackOff, as on kind.
    expect((await waiting('latest'))?.reason).toBe('ImagePullBackOff')
    const pods = JSON.parse((await kubectl(['get', 'pods', '-n', ns, '-l', 'app=notloaded', '-o', 'json'])).stdout)
    expect(pods.items[0].status.phase).toBe('Pending')
    expect(pods.items[0].status.conditions.find((c: {type: string}) => c.type === 'Ready')).toMatchObject({status: 'False', reason: 'ContainersNotReady'})
    await kubectl(['delete', 'deployments', '-l', 'app', '-n', ns])
  })

  it('a crashing container restarts with CrashLoopBackOff; too-big requests stay Pending', async () => {
    const text = `apiVersion: apps/v1
kind: Deployment
metadata: {name: crash, namespace: ${ns}}
spec:
  selector: {matchLabels: {app: crash}}
  template:
    metadata: {labels: {app: crash}}
    spec:
      containers:
      - {name: app, image: "${imageV1}", command: [node, -e, "console.log('boom'); process.exit(2)"]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: big, namespace: ${ns}}
spec:
  selector: {matchLabels: {app: big}}
  template:
    metadata: {labels: {app: big}}
    spec:
      containers:
      - {name: app, image: "${imageV1}", resources: {requests: {memory: 9Gi}}}
`
    await kubectl(['apply', '-f', '-'], text)
    const crashing = await eventually('CrashLoopBackOff', async () => {
      const pod = (await tools.pods(cluster, ns)).find((p) => p.metadata.labels?.app === 'crash')
      const s = pod?.status.containerStatuses?.[0]
      return s?.state.waiting?.reason === 'CrashLoopBackOff' ? s : undefined
    })
    expect(crashing.state.waiting!.message).toMatch(/^back-off \d+s restarting failed container=app pod=crash-/)
    expect(crashing.lastState.terminated).toMatchObject({exitCode: 2, reason: 'Error'})
    expect(crashing.restartCount).toBeGreaterThanOrEqual(2)
    const logs = await kubectl(['logs', 'deployment/crash', '-n', ns, '--previous'])
    expect(logs.stdout).toBe('boom\n')
    const big = (await tools.pods(cluster, ns)).find((p) => p.metadata.labels?.app === 'big')!
    expect(big.status.phase).toBe('Pending')
    expect(big.status.conditions![0]).toMatchObject({type: 'PodScheduled', status: 'False', reason: 'Unschedulable'})
    expect(big.status.conditions![0].message).toMatch(/^0\/1 nodes are available: 1 Insufficient memory\./)
    const deleted = await kubectl(['delete', 'deployment', 'crash', 'big', '-n', ns])
    expect(deleted).toEqual({code: 0, stdout: 'deployment.apps "crash" deleted\ndeployment.apps "big" deleted\n', stderr: ''})
  })

  it('port-forward to a pod that is not running is the real error', async () => {
    await kubectl(['apply', '-f', '-'], `apiVersion: v1\nkind: Pod\nmetadata: {name: lonely, namespace: ${ns}}\nspec:\n  containers:\n  - {name: app, image: "devkube.local/none:1"}\n`)
    const result = await kubectl(['port-forward', 'pod/lonely', '18099:8080', '-n', ns])
    expect(result).toEqual({code: 1, stdout: '', stderr: 'error: unable to forward port because pod is not running. Current status=Pending\n'})
    expect(await kubectl(['delete', 'pod', 'lonely', '-n', ns])).toEqual({code: 0, stdout: 'pod "lonely" deleted\n', stderr: ''})
  })

  it('a re-apply reverts a scale (three-way merge), and health endpoints answer', async () => {
    const text = manifests({namespace: 'threeway', image: imageV1, readiness: false})
    await kubectl(['apply', '-f', '-'], text)
    expect((await kubectl(['scale', 'deployment', 'hello', '--replicas=2', '-n', 'threeway'])).stdout).toBe('deployment.apps/hello scaled\n')
    expect((await kubectl(['apply', '-f', '-'], text)).stdout).toBe('namespace/threeway unchanged\ndeployment.apps/hello configured\nservice/hello unchanged\n')
    const dep = JSON.parse((await kubectl(['get', 'deploy/hello', '-n', 'threeway', '-o', 'json'])).stdout)
    expect(dep.spec.replicas).toBe(1)
    expect(await kubectl(['get', '--raw', '/readyz'])).toEqual({code: 0, stdout: 'ok', stderr: ''})
    await kubectl(['delete', 'namespace', 'threeway'])
  })

  it('is safe under concurrent calls (one state file, one lock)', async () => {
    const calls = Array.from({length: 8}, (_, i) =>
      i % 2 ? kubectl(['get', 'pods', '-n', ns, '-o', 'json']) : kubectl(['apply', '-f', '-'], `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c${i}, namespace: ${ns}}\ndata: {i: "${i}"}\n`),
    )
    const results = await Promise.all(calls)
    expect(results.map((r) => r.code)).toEqual(Array(8).fill(0))
    const names = JSON.parse((await kubectl(['get', 'configmaps', '-n', ns, '-o', 'json'])).stdout).items.map((c: {metadata: {name: string}}) => c.metadata.name)
    expect(names).toEqual(['c0', 'c2', 'c4', 'c6'])
    await kubectl(['delete', 'configmaps', '-l', '!nothing', '-n', ns])
  })

  it('with Docker down the cluster is unreachable, like a stopped kind node', async () => {
    const result = await tools.exec('env', ['DOCKER_HOST=unix:///nonexistent/docker.sock', 'kubectl', '--context', ctx, 'get', 'pods', '-n', ns, '-o', 'json'])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/The connection to the server 127\.0\.0\.1:\d+ was refused - did you specify the right host or port\?\n$/)
  })

  it('port-forward exits when a connection finds nothing listening in the container', async () => {
    const text = `apiVersion: v1
kind: Pod
metadata: {name: mute, namespace: ${ns}}
spec:
  containers:
  - {name: app, image: "${imageV1}", command: [node, -e, "setInterval(() => {}, 1000)"], ports: [{containerPort: 8080}]}
`
    await kubectl(['apply', '-f', '-'], text)
    await eventually('the mute pod to run', async () => (await tools.pods(cluster, ns)).find((p) => p.metadata.name === 'mute' && p.status.phase === 'Running'))
    const port = await freePort()
    const forward = await startForward(tools, ['--context', ctx, 'port-forward', 'pod/mute', `${port}:8080`, '-n', ns], port)
    forwards.push(forward)
    await fetch(`http://127.0.0.1:${port}/`).catch(() => undefined)
    expect(await forward.exited).toBe(1)
    expect(forward.stderr()).toMatch(/portforward\.go:\d+\] .*connection refused.*\nerror: lost connection to pod\n$/)
    await kubectl(['delete', 'pod', 'mute', '-n', ns])
  })

  it('logs -f follows until the container ends; too many streams is an error', async () => {
    const text = `apiVersion: apps/v1
kind: Deployment
metadata: {name: ticker, namespace: ${ns}}
spec:
  replicas: 6
  selector: {matchLabels: {app: ticker}}
  template:
    metadata: {labels: {app: ticker}}
    spec:
      containers:
      - {name: app, image: "${imageV1}", command: [node, -e, "let i = 0; const t = setInterval(() => { console.log('tick ' + i++); if (i === 3) process.exit(0) }, 300)"]}
`
    await kubectl(['apply', '-f', '-'], text)
    await eventually('6 ticker pods', async () => (await tools.pods(cluster, ns)).filter((p) => p.metadata.labels?.app === 'ticker' && p.status.phase === 'Running').length === 6)
    const tooMany = await kubectl(['logs', '-f', '-l', 'app=ticker', '-n', ns])
    expect(tooMany).toEqual({
      code: 1,
      stdout: '',
      stderr: 'error: you are attempting to follow 6 log streams, but maximum allowed concurrency is 5, use --max-log-requests to increase the limit\n',
    })
    const [pod] = (await tools.pods(cluster, ns)).filter((p) => p.metadata.labels?.app === 'ticker' && p.containers.app.id)
    const followed = await kubectl(['logs', '-f', pod.metadata.name, '-n', ns, '--prefix'])
    expect(followed.code).toBe(0)
    expect(followed.stdout).toMatch(new RegExp(`\\[pod/${pod.metadata.name}/app\\] tick 2\\n$`))
    await kubectl(['delete', 'deployment', 'ticker', '-n', ns])
  })

  it('a container over its memory limit is OOMKilled and restarted', async () => {
    const text = `apiVersion: v1
kind: Pod
metadata: {name: hog, namespace: ${ns}}
spec:
  containers:
  - name: app
    image: "${imageV1}"
    command: [node, -e, "const a = []; setInterval(() => { for (let i = 0; i < 20; i++) a.push(Buffer.alloc(1 << 20, 1)) }, 10)"]
    resources: {limits: {memory: 64Mi}}
`
    await kubectl(['apply', '-f', '-'], text)
    const status = await eventually('an OOMKilled restart', async () => {
      const s = (await tools.pods(cluster, ns)).find((p) => p.metadata.name === 'hog')?.status.containerStatuses?.[0]
      return s?.lastState.terminated ? s : undefined
    })
    expect(status.lastState.terminated).toMatchObject({reason: 'OOMKilled', exitCode: 137})
    await kubectl(['delete', 'pod', 'hog', '-n', ns])
  })

  it('says "unsupported" for commands it does not fake', async () => {
    expect(await kubectl(['cp', 'pod:/tmp/a', 'b'])).toMatchObject({code: 2, stderr: `fake kubectl: unsupported: --context ${ctx} cp pod:/tmp/a b\n`})
  })

  it('kustomize runs the real kubectl', async () => {
    const dir = fs.mkdtempSync(`${tools.stateDir}/kustomize-`)
    fs.writeFileSync(`${dir}/kustomization.yaml`, 'resources: [cm.yaml]\nnamespace: zz\n')
    fs.writeFileSync(`${dir}/cm.yaml`, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n')
    const result = await kubectl(['kustomize', dir])
    expect(result.code).toBe(0)
    expect(YAML.parse(result.stdout).metadata).toEqual({name: 'c', namespace: 'zz'})
  })

  it('a replaced or deleted pod stays Terminating for its grace period, and no controller counts it', async () => {
    const tns = 'term'
    // 200 s is 10 s at this speed; the test image's Node (PID 1) ignores SIGTERM, as many apps do.
    const deployment = (image: string) =>
      manifests({namespace: tns, image}).replace('    spec:\n      containers:', '    spec:\n      terminationGracePeriodSeconds: 200\n      containers:')
    expect((await kubectl(['apply', '-f', '-'], deployment(imageV1))).code).toBe(0)
    expect((await kubectl(['rollout', 'status', 'deployment/hello', '-n', tns, '--timeout=40s'])).code).toBe(0)
    const [old] = await tools.pods(cluster, tns)
    expect((await kubectl(['apply', '-f', '-'], deployment(imageV2))).code).toBe(0)
    // The rollout completes without waiting for the old pod to be gone.
    expect((await kubectl(['rollout', 'status', 'deployment/hello', '-n', tns, '--timeout=40s'])).code).toBe(0)
    const table = (await kubectl(['get', 'pods', '-n', tns])).stdout
    expect(table).toMatch(new RegExp(`^${old.metadata.name} +1/1 +Terminating +0 +`, 'm'))
    const live = JSON.parse((await kubectl(['get', 'pod', old.metadata.name, '-n', tns, '-o', 'json'])).stdout)
    expect(live.metadata.deletionGracePeriodSeconds).toBe(200)
    expect(Date.parse(live.metadata.deletionTimestamp)).toBeGreaterThan(Date.now() + 150_000)
    expect(live.status.containerStatuses[0].state.running).toBeDefined()
    const deploymentStatus = JSON.parse((await kubectl(['get', 'deployment', 'hello', '-n', tns, '-o', 'json'])).stdout).status
    expect(deploymentStatus).toMatchObject({replicas: 1, updatedReplicas: 1, availableReplicas: 1})
    const events = (await kubectl(['get', 'events', '-n', tns, '-o', 'json'])).stdout
    expect(events).toContain(`Stopping container hello`)

    // kubectl delete pod waits for the grace period by default; --wait=false returns at once.
    const current = (await tools.pods(cluster, tns)).find((pod) => !pod.metadata.deletionTimestamp)!
    expect(await kubectl(['delete', 'pod', current.metadata.name, '-n', tns, '--wait=false'])).toEqual({code: 0, stdout: `pod "${current.metadata.name}" deleted\n`, stderr: ''})
    // The ReplicaSet replaces it at once: a Terminating pod is not a replica.
    await eventually('a replacement pod', async () => {
      const pods = await tools.pods(cluster, tns)
      return pods.length === 3 && pods.filter((pod) => !pod.metadata.deletionTimestamp).length === 1
    })
    // Once the grace period is over the kubelet kills what still runs and the pod object goes.
    await eventually('the old pods gone', async () => (await tools.pods(cluster, tns)).length === 1, 40_000)
    const ids = await tools.containerIds()
    for (const pod of [old, current]) for (const {id} of Object.values(pod.containers)) expect(ids).not.toContain(id)
    expect(await kubectl(['delete', 'pod', 'x', '-n', tns, '--grace-period=0'])).toMatchObject({code: 1, stderr: 'error: --grace-period=0 must have --force specified\n'})
    expect((await kubectl(['delete', 'namespace', tns])).code).toBe(0)
  })

  it('deleting the namespace removes its objects and containers', async () => {
    const before = await tools.containerIds()
    expect(before.length).toBeGreaterThan(0)
    expect(await kubectl(['delete', 'namespace', ns, '--ignore-not-found'])).toEqual({code: 0, stdout: `namespace "${ns}" deleted\n`, stderr: ''})
    expect(await tools.containerIds()).toEqual([])
    expect(await kubectl(['delete', 'namespace', ns, '--ignore-not-found'])).toEqual({code: 0, stdout: '', stderr: ''})
    expect(await kubectl(['delete', 'namespace', ns])).toEqual({code: 1, stdout: '', stderr: `Error from server (NotFound): namespaces "${ns}" not found\n`})
    expect(await kubectl(['get', 'pods', '-n', ns, '-o', 'json'])).toMatchObject({code: 0})
  })
})

// StatefulSets as the statefulset controller, kind's local-path provisioner and the kubelet run them.
describe.skipIf(!hasDocker)('fake StatefulSets, volumes and exec probes', () => {
  let tools: FakeToolchain
  const cluster = `sts-${suffix}`
  const ctx = `kind-${cluster}`
  const ns = 'store'
  const image = `devkube-fake-test/http:sts-${suffix}`
  const kubectl = (args: string[], input?: string) => tools.exec('kubectl', ['--context', ctx, ...args], {input})
  // Ready only when /data/ready exists: what is in the volume decides readiness.
  const statefulSet = (storage = '1Gi') => `apiVersion: v1
kind: Namespace
metadata: {name: ${ns}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: kv, namespace: ${ns}}
spec:
  serviceName: kv
  replicas: 2
  selector: {matchLabels: {app: kv}}
  template:
    metadata: {labels: {app: kv}}
    spec:
      containers:
      - name: kv
        image: ${image}
        command: ["node", "-e", "require('fs').writeFileSync('/tmp/pass', process.argv[1]); require('/app/server.js')", "$(SECRET_WORD)"]
        env: [{name: SECRET_WORD, value: swordfish}]
        ports: [{containerPort: 8080}]
        volumeMounts: [{name: data, mountPath: /data}]
        readinessProbe:
          exec: {command: ["node", "-e", "process.exit(require('fs').existsSync('/data/ready') ? 0 : 1)"]}
          periodSeconds: 1
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: ${storage}}}
`
  const pod = async (name: string) => (await tools.pods(cluster, ns)).find((p) => p.metadata.name === name)
  const containerOf = async (name: string) => (await pod(name))?.containers.kv.id ?? undefined
  const inPod = async (name: string, script: string) => {
    const id = await eventually(`a container for ${name}`, () => containerOf(name))
    return execCommand('docker', ['exec', id, 'node', '-e', script])
  }
  const ready = async (name: string) => (await pod(name))?.status.containerStatuses?.[0]?.ready === true
  const rolloutNow = async () => (await kubectl(['rollout', 'status', 'statefulset/kv', '-n', ns, '--watch=false'])).stdout
  const volumes = async () => (await execCommand('docker', ['volume', 'ls', '-q', '--filter', `label=devkube.fake.cluster=${cluster}`])).stdout.split('\n').filter(Boolean)

  beforeAll(async () => {
    await buildTestHttpImage(image, {body: 'kv'})
    tools = await createFakeToolchain({speed: 0.05})
    expect((await tools.exec('kind', ['create', 'cluster', '--name', cluster, '--config', '-'], {input: kindConfig()})).code).toBe(0)
    expect((await tools.exec('kind', ['load', 'docker-image', image, '--name', cluster])).code).toBe(0)
  })
  afterAll(async () => {
    await tools?.cleanup()
    await execCommand('docker', ['rmi', image])
  })

  it('creates pods in order, each with its own claim, and the exec readiness probe gates Ready', async () => {
    expect(await kubectl(['apply', '-f', '-'], statefulSet())).toEqual({code: 0, stdout: `namespace/${ns} created\nstatefulset.apps/kv created\n`, stderr: ''})
    expect((await kubectl(['apply', '-f', '-'], statefulSet())).stdout).toBe(`namespace/${ns} unchanged\nstatefulset.apps/kv unchanged\n`)
    // kv-0 runs but is not ready (no /data/ready): kv-1 is not created yet (OrderedReady).
    await eventually('kv-0 running', async () => (await pod('kv-0'))?.status.phase === 'Running')
    expect(await rolloutNow()).toBe('Waiting for 2 pods to be ready...\n')
    expect(await pod('kv-1')).toBeUndefined()
    const events = JSON.parse((await kubectl(['get', 'events', '-n', ns, '-o', 'json'])).stdout)
    await eventually('an Unhealthy event', async () => {
      const list = JSON.parse((await kubectl(['get', 'events', '-n', ns, '-o', 'json'])).stdout)
      return list.items.some((e: {reason: string; message: string}) => e.reason === 'Unhealthy' && e.message.startsWith('Readiness probe failed:'))
    })
    expect(events.items.map((e: {message: string}) => e.message)).toContain('create Claim data-kv-0 Pod kv-0 in StatefulSet kv success')
    // $(VAR) in command is expanded by the kubelet from the container's env.
    expect((await inPod('kv-0', "process.stdout.write(require('fs').readFileSync('/tmp/pass', 'utf8'))")).stdout).toBe('swordfish')

    expect((await inPod('kv-0', "require('fs').writeFileSync('/data/ready', 'yes')")).code).toBe(0)
    await eventually('kv-0 ready', () => ready('kv-0'))
    await eventually('kv-1 running', async () => (await pod('kv-1'))?.status.phase === 'Running')
    expect(await ready('kv-1')).toBe(false)
    expect((await inPod('kv-1', "require('fs').writeFileSync('/data/ready', 'yes')")).code).toBe(0)
    await eventually('kv-1 ready', () => ready('kv-1'))

    const status = await kubectl(['rollout', 'status', 'statefulset/kv', '-n', ns, '--timeout=30s'])
    expect(status).toMatchObject({code: 0, stderr: ''})
    expect(status.stdout.split('\n').at(-2)).toBe('partitioned roll out complete: 2 new pods have been updated...')
    const sts = JSON.parse((await kubectl(['get', 'statefulset', 'kv', '-n', ns, '-o', 'json'])).stdout)
    expect(sts.spec).toMatchObject({podManagementPolicy: 'OrderedReady', updateStrategy: {type: 'RollingUpdate', rollingUpdate: {partition: 0}}})
    expect(sts.status).toMatchObject({replicas: 2, readyReplicas: 2, currentReplicas: 2, updatedReplicas: 2, availableReplicas: 2, observedGeneration: 1})
    expect(sts.status.currentRevision).toMatch(/^kv-[a-z0-9]{10}$/)
    expect(sts.status.updateRevision).toBe(sts.status.currentRevision)
    const logs = await kubectl(['logs', 'statefulset/kv', '-n', ns])
    expect(logs).toMatchObject({code: 0, stderr: 'Found 2 pods, using pod/kv-0\n'})
    expect(logs.stdout).toContain('listening on 8080')
    const pods = JSON.parse((await kubectl(['get', 'pods', '-n', ns, '-l', 'app=kv', '-o', 'json'])).stdout)
    expect(pods.items[0].metadata.labels).toMatchObject({'statefulset.kubernetes.io/pod-name': 'kv-0', 'apps.kubernetes.io/pod-index': '0', 'controller-revision-hash': sts.status.updateRevision})
    expect(pods.items[0].spec).toMatchObject({hostname: 'kv-0', subdomain: 'kv', volumes: [{name: 'data', persistentVolumeClaim: {claimName: 'data-kv-0'}}]})
  })

  it('binds the claims (kind\'s default class) and prints them and the set as kubectl does', async () => {
    const claims = JSON.parse((await kubectl(['get', 'pvc', '-n', ns, '-o', 'json'])).stdout)
    expect(claims.items.map((c: {metadata: {name: string}}) => c.metadata.name)).toEqual(['data-kv-0', 'data-kv-1'])
    expect(claims.items[0]).toMatchObject({
      metadata: {labels: {app: 'kv'}, annotations: {'volume.kubernetes.io/storage-provisioner': 'rancher.io/local-path', 'volume.kubernetes.io/selected-node': `${cluster}-control-plane`}},
      spec: {storageClassName: 'standard', volumeMode: 'Filesystem', volumeName: `pvc-${claims.items[0].metadata.uid}`},
      status: {phase: 'Bound', capacity: {storage: '1Gi'}, accessModes: ['ReadWriteOnce']},
    })
    const table = (await kubectl(['get', 'pvc', '-n', ns])).stdout.split('\n')
    expect(table[0]).toMatch(/^NAME +STATUS +VOLUME +CAPACITY +ACCESS MODES +STORAGECLASS +VOLUMEATTRIBUTESCLASS +AGE$/)
    expect(table[1]).toMatch(/^data-kv-0 +Bound +pvc-[0-9a-f-]+ +1Gi +RWO +standard +<unset> +\d+s$/)
    expect((await kubectl(['get', 'statefulsets', '-n', ns])).stdout).toMatch(/^NAME +READY +AGE\nkv +2\/2 +\d+s\n$/)
    expect(await volumes()).toHaveLength(2)
  })

  it('a deleted pod comes back with the same name and the same volume', async () => {
    const before = await containerOf('kv-0')
    expect(await kubectl(['delete', 'pod', 'kv-0', '-n', ns])).toEqual({code: 0, stdout: 'pod "kv-0" deleted\n', stderr: ''})
    const after = await eventually('a new kv-0', async () => {
      const id = await containerOf('kv-0')
      return id && id !== before ? id : undefined
    })
    expect(after).not.toBe(before)
    // Ready without writing anything: /data/ready is still in its volume.
    await eventually('kv-0 ready again', () => ready('kv-0'))
    expect((await inPod('kv-0', "process.stdout.write(require('fs').readFileSync('/data/ready', 'utf8'))")).stdout).toBe('yes')
    expect(await volumes()).toHaveLength(2)
  })

  it('refuses to change volumeClaimTemplates, as the API server does', async () => {
    const changed = await kubectl(['apply', '-f', '-'], statefulSet('2Gi'))
    expect(changed.code).toBe(1)
    expect(changed.stderr).toBe(
      "The StatefulSet \"kv\" is invalid: spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden\n",
    )
  })

  it('deleting the set keeps the claims; deleting a claim (or the namespace) deletes its volume', async () => {
    expect(await kubectl(['delete', 'statefulset', 'kv', '-n', ns])).toEqual({code: 0, stdout: 'statefulset.apps "kv" deleted\n', stderr: ''})
    // Its pods go as any deleted pod does: Terminating for their grace period, then gone.
    await eventually('the set\'s pods gone', async () => ((await tools.pods(cluster, ns)).length === 0 ? true : undefined), 40_000)
    expect(await volumes()).toHaveLength(2)
    expect(await kubectl(['delete', 'pvc', 'data-kv-1', '-n', ns])).toEqual({code: 0, stdout: 'persistentvolumeclaim "data-kv-1" deleted\n', stderr: ''})
    expect(await volumes()).toHaveLength(1)
    expect((await kubectl(['delete', 'namespace', ns])).code).toBe(0)
    expect(await volumes()).toEqual([])
  })

  it('deleting the cluster deletes the volumes of its claims (they lived on its node)', async () => {
    expect((await kubectl(['apply', '-f', '-'], statefulSet())).code).toBe(0)
    await eventually('a bound volume', async () => (await tools.pods(cluster, ns)).length > 0 && (await volumes()).length > 0)
    expect((await tools.exec('kind', ['delete', 'cluster', '--name', cluster])).code).toBe(0)
    expect(await volumes()).toEqual([])
  })
})

function findRealKubectl(): string | undefined {
  const fakeDir = fs.realpathSync(new URL('./bin', import.meta.url).pathname)
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const candidate = `${dir}/kubectl`
    try {
      if (fs.realpathSync(dir) !== fakeDir && fs.statSync(candidate).isFile()) return candidate
    } catch {
      // not here
    }
  }
  return undefined
}

const realKubectl = findRealKubectl()

// Everything kubectl decides without a live API server can be checked against the real binary, byte for byte.
describe.skipIf(!hasDocker || !realKubectl)('fake kubectl vs. the real kubectl (no server needed)', () => {
  let tools: FakeToolchain
  beforeAll(async () => {
    tools = await createFakeToolchain()
    await tools.exec('kind', ['create', 'cluster', '--name', 'cmp'], {input: ''})
    const config = YAML.parse(fs.readFileSync(tools.kubeconfigPath, 'utf8'))
    config.clusters.push({name: 'dead', cluster: {server: 'https://127.0.0.1:1', 'certificate-authority-data': config.clusters[0].cluster['certificate-authority-data']}})
    config.contexts.push({name: 'dead', context: {cluster: 'dead', user: 'kind-cmp', namespace: 'web'}})
    config.users.push({name: 'prod', user: {token: 'secret-token'}})
    fs.writeFileSync(tools.kubeconfigPath, YAML.stringify(config))
  })
  afterAll(async () => {
    await tools?.cleanup()
  })
  // klog headers carry a time and a pid.
  const normalize = (text: string) => text.replace(/^E\d{4} [\d:.]+ +\d+ /gm, 'E-HEADER ')

  const cases = [
    'config view -o json',
    'config view',
    'config view --raw',
    'config view --minify -o json',
    'config get-contexts',
    'config get-contexts -o name',
    'config get-contexts nope',
    'config current-context',
    '--context nope get pods',
    '--context dead get pods',
    '--context dead get deployments,services -l app=x -o json',
    '--context dead get deployment hello -o json',
    '--context dead apply -f -',
    '--context dead rollout status deployment/hello --timeout=5s',
    '--context dead rollout history deployment/hello',
    '--context dead scale deployment/hello --replicas=2',
    '--context dead delete namespace web --ignore-not-found',
    '--context dead logs -l app=x --tail=3',
    '--context dead port-forward svc/hello 8080:80',
    '--context dead create namespace web',
    'get',
    'logs',
    'delete',
    'scale deployment/x',
    'port-forward svc/x',
    'rollout status',
    'apply',
    'get pods --bogus',
    'rollout status deployment/x --timeout=abc',
  ]
  for (const args of cases) {
    it(`kubectl ${args}`, async () => {
      const input = 'apiVersion: v1\nkind: Namespace\nmetadata: {name: web}\n'
      const fake = await tools.exec('kubectl', args.split(' '), {input})
      const real = await tools.exec(realKubectl!, args.split(' '), {input})
      expect({code: fake.code, stdout: fake.stdout, stderr: normalize(fake.stderr)}).toEqual({code: real.code, stdout: real.stdout, stderr: normalize(real.stderr)})
    })
  }
})
