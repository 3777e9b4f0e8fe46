// The kubeconfig file, read and written the way kind and kubectl do (KUBECONFIG, else ~/.kube/config).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {yaml} from './util.mjs'

export function kubeconfigPaths() {
  const env = process.env.KUBECONFIG
  if (env) return env.split(path.delimiter).filter(Boolean)
  return [path.join(os.homedir(), '.kube', 'config')]
}

/** The file kind writes to: the first KUBECONFIG entry that exists, else the first one. */
export function writablePath() {
  const paths = kubeconfigPaths()
  return paths.find((p) => fs.existsSync(p)) ?? paths[0]
}

function emptyConfig() {
  return {apiVersion: 'v1', clusters: [], contexts: [], 'current-context': '', kind: 'Config', preferences: {}, users: []}
}

// Parsing YAML means loading the yaml package (~25 ms per call): keep the parsed file as JSON, keyed by its stat.
const cacheFile = () => (process.env.DEVKUBE_FAKE_STATE ? path.join(process.env.DEVKUBE_FAKE_STATE, 'kubeconfig-cache.json') : undefined)

function statKey(file) {
  const st = fs.statSync(file)
  return `${path.resolve(file)}|${st.ino}|${st.size}|${st.mtimeMs}`
}

function cached(file) {
  const cache = cacheFile()
  if (!cache) return undefined
  try {
    const entry = JSON.parse(fs.readFileSync(cache, 'utf8'))
    return entry.key === statKey(file) ? entry.config : undefined
  } catch {
    return undefined
  }
}

function remember(file, config) {
  const cache = cacheFile()
  if (!cache || !fs.existsSync(path.dirname(cache))) return
  const tmp = `${cache}.${process.pid}.tmp`
  fs.writeFileSync(tmp, JSON.stringify({key: statKey(file), config}))
  fs.renameSync(tmp, cache)
}

export function readFile(file) {
  let text
  try {
    const hit = cached(file)
    if (hit) return hit
    text = fs.readFileSync(file, 'utf8')
  } catch {
    return emptyConfig()
  }
  const parsed = yaml().parse(text) ?? {}
  const config = {...emptyConfig(), ...parsed, clusters: parsed.clusters ?? [], contexts: parsed.contexts ?? [], users: parsed.users ?? []}
  remember(file, config)
  return structuredClone(config)
}

/** kubectl's merged view of every KUBECONFIG file (first file wins for each name and for current-context). */
export function readMerged() {
  const merged = emptyConfig()
  let current = ''
  for (const file of kubeconfigPaths()) {
    const config = readFile(file)
    for (const key of ['clusters', 'contexts', 'users']) {
      for (const entry of config[key]) if (!merged[key].some((e) => e.name === entry.name)) merged[key].push(entry)
    }
    if (!current && config['current-context']) current = config['current-context']
  }
  merged['current-context'] = current
  return merged
}

export function writeFile(file, config) {
  fs.mkdirSync(path.dirname(file), {recursive: true})
  const tmp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(tmp, yaml().stringify(config, {indentSeq: false}), {mode: 0o600})
  fs.renameSync(tmp, file)
  remember(file, config)
}

