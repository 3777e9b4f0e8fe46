// The fake `kubectl` (client v1.32): same streams, texts and exit codes as the real one for what devkube uses.
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import {readFile, readMerged, writablePath, writeFile} from './kubeconfig.mjs'
import {listClusterNames, readCluster, withCluster} from './store.mjs'
import {
  TYPES,
  UNMODELLED_WORKLOADS,
  applyDefaults,
  kindForResource,
  matchLabelSelector,
  objectRef,
  parseSelector,
  publicView,
  qualifiedResource,
  quotedRef,
} from './resources.mjs'
import {
  ExitError,
  yaml,
  clone,
  deepEqual,
  fail,
  klogPrefix,
  kubeJson,
  parseGoDuration,
  dockerPing,
  dockerContainerState,
  readStdin,
  simulateLatency,
  sleep,
  sortKeys,
  unsupported,
} from './util.mjs'
import {K8S_VERSION, deletePods, getObject, isTerminating, terminatePods, initPod, key, listObjects, nodeObject, putObject, reconcile, replicaSetsOf, revisionOf} from './world.mjs'
import {portForward} from './portforward.mjs'
import {forbiddenStatefulSetUpdate} from './statefulsets.mjs'
import {immutableJobUpdate} from './jobs.mjs'
import {logs} from './logs.mjs'
import {exec} from './exec.mjs'

// ---------- argument parsing ----------

const VALUE_FLAGS = {
  context: 'context', namespace: 'namespace', n: 'namespace', kubeconfig: 'kubeconfig', cluster: 'cluster', user: 'user',
  output: 'output', o: 'output', selector: 'selector', l: 'selector', filename: 'filename', kustomize: 'kustomize', k: 'kustomize',
  timeout: 'timeout', container: 'container', c: 'container', tail: 'tail', since: 'since', 'since-time': 'since-time',
  'max-log-requests': 'max-log-requests', replicas: 'replicas', address: 'address', 'field-manager': 'field-manager',
  'grace-period': 'grace-period', 'to-revision': 'to-revision', 'pod-running-timeout': 'pod-running-timeout',
  'request-timeout': 'request-timeout', v: 'v', 'field-selector': 'field-selector', revision: 'revision', for: 'for',
  'limit-bytes': 'limit-bytes', server: 'server', s: 'server', 'current-replicas': 'current-replicas', 'cascade': 'cascade',
}
const BOOL_FLAGS = {
  'all-containers': 'all-containers', prefix: 'prefix', timestamps: 'timestamps', previous: 'previous', follow: 'follow',
  'ignore-not-found': 'ignore-not-found', raw: 'raw', minify: 'minify', flatten: 'flatten', client: 'client',
  'all-namespaces': 'all-namespaces', A: 'all-namespaces', 'server-side': 'server-side', 'force-conflicts': 'force-conflicts',
  force: 'force', watch: 'watch', w: 'watch', wait: 'wait', 'dry-run': 'dry-run', validate: 'validate', now: 'now',
  'insecure-skip-tls-verify': 'insecure-skip-tls-verify', 'show-labels': 'show-labels', 'no-headers': 'no-headers',
  'ignore-errors': 'ignore-errors', prune: 'prune', stdin: 'stdin', i: 'stdin', tty: 'tty', t: 'tty', quiet: 'quiet', q: 'quiet', 'all': 'all', 'recursive': 'recursive', R: 'recursive', 'warnings-as-errors': 'warnings-as-errors',
}

export function parseArgs(argv) {
  // The verb decides whether -f is --filename or --follow and -p is --previous.
  let verb
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a.startsWith('-')) {
      const name = a.replace(/^--?/, '').split('=')[0]
      if (!a.includes('=') && name in VALUE_FLAGS) i++
      continue
    }
    verb = a
    break
  }
  const flags = {}
  const positional = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--') {
      positional.push(...argv.slice(i + 1))
      break
    }
    if (!a.startsWith('-') || a === '-') {
      positional.push(a)
      continue
    }
    let [name, value] = a.replace(/^--?/, '').split(/=(.*)/s)
    // Short flags glued to their value: -nfoo, -oname.
    if (!a.startsWith('--') && name.length > 1 && value === undefined && !(name in VALUE_FLAGS) && !(name in BOOL_FLAGS)) {
      value = name.slice(1)
      name = name[0]
    }
    if (verb === 'logs' && name === 'f') name = 'follow'
    if (verb === 'logs' && name === 'p') name = 'previous'
    if (name === 'f' && verb !== 'logs') name = 'filename'
    if (name in BOOL_FLAGS) {
      flags[BOOL_FLAGS[name]] = value === undefined ? true : value
      continue
    }
    const canonical = VALUE_FLAGS[name] ?? (name === 'filename' ? 'filename' : undefined)
    if (!canonical) {
      const command = ['kubectl', verb, ['rollout', 'config'].includes(verb) ? positional[1] : undefined].filter(Boolean).join(' ')
      throw new ExitError(1, `Error: unknown flag: ${a.split('=')[0]}\nSee '${command} --help' for usage.\n`)
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new ExitError(1, `error: flag needs an argument: ${a}\nSee 'kubectl ${verb} --help' for usage.\n`)
      value = argv[++i]
    }
    if (canonical === 'filename') (flags.filename ??= []).push(value)
    else flags[canonical] = value
  }
  const truthy = (v) => v === true || v === 'true'
  for (const k of ['all-containers', 'prefix', 'timestamps', 'previous', 'follow', 'ignore-not-found', 'raw', 'minify', 'client', 'all-namespaces', 'server-side', 'stdin', 'tty', 'quiet']) {
    if (k in flags) flags[k] = truthy(flags[k])
  }
  return {verb: positional[0], args: positional.slice(1), flags}
}

// ---------- context / connection ----------

/**
 * What real kubectl prints when nothing answers on the API server's port. How many discovery errors
 * (memcache.go) precede the last line depends on the command, as measured against kubectl 1.32:
 * `lines` is that number, or a function of the server for commands that fail another way (apply, delete -f).
 */
