/**
 * What real kind, kubectl and Docker do that the fake used to hide (issue 15), against the fake toolchain in its
 * faithful modes: Docker's containerd image store (kind's own load fails, and never sees an image as present),
 * manifests holding a kind with an irregular plural, and a kubectl port-forward that hangs instead of exiting.
 */
import {appendFileSync, existsSync, readFileSync, writeFileSync} from 'node:fs'
import {randomUUID} from 'node:crypto'
import path from 'node:path'
import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {copyExample, devkube, httpBody} from '../support/cli.js'
import {buildArgFlags, ensureStandinImages, freeLoopbackPort, useDocker} from '../support/docker.js'
import {createFakeToolchain} from '../support/fake-toolchain.js'

const dockerReady = await useDocker()

describe.skipIf(!dockerReady)('real-tool behaviour the fake reproduces', () => {
  let tools: Awaited<ReturnType<typeof createFakeToolchain>>
  let dir: string
  let port: number
  let run: (...args: string[]) => ReturnType<typeof devkube>
  const images = new Set<string>()

  beforeAll(async () => {
    tools = await createFakeToolchain({speed: 0.5, env: {DEVKUBE_FAKE_IMAGE_STORE: 'containerd'}})
    const baseImages = await ensureStandinImages()
    dir = copyExample('hello-python')
    appendFileSync(path.join(dir, 'app.py'), `\n# test run ${randomUUID()}\n`)
    port = await freeLoopbackPort()
    const buildArgs = buildArgFlags({PYTHON_IMAGE: baseImages.PYTHON_IMAGE})
    run = async (...args: string[]) => {
      const result = await devkube(args[0] === 'up' ? [...args, ...buildArgs] : args, {cwd: dir, env: tools.env})
      for (const match of `${result.stdout}\n${result.stderr}`.matchAll(/devkube\.local\/[\w.-]+:[0-9a-f]{12}/g)) images.add(match[0])
      return result
    }
  })

  afterAll(async () => {
    await run?.('down').catch(() => {})
    await tools?.cleanup()
    if (images.size > 0) await execa('docker', ['rmi', '-f', ...images], {reject: false})
  })

  const kindLoads = () => tools.calls().filter((call) => call.tool === 'kind' && call.args[0] === 'load')

  it("loads through docker save + kind load image-archive when kind's own load hits the containerd digest error", async () => {
    const result = await run('up', '--detach', '--forward', String(port))
    expect(result.code, result.stderr).toBe(0)
    expect(kindLoads().map((call) => call.args.slice(0, 2).join(' '))).toEqual(['load docker-image', 'load image-archive'])
    expect((await httpBody(`http://localhost:${port}/`)).trim()).toBe('Hello World')
  })

  it('does not load again when nothing changed, although kind never reports the image as present there', async () => {
    const before = kindLoads().length
    const result = await run('up', '--detach', '--forward', String(port))
    expect(result.code, result.stderr).toBe(0)
    expect(kindLoads()).toHaveLength(before)
  })

  it('applies and compares manifests holding a NetworkPolicy (plural networkpolicies, not networkpolicys)', async () => {
    const base = path.join(dir, 'k8s', 'base')
    writeFileSync(
      path.join(base, 'network.yaml'),
      'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: allow-web\nspec:\n  podSelector: {}\n  ingress:\n  - {}\n',
    )
    appendFileSync(path.join(base, 'kustomization.yaml'), '  - network.yaml\n')
    const applied = await run('up', '--detach', '--forward', String(port))
    expect(applied.code, applied.stderr).toBe(0)
    // The second up reads the live objects back with `kubectl get <plurals>`: a guessed "networkpolicys" fails there.
    const again = await run('up', '--detach', '--forward', String(port))
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toMatch(/Apply manifests.*unchanged|Apply manifests/)
  })

  it('restarts a port-forward that hangs (accepts connections, forwards nothing) so the URL answers again', async () => {
    expect((await httpBody(`http://localhost:${port}/`)).trim()).toBe('Hello World')
    const trigger = path.join(tools.stateDir, 'port-forward-hang')
    writeFileSync(trigger, '')
    // The forwarder's own probe hits the hang (the fake uses the trigger up): from then on that kubectl forwards nothing.
    await expect.poll(() => existsSync(trigger), {timeout: 30_000, interval: 200}).toBe(false)
    // Only a new kubectl, started by the supervisor, can answer now.
    expect((await httpBody(`http://localhost:${port}/`, 60_000)).trim()).toBe('Hello World')
  })

  it('a redeploy leaves the old pod Terminating for its grace period: status shows it and stays healthy, the URL serves the new code', async () => {
    // `python app.py` as PID 1 ignores SIGTERM, as many apps do: a replaced pod lives out its grace period (30 s, 15 s here).
    const dockerfile = path.join(dir, 'Dockerfile')
    writeFileSync(dockerfile, readFileSync(dockerfile, 'utf8').replace(/^CMD .*$/m, 'CMD ["python", "app.py"]'))
    expect((await run('up', '--detach', '--forward', String(port))).code).toBe(0)
    const app = path.join(dir, 'app.py')
    writeFileSync(app, readFileSync(app, 'utf8').replace('return "Hello World"', 'return "Hello again"'))
    const result = await run('up', '--detach', '--forward', String(port))
    expect(result.code, result.stderr).toBe(0)

    const status = await run('status', '--json')
    const report = JSON.parse(status.stdout) as {healthy: boolean; problems: string[]; pods: Array<{name: string; status: string; problem?: unknown}>}
    const terminating = report.pods.filter((pod) => pod.status === 'Terminating')
    expect(terminating).toHaveLength(1)
    expect(terminating[0].problem).toBeUndefined()
    expect(report.problems).toEqual([])
    expect(report.healthy).toBe(true)
    // The forwarder moves to the new pod (while the old one still runs and is Ready) and the new code answers,
    // before the old pod is gone: kubectl given the Service would have stayed with the old pod until it died.
    await expect.poll(async () => (await httpBody(`http://localhost:${port}/`)).trim(), {timeout: 10_000}).toBe('Hello again')
    const pods = await tools.pods('devkube', 'hello-python')
    expect(pods.find((pod) => pod.metadata.name === terminating[0].name)?.metadata.deletionTimestamp).toBeDefined()
  })
})
