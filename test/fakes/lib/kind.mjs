// The fake `kind` CLI (v0.27.0): same streams, texts and exit codes as the real one for what devkube uses.
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {addKindCluster, kindKubeconfigYaml, removeKindCluster} from './kubeconfig.mjs'
import {listClusterNames, lock, readCluster, removeCluster, unlock, withCluster, writeCluster} from './store.mjs'
import {
  docker,
  dockerContainerState,
  nodeContainerName,
  yaml,
  ExitError,
  formatGoDuration,
  parseGoDuration,
  prettyCommand,
  readStdin,
  simulateLatency,
  latencyMs,
  sleep,
  stateLabel,
  unsupported,
} from './util.mjs'
import {NODE_IMAGE, containersOfCluster, ensureClusterNetwork, newClusterState, normalizeImage} from './world.mjs'

const err = (message) => new ExitError(1, `ERROR: ${message}\n`)

/** An error that came from a command kind ran: kind adds the command's output. */
function commandError(prefix, argv, result) {
  const output = (result.stdout + result.stderr).trim()
  return new ExitError(1, `ERROR: ${prefix}command "${prettyCommand(argv)}" failed with error: exit status ${result.code}\n\nCommand Output: ${output}\n`)
}

function parseFlags(args, spec) {
  // spec: {name: 'string'|'bool'}; returns {flags, positional}
  const flags = {}
  const positional = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]
    if (arg.startsWith('--') || (arg.startsWith('-') && arg.length > 1 && arg !== '-')) {
      let [name, value] = arg.replace(/^--?/, '').split(/=(.*)/s)
      if (!(name in spec)) throw err(`unknown flag: ${arg.split('=')[0]}`)
      if (spec[name] === 'bool') flags[name] = value === undefined ? true : value !== 'false'
      else {
        if (value === undefined) {
          if (i + 1 >= args.length) throw err(`flag needs an argument: ${arg}`)
          value = args[++i]
        }
        flags[name] = value
      }
    } else positional.push(arg)
  }
  return {flags, positional}
}

async function dockerCheck(argv, prefix) {
  const result = await docker(argv.slice(1))
  if (result.code !== 0) throw commandError(prefix, argv, result)
  return result
}

const listArgv = (name) => ['docker', 'ps', '-a', '--filter', `label=io.x-k8s.kind.cluster=${name}`, '--format', '{{.Names}}']

// ---------- config ----------

const CONFIG_TYPES = {
  Cluster: {
    kind: 'string', apiVersion: 'string', name: 'string', featureGates: 'map', runtimeConfig: 'map', nodes: ['Node'], networking: 'Networking',
    kubeadmConfigPatches: ['string'], kubeadmConfigPatchesJSON6902: ['PatchJSON6902'], containerdConfigPatches: ['string'], containerdConfigPatchesJSON6902: ['string'],
  },
  Node: {role: 'string', image: 'string', labels: 'map', extraMounts: ['Mount'], extraPortMappings: ['PortMapping'], kubeadmConfigPatches: ['string'], kubeadmConfigPatchesJSON6902: ['PatchJSON6902']},
  Networking: {ipFamily: 'string', apiServerPort: 'int', apiServerAddress: 'string', podSubnet: 'string', serviceSubnet: 'string', disableDefaultCNI: 'bool', kubeProxyMode: 'string', dnsSearch: ['string']},
  PortMapping: {containerPort: 'int', hostPort: 'int', listenAddress: 'string', protocol: 'string'},
  Mount: {containerPath: 'string', hostPath: 'string', readOnly: 'bool', selinuxRelabel: 'bool', propagation: 'string'},
  PatchJSON6902: {group: 'string', version: 'string', kind: 'string', patch: 'string'},
}