function refused(server, lines = 0) {
  const hostPort = server.replace(/^https?:\/\//, '').replace(/\/.*$/, '')
  if (typeof lines === 'function') return new ExitError(1, lines(server, hostPort))
  const line = () => `${klogPrefix('memcache.go:265')}"Unhandled Error" err="couldn't get current server API group list: Get \\"${server}/api?timeout=32s\\": dial tcp ${hostPort}: connect: connection refused"\n`
  return new ExitError(1, `${Array.from({length: lines}, line).join('')}The connection to the server ${hostPort} was refused - did you specify the right host or port?\n`)
}

/** The refusal of each command (see refused()). */
function refusalFor(verb, args, flags) {
  if (verb === 'apply') {
    const source = flags.filename?.[0] === '-' || !flags.filename ? 'STDIN' : flags.filename[0]
    return (server, hostPort) =>
      `error: error validating "${source}": error validating data: failed to download openapi: Get "${server}/openapi/v2?timeout=32s": dial tcp ${hostPort}: connect: connection refused; if you choose to ignore these errors, turn validation off with --validate=false\n`
  }
  if (verb === 'delete' && flags.filename) {
    const source = flags.filename[0] === '-' ? 'STDIN' : flags.filename[0]
    return (server, hostPort) => `${refused(server, 1).stderrText.split('\n')[0]}\nerror: unable to recognize "${source}": Get "${server}/api?timeout=32s": dial tcp ${hostPort}: connect: connection refused\n`
  }
  if (verb === 'get' || verb === 'delete') {
    const kinds = args[0]?.includes('/') ? new Set(args.map((a) => a.split('/')[0])).size : (args[0] ?? '').split(',').filter(Boolean).length
    return 4 + Math.max(1, kinds)
  }
  if (['rollout', 'scale', 'wait', 'logs', 'port-forward'].includes(verb)) return 4
  return 0
}

/** Resolves --context against KUBECONFIG and finds the fake cluster behind its server, as a connection would. */
function connect(flags, {refusal = 0} = {}) {
  const config = readMerged()
  const contextName = flags.context ?? config['current-context']
  if (flags.context && !config.contexts.some((c) => c.name === flags.context)) {
    throw new ExitError(1, `Error in configuration: context was not found for specified context: ${flags.context}\n`)
  }
  const context = config.contexts.find((c) => c.name === contextName)?.context
  if (!context) throw refused('http://localhost:8080', refusal)
  const clusterEntry = config.clusters.find((c) => c.name === context.cluster)
  if (!clusterEntry) {
    throw new ExitError(1, `Error in configuration: context was not found for specified context: ${contextName}\n`.replace('context was not found for specified context: ' + contextName, `cluster "${context.cluster}" not found`).replace(/^Error in configuration: /, 'Error in configuration: '))
  }
  const server = clusterEntry.cluster?.server ?? ''
  const match = /^https:\/\/127\.0\.0\.1:(\d+)\/?$/.exec(server)
  const clusterName = match && listClusterNames().find((n) => {
    const state = readCluster(n)
    return state && !state.creating && String(state.port) === match[1]
  })
  if (!clusterName) throw refused(server, refusal)
  return {clusterName, namespace: flags.namespace ?? context.namespace ?? 'default', contextName, server, refusal, nodeContainer: readCluster(clusterName)?.nodeContainer}
}

/** A kind cluster's API server runs in its node container: with it stopped, or the Docker daemon down, nothing answers on its port. */
async function apiServerUp(conn) {
  return conn.nodeContainer ? (await dockerContainerState(conn.nodeContainer)) === 'running' : dockerPing()
}

async function connectLive(flags, options) {
  const conn = connect(flags, options)
  if (!(await apiServerUp(conn))) throw refused(conn.server, conn.refusal)
  return conn
}

/** Runs fn under the cluster lock after one reconcile pass. */
async function inCluster(conn, fn) {
  // Polling loops (port-forward, rollout status) lose the API server when the node is stopped meanwhile.
  if (conn.nodeContainer && !(await apiServerUp(conn))) throw refused(conn.server, conn.refusal)
  return withCluster(conn.clusterName, async (state) => {
    if (!state) throw refused(conn.server, conn.refusal)
    try {
      await reconcile(state)
    } catch (error) {
      if (error.dockerDown) throw refused(conn.server, conn.refusal)
      throw error
    }
    return fn(state)
  })
}

// ---------- output helpers ----------

function listOf(items) {
  return {apiVersion: 'v1', items, kind: 'List', metadata: {resourceVersion: ''}}
}

function humanAge(timestamp) {
  const seconds = Math.max(0, Math.floor((Date.now() - Date.parse(timestamp)) / 1000))
  if (seconds < 120) return `${seconds}s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 10) return `${minutes}m${seconds % 60 ? (seconds % 60) + 's' : ''}`
  if (minutes < 180) return `${minutes}m`
  const hours = Math.floor(minutes / 60)
  if (hours < 8) return `${hours}h${minutes % 60 ? (minutes % 60) + 'm' : ''}`
  if (hours < 48) return `${hours}h`
  const days = Math.floor(hours / 24)
  return days < 8 && hours % 24 ? `${days}d${hours % 24}h` : `${days}d`
}

/** tabwriter(minwidth 6, padding 3) as kubectl's printers use it; the last column is not padded. */
function table(rows, {minWidth = 6, padding = 3} = {}) {
  const widths = []
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, String(cell).length)))
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? String(cell) : String(cell).padEnd(Math.max(minWidth, widths[i] + padding)))).join('')).join('\n') + '\n'
}

function podStatusText(pod) {
  // kubectl's printer: a pod being deleted is Terminating whatever its containers say.
  if (isTerminating(pod)) return 'Terminating'
  const statuses = pod.status?.containerStatuses ?? []
  for (const s of statuses) if (s.state.waiting?.reason && s.state.waiting.reason !== 'ContainerCreating') return s.state.waiting.reason
  for (const s of statuses) if (s.state.terminated) return s.state.terminated.reason
  if (statuses.some((s) => s.state.waiting?.reason === 'ContainerCreating')) return 'ContainerCreating'
  return pod.status?.phase ?? 'Pending'
}

function tableFor(kind, objects, flags) {
  const ns = flags['all-namespaces']
  const withNs = (row, obj) => (ns && TYPES[kind].namespaced ? [obj.metadata.namespace, ...row] : row)
  const header = (cols) => (ns && TYPES[kind].namespaced ? ['NAMESPACE', ...cols] : cols)
  let rows
  if (kind === 'Pod') {
    rows = [header(['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE'])]
    for (const p of objects) {
      const statuses = p.status?.containerStatuses ?? []
      const restarts = statuses.reduce((n, s) => n + s.restartCount, 0)
      const lastRestart = statuses.map((s) => s.lastState?.terminated?.finishedAt).filter(Boolean).sort().pop()
      rows.push(withNs([p.metadata.name, `${statuses.filter((s) => s.ready).length}/${p.spec.containers.length}`, podStatusText(p), restarts && lastRestart ? `${restarts} (${humanAge(lastRestart)} ago)` : String(restarts), humanAge(p.metadata.creationTimestamp)], p))
    }
  } else if (kind === 'Deployment') {
    rows = [header(['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE'])]
    for (const d of objects) rows.push(withNs([d.metadata.name, `${d.status?.readyReplicas ?? 0}/${d.spec.replicas}`, d.status?.updatedReplicas ?? 0, d.status?.availableReplicas ?? 0, humanAge(d.metadata.creationTimestamp)], d))
  } else if (kind === 'Service') {
    rows = [header(['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE'])]
    for (const s of objects) rows.push(withNs([s.metadata.name, s.spec.type, s.spec.clusterIP ?? '<none>', '<none>', (s.spec.ports ?? []).map((p) => `${p.port}${p.nodePort ? ':' + p.nodePort : ''}/${p.protocol}`).join(',') || '<none>', humanAge(s.metadata.creationTimestamp)], s))
  } else if (kind === 'Namespace') {
    rows = [['NAME', 'STATUS', 'AGE'], ...objects.map((n) => [n.metadata.name, n.status?.phase ?? 'Active', humanAge(n.metadata.creationTimestamp)])]
  } else if (kind === 'Node') {
    rows = [['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION'], ...objects.map((n) => [n.metadata.name, n.status.conditions.find((c) => c.type === 'Ready').status === 'True' ? 'Ready' : 'NotReady', 'control-plane', humanAge(n.metadata.creationTimestamp), K8S_VERSION])]
  } else if (kind === 'StatefulSet') {
    rows = [header(['NAME', 'READY', 'AGE'])]
    for (const s of objects) rows.push(withNs([s.metadata.name, `${s.status?.readyReplicas ?? 0}/${s.spec.replicas}`, humanAge(s.metadata.creationTimestamp)], s))
  } else if (kind === 'PersistentVolumeClaim') {
    // The API server's printer (1.29+ adds VOLUMEATTRIBUTESCLASS); a Pending claim has no volume, capacity or modes yet.
    const modes = {ReadWriteOnce: 'RWO', ReadOnlyMany: 'ROX', ReadWriteMany: 'RWX', ReadWriteOncePod: 'RWOP'}
    rows = [header(['NAME', 'STATUS', 'VOLUME', 'CAPACITY', 'ACCESS MODES', 'STORAGECLASS', 'VOLUMEATTRIBUTESCLASS', 'AGE'])]
    for (const c of objects) {
      const bound = c.status?.phase === 'Bound'
      rows.push(withNs([c.metadata.name, c.status?.phase ?? 'Pending', c.spec.volumeName ?? '', bound ? c.status.capacity?.storage ?? '' : '', bound ? (c.status.accessModes ?? []).map((m) => modes[m] ?? m).join(',') : '', c.spec.storageClassName ?? '', c.spec.volumeAttributesClassName ?? '<unset>', humanAge(c.metadata.creationTimestamp)], c))
    }
  } else if (kind === 'ReplicaSet') {
    rows = [header(['NAME', 'DESIRED', 'CURRENT', 'READY', 'AGE'])]
    for (const r of objects) rows.push(withNs([r.metadata.name, r.spec.replicas, r.status?.replicas ?? 0, r.status?.readyReplicas ?? 0, humanAge(r.metadata.creationTimestamp)], r))
  } else {
    rows = [header(['NAME', 'AGE']), ...objects.map((o) => withNs([o.metadata.name, humanAge(o.metadata.creationTimestamp)], o))]
  }
  if (flags['no-headers']) rows.shift()
  return table(rows)
}

/** A subset of kubectl's JSONPath: {.a.b}, {.items[*].x}, {.items[0].x}, literal text. */
function jsonpath(template, data) {
  const t = template.replace(/^'(.*)'$/s, '$1')
  if (/\{range|\{end\}|\?\(/.test(t)) unsupported('kubectl', `jsonpath template ${template}`)
  return t.replace(/\{([^}]*)\}/g, (m, expr) => {
    if (!expr.startsWith('.')) return expr
    let values = [data]
    for (const part of expr.slice(1).match(/[^.[\]]+|\[[^\]]*\]/g) ?? []) {
      const next = []
      for (const v of values) {
        if (part === '[*]') next.push(...(Array.isArray(v) ? v : Object.values(v ?? {})))
        else if (/^\[-?\d+\]$/.test(part)) {
          const i = Number(part.slice(1, -1))
          if (Array.isArray(v) && v.at(i) !== undefined) next.push(v.at(i))
        } else if (v && typeof v === 'object' && part in v) next.push(v[part])
      }
      values = next
    }
    return values.map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v))).join(' ')
  })
}

function printObjects(objects, flags, single, kinds) {
  const output = flags.output
  const view = objects.map(publicView)
  if (output === 'json') return process.stdout.write(kubeJson(single ? view[0] : listOf(view)))
  if (output === 'yaml') return process.stdout.write(yaml().stringify(sortKeys(single ? view[0] : listOf(view)), {indentSeq: false, lineWidth: 0}))
  if (output === 'name') return process.stdout.write(view.map((o) => objectRef(o.kind, o.metadata.name)).join('\n') + (view.length ? '\n' : ''))
  if (output?.startsWith('jsonpath=')) return process.stdout.write(jsonpath(output.slice('jsonpath='.length), single ? view[0] : listOf(view)))
  if (output && output !== 'wide') unsupported('kubectl', `get -o ${output}`)
  const byKind = new Map()
  for (const o of view) byKind.set(o.kind, [...(byKind.get(o.kind) ?? []), o])
  const chunks = []
  const qualify = kinds.length > 1
  for (const kind of kinds) {
    const objects = byKind.get(kind)
    if (!objects?.length) continue
    const shown = qualify ? objects.map((o) => ({...o, metadata: {...o.metadata, name: objectRef(kind, o.metadata.name)}})) : objects
    chunks.push(tableFor(kind, shown, flags))
  }
  process.stdout.write(chunks.join('\n'))
}

// ---------- version / config / kustomize ----------

const CLIENT_VERSION = {
  major: '1', minor: '32', gitVersion: K8S_VERSION, gitCommit: '67a30c0adcf52bd3f56ff0893ce19966be12991f', gitTreeState: 'clean',
  buildDate: '2025-02-12T21:26:09Z', goVersion: 'go1.23.6', compiler: 'gc', platform: 'linux/amd64',
}
const SERVER_VERSION = {...CLIENT_VERSION, buildDate: '2025-02-12T21:19:47Z', platform: 'linux/amd64'}

async function version({flags}) {
  const body = {clientVersion: CLIENT_VERSION, kustomizeVersion: 'v5.5.0'}
  let error
  if (!flags.client) {
    try {
      await connectLive(flags)
      body.serverVersion = SERVER_VERSION
    } catch (e) {
      error = e
    }
  }
  if (flags.output === 'json') process.stdout.write(JSON.stringify(body, null, 2) + '\n')
  else if (flags.output === 'yaml') process.stdout.write(yaml().stringify(body))
  else {
    process.stdout.write(`Client Version: ${K8S_VERSION}\nKustomize Version: v5.5.0\n`)
    if (body.serverVersion) process.stdout.write(`Server Version: ${K8S_VERSION}\n`)
  }
  if (error) throw error
  return 0
}

function redact(config, raw) {
  const out = clone(config)
  if (raw) return out
  for (const c of out.clusters ?? []) if (c.cluster?.['certificate-authority-data']) c.cluster['certificate-authority-data'] = 'DATA+OMITTED'
  for (const u of out.users ?? []) {
    for (const k of ['client-certificate-data', 'client-key-data']) if (u.user?.[k]) u.user[k] = k === 'client-key-data' ? 'DATA+OMITTED' : 'DATA+OMITTED'
    for (const k of ['token', 'password']) if (u.user?.[k]) u.user[k] = 'REDACTED'
  }
  return out
}

async function configCmd({args, flags}) {
  const config = readMerged()
  const sub = args[0]
  if (sub === 'current-context') {
    if (!config['current-context']) fail('error: current-context is not set\n')
    process.stdout.write(config['current-context'] + '\n')
    return 0
  }
  if (sub === 'get-contexts') {
    const names = args.slice(1)
    let contexts = config.contexts
    if (names.length) {
      for (const n of names) {
        if (contexts.some((c) => c.name === n)) continue
        // Real kubectl has printed the table header before it notices.
        if (!flags.output) process.stdout.write(table([['CURRENT', 'NAME', 'CLUSTER', 'AUTHINFO', 'NAMESPACE']]))
        fail(`error: context ${n} not found\n`)
      }
      contexts = contexts.filter((c) => names.includes(c.name))
    }
    contexts = [...contexts].sort((a, b) => a.name.localeCompare(b.name))
    if (flags.output === 'name') process.stdout.write(contexts.map((c) => c.name).join('\n') + (contexts.length ? '\n' : ''))
    else if (flags.output) fail(`error: output must be one of '' or 'name'\n`)
    else {
      const rows = [['CURRENT', 'NAME', 'CLUSTER', 'AUTHINFO', 'NAMESPACE']]
      for (const c of contexts) rows.push([c.name === config['current-context'] ? '*' : '', c.name, c.context?.cluster ?? '', c.context?.user ?? '', c.context?.namespace ?? ''])
      process.stdout.write(table(rows))
    }
    return 0
  }
  if (sub === 'view') {
    let view = {kind: 'Config', apiVersion: 'v1', preferences: {}, clusters: config.clusters, users: config.users, contexts: config.contexts, 'current-context': config['current-context']}
    if (flags.minify) {
      const ctxName = flags.context ?? config['current-context']
      const ctx = config.contexts.find((c) => c.name === ctxName)
      if (!ctx) fail(flags.context ? `error: context "${ctxName}" does not exist\n` : 'error: current-context must exist in order to minify\n')
      view = {...view, contexts: [ctx], clusters: config.clusters.filter((c) => c.name === ctx.context.cluster), users: config.users.filter((u) => u.name === ctx.context.user), 'current-context': ctxName}
    }
    view = redact(view, flags.raw || flags.flatten)
    // kubectl keeps them in maps: printed sorted by name.
    for (const k of ['clusters', 'users', 'contexts']) view[k] = [...(view[k] ?? [])].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    // Go marshals empty lists as null: `"clusters": null` is what a parser of real kubectl output meets.
    for (const k of ['clusters', 'users', 'contexts']) if (!view[k]?.length) view[k] = null
    if (flags.output === 'json') process.stdout.write(JSON.stringify(goOrder(view), null, 4) + '\n')
    else if (!flags.output || flags.output === 'yaml') {
      const yamlView = {apiVersion: 'v1', clusters: view.clusters, contexts: view.contexts, 'current-context': view['current-context'], kind: 'Config', preferences: {}, users: view.users}
      process.stdout.write(yaml().stringify(sortKeys(yamlView), {indentSeq: false}))
    } else if (flags.output.startsWith('jsonpath=')) process.stdout.write(jsonpath(flags.output.slice(9), view))
    else unsupported('kubectl', `config view -o ${flags.output}`)
    return 0
  }
  if (sub === 'use-context') {
    const name = args[1]
    if (!name) fail("error: Unexpected args: []\nSee 'kubectl config use-context -h' for help and examples\n")
    if (!config.contexts.some((c) => c.name === name)) fail(`error: no context exists with the name: "${name}"\n`)
    setCurrentContext(name)
    process.stdout.write(`Switched to context "${name}".\n`)
    return 0
  }
  if (sub === 'unset' && args[1] === 'current-context') {
    setCurrentContext('')
    process.stdout.write('Property "current-context" unset.\n')
    return 0
  }
  unsupported('kubectl', `config ${args.join(' ')}`)
}

// Field order of clientcmd's v1 structs: `config view -o json` prints structs, not sorted maps.
const CLUSTER_FIELDS = ['server', 'tls-server-name', 'insecure-skip-tls-verify', 'certificate-authority', 'certificate-authority-data', 'proxy-url', 'disable-compression', 'extensions']
const USER_FIELDS = ['client-certificate', 'client-certificate-data', 'client-key', 'client-key-data', 'token', 'tokenFile', 'as', 'as-uid', 'as-groups', 'as-user-extra', 'username', 'password', 'auth-provider', 'exec', 'extensions']
const CONTEXT_FIELDS = ['cluster', 'user', 'namespace', 'extensions']

function ordered(value, fields) {
  const out = {}
  for (const f of fields) if (value?.[f] !== undefined) out[f] = value[f]
  for (const [k, v] of Object.entries(value ?? {})) if (!(k in out)) out[k] = v
  return out
}

function goOrder(view) {
  const entries = (list, key, fields) => list?.map((e) => ({name: e.name, [key]: ordered(e[key], fields)})) ?? null
  return {
    kind: view.kind,
    apiVersion: view.apiVersion,
    preferences: view.preferences,
    clusters: entries(view.clusters, 'cluster', CLUSTER_FIELDS),
    users: entries(view.users, 'user', USER_FIELDS),
    contexts: entries(view.contexts, 'context', CONTEXT_FIELDS),
    'current-context': view['current-context'],
  }
}

/** kubectl writes current-context into the first KUBECONFIG file that has one (else the first file). */
function setCurrentContext(name) {
  const files = (process.env.KUBECONFIG ?? '').split(':').filter(Boolean)
  const target = files.find((f) => readFile(f)['current-context']) ?? writablePath()
  const config = readFile(target)
  config['current-context'] = name
  writeFile(target, config)
}

export function realKubectl() {
  const fakeDir = path.dirname(fs.realpathSync(process.argv[1]))
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue
    let resolved
    try {
      resolved = fs.realpathSync(dir)
    } catch {
      continue
    }
    if (resolved === fakeDir) continue
    const candidate = path.join(dir, 'kubectl')
    try {
      fs.accessSync(candidate, fs.constants.X_OK)
      if (path.dirname(fs.realpathSync(candidate)) !== fakeDir) return candidate
    } catch {
      // not here
    }
  }
  return undefined
}

function kustomize(argv) {
  const real = realKubectl()
  if (!real) fail('fake kubectl: kustomize needs the real kubectl on PATH (after the fakes)\n', 2)
  const result = spawnSync(real, argv, {stdio: 'inherit'})
  return result.status ?? 1
}

// ---------- apply ----------

function loadDocuments(text, source) {
  const docs = []
  let parsed
  try {
    parsed = yaml().parseAllDocuments(text)
  } catch (e) {
    fail(`error: error parsing ${source}: ${e.message}\n`)
  }
  for (const doc of parsed) {
    if (doc.errors?.length) {
      const e = doc.errors[0]
      fail(`error: error parsing ${source}: error converting YAML to JSON: yaml: line ${e.linePos?.[0]?.line ?? 1}: ${e.message.split('\n')[0]}\n`)
    }
    const value = doc.toJS()
    if (value === null || value === undefined) continue
    if (value.kind === 'List' || (value.kind?.endsWith('List') && Array.isArray(value.items))) docs.push(...value.items.map((v) => ({obj: v, source})))
    else docs.push({obj: value, source})
  }
  return docs
}

function readManifests(flags, verb) {
  const docs = []
  if (flags.kustomize) {
    const real = realKubectl()
    const result = spawnSync(real, ['kustomize', flags.kustomize], {encoding: 'utf8'})
    if (result.status !== 0) fail(result.stderr || 'error: kustomize failed\n', result.status ?? 1)
    docs.push(...loadDocuments(result.stdout, flags.kustomize))
  }
  for (const file of flags.filename ?? []) {
    if (file === '-') continue
    let files = [file]
    try {
      if (fs.statSync(file).isDirectory()) files = fs.readdirSync(file).filter((f) => /\.(ya?ml|json)$/.test(f)).sort().map((f) => path.join(file, f))
    } catch {
      fail(`error: the path "${file}" does not exist\n`)
    }
    for (const f of files) docs.push(...loadDocuments(fs.readFileSync(f, 'utf8'), f))
  }
  if (!flags.filename?.length && !flags.kustomize) fail(`error: must specify one of -f and -k\n`)
  return docs
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/

function validate(obj) {
  const errors = []
  const name = obj.metadata?.name
  if (obj.kind === 'Namespace' || obj.kind === 'Service') {
    if (!DNS_LABEL.test(name) || name.length > 63) {
      errors.push(`metadata.name: Invalid value: "${name}": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`)
    }
  } else if (!DNS_SUBDOMAIN.test(name) || name.length > 253) {
    errors.push(`metadata.name: Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`)
  }
  if (obj.kind === 'Job') {
    const policy = obj.spec?.template?.spec?.restartPolicy ?? 'Always'
    if (!obj.spec?.template?.spec?.containers?.length) errors.push('spec.template.spec.containers: Required value')
    if (policy !== 'Never' && policy !== 'OnFailure') errors.push(`spec.template.spec.restartPolicy: Unsupported value: "${policy}": supported values: "OnFailure", "Never"`)
    if (obj.spec?.backoffLimit !== undefined && obj.spec.backoffLimit < 0) errors.push(`spec.backoffLimit: Invalid value: ${obj.spec.backoffLimit}: must be greater than or equal to 0`)
  }
  if (obj.kind === 'Deployment' || obj.kind === 'StatefulSet') {
    const spec = obj.spec ?? {}
    if (!spec.selector) errors.push('spec.selector: Required value')
    const labels = spec.template?.metadata?.labels ?? {}
    if (spec.selector && !matchLabelSelector(spec.selector, labels)) {
      const shown = Object.entries(labels).map(([k, v]) => `"${k}":"${v}"`).join(', ')
      errors.push(`spec.template.metadata.labels: Invalid value: map[string]string{${shown}}: \`selector\` does not match template \`labels\``)
    }
    const containers = spec.template?.spec?.containers
    if (!containers?.length) errors.push('spec.template.spec.containers: Required value')
    ;(containers ?? []).forEach((c, i) => {
      if (!c.name) errors.push(`spec.template.spec.containers[${i}].name: Required value`)
      if (!c.image) errors.push(`spec.template.spec.containers[${i}].image: Required value`)
      for (const [j, p] of (c.ports ?? []).entries()) {
        if (!(p.containerPort >= 1 && p.containerPort <= 65535)) errors.push(`spec.template.spec.containers[${i}].ports[${j}].containerPort: Invalid value: ${p.containerPort}: must be between 1 and 65535, inclusive`)
      }
    })
    if (spec.replicas !== undefined && spec.replicas < 0) errors.push(`spec.replicas: Invalid value: ${spec.replicas}: must be greater than or equal to 0`)
  }
  if (obj.kind === 'Service') {
    for (const [i, p] of (obj.spec?.ports ?? []).entries()) {
      if (!(p.port >= 1 && p.port <= 65535)) errors.push(`spec.ports[${i}].port: Invalid value: ${p.port}: must be between 1 and 65535, inclusive`)
    }
  }
  return errors
}

