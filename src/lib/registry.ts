/**
 * The local registry of `registry: true` (issue 12), wired as kind's "Local Registry" guide does
 * (https://kind.sigs.k8s.io/docs/user/local-registry/): a registry container published on
 * 127.0.0.1:<port> and joined to the kind network, containerd's hosts.toml for localhost:<port> on
 * the node pointing at http://<container>:5000, and the `local-registry-hosting` ConfigMap of
 * KEP-1755 in kube-public. A registry that ctlptl or kind's script set up is found and reused. The
 * registry outlives clusters (`down` leaves it): it is shared, like kind's own `kind-registry`.
 */
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {parse} from 'yaml'
import {DOCKER_NOT_RUNNING, dockerNotRunningError} from './docker.js'
import {UserError} from './errors.js'
import type {Kube} from './kube.js'
import {waitForRegistry} from './registry-api.js'
import {nodeContainers} from './kind.js'
import {run} from './runner.js'
import {renderTemplate} from './templates.js'

/** `registry:` of devkube.yaml resolved: `true` means these defaults (kind's guide uses 5001). */
export interface RegistrySettings {
  /** The container devkube creates when it finds none to reuse. */
  name: string
  /** Its port on 127.0.0.1: images are pushed to and named localhost:<port>/... */
  port: number
  image: string
}

export const DEFAULT_REGISTRY: RegistrySettings = {name: 'devkube-registry', port: 5001, image: 'registry:2'}

/** The names kind's script and ctlptl give their registry containers, tried after devkube's own. */
export const KNOWN_REGISTRY_CONTAINERS = ['kind-registry', 'ctlptl-registry']

/** The KEP-1755 ConfigMap and the key its versioned document lives under. */
export const REGISTRY_CONFIGMAP = {namespace: 'kube-public', name: 'local-registry-hosting', key: 'localRegistryHosting.v1'}

/** The node label devkube's registry cluster config sets: the node's certs.d is devkube's folder. */
export const HOSTS_MOUNTED_LABEL = 'devkube.dev/registry-hosts'

export interface LocalRegistry {
  /** Where images are pushed and what manifests name: localhost:<port>. */
  host: string
  /** The registry container as the nodes reach it on the kind network (undefined: the cluster's ConfigMap did not say). */
  container?: string
  /**
   * cluster: named by the cluster's own ConfigMap (ctlptl, kind's script, or devkube earlier), nothing to wire;
   * running: a registry container found running; created: started by devkube just now.
   */
  origin: 'cluster' | 'running' | 'created'
  /** The folder mounted as the node's /etc/containerd/certs.d (devkube-made clusters only). */
  certsDir?: string
}

/** The docker network kind puts its nodes on (kind honours KIND_EXPERIMENTAL_DOCKER_NETWORK). */
export function kindNetwork(env: NodeJS.ProcessEnv = process.env): string {
  return env.KIND_EXPERIMENTAL_DOCKER_NETWORK?.trim() || 'kind'
}

/**
 * devkube's folder of containerd host entries for one cluster, mounted into its node. It must
 * outlive reboots (the node container is restarted with its mounts), so it is not under /tmp.
 */
export function certsDirFor(cluster: string, env: NodeJS.ProcessEnv = process.env): string {
  const data = env.XDG_DATA_HOME?.trim() || path.join(os.homedir(), '.local', 'share')
  return path.join(data, 'devkube', 'kind', cluster, 'certs.d')
}

export function renderHostsToml(registry: {port: number; container: string}): string {
  return renderTemplate('kind/hosts.toml', {port: registry.port, registryContainer: registry.container})
}

export function renderRegistryConfigMap(registry: {host: string; container: string}): string {
  return renderTemplate('kind/local-registry-hosting.yaml', {host: registry.host, hostFromContainerRuntime: `${registry.container}:5000`})
}

/** Writes certs.d/localhost:<port>/hosts.toml into devkube's folder for the cluster (containerd reads it at each pull). */
export function writeHostsEntry(certsDir: string, registry: {port: number; container: string}): void {
  const dir = path.join(certsDir, `localhost:${registry.port}`)
  mkdirSync(dir, {recursive: true})
  const file = path.join(dir, 'hosts.toml')
  const text = renderHostsToml(registry)
  let current: string | undefined
  try {
    current = readFileSync(file, 'utf8')
  } catch {
    current = undefined
  }
  if (current !== text) writeFileSync(file, text)
}

/** What a cluster's `local-registry-hosting` ConfigMap says, or undefined when it has none. */
export async function clusterRegistry(kube: Kube): Promise<{host: string; hostFromContainerRuntime?: string} | undefined> {
  const configMap = await kube.getJson<{data?: Record<string, string>}>(['configmap', REGISTRY_CONFIGMAP.name], REGISTRY_CONFIGMAP.namespace, true)
  const document = configMap?.data?.[REGISTRY_CONFIGMAP.key]
  if (!document) return undefined
  const hosting = parse(document) as {host?: string; hostFromContainerRuntime?: string} | null
  if (!hosting?.host) return undefined
  return {host: hosting.host, hostFromContainerRuntime: hosting.hostFromContainerRuntime}
}

