// The fake `kubectl exec` runs the command in the pod's real container, stdin passed with -i, and answers
// failures with kubectl's texts and exit codes. Needs Docker; skipped without it.
import {execFileSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {buildTestHttpImage, createFakeToolchain, dockerAvailable, type FakeToolchain} from '../support/fake-toolchain.js'

const hasDocker = await dockerAvailable()
const image = `devkube-fake-test/http:exec-${process.pid}`
const cluster = `exec${process.pid}`

describe.skipIf(!hasDocker)('fake kubectl exec', () => {
  let tools: FakeToolchain
  let pod: string
  const kubectl = (args: string[], input?: string) => tools.exec('kubectl', ['--context', `kind-${cluster}`, '-n', 'demo', ...args], {input})

  beforeAll(async () => {
    tools = await createFakeToolchain({speed: 0.05})
    await buildTestHttpImage(image)
    expect((await tools.exec('kind', ['create', 'cluster', '--name', cluster])).code).toBe(0)
    expect((await tools.exec('kind', ['load', 'docker-image', image, '--name', cluster])).code).toBe(0)
    const manifests = `apiVersion: v1
kind: Namespace
metadata: {name: demo}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      securityContext: {runAsUser: 10001, runAsGroup: 10001}
      containers:
      - {name: web, image: ${image}, imagePullPolicy: IfNotPresent, ports: [{containerPort: 8080}]}
`
    expect((await kubectl(['apply', '-f', '-'], manifests)).code).toBe(0)
    expect((await kubectl(['rollout', 'status', 'deployment/web', '--timeout=60s'])).code).toBe(0)
    pod = (await tools.pods(cluster, 'demo'))[0].metadata.name
  })

  afterAll(async () => {
    await tools?.cleanup()
    execFileSync('docker', ['rmi', '-f', image], {stdio: 'ignore'})
  })

  it('streams stdin into the container with -i, as the container user', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'devkube-exec-'))
    fs.writeFileSync(path.join(dir, 'hello.txt'), 'synced\n')
    const archive = execFileSync('tar', ['-c', '-C', dir, 'hello.txt'])
    fs.rmSync(dir, {recursive: true, force: true})
    // tools.exec takes text input; the tar is ASCII apart from NUL padding, which latin1 keeps byte for byte.
    const extracted = await kubectl(['exec', '-i', pod, '-c', 'web', '--', 'tar', '-xmf', '-', '-C', '/tmp'], archive.toString('latin1'))
    expect(extracted).toEqual({code: 0, stdout: '', stderr: ''})
    expect(await kubectl(['exec', pod, '--', 'cat', '/tmp/hello.txt'])).toEqual({code: 0, stdout: 'synced\n', stderr: ''})
    expect((await kubectl(['exec', pod, '--', 'id', '-u'])).stdout).toBe('10001\n')
  })

  it("passes the command's exit code on with kubectl's line", async () => {
    expect(await kubectl(['exec', pod, '-c', 'web', '--', 'sh', '-c', 'echo oops >&2; exit 3'])).toEqual({code: 3, stdout: '', stderr: 'oops\ncommand terminated with exit code 3\n'})
  })

  it('names a missing pod or container as kubectl does', async () => {
    expect(await kubectl(['exec', 'nosuch', '--', 'ls'])).toEqual({code: 1, stdout: '', stderr: 'Error from server (NotFound): pods "nosuch" not found\n'})
    expect(await kubectl(['exec', pod, '-c', 'nope', '--', 'ls'])).toEqual({code: 1, stdout: '', stderr: `Error from server (BadRequest): container nope is not valid for pod ${pod}\n`})
  })
})