function invalidText(kind, name, errors) {
  const group = TYPES[kind].group ? `${kind}.${TYPES[kind].group}` : kind
  return errors.length === 1 ? `${group} "${name}" is invalid: ${errors[0]}` : `${group} "${name}" is invalid: [${errors.join(', ')}]`
}

/** Merges what was applied onto the live object: like a three-way patch for the fields the user owns. */
function mergeApplied(live, lastApplied, applied) {
  const merged = clone(live)
  const prune = (target, last, next) => {
    // Lists with a merge key (containers by name, ports by containerPort) prune inside each item, as a
    // strategic merge patch does: a field dropped from a container since the last apply is removed.
    if (Array.isArray(last) && Array.isArray(next) && Array.isArray(target)) {
      for (const lastItem of last) {
        const k = mergeKey(lastItem)
        if (k === undefined) continue
        const nextItem = next.find((item) => mergeKey(item) === k)
        const targetItem = target.find((item) => mergeKey(item) === k)
        if (nextItem && targetItem) prune(targetItem, lastItem, nextItem)
      }
      return
    }
    if (!last || typeof last !== 'object' || Array.isArray(last) || !target || typeof target !== 'object') return
    for (const k of Object.keys(last)) {
      if (!next || !(k in next)) delete target[k]
      else prune(target[k], last[k], next[k])
    }
  }
  const mergeKey = (item) => (item && typeof item === 'object' ? item.name ?? item.containerPort ?? item.mountPath ?? item.port : undefined)
  const merge = (target, source) => {
    if (Array.isArray(source)) {
      if (!Array.isArray(target)) return clone(source)
      return source.map((item, i) => {
        const k = mergeKey(item)
        const match = k !== undefined ? target.find((t) => mergeKey(t) === k) : target[i]
        return match !== undefined && typeof item === 'object' ? merge(clone(match), item) : clone(item)
      })
    }
    if (source && typeof source === 'object') {
      const out = target && typeof target === 'object' && !Array.isArray(target) ? target : {}
      for (const [k, v] of Object.entries(source)) out[k] = merge(out[k], v)
      return out
    }
    return source
  }
  prune(merged, lastApplied, applied)
  return merge(merged, applied)
}