export interface RegistryContainer {
  name: string
  running: boolean
  /** The 127.0.0.1 port its :5000 is published on. */
  port?: number
  networks: string[]
}

/** The named containers that exist, as docker inspects them (missing names are left out). */
export async function inspectContainers(names: string[]): Promise<RegistryContainer[]> {
  const format = '{{.Name}}|{{.State.Running}}|{{json .NetworkSettings.Ports}}|{{json .NetworkSettings.Networks}}'
  const result = await run(['docker', 'inspect', '--type', 'container', '--format', format, ...names], {allowFailure: true, quiet: true})
  if (result.exitCode !== 0 && DOCKER_NOT_RUNNING.test(result.stderr)) throw dockerNotRunningError()
  return result.stdout
    .split('\n')
    .filter((line) => line.includes('|'))
    .map((line) => {
      const [name, running, ports, networks] = line.split('|')
      const bindings = (JSON.parse(ports || 'null') as Record<string, Array<{HostIp: string; HostPort: string}> | null> | null)?.['5000/tcp'] ?? []
      const published = bindings.find((binding) => binding.HostIp === '127.0.0.1' || binding.HostIp === '0.0.0.0' || binding.HostIp === '') ?? bindings[0]
      return {
        name: name.replace(/^\//, ''),
        running: running === 'true',
        port: published ? Number(published.HostPort) : undefined,
        networks: Object.keys((JSON.parse(networks || 'null') as Record<string, unknown> | null) ?? {}),
      }
    })
}

/** The registry container to use when the cluster names none: devkube's own, else kind's or ctlptl's, running and published. */
export async function findRunningRegistry(settings: RegistrySettings): Promise<RegistryContainer | undefined> {
  const names = [settings.name, ...KNOWN_REGISTRY_CONTAINERS.filter((name) => name !== settings.name)]
  const found = await inspectContainers(names)
  const own = found.find((container) => container.name === settings.name)
  if (own && !own.running) {
    // devkube's own, stopped (a reboot without --restart, or by hand): start it rather than make another.
    const started = await run(['docker', 'start', own.name], {allowFailure: true})
    if (started.exitCode === 0) return (await inspectContainers([own.name]))[0]
    throw new UserError(`The registry container ${own.name} exists but does not start: ${started.stderr.trim().split('\n').at(-1)}`, {
      hint: `Remove it (\`docker rm -f ${own.name}\`) and run \`devkube up\` again to create it afresh.`,
    })
  }
  return names.map((name) => found.find((container) => container.name === name)).find((container) => container?.running && container.port !== undefined)
}

/** Starts the registry container as kind's guide does: always restarted, published on 127.0.0.1 only. */
export async function createRegistry(settings: RegistrySettings, signal?: AbortSignal): Promise<RegistryContainer> {
  const argv = ['docker', 'run', '-d', '--restart=always', '-p', `127.0.0.1:${settings.port}:5000`, '--name', settings.name, '--label', 'app.kubernetes.io/managed-by=devkube', settings.image]
  const result = await run(argv, {allowFailure: true, signal})
  if (result.exitCode !== 0 && !signal?.aborted) {
    const text = `${result.stderr}\n${result.stdout}`
    if (DOCKER_NOT_RUNNING.test(text)) throw dockerNotRunningError()
    // A failed start leaves a created container behind: remove it, so nothing is half-done.
    await run(['docker', 'rm', '-f', settings.name], {allowFailure: true, quiet: true})
    if (/port is already allocated|address already in use/i.test(text)) {
      throw new UserError(`The local registry cannot listen on 127.0.0.1:${settings.port}: another program already uses that port.`, {
        hint: 'Pick a free port in devkube.yaml, e.g. `registry: {port: 5002}`, and run `devkube up` again.',
      })
    }
    const reason = text.trim().split('\n').filter(Boolean).at(-1) ?? 'docker run failed'
    throw new UserError(`devkube could not start the local registry container ${settings.name} (${settings.image}): ${reason}`, {
      hint: /pull|not found|manifest unknown/i.test(text)
        ? `The image ${settings.image} could not be pulled: pull it once while online, or set \`registry: {image: <a registry:2 image you have>}\`.`
        : 'Run `devkube doctor` to check Docker, then run `devkube up` again.',
    })
  }
  return {name: settings.name, running: true, port: settings.port, networks: ['bridge']}
}

/** Joins the registry container to the kind network (once it exists: kind makes it with the first cluster). */
export async function connectToKindNetwork(container: string): Promise<boolean> {
  const network = kindNetwork()
  const [current] = await inspectContainers([container])
  if (!current) throw new UserError(`The registry container ${container} is gone.`, {hint: 'Run `devkube up` again: it starts a registry when none is running.'})
  if (current.networks.includes(network)) return false
  const result = await run(['docker', 'network', 'connect', network, container], {allowFailure: true})
  if (result.exitCode !== 0 && !/already exists in network/.test(result.stderr)) {
    throw new UserError(`devkube could not join the registry container ${container} to the docker network "${network}": ${result.stderr.trim().split('\n').at(-1)}`, {
      hint: `Run \`docker network connect ${network} ${container}\` yourself, then \`devkube up\` again.`,
    })
  }
  return true
}

/**
 * The registry of `up` on kind: the cluster's own when it names one (reused as is), else a running
 * devkube/kind/ctlptl registry container, else a new one. For a cluster devkube is about to create
 * (or made with its registry folder mounted), the hosts.toml entry is written here. A registry just
 * started may not answer yet: `waitForRegistry` before the first push.
 */
export async function resolveLocalRegistry(kube: Kube, settings: RegistrySettings, cluster: {exists: boolean; hostsMounted: boolean}, signal?: AbortSignal): Promise<LocalRegistry> {
  let nodes: string[] | undefined
  if (cluster.exists) {
    const named = await clusterRegistry(kube)
    if (named) {
      await waitForRegistry(named.host, signal, 3000)
      return {host: named.host, container: named.hostFromContainerRuntime?.replace(/:\d+$/, ''), origin: 'cluster'}
    }
    // A cluster made without devkube's folder mounted: its running nodes are told, as kind's script does.
    if (!cluster.hostsMounted) nodes = await nodesToTell(kube.cluster)
  }
  const running = await findRunningRegistry(settings)
  const container = running ?? (await createRegistry(settings, signal))
  const entry = {port: container.port!, container: container.name}
  const origin = running ? 'running' : 'created'
  // Not waited on here: the cluster's create needs only the name and port; the push waits for the API.
  if (nodes) {
    await writeHostsIntoNodes(nodes, entry)
    return {host: `localhost:${entry.port}`, container: container.name, origin}
  }
  const certsDir = certsDirFor(kube.cluster)
  writeHostsEntry(certsDir, entry)
  return {host: `localhost:${entry.port}`, container: container.name, origin, certsDir}
}

const CONFIG_PATH = /config_path\s*=\s*"\/etc\/containerd\/certs\.d"/

/**
 * The node containers of a cluster made without a registry, when containerd there reads certs.d (node
 * images of kind v0.27+ set `config_path`; older ones only with the patch at create): else one sentence.
 */
async function nodesToTell(cluster: string): Promise<string[]> {
  const cannot = (why: string) =>
    new UserError(`The kind cluster "${cluster}" was created without a local registry, and ${why}.`, {
      hint: `Recreate it with the registry (\`devkube down --cluster\`, then \`devkube up\`), or set \`registry: false\` to keep loading images with kind load.`,
    })
  const nodes = (await nodeContainers(cluster)).filter((node) => node.state === 'running').map((node) => node.name)
  if (nodes.length === 0) throw cannot('its nodes cannot be told about one without changing them')
  for (const node of nodes) {
    const config = await run(['docker', 'exec', node, 'cat', '/etc/containerd/config.toml'], {allowFailure: true, quiet: true})
    if (config.exitCode !== 0 || !CONFIG_PATH.test(config.stdout)) throw cannot(`containerd on its node ${node} does not read registry entries from /etc/containerd/certs.d (a node image older than kind v0.27)`)
  }
  return nodes
}

/** kind's guide, step 3: the hosts.toml written into each running node (containerd reads it at the next pull). */
async function writeHostsIntoNodes(nodes: string[], entry: {port: number; container: string}): Promise<void> {
  const dir = `/etc/containerd/certs.d/localhost:${entry.port}`
  for (const node of nodes) {
    await run(['docker', 'exec', '-i', node, 'sh', '-c', `mkdir -p '${dir}' && cat > '${dir}/hosts.toml'`], {input: renderHostsToml(entry)})
  }
}

/** After the cluster exists: the registry on the kind network and the KEP-1755 ConfigMap in place. */
export async function wireRegistry(kube: Kube, registry: LocalRegistry): Promise<string[]> {
  if (registry.origin === 'cluster' || !registry.container) return []
  const done: string[] = []
  if (await connectToKindNetwork(registry.container)) done.push(`joined ${registry.container} to the "${kindNetwork()}" network`)
  const current = await clusterRegistry(kube)
  if (current?.host !== registry.host || current.hostFromContainerRuntime !== `${registry.container}:5000`) {
    await kube.apply(renderRegistryConfigMap({host: registry.host, container: registry.container}))
    done.push(`published ${registry.host} in kube-public/${REGISTRY_CONFIGMAP.name}`)
  }
  return done
}