/** gopkg.in/yaml.v3 with KnownFields(true), as kind decodes its config. */
function strictDecode(node, type, errors) {
  if (!node || node.value === null) return
  if (Array.isArray(type)) {
    if (!yaml().isSeq(node)) return errors.push(`  line ${line(node)}: cannot unmarshal ${tagOf(node)} into Go struct field of type []${goType(type[0])}`)
    for (const item of node.items) strictDecode(item, type[0], errors)
    return
  }
  if (type === 'map') return
  if (CONFIG_TYPES[type]) {
    if (!yaml().isMap(node)) return errors.push(`  line ${line(node)}: cannot unmarshal ${tagOf(node)} into Go value of type v1alpha4.${type}`)
    for (const pair of node.items) {
      const field = String(pair.key?.value ?? pair.key)
      if (!(field in CONFIG_TYPES[type])) errors.push(`  line ${line(pair.key)}: field ${field} not found in type v1alpha4.${type}`)
      else strictDecode(pair.value, CONFIG_TYPES[type][field], errors)
    }
    return
  }
  if (!yaml().isScalar(node)) return errors.push(`  line ${line(node)}: cannot unmarshal ${tagOf(node)} into Go struct field of type ${goType(type)}`)
  const v = node.value
  const bad = (type === 'int' && !Number.isInteger(v)) || (type === 'bool' && typeof v !== 'boolean')
  if (bad) errors.push(`  line ${line(node)}: cannot unmarshal !!${typeof v === 'number' ? 'int' : 'str'} \`${node.source ?? v}\` into ${goType(type)}`)
}
const goType = (t) => ({int: 'int32', bool: 'bool', string: 'string'})[t] ?? `v1alpha4.${t}`
const tagOf = (node) => (yaml().isSeq(node) ? '!!seq' : yaml().isMap(node) ? '!!map' : '!!str')
let lineCounter
const line = (node) => (node?.range && lineCounter ? lineCounter.linePos(node.range[0]).line : 1)

function parseConfig(raw) {
  lineCounter = new (yaml().LineCounter)()
  const doc = yaml().parseDocument(raw, {lineCounter})
  if (doc.errors.length) throw err(`failed to create cluster: could not determine kind / apiVersion for config: error converting YAML to JSON: yaml: line ${doc.errors[0].linePos?.[0]?.line ?? 1}: ${doc.errors[0].message.split('\n')[0]}`)
  const value = doc.toJS() ?? {}
  const apiVersion = value.apiVersion ?? ''
  if (apiVersion !== 'kind.x-k8s.io/v1alpha4') throw err(`failed to create cluster: unknown apiVersion: ${apiVersion}`)
  if (value.kind !== 'Cluster') throw err(`failed to create cluster: unknown kind ${value.kind ?? ''} for apiVersion: ${apiVersion}`)
  const errors = []
  strictDecode(doc.contents, 'Cluster', errors)
  if (errors.length) throw err(`failed to create cluster: unable to decode config: yaml: unmarshal errors:\n${errors.join('\n')}`)
  return value
}

function validateConfig(config, name) {
  const errors = []
  if (!/^[a-z0-9.-]+$/.test(name)) errors.push(`'${name}' is not a valid cluster name, cluster names must match \`^[a-z0-9.-]+$\``)
  const nodes = config.nodes ?? [{role: 'control-plane'}]
  for (const node of nodes) {
    if (!['control-plane', 'worker'].includes(node.role ?? 'control-plane')) errors.push(`invalid role for node: ${node.role}`)
    for (const mapping of node.extraPortMappings ?? []) {
      if (mapping.hostPort !== undefined && (mapping.hostPort < -1 || mapping.hostPort > 65535)) errors.push(`invalid hostPort: ${mapping.hostPort}`)
      if (mapping.containerPort !== undefined && (mapping.containerPort < 0 || mapping.containerPort > 65535)) errors.push(`invalid containerPort: ${mapping.containerPort}`)
    }
  }
  if (!nodes.some((n) => (n.role ?? 'control-plane') === 'control-plane')) errors.push('must have at least one control-plane node')
  for (const node of nodes) {
    for (const mount of node.extraMounts ?? []) {
      // kind validates only the port mappings; a bad mount is Docker's refusal of the node's `docker run` (below).
      if (!mount.containerPath) errors.push('invalid extraMount: containerPath is required')
    }
  }
  if (errors.length === 1) throw err(`failed to create cluster: ${errors[0]}`)
  if (errors.length > 1) throw err(`failed to create cluster: [${errors.join(', ')}]`)
}

/**
 * kind puts its nodes on the docker network `kind` (KIND_EXPERIMENTAL_DOCKER_NETWORK names another), made by
 * the first create and never removed by delete: a registry container joins it to be reached by name.
 */