/** The objects `apply -f`/`-k` reads: checked before any server call, as kubectl does. */
function applyDocuments(flags, stdinText) {
  if (flags.prune) unsupported('kubectl', 'apply --prune')
  const docs = []
  if (flags.filename?.includes('-')) docs.push(...loadDocuments(stdinText ?? '', 'STDIN'))
  docs.push(...readManifests(flags, 'apply'))
  if (!docs.length) fail('error: no objects passed to apply\n')
  return docs
}

async function apply(conn, {flags}, docs) {
  const dryRun = flags['dry-run'] && flags['dry-run'] !== 'none' && flags['dry-run'] !== 'false'
  const dryText = dryRun ? (flags['dry-run'] === 'server' ? ' (server dry run)' : ' (dry run)') : ''
  const errors = []
  for (const {obj} of docs) {
    if (!obj.apiVersion || !obj.kind) {
      const missing = [!obj.apiVersion && 'apiVersion not set', !obj.kind && 'kind not set'].filter(Boolean)
      fail(`error: error validating "STDIN": error validating data: ${missing.length > 1 ? `[${missing.join(', ')}]` : missing[0]}; if you choose to ignore these errors, turn validation off with --validate=false\n`)
    }
    if (UNMODELLED_WORKLOADS.has(obj.kind)) unsupported('kubectl', `apply of kind ${obj.kind} (the fake cluster does not run it)`)
  }
  await simulateLatency('apply')
  await inCluster(conn, async (state) => {
    for (const {obj: input, source} of docs) {
      const obj = clone(input)
      const {kind} = obj
      const type = TYPES[kind]
      const expected = type && (type.group ? `${type.group}/${type.version}` : type.version)
      const name = obj.metadata?.name
      if (!type || (obj.apiVersion !== expected && !(kind === 'HorizontalPodAutoscaler' && obj.apiVersion === 'autoscaling/v1'))) {
        errors.push(`error: resource mapping not found for name: "${name}" namespace: "${obj.metadata?.namespace ?? ''}" from "${source}": no matches for kind "${kind}" in version "${obj.apiVersion}"\nensure CRDs are installed first`)
        continue
      }
      obj.metadata ??= {}
      if (type.namespaced) {
        if (obj.metadata.namespace && flags.namespace && obj.metadata.namespace !== flags.namespace) {
          fail(`error: the namespace from the provided object "${obj.metadata.namespace}" does not match the namespace "${flags.namespace}". You must pass '--namespace=${obj.metadata.namespace}' to perform this operation.\n`)
        }
        obj.metadata.namespace ??= conn.namespace
      } else delete obj.metadata.namespace
      const ns = obj.metadata.namespace
      const live = getObject(state, kind, ns, name)
      const lastAppliedText = JSON.stringify(sortKeys(stripLastApplied(input, ns, type))) + '\n'
      obj.metadata.annotations = {...(obj.metadata.annotations ?? {}), 'kubectl.kubernetes.io/last-applied-configuration': lastAppliedText}
      const validation = validate(obj)
      if (!live) {
        if (type.namespaced && !getObject(state, 'Namespace', '', ns)) {
          errors.push(`Error from server (NotFound): error when creating "${source}": namespaces "${ns}" not found`)
          continue
        }
        if (validation.length) {
          errors.push(`Error from server (Invalid): error when creating "${source}": ${invalidText(kind, name, validation)}`)
          continue
        }
        if (!dryRun) createObject(state, obj)
        process.stdout.write(`${objectRef(kind, name)} ${flags['server-side'] ? 'serverside-applied' : 'created'}${dryText}\n`)
        continue
      }
      let lastApplied
      try {
        lastApplied = JSON.parse(live.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration'] ?? 'null')
      } catch {
        lastApplied = null
      }
      const next = applyDefaults(mergeApplied(live, lastApplied, obj))
      if (validation.length) {
        errors.push(`Error from server (Invalid): error when applying patch:\n${lastAppliedText.trim()}\nto:\nResource: "${type.group ? type.group + '/' + type.version : type.version}, Resource=${type.resource}", GroupVersionKind: "${obj.apiVersion}, Kind=${kind}"\nName: "${name}", Namespace: "${ns ?? ''}"\nfor: "${source}": error when patching "${source}": ${invalidText(kind, name, validation)}`)
        continue
      }
      if (kind === 'Deployment' && !deepEqual(live.spec.selector, next.spec.selector)) {
        errors.push(`The Deployment "${name}" is invalid: spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{${Object.entries(next.spec.selector?.matchLabels ?? {}).map(([k, v]) => `"${k}":"${v}"`).join(', ')}}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable`)
        continue
      }
      const forbidden = kind === 'StatefulSet' ? forbiddenStatefulSetUpdate(live, next) : kind === 'Job' ? immutableJobUpdate(live, next) : undefined
      if (forbidden) {
        // kubectl prints an Invalid status from its details: kind without group, then the cause.
        errors.push(`The ${kind} "${name}" is invalid: ${forbidden}`)
        continue
      }
      const unchanged = deepEqual(publicView(next), publicView(live))
      if (!unchanged && !dryRun) updateObject(state, live, next)
      const verbText = flags['server-side'] ? 'serverside-applied' : unchanged ? 'unchanged' : 'configured'
      process.stdout.write(`${objectRef(kind, name)} ${verbText}${dryText}\n`)
    }
    // The controllers react at once (pods appear); the kubelet part runs on the next call.
    if (!dryRun) await reconcile(state, {kubelet: false})
  })
  if (errors.length) fail(errors.join('\n') + '\n')
  return 0
}

function stripLastApplied(input, ns, type) {
  const copy = clone(input)
  copy.metadata ??= {}
  if (type.namespaced) copy.metadata.namespace ??= ns
  if (copy.metadata.annotations) {
    delete copy.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']
    if (!Object.keys(copy.metadata.annotations).length) delete copy.metadata.annotations
  }
  return copy
}

let serviceIpCounter = 0
function createObject(state, obj) {
  if (obj.kind === 'Deployment' || obj.kind === 'StatefulSet' || obj.kind === 'Job') obj.metadata.generation = 1
  if (obj.kind === 'Job') obj.status = {}
  if (obj.kind === 'StatefulSet') obj.status = {availableReplicas: 0, replicas: 0}
  if (obj.kind === 'Service') {
    const used = new Set(listObjects(state, 'Service').map((s) => s.spec.clusterIP))
    let ip
    do ip = `10.96.${Math.floor(Math.random() * 250) + 1}.${Math.floor(Math.random() * 250) + 1 + (serviceIpCounter++ % 2)}`
    while (used.has(ip))
    obj.spec ??= {}
    obj.spec.clusterIP ??= ip
    obj.spec.clusterIPs ??= [obj.spec.clusterIP]
    if (obj.spec.type === 'NodePort' || obj.spec.type === 'LoadBalancer') for (const p of obj.spec.ports ?? []) p.nodePort ??= 30000 + Math.floor(Math.random() * 2767)
    obj.status = {loadBalancer: {}}
  }
  if (obj.kind === 'Deployment') obj.status = {}
  if (obj.kind === 'Pod') initPod(state, obj)
  putObject(state, obj)
}

function updateObject(state, live, next) {
  if ((next.kind === 'Deployment' || next.kind === 'StatefulSet') && !deepEqual(live.spec, next.spec)) next.metadata.generation = (live.metadata.generation ?? 1) + 1
  next.fake = live.fake
  putObject(state, next)
}

// ---------- get ----------

/** --field-selector: `a.b=x,c!=y` over dotted paths of the object. */
function parseFieldSelector(text) {
  if (!text) return () => true
  const terms = text.split(',').filter(Boolean).map((term) => {
    const match = /^([\w.]+)\s*(==|=|!=)\s*(.*)$/.exec(term.trim())
    if (!match) fail(`error: invalid selector: '${text}'; can't understand '${term}'\n`)
    return {path: match[1].split('.'), negate: match[2] === '!=', value: match[3]}
  })
  return (obj) =>
    terms.every(({path, negate, value}) => {
      const actual = path.reduce((v, k) => (v === undefined || v === null ? undefined : v[k]), obj)
      return (String(actual ?? '') === value) !== negate
    })
}

function parseTypeArgs(args) {
  // `deploy,svc name`, `deploy/name svc/other`, `pods`.
  if (!args.length) return {pairs: [], kinds: []}
  if (args.some((a) => a.includes('/'))) {
    const pairs = args.map((a) => {
      const [t, n] = a.split('/')
      return {kind: kindForResource(t), name: n}
    })
    return {pairs, kinds: [...new Set(pairs.map((p) => p.kind))], named: true}
  }
  const kinds = args[0].split(',').filter(Boolean).map(kindForResource)
  const names = args.slice(1)
  if (names.length) return {pairs: kinds.flatMap((kind) => names.map((name) => ({kind, name}))), kinds, named: true}
  return {pairs: kinds.map((kind) => ({kind})), kinds}
}

function objectsFor(state, kind, namespace) {
  if (kind === 'Node') return [nodeObject(state)]
  return listObjects(state, kind, namespace)
}

async function get(conn, {args, flags}) {
  if (flags.raw !== undefined && flags.raw !== false) unsupported('kubectl', 'get --raw')
  if (!args.length) {
    fail(`You must specify the type of resource to get. Use "kubectl api-resources" for a complete list of supported resources.\n\nerror: Required resource not specified.\nUse "kubectl explain <resource>" for a detailed description of that resource (e.g. kubectl explain pods).\nSee 'kubectl get -h' for help and examples\n`)
  }
  const {pairs, kinds, named} = parseTypeArgs(args)
  if (flags.watch) unsupported('kubectl', 'get --watch')
  await simulateLatency('get')
  const namespace = flags['all-namespaces'] ? undefined : conn.namespace
  const labelSelector = flags.selector ? parseSelector(flags.selector) : () => true
  const fieldSelector = parseFieldSelector(flags['field-selector'])
  const selector = (labels, obj) => labelSelector(labels) && fieldSelector(obj)
  const found = []
  const errors = []
  await inCluster(conn, async (state) => {
    for (const {kind, name} of pairs) {
      if (name !== undefined) {
        const obj = objectsFor(state, kind, conn.namespace).find((o) => o.metadata.name === name)
        if (obj) found.push(obj)
        else if (!flags['ignore-not-found']) errors.push(`Error from server (NotFound): ${qualifiedResource(kind)} "${name}" not found`)
      } else {
        found.push(...objectsFor(state, kind, namespace).filter((o) => selector(o.metadata.labels, o)))
      }
    }
  })
  const single = named && pairs.length === 1
  if (found.length || (flags.output && !named) || (named && flags.output && !single)) printObjects(found, flags, single && found.length === 1, kinds)
  else if (!named && !errors.length && (!flags.output || !['json', 'yaml'].includes(flags.output))) {
    process.stderr.write(flags['all-namespaces'] || kinds.every((k) => !TYPES[k].namespaced) ? 'No resources found\n' : `No resources found in ${conn.namespace} namespace.\n`)
  }
  if (errors.length) fail(errors.join('\n') + '\n')
  return 0
}

// ---------- rollout / scale / wait ----------

/** `deployment/x`, `sts x`, ...: the kind (one of `kinds`) and name a rollout/scale command is about. */
function workloadTarget(args, verb, kinds = ['Deployment']) {
  let [first, second] = args
  if (!first) fail(`error: required resource not specified\n`)
  let typeWord, name
  if (first.includes('/')) [typeWord, name] = first.split('/')
  else [typeWord, name] = [first, second]
  const kind = kindForResource(typeWord)
  if (!kinds.includes(kind)) unsupported('kubectl', `${verb} of ${typeWord}`)
  if (!name) fail(`error: resource name may not be empty\n`)
  return {kind, name}
}

function deploymentTarget(args, verb) {
  return workloadTarget(args, verb).name
}

/** kubectl's StatefulSetStatusViewer (polymorphichelpers/rollout_status.go), word for word. */
function statefulSetStatus(sts) {
  const s = sts.status ?? {}
  const strategy = sts.spec.updateStrategy ?? {}
  if (strategy.type !== 'RollingUpdate') return {error: 'error: rollout status is only available for RollingUpdate strategy type\n'}
  if (!s.observedGeneration || (sts.metadata.generation ?? 1) > s.observedGeneration) return {message: 'Waiting for statefulset spec update to be observed...\n'}
  const replicas = sts.spec.replicas ?? 1
  if ((s.readyReplicas ?? 0) < replicas) return {message: `Waiting for ${replicas - (s.readyReplicas ?? 0)} pods to be ready...\n`}
  if (strategy.rollingUpdate) {
    const partition = strategy.rollingUpdate.partition
    if (partition !== undefined && (s.updatedReplicas ?? 0) < replicas - partition) {
      return {message: `Waiting for partitioned roll out to finish: ${s.updatedReplicas ?? 0} out of ${replicas - partition} new pods have been updated...\n`}
    }
    return {message: `partitioned roll out complete: ${s.updatedReplicas ?? 0} new pods have been updated...\n`, done: true}
  }
  if (s.updateRevision !== s.currentRevision) return {message: `waiting for statefulset rolling update to complete ${s.updatedReplicas ?? 0} pods at revision ${s.updateRevision}...\n`}
  return {message: `statefulset rolling update complete ${s.currentReplicas ?? 0} pods at revision ${s.currentRevision}...\n`, done: true}
}

function deploymentStatus(dep) {
  const s = dep.status ?? {}
  const name = dep.metadata.name
  if ((dep.metadata.generation ?? 1) <= (s.observedGeneration ?? 0)) {
    const cond = s.conditions?.find((c) => c.type === 'Progressing')
    if (cond?.reason === 'ProgressDeadlineExceeded') return {error: `error: deployment "${name}" exceeded its progress deadline\n`}
    const replicas = dep.spec.replicas ?? 1
    if ((s.updatedReplicas ?? 0) < replicas) return {message: `Waiting for deployment "${name}" rollout to finish: ${s.updatedReplicas ?? 0} out of ${replicas} new replicas have been updated...\n`}
    if ((s.replicas ?? 0) > (s.updatedReplicas ?? 0)) return {message: `Waiting for deployment "${name}" rollout to finish: ${s.replicas - s.updatedReplicas} old replicas are pending termination...\n`}
    if ((s.availableReplicas ?? 0) < (s.updatedReplicas ?? 0)) return {message: `Waiting for deployment "${name}" rollout to finish: ${s.availableReplicas ?? 0} of ${s.updatedReplicas} updated replicas are available...\n`}
    return {message: `deployment "${name}" successfully rolled out\n`, done: true}
  }
  return {message: 'Waiting for deployment spec update to be observed...\n'}
}

async function rolloutStatus(conn, args, flags) {
  const {kind, name} = workloadTarget(args, 'rollout status', ['Deployment', 'StatefulSet'])
  const timeoutMs = flags.timeout ? parseGoDuration(flags.timeout) : 0
  if (Number.isNaN(timeoutMs)) fail(`error: invalid argument "${flags.timeout}" for "--timeout" flag: time: invalid duration "${flags.timeout}"\n`)
  const watch = flags.watch === undefined || flags.watch === true || flags.watch === 'true'
  const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : Infinity
  let lastFingerprint
  for (;;) {
    const dep = await inCluster(conn, (state) => clone(getObject(state, kind, conn.namespace, name)))
    if (!dep) fail(`Error from server (NotFound): ${qualifiedResource(kind)} "${name}" not found\n`)
    const status = kind === 'StatefulSet' ? statefulSetStatus(dep) : deploymentStatus(dep)
    if (status.error) fail(status.error)
    const fingerprint = JSON.stringify([status.message, dep.status?.replicas, dep.status?.updatedReplicas, dep.status?.readyReplicas, dep.status?.availableReplicas])
    if (fingerprint !== lastFingerprint) process.stdout.write(status.message)
    lastFingerprint = fingerprint
    if (status.done || !watch) return 0
    if (Date.now() >= deadline) fail('error: timed out waiting for the condition\n')
    await sleep(Math.min(250, Math.max(0, deadline - Date.now())))
  }
}

async function rollout(conn, {args, flags}) {
  const [sub, ...rest] = args
  if (sub === 'status') return rolloutStatus(conn, rest, flags)
  if (sub === 'restart') return rolloutRestart(conn, rest)
  const name = deploymentTarget(rest, `rollout ${sub}`)
  if (sub === 'history') {
    const rows = await inCluster(conn, (state) => {
      const dep = getObject(state, 'Deployment', conn.namespace, name)
      if (!dep) fail(`Error from server (NotFound): deployments.apps "${name}" not found\n`)
      return replicaSetsOf(state, dep)
        .map((rs) => [revisionOf(rs), rs.metadata.annotations?.['kubernetes.io/change-cause'] ?? '<none>'])
        .sort((a, b) => a[0] - b[0])
    })
    if (flags.revision) unsupported('kubectl', 'rollout history --revision')
    process.stdout.write(`deployment.apps/${name} \n` + table([['REVISION', 'CHANGE-CAUSE'], ...rows], {minWidth: 0, padding: 2}) + '\n')
    return 0
  }
  if (sub === 'undo') {
    const toRevision = Number(flags['to-revision'] ?? 0)
    const message = await inCluster(conn, async (state) => {
      const dep = getObject(state, 'Deployment', conn.namespace, name)
      if (!dep) fail(`Error from server (NotFound): deployments.apps "${name}" not found\n`)
      const rses = replicaSetsOf(state, dep).sort((a, b) => revisionOf(b) - revisionOf(a))
      let target
      if (toRevision) {
        target = rses.find((rs) => revisionOf(rs) === toRevision)
        if (!target) fail(`error: unable to find specified revision ${toRevision} in history\n`)
      } else {
        target = rses[1]
        if (!target) fail(`error: no rollout history found for deployment "${name}"\n`)
      }
      const template = clone(target.spec.template)
      delete template.metadata.labels['pod-template-hash']
      if (deepEqual(template, dep.spec.template)) return `deployment.apps/${name} skipped rollback (current template already matches revision ${revisionOf(target)})\n`
      dep.spec.template = template
      dep.metadata.generation = (dep.metadata.generation ?? 1) + 1
      putObject(state, dep)
      await reconcile(state, {kubelet: false})
      return `deployment.apps/${name} rolled back\n`
    })
    process.stdout.write(message)
    return 0
  }
  unsupported('kubectl', `rollout ${sub ?? ''}`)
}

async function rolloutRestart(conn, args) {
  const {kind, name} = workloadTarget(args, 'rollout restart', ['Deployment', 'StatefulSet'])
  await inCluster(conn, (state) => {
    const workload = getObject(state, kind, conn.namespace, name)
    if (!workload) fail(`Error from server (NotFound): ${qualifiedResource(kind)} "${name}" not found\n`)
    workload.spec.template.metadata ??= {}
    workload.spec.template.metadata.annotations = {...(workload.spec.template.metadata.annotations ?? {}), 'kubectl.kubernetes.io/restartedAt': new Date().toISOString().replace(/\.\d+Z$/, 'Z')}
    workload.metadata.generation = (workload.metadata.generation ?? 1) + 1
    putObject(state, workload)
    return reconcile(state, {kubelet: false})
  })
  process.stdout.write(`${objectRef(kind, name)} restarted\n`)
  return 0
}

async function scale(conn, {args, flags}) {
  if (flags.replicas === undefined) fail(`error: required flag(s) "replicas" not set\n`)
  const replicas = Number(flags.replicas)
  if (!Number.isInteger(replicas) || replicas < 0) fail(`error: The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0\n`)
  const {kind, name} = workloadTarget(args, 'scale', ['Deployment', 'StatefulSet'])
  await inCluster(conn, async (state) => {
    const dep = getObject(state, kind, conn.namespace, name)
    if (!dep) fail(`Error from server (NotFound): ${qualifiedResource(kind)} "${name}" not found\n`)
    if (dep.spec.replicas !== replicas) {
      dep.spec.replicas = replicas
      dep.metadata.generation = (dep.metadata.generation ?? 1) + 1
      putObject(state, dep)
      await reconcile(state, {kubelet: false})
    }
  })
  process.stdout.write(`${objectRef(kind, name)} scaled\n`)
  return 0
}

async function wait(conn, {args, flags}) {
  const forText = flags.for
  if (!forText) fail('error: --for must be set\n')
  const timeoutMs = flags.timeout ? parseGoDuration(flags.timeout) : 30_000
  let {pairs} = parseTypeArgs(args)
  if (!pairs.length) fail('error: resource(s) were provided, but no name was specified\n')
  if (pairs.some((p) => !p.name)) {
    if (!flags.selector && !flags.all) fail('error: resource(s) were provided, but no name was specified\n')
    const selector = flags.selector ? parseSelector(flags.selector) : () => true
    pairs = await inCluster(conn, (state) =>
      pairs.flatMap((p) => (p.name ? [p] : objectsFor(state, p.kind, conn.namespace).filter((o) => selector(o.metadata.labels)).map((o) => ({kind: p.kind, name: o.metadata.name})))),
    )
    if (!pairs.length) fail('error: no matching resources found\n')
  }
  const deadline = Date.now() + timeoutMs
  for (const {kind, name} of pairs) {
    for (;;) {
      const obj = await inCluster(conn, (state) => clone(objectsFor(state, kind, conn.namespace).find((o) => o.metadata.name === name)))
      let met
      if (forText === 'delete') met = !obj
      else {
        if (!obj) fail(`Error from server (NotFound): ${qualifiedResource(kind)} "${name}" not found\n`)
        const match = /^condition=([^=]+)(?:=(.*))?$/i.exec(forText)
        if (!match) unsupported('kubectl', `wait --for=${forText}`)
        const want = (match[2] ?? 'True').toLowerCase()
        met = obj.status?.conditions?.some((c) => c.type.toLowerCase() === match[1].toLowerCase() && String(c.status).toLowerCase() === want)
      }
      if (met) {
        process.stdout.write(forText === 'delete' ? `${objectRef(kind, name)} condition met\n` : `${objectRef(kind, name)} condition met\n`)
        break
      }
      if (Date.now() >= deadline) fail(`error: timed out waiting for the condition on ${TYPES[kind].resource}/${name}\n`)
      await sleep(250)
    }
  }
  return 0
}

// ---------- delete / create ----------

async function deleteNamespaceContents(state, ns) {
  const pods = listObjects(state, 'Pod', ns)
  await deletePods(state, pods)
  for (const [k, o] of Object.entries(state.objects)) if (o.metadata.namespace === ns && TYPES[o.kind]?.namespaced) delete state.objects[k]
}

async function del(conn, {args, flags}, stdinText) {
  const results = []
  const errors = []
  let targets
  if (flags.filename) {
    const docs = []
    if (flags.filename.includes('-')) docs.push(...loadDocuments(stdinText ?? '', 'STDIN'))
    docs.push(...readManifests({...flags, filename: flags.filename.filter((f) => f !== '-')}, 'delete').filter(Boolean))
    targets = docs.map(({obj, source}) => ({kind: obj.kind, name: obj.metadata?.name, namespace: obj.metadata?.namespace, source}))
  } else {
    if (!args.length) fail('error: You must provide one or more resources by argument or filename.\nExample resource specifications include:\n   \'-f rsrc.yaml\'\n   \'--filename=rsrc.json\'\n   \'<resource> <name>\'\n   \'<resource>\'\n')
    const {pairs} = parseTypeArgs(args)
    if (pairs.some((p) => p.name === undefined) && !flags.selector && !flags.all) fail('error: resource(s) were provided, but no name was specified\n')
    targets = pairs
  }
  await simulateLatency('kubectl-delete')
  let found = 0
  // --grace-period (default: the pod's own; --now is 1; --force --grace-period=0 skips it), as kubectl sends it.
  const gracePeriod = flags.now === true || flags.now === 'true' ? 1 : flags['grace-period'] !== undefined && Number(flags['grace-period']) >= 0 ? Number(flags['grace-period']) : undefined
  if (gracePeriod === 0 && !(flags.force === true || flags.force === 'true')) fail('error: --grace-period=0 must have --force specified\n')
  const terminating = []
  await inCluster(conn, async (state) => {
    const selector = flags.selector ? parseSelector(flags.selector) : () => true
    const fieldSelector = parseFieldSelector(flags['field-selector'])
    const namespaceDeletes = []
    for (const target of targets) {
      const ns = target.namespace ?? conn.namespace
      const kind = target.kind
      if (!TYPES[kind]) {
        errors.push(`error: resource mapping not found for name: "${target.name}" namespace: "${ns}" from "${target.source}": no matches for kind "${kind}"\nensure CRDs are installed first`)
        continue
      }
      const candidates =
        target.name !== undefined
          ? [getObject(state, kind, ns, target.name)].filter(Boolean)
          : objectsFor(state, kind, ns).filter((o) => selector(o.metadata.labels) && fieldSelector(o))
      if (target.name !== undefined && !candidates.length) {
        if (!flags['ignore-not-found']) errors.push(`Error from server (NotFound): ${target.source ? `error when deleting "${target.source}": ` : ''}${qualifiedResource(kind)} "${target.name}" not found`)
        continue
      }
      for (const obj of candidates) {
        if (kind === 'Namespace' && ['default', 'kube-system', 'kube-public'].includes(obj.metadata.name)) {
          errors.push(`Error from server (Forbidden): namespaces "${obj.metadata.name}" is forbidden: this namespace may not be deleted`)
          continue
        }
        found++
        if (kind === 'Namespace') namespaceDeletes.push(obj.metadata.name)
        if (kind === 'Pod') {
          await terminatePods(state, [obj], gracePeriod)
          if (getObject(state, 'Pod', obj.metadata.namespace, obj.metadata.name)) terminating.push(obj)
        } else delete state.objects[key(kind, TYPES[kind].namespaced ? obj.metadata.namespace : '', obj.metadata.name)]
        results.push(`${quotedRef(kind, obj.metadata.name)} deleted`)
      }
    }
    for (const ns of namespaceDeletes) await deleteNamespaceContents(state, ns)
    // Owners gone: the garbage collector removes their ReplicaSets and pods.
    await reconcile(state, {kubelet: false})
  })
  await simulateLatency(results.some((r) => r.startsWith('namespace')) ? 'nsdelete' : 'none')
  if (results.length) process.stdout.write(results.join('\n') + '\n')
  // --wait (default true): kubectl returns once the objects are gone, i.e. after a pod's grace period.
  if (terminating.length && flags.wait !== false && flags.wait !== 'false') await waitUntilGone(conn, terminating, flags.timeout)
  if (!found && !errors.length && targets.every((t) => t.name === undefined)) process.stdout.write('No resources found\n')
  if (errors.length) fail(errors.join('\n') + '\n')
  return 0
}

async function waitUntilGone(conn, pods, timeout) {
  const deadline = timeout && timeout !== '0s' ? Date.now() + parseGoDuration(timeout) : Infinity
  for (;;) {
    const left = await inCluster(conn, (state) => pods.filter((pod) => getObject(state, 'Pod', pod.metadata.namespace, pod.metadata.name)?.metadata.uid === pod.metadata.uid))
    if (!left.length) return
    if (Date.now() >= deadline) fail(`error: timed out waiting for the condition on pods/${left[0].metadata.name}\n`)
    await sleep(250)
  }
}

async function create(conn, {args}) {
  const [what, name] = args
  if (kindForResource(what ?? '') !== 'Namespace') unsupported('kubectl', `create ${args.join(' ')}`)
  if (!name) fail('error: exactly one NAME is required, got 0\nSee \'kubectl create namespace -h\' for help and examples\n')
  await inCluster(conn, (state) => {
    if (getObject(state, 'Namespace', '', name)) fail(`Error from server (AlreadyExists): namespaces "${name}" already exists\n`)
    const errors = validate({kind: 'Namespace', metadata: {name}})
    if (errors.length) fail(`The Namespace "${name}" is invalid: ${errors[0]}\n`)
    putObject(state, {apiVersion: 'v1', kind: 'Namespace', metadata: {name}})
  })
  process.stdout.write(`namespace/${name} created\n`)
  return 0
}

// ---------- main ----------

/** Argument errors kubectl reports before it talks to any server. */
function preflight(verb, args, flags) {
  if (verb === 'get' && !args.length && flags.raw === undefined) {
    fail(`You must specify the type of resource to get. Use "kubectl api-resources" for a complete list of supported resources.\n\nerror: Required resource not specified.\nUse "kubectl explain <resource>" for a detailed description of that resource (e.g. kubectl explain pods).\nSee 'kubectl get -h' for help and examples\n`)
  }
  if (verb === 'delete' && !args.length && !flags.filename && !flags.kustomize) {
    fail("error: You must provide one or more resources by argument or filename.\nExample resource specifications include:\n   '-f rsrc.yaml'\n   '--filename=rsrc.json'\n   '<resource> <name>'\n   '<resource>'\n")
  }
  if (verb === 'logs' && !args.length && !flags.selector) {
    fail("error: expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'.\nPOD or TYPE/NAME is a required argument for the logs command\nSee 'kubectl logs -h' for help and examples\n")
  }
  if (verb === 'port-forward' && args.length < 2) fail("error: TYPE/NAME and list of ports are required for port-forward\nSee 'kubectl port-forward -h' for help and examples\n")
  if (verb === 'scale' && flags.replicas === undefined) fail(`${klogPrefix('run.go:72')}"command failed" err="required flag(s) \\"replicas\\" not set"\n`)
  if (verb === 'rollout' && ['status', 'history', 'undo', 'restart', 'pause', 'resume'].includes(args[0]) && args.length < 2) fail('error: required resource not specified\n')
  for (const flag of ['timeout', 'pod-running-timeout']) {
    if (flags[flag] !== undefined && Number.isNaN(parseGoDuration(flags[flag])) && !/^\d+$/.test(flags[flag])) {
      const command = ['kubectl', verb, verb === 'rollout' ? args[0] : undefined].filter(Boolean).join(' ')
      fail(`Error: invalid argument "${flags[flag]}" for "--${flag}" flag: time: invalid duration "${flags[flag]}"\nSee '${command} --help' for usage.\n`)
    }
  }
}

export async function main(argv) {
  const rawIndex = argv.indexOf('--raw')
  if (rawIndex >= 0 && argv.includes('get') && argv[rawIndex + 1]?.startsWith('/')) {
    // `get --raw /readyz`: the health endpoints answer "ok" (no newline, like the API server's body).
    const path = argv[rawIndex + 1]
    const rest = argv.filter((_, i) => i !== rawIndex && i !== rawIndex + 1)
    const {flags} = parseArgs(rest)
    await connectLive(flags)
    if (!['/readyz', '/livez', '/healthz'].includes(path.split('?')[0])) unsupported('kubectl', `get --raw ${path}`)
    process.stdout.write('ok')
    return 0
  }
  const parsed = parseArgs(argv)
  const {verb, flags} = parsed
  await simulateLatency('kubectl')
  if (!verb) unsupported('kubectl', '(no command)')
  if (verb === 'version') return version(parsed)
  if (verb === 'config') return configCmd(parsed)
  if (verb === 'kustomize') return kustomize(argv)
  const needsStdin = (verb === 'apply' || verb === 'delete') && flags.filename?.includes('-')
  const stdinText = needsStdin ? await readStdin() : undefined
  const known = ['apply', 'get', 'rollout', 'scale', 'delete', 'logs', 'port-forward', 'wait', 'create', 'exec']
  if (!known.includes(verb)) unsupported('kubectl', argv.join(' '))
  preflight(verb, parsed.args, flags)
  const applyDocs = verb === 'apply' ? applyDocuments(flags, stdinText) : undefined
  const conn = await connectLive(flags, {refusal: refusalFor(verb, parsed.args, flags)})
  switch (verb) {
    case 'apply':
      return apply(conn, parsed, applyDocs)
    case 'get':
      return get(conn, parsed)
    case 'rollout':
      return rollout(conn, parsed)
    case 'scale':
      return scale(conn, parsed)
    case 'delete':
      return del(conn, parsed, stdinText)
    case 'wait':
      return wait(conn, parsed)
    case 'create':
      return create(conn, parsed)
    case 'logs':
      return logs(conn, parsed, {inCluster})
    case 'port-forward':
      return portForward(conn, parsed, {inCluster})
    case 'exec':
      return exec(conn, parsed, argv, {inCluster})
  }
  return 0
}