// A real (self-signed, test-only) certificate and key: tools that parse the kubeconfig, the real kubectl
// included, must find well-formed data where kind puts its CA and client credentials.
const FAKE_CERT = 'LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJqekNDQVRXZ0F3SUJBZ0lVUlJmTkxLK0k4a0hSb1hldG9PWUttWGRDRU93d0NnWUlLb1pJemowRUF3SXcKSERFYU1CZ0dBMVVFQXd3UlpHVjJhM1ZpWlMxbVlXdGxMV3RwYm1Rd0lCY05Nall4TVRJMU1ETXpOekEzV2hnUApNakV5TmpFeE1ERXdNek0zTURkYU1Cd3hHakFZQmdOVkJBTU1FV1JsZG10MVltVXRabUZyWlMxcmFXNWtNRmt3CkV3WUhLb1pJemowQ0FRWUlLb1pJemowREFRY0RRZ0FFYWlZWmc4ajgzTWZkQXk3TEplQWp0aVRaSWRMNFhLMU4KOWVHdjlPZkJXRHZVNjNuN0R2K05XMUU2SG9GSG0zY0lTM3JKZWxSb3FIZzZRSUVwNEVSODVxTlRNRkV3SFFZRApWUjBPQkJZRUZMRzBHU05YZEdWM3preW9kczhHbUdIRnhZbHVNQjhHQTFVZEl3UVlNQmFBRkxHMEdTTlhkR1YzCnpreW9kczhHbUdIRnhZbHVNQThHQTFVZEV3RUIvd1FGTUFNQkFmOHdDZ1lJS29aSXpqMEVBd0lEU0FBd1JRSWgKQUk2MDdjKzl4Qmp1SmUwWngwb3VRMm5RMGIxUG5xODJSVmxQc0NrOG9JZ0FBaUIxTUFpc2N6QytMT2ZNUmhRUgoyYUd0YThCSmhoWGowdE9tVHpBRXhPODM3UT09Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K'
const FAKE_KEY = 'LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JR0hBZ0VBTUJNR0J5cUdTTTQ5QWdFR0NDcUdTTTQ5QXdFSEJHMHdhd0lCQVFRZ0EvNElqNXVadHdtTkZRTkcKTmU4SnNqUm9lSWxlTnNjV29PMEFYcytCUGtXaFJBTkNBQVJxSmhtRHlQemN4OTBETHNzbDRDTzJKTmtoMHZoYwpyVTMxNGEvMDU4RllPOVRyZWZzTy80MWJVVG9lZ1VlYmR3aExlc2w2Vkdpb2VEcEFnU25nUkh6bQotLS0tLUVORCBQUklWQVRFIEtFWS0tLS0tCg=='

export function kindEntries(clusterName, port) {
  const name = `kind-${clusterName}`
  return {
    cluster: {cluster: {'certificate-authority-data': FAKE_CERT, server: `https://127.0.0.1:${port}`}, name},
    context: {context: {cluster: name, user: name}, name},
    user: {name, user: {'client-certificate-data': FAKE_CERT, 'client-key-data': FAKE_KEY}},
  }
}

/** What `kind create cluster` / `kind export kubeconfig` does: upsert the kind-X entries, set current-context. */
export function addKindCluster(clusterName, port) {
  const file = writablePath()
  const config = readFile(file)
  const entries = kindEntries(clusterName, port)
  const upsert = (list, entry) => {
    const index = list.findIndex((e) => e.name === entry.name)
    if (index >= 0) list[index] = entry
    else list.push(entry)
  }
  upsert(config.clusters, entries.cluster)
  upsert(config.contexts, entries.context)
  upsert(config.users, entries.user)
  config['current-context'] = entries.context.name
  writeFile(file, config)
}

/** What `kind delete cluster` does to the kubeconfig. */
export function removeKindCluster(clusterName) {
  const name = `kind-${clusterName}`
  for (const file of kubeconfigPaths()) {
    if (!fs.existsSync(file)) continue
    const config = readFile(file)
    const before = JSON.stringify(config)
    config.clusters = config.clusters.filter((e) => e.name !== name)
    config.contexts = config.contexts.filter((e) => e.name !== name)
    config.users = config.users.filter((e) => e.name !== name)
    if (config['current-context'] === name) config['current-context'] = ''
    if (JSON.stringify(config) !== before) writeFile(file, config)
  }
}

export function kindKubeconfigYaml(clusterName, port) {
  const entries = kindEntries(clusterName, port)
  return yaml().stringify(
    {
      apiVersion: 'v1',
      clusters: [entries.cluster],
      contexts: [entries.context],
      'current-context': entries.context.name,
      kind: 'Config',
      preferences: {},
      users: [entries.user],
    },
    {indentSeq: false},
  )
}