async function ensureKindNetwork() {
  const network = process.env.KIND_EXPERIMENTAL_DOCKER_NETWORK || 'kind'
  if ((await docker(['network', 'inspect', network])).code === 0) return
  const created = await docker(['network', 'create', '-d=bridge', '-o', 'com.docker.network.bridge.enable_ip_masquerade=true', network])
  if (created.code !== 0 && !/already exists/.test(created.stderr)) throw commandError('failed to create cluster: failed to ensure docker network: ', ['docker', 'network', 'create', network], created)
}

/** The node's `docker run` refuses a bind mount whose host path does not exist, as Docker does. */
function checkMounts(config, name, image) {
  for (const node of config.nodes ?? []) {
    for (const mount of node.extraMounts ?? []) {
      const hostPath = path.resolve(mount.hostPath ?? '')
      if (fs.existsSync(hostPath)) continue
      const argv = ['docker', 'run', '--name', `${name}-control-plane`, '--volume', `${hostPath}:${mount.containerPath}${mount.readOnly ? ':ro' : ''}`, image]
      throw commandError('failed to create cluster: ', argv, {code: 125, stdout: '', stderr: `docker: Error response from daemon: invalid mount config for type "bind": bind source path does not exist: ${hostPath}.\nSee 'docker run --help'.`})
    }
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address()
      server.close(() => resolve(port))
    })
  })
}

// ---------- commands ----------

async function createCluster(args) {
  const {flags, positional} = parseFlags(args, {name: 'string', n: 'string', config: 'string', image: 'string', wait: 'string', retain: 'bool', kubeconfig: 'string', v: 'string', verbosity: 'string', q: 'bool', quiet: 'bool'})
  if (positional.length) throw err(`unknown command "${positional[0]}" for "kind create cluster"`)
  if (flags.kubeconfig) unsupported('kind', 'create cluster --kubeconfig (use KUBECONFIG)')
  let config = {kind: 'Cluster', apiVersion: 'kind.x-k8s.io/v1alpha4'}
  if (flags.config !== undefined) {
    let raw
    if (flags.config === '-') raw = await readStdin()
    else {
      try {
        raw = fs.readFileSync(flags.config, 'utf8')
      } catch {
        throw err(`failed to create cluster: error reading file: open ${flags.config}: no such file or directory`)
      }
    }
    config = parseConfig(raw)
  }
  const name = flags.name ?? flags.n ?? process.env.KIND_CLUSTER_NAME ?? config.name ?? 'kind'
  validateConfig(config, name)
  const image = flags.image ?? config.nodes?.[0]?.image ?? NODE_IMAGE
  const quiet = flags.q || flags.quiet
  const log = (line) => {
    if (!quiet) process.stderr.write(line + '\n')
  }
  await dockerCheck(listArgv(name), 'failed to create cluster: failed to list nodes: ')
  await lock(name)
  try {
    if (readCluster(name)) throw err(`failed to create cluster: node(s) already exist for a cluster with the name "${name}"`)
    const port = config.networking?.apiServerPort && config.networking.apiServerPort > 0 ? config.networking.apiServerPort : await freePort()
    await ensureKindNetwork()
    checkMounts(config, name, image)
    const state = newClusterState(name, port)
    state.nodeImage = image
    state.config = config
    state.creating = true
    writeCluster(state)
    // The pods' network (cluster DNS), made here, before any pod could race to make it.
    await ensureClusterNetwork(state)
    const steps = [
      `Ensuring node image (${image}) 🖼`,
      `Preparing nodes ${'📦 '.repeat((config.nodes ?? [{}]).length)}`,
      'Writing configuration 📜',
      'Starting control-plane 🕹️',
      'Installing CNI 🔌',
      'Installing StorageClass 💾',
    ]
    if ((config.nodes ?? []).some((n) => n.role === 'worker')) steps.push('Joining worker nodes 🚜')
    log(`Creating cluster "${name}" ...`)
    const total = latencyMs('create')
    for (const [index, step] of steps.entries()) {
      log(` • ${step}  ...`)
      if (total) await sleep(total / steps.length)
      if (index === 1) {
        // From here on the node container exists: an interrupted create leaves a listed, broken cluster.
        state.nodeContainer = await startNodeContainer(name, image)
        state.nodesCreated = true
        writeCluster(state)
      }
      log(` ✓ ${step}`)
    }
    const waitMs = flags.wait !== undefined ? parseGoDuration(flags.wait) : 0
    state.nodeReadyAt = Date.now() + latencyMs('nodeready')
    if (waitMs > 0) {
      const status = `Waiting ≤ ${formatGoDuration(waitMs)} for control-plane = Ready ⏳`
      log(` • ${status}  ...`)
      const started = Date.now()
      const readyIn = state.nodeReadyAt - Date.now()
      if (readyIn > waitMs) {
        await sleep(waitMs)
        log(` ✓ ${status}`)
        log(' • WARNING: Timed out waiting for Ready ⚠️')
      } else {
        if (readyIn > 0) await sleep(readyIn)
        log(` ✓ ${status}`)
        log(` • Ready after ${formatGoDuration(Math.max(0, Date.now() - started))} 💚`)
      }
    }
    delete state.creating
    writeCluster(state)
    addKindCluster(name, port)
    log(`Set kubectl context to "kind-${name}"`)
    log(`You can now use your cluster with:\n\nkubectl cluster-info --context kind-${name}\n`)
    const salutations = [
      'Have a nice day! 👋',
      'Thanks for using kind! 😊',
      'Not sure what to do next? 😅  Check out https://kind.sigs.k8s.io/docs/user/quick-start/',
      'Have a question, bug, or feature request? Let us know! https://kind.sigs.k8s.io/#community 🙂',
    ]
    log(salutations[Math.floor(Math.random() * salutations.length)])
  } finally {
    unlock(name)
  }
  return 0
}

