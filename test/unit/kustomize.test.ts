import {spawnSync} from 'node:child_process'
import {cpSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {parseAllDocuments} from 'yaml'
import {scaffold} from '../../src/lib/scaffold.js'

// The real kubectl client: `kubectl kustomize` needs no cluster.
const KUBECTL = process.env.DEVKUBE_TEST_KUBECTL ?? '/usr/bin/kubectl'
const kubectlVersion = spawnSync(KUBECTL, ['version', '--client'], {encoding: 'utf8'})
const hasKubectl = kubectlVersion.status === 0
if (!hasKubectl) console.warn(`kustomize tests skipped: no kubectl at ${KUBECTL} (install kubectl, or set DEVKUBE_TEST_KUBECTL to its path).`)

const examples = path.resolve(import.meta.dirname, '../../examples')
const root = mkdtempSync(path.join(tmpdir(), 'devkube-kustomize-'))
afterAll(() => rmSync(root, {recursive: true, force: true}))

function kustomize(folder: string): {kind: string; metadata: {name: string}}[] {
  const result = spawnSync(KUBECTL, ['kustomize', folder], {encoding: 'utf8'})
  expect(result.stderr).toBe('')
  expect(result.status).toBe(0)
  return parseAllDocuments(result.stdout).map((document) => document.toJS())
}

describe.skipIf(!hasKubectl)('kubectl kustomize on the generated k8s/', () => {
  it.each([
    ['hello-node', 'node'],
    ['hello-python', 'python'],
    ['hello-go', 'go'],
  ] as const)('%s: base and dev overlay build to a Deployment and a Service', (example, lang) => {
    const dir = path.join(root, example)
    cpSync(path.join(examples, example), dir, {recursive: true})
    scaffold(dir, {name: example, lang, port: 8080, replicas: 2, strategy: {maxSurge: '25%', maxUnavailable: 0}})
    for (const folder of ['k8s/base', 'k8s/overlays/dev']) {
      const objects = kustomize(path.join(dir, folder))
      expect(objects.map((object) => `${object.kind}/${object.metadata.name}`).sort()).toEqual([`Deployment/${example}`, `Service/${example}`])
    }
  })
})