const NODE_CONTAINER_IMAGE = 'devkube-fake/kind-node:sleep'

/**
 * The node as a real (tiny) container, so `docker stop <cluster>-control-plane` stops the cluster: the fake kubectl
 * answers only while it runs. Docker names are global, so it is named per state folder; the docker shim
 * (bin/docker) shows it to devkube as kind's `<cluster>-control-plane` with kind's labels.
 */
async function startNodeContainer(name, image) {
  await ensureNodeContainerImage()
  const nodeName = `${name}-control-plane`
  const container = nodeContainerName(nodeName)
  const labels = [stateLabel(), `devkube.fake.cluster=${name}`, `io.x-k8s.kind.cluster=${name}`, 'io.x-k8s.kind.role=control-plane', `devkube.fake.kind-name=${nodeName}`, `devkube.fake.kind-image=${image}`]
  // --init: `sleep` as PID 1 would ignore docker stop's SIGTERM for 10 s. kind's own restart policy.
  const result = await docker(['run', '-d', '--init', '--restart=on-failure:1', '--name', container, ...labels.flatMap((label) => ['--label', label]), NODE_CONTAINER_IMAGE])
  if (result.code !== 0) throw commandError('failed to create cluster: ', ['docker', 'run', '--name', nodeName, image], result)
  return container
}

/** An image of nothing but `sleep` (and the libraries it links), imported offline from this machine. */
async function ensureNodeContainerImage() {
  if ((await docker(['image', 'inspect', '-f', '{{.Id}}', NODE_CONTAINER_IMAGE])).code === 0) return
  const {execFileSync} = await import('node:child_process')
  const sleepBinary = fs.realpathSync('/bin/sleep')
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'devkube-fake-node-'))
  try {
    const copy = (source, target) => {
      fs.mkdirSync(path.join(root, path.dirname(target)), {recursive: true})
      fs.copyFileSync(fs.realpathSync(source), path.join(root, target))
    }
    copy(sleepBinary, '/bin/sleep')
    for (const match of execFileSync('ldd', [sleepBinary], {encoding: 'utf8'}).matchAll(/(\/\S+\.so[.\d]*)/g)) copy(match[1], match[1])
    const tar = `${root}.tar`
    execFileSync('tar', ['-C', root, '-cf', tar, '.'])
    const imported = await docker(['import', '-c', 'CMD ["/bin/sleep", "infinity"]', '-c', 'LABEL devkube.fake=kind-node', tar, NODE_CONTAINER_IMAGE])
    fs.rmSync(tar, {force: true})
    if (imported.code !== 0) throw new ExitError(1, `ERROR: failed to create cluster: fake node image: ${imported.stderr}`)
  } finally {
    fs.rmSync(root, {recursive: true, force: true})
  }
}

async function deleteCluster(args) {
  const {flags} = parseFlags(args, {name: 'string', n: 'string', kubeconfig: 'string', v: 'string', verbosity: 'string', q: 'bool', quiet: 'bool'})
  const name = flags.name ?? flags.n ?? process.env.KIND_CLUSTER_NAME ?? 'kind'
  process.stderr.write(`Deleting cluster "${name}" ...\n`)
  await dockerCheck(listArgv(name), 'failed to delete cluster "' + name + '": failed to list nodes: ')
  await simulateLatency('delete')
  await lock(name)
  try {
    const state = readCluster(name)
    // Every container of the cluster, also ones a crashed fake left behind: found by label, like kind does.
    const labelled = await docker(['ps', '-aq', '--filter', `label=${stateLabel()}`, '--filter', `label=devkube.fake.cluster=${name}`])
    const ids = [...new Set([...labelled.stdout.split('\n').filter(Boolean), ...(state ? containersOfCluster(state) : [])])]
    if (ids.length) await docker(['rm', '-f', ...ids])
    // The volumes of its claims lived on the node (local-path): they go with it.
    const volumes = await docker(['volume', 'ls', '-q', '--filter', `label=${stateLabel()}`, '--filter', `label=devkube.fake.cluster=${name}`])
    const volumeNames = volumes.stdout.split('\n').filter(Boolean)
    if (volumeNames.length) await docker(['volume', 'rm', '-f', ...volumeNames])
    // The pods' network (cluster DNS) goes with the cluster.
    const networks = await docker(['network', 'ls', '-q', '--filter', `label=${stateLabel()}`, '--filter', `label=devkube.fake.cluster=${name}`])
    const networkIds = networks.stdout.split('\n').filter(Boolean)
    if (networkIds.length) await docker(['network', 'rm', ...networkIds])
    removeKindCluster(name)
    if (state) {
      removeCluster(name)
      process.stderr.write(`Deleted nodes: ["${name}-control-plane"]\n`)
    }
  } finally {
    unlock(name)
  }
  return 0
}

async function getClusters() {
  await dockerCheck(['docker', 'ps', '-a', '--filter', 'label=io.x-k8s.kind.cluster', '--format', '{{.Label "io.x-k8s.kind.cluster"}}'], 'failed to list clusters: ')
  await simulateLatency('get')
  const names = listClusterNames().filter((n) => {
    const state = readCluster(n)
    return state && (!state.creating || state.nodesCreated)
  })
  if (!names.length) process.stderr.write('No kind clusters found.\n')
  else process.stdout.write(names.join('\n') + '\n')
  return 0
}

async function getNodes(args) {
  const {flags} = parseFlags(args, {name: 'string', n: 'string', 'all-clusters': 'bool', A: 'bool'})
  const name = flags.name ?? flags.n ?? process.env.KIND_CLUSTER_NAME ?? 'kind'
  await dockerCheck(listArgv(name), 'failed to list nodes: ')
  const state = readCluster(name)
  if (!state || (state.creating && !state.nodesCreated)) process.stderr.write(`No kind nodes found for cluster "${name}".\n`)
  else process.stdout.write(`${name}-control-plane\n`)
  return 0
}

async function getKubeconfig(args) {
  const {flags} = parseFlags(args, {name: 'string', n: 'string', internal: 'bool'})
  const name = flags.name ?? flags.n ?? process.env.KIND_CLUSTER_NAME ?? 'kind'
  await dockerCheck(listArgv(name), 'failed to list nodes: ')
  const state = readCluster(name)
  if (!state) throw err(`could not locate any control plane nodes for cluster named '${name}'. Use the --name option to select a different cluster`)
  // kind reads admin.conf from the node (docker exec): a stopped node has none to give.
  if (state.nodeContainer && (await dockerContainerState(state.nodeContainer)) === 'stopped') {
    const command = `docker exec --privileged ${name}-control-plane cat /etc/kubernetes/admin.conf`
    throw new ExitError(1, `ERROR: failed to get cluster internal kubeconfig: failed to read kubeconfig from node: command "${command}" failed with error: exit status 1\n\nCommand Output: Error response from daemon: container ${state.nodeContainer} is not running\n`)
  }
  process.stdout.write(kindKubeconfigYaml(name, state.port))
  return 0
}

async function exportKubeconfig(args) {
  const {flags} = parseFlags(args, {name: 'string', n: 'string', kubeconfig: 'string', internal: 'bool'})
  const name = flags.name ?? flags.n ?? process.env.KIND_CLUSTER_NAME ?? 'kind'
  await dockerCheck(listArgv(name), 'failed to list nodes: ')
  const state = readCluster(name)
  if (!state) throw err(`could not locate any control plane nodes for cluster named '${name}'. Use the --name option to select a different cluster`)
  addKindCluster(name, state.port)
  process.stderr.write(`Set kubectl context to "kind-${name}"\n`)
  return 0
}

async function imageId(image) {
  // The image's USER is kept: the kubelet checks runAsNonRoot against it.
  const result = await docker(['image', 'inspect', '-f', '{{ .Id }}|{{ .Size }}|{{ .Config.User }}', image])
  if (result.code !== 0) return undefined
  const [id, size, user] = result.stdout.trim().split('|')
  return {id, size: Number(size), user: user ?? ''}
}

function clusterNodesOrFail(name, nodesFlag) {
  const state = readCluster(name)
  if (!state || (state.creating && !state.nodesCreated)) throw err(`no nodes found for cluster "${name}"`)
  const node = `${name}-control-plane`
  if (nodesFlag) {
    for (const n of nodesFlag.split(',')) if (n !== node) throw err(`unknown node: ${n}`)
  }
  return node
}

/**
 * DEVKUBE_FAKE_LOAD_COPY=1 (the benchmarks): the bytes move as kind moves them, the whole image streamed out
 * of Docker by `docker save` and written to disk once (kind then also imports and unpacks it in the node, so
 * this is a lower bound of a real load's cost). Without it a load costs only the simulated latency.
 */
async function copyImagesOut(images) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fake-kind-load-'))
  try {
    const saved = await docker(['save', '-o', path.join(dir, 'images.tar'), ...images], {timeoutMs: 600_000})
    if (saved.code !== 0) throw commandError('failed to load image: ', ['docker', 'save', ...images], saved)
  } finally {
    fs.rmSync(dir, {recursive: true, force: true})
  }
}

async function loadDockerImage(args) {
  const {flags, positional} = parseFlags(args, {name: 'string', n: 'string', nodes: 'string'})
  if (!positional.length) throw err('requires at least 1 arg(s), only received 0')
  const name = flags.name ?? flags.n ?? process.env.KIND_CLUSTER_NAME ?? 'kind'
  const images = [...new Set(positional)]
  const ids = []
  for (const image of images) {
    const info = await imageId(image)
    if (!info) throw err(`image: "${image}" not present locally`)
    ids.push(info)
  }
  const node = clusterNodesOrFail(name, flags.nodes)
  const toLoad = []
  const containerdStore = process.env.DEVKUBE_FAKE_IMAGE_STORE === 'containerd'
  await withCluster(name, async (state) => {
    images.forEach((image, i) => {
      // With Docker's containerd image store, Docker's ID is the manifest/index digest while the node's
      // runtime reports the config digest: kind never recognises an image as present (kind #4236).
      const present = !containerdStore && state.images[normalizeImage(image)]?.id === ids[i].id
      if (present) process.stderr.write(`Image: "${image}" with ID "${ids[i].id}" found to be already present on all nodes.\n`)
      else {
        process.stderr.write(`Image: "${image}" with ID "${ids[i].id}" not yet present on node "${node}", loading...\n`)
        toLoad.push(i)
      }
    })
  })
  if (!toLoad.length) return 0
  await simulateLatency('load')
  if (process.env.DEVKUBE_FAKE_LOAD_COPY === '1') await copyImagesOut(toLoad.map((i) => images[i]))
  if (containerdStore) {
    // kind's `docker save` writes the whole index; `ctr images import --all-platforms` misses the other
    // platforms' blobs (kind #3795). Only `docker save --platform` + `kind load image-archive` works.
    const digest = ids[toLoad[0]].id.replace(/^sha256:/, '')
    throw err(`failed to load image: command "docker exec --privileged -i ${node} ctr --namespace=k8s.io images import --all-platforms --digests --snapshotter=overlayfs -" failed with error: exit status 1\n\nCommand Output: ctr: content digest sha256:${digest.split('').reverse().join('')}: not found`)
  }
  await withCluster(name, async (state) => {
    if (!state) throw err(`no nodes found for cluster "${name}"`)
    for (const i of toLoad) state.images[normalizeImage(images[i])] = ids[i]
  })
  return 0
}

async function loadImageArchive(args) {
  const {flags, positional} = parseFlags(args, {name: 'string', n: 'string', nodes: 'string'})
  if (!positional.length) throw err('requires at least 1 arg(s), only received 0')
  const name = flags.name ?? flags.n ?? process.env.KIND_CLUSTER_NAME ?? 'kind'
  clusterNodesOrFail(name, flags.nodes)
  for (const tar of positional) {
    if (!fs.existsSync(tar)) throw err(`stat ${tar}: no such file or directory`)
  }
  const loaded = []
  for (const tar of positional) {
    const manifest = await readArchiveManifest(tar)
    if (!manifest) throw err(`failed to load image: command "docker exec --privileged -i ${name}-control-plane ctr --namespace=k8s.io images import --all-platforms --digests --snapshotter=overlayfs -" failed with error: exit status 1\n\nCommand Output: ctr: unrecognized image format`)
    for (const entry of manifest) {
      const id = 'sha256:' + path.basename(entry.Config).replace(/\.json$/, '').replace(/^sha256:/, '')
      // The fake cluster runs its pods in the host's Docker: the image must exist there too.
      if ((await docker(['image', 'inspect', '-f', '{{.Id}}', id])).code !== 0) {
        const result = await docker(['load', '-i', tar])
        if (result.code !== 0) throw err(`failed to load image: ${result.stderr.trim()}`)
      }
      const [size, user = ''] = (await docker(['image', 'inspect', '-f', '{{.Size}}|{{.Config.User}}', id])).stdout.trim().split('|')
      for (const tag of entry.RepoTags ?? []) loaded.push([tag, {id, size: Number(size) || 0, user}])
    }
  }
  await simulateLatency('load')
  await withCluster(name, async (state) => {
    for (const [tag, info] of loaded) state.images[normalizeImage(tag)] = info
  })
  return 0
}

async function readArchiveManifest(tar) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fake-kind-archive-'))
  try {
    const {execFileSync} = await import('node:child_process')
    execFileSync('tar', ['-xf', tar, '-C', dir, 'manifest.json'], {stdio: 'ignore'})
    return JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'))
  } catch {
    return undefined
  } finally {
    fs.rmSync(dir, {recursive: true, force: true})
  }
}

export async function main(argv) {
  await simulateLatency('kind')
  const words = argv.filter((a) => !a.startsWith('-'))
  const [verb, noun] = words
  const rest = (skip) => {
    const copy = [...argv]
    for (const w of skip) copy.splice(copy.indexOf(w), 1)
    return copy
  }
  if (verb === 'version' || argv[0] === '--version') {
    process.stdout.write(argv[0] === '--version' ? 'kind version 0.27.0\n' : 'kind v0.27.0 go1.23.6 linux/amd64\n')
    return 0
  }
  if (verb === 'create' && noun === 'cluster') return createCluster(rest(['create', 'cluster']))
  if (verb === 'delete' && noun === 'cluster') return deleteCluster(rest(['delete', 'cluster']))
  if (verb === 'get' && noun === 'clusters') return getClusters()
  if (verb === 'get' && noun === 'nodes') return getNodes(rest(['get', 'nodes']))
  if (verb === 'get' && noun === 'kubeconfig') return getKubeconfig(rest(['get', 'kubeconfig']))
  if (verb === 'export' && noun === 'kubeconfig') return exportKubeconfig(rest(['export', 'kubeconfig']))
  if (verb === 'load' && noun === 'docker-image') return loadDockerImage(rest(['load', 'docker-image']))
  if (verb === 'load' && noun === 'image-archive') return loadImageArchive(rest(['load', 'image-archive']))
  unsupported('kind', argv.join(' ') || '(no arguments)')
}
