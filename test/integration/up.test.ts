/**
 * `devkube up` as a user runs it: the built CLI against the fake kind/kubectl (test/fakes), with real
 * Docker building the image and running the pods, so the forwarded URL serves the real app.
 */
import {appendFileSync, existsSync, readFileSync, writeFileSync} from 'node:fs'
import {randomUUID} from 'node:crypto'
import {execa} from 'execa'
import net from 'node:net'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parse, stringify} from 'yaml'
import {copyExample, devkube, httpBody, startDevkube, waitForOutput, type CliResult} from '../support/cli.js'
import {buildArgFlags, ensureStandinImages, freeLoopbackPort, useDocker} from '../support/docker.js'
import {createFakeToolchain} from '../support/fake-toolchain.js'
import {leftoverProcesses} from '../support/processes.js'

const dockerReady = await useDocker()

/** No stack trace reaches a user without --verbose. */
function expectNoStackTrace(result: CliResult): void {
  expect(result.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m)
}

const builtImages = new Set<string>()

/** Remembers every image tag devkube printed, so the suite removes what it built. */
function track(result: CliResult): CliResult {
  for (const match of `${result.stdout}\n${result.stderr}`.matchAll(/devkube\.local\/[\w.-]+:[0-9a-f]{12}/g)) builtImages.add(match[0])
  return result
}

afterAll(async () => {
  if (builtImages.size > 0) await execa('docker', ['rmi', '-f', ...builtImages], {reject: false})
})

async function setup(options: {speed?: number; kubeconfig?: string; latency?: Record<string, number>} = {}) {
  const tools = await createFakeToolchain({speed: options.speed ?? 0.1, kubeconfig: options.kubeconfig, latency: options.latency})
  const images = await ensureStandinImages()
  const dir = copyExample('hello-python')
  // A source unique to this test: its image is really built here, not found from an earlier run.
  appendFileSync(path.join(dir, 'app.py'), `\n# test run ${randomUUID()}\n`)
  const buildArgs = buildArgFlags({PYTHON_IMAGE: images.PYTHON_IMAGE})
  const up = async (...args: string[]) => track(await devkube(['up', ...buildArgs, ...args], {cwd: dir, env: tools.env}))
  const run = async (...args: string[]) => track(await devkube(args, {cwd: dir, env: tools.env}))
  return {tools, dir, up, run, buildArgs}
}

function editConfig(dir: string, change: (config: Record<string, unknown>) => void): void {
  const file = path.join(dir, 'devkube.yaml')
  const config = existsSync(file) ? ((parse(readFileSync(file, 'utf8')) as Record<string, unknown>) ?? {}) : {}
  change(config)
  writeFileSync(file, stringify(config))
}

describe.skipIf(!dockerReady)('devkube up against the fake toolchain', () => {
  describe('the Hello World flow', () => {
    let context: Awaited<ReturnType<typeof setup>>
    let port: number
    beforeAll(async () => {
      // Half real time: probes and back-offs keep their proportions (a tenth would let the liveness
      // probe kill a restarting app before it has booted on a busy machine).
      context = await setup({speed: 0.5})
      port = await freeLoopbackPort()
    })
    afterAll(async () => {
      await context?.run('down').catch(() => {})
      await context?.tools.cleanup()
    })

    it('goes from nothing to a forwarded URL that answers Hello World', async () => {
      const result = await context.up('--detach', '--forward', String(port))
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toMatch(/^✓ Ensure kind cluster: created "devkube"/m)
      expect(result.stdout).toMatch(/^✓ Build image: devkube\.local\/hello-python:[0-9a-f]{12}/m)
      expect(result.stdout).toMatch(/^✓ Apply manifests: .*created/m)
      expect(result.stdout).toContain(`hello-python is running: http://localhost:${port}`)
      expect((await httpBody(`http://localhost:${port}/`)).trim()).toBe('Hello World')
      // It scaffolded what the example lacked, as `init --yes` would.
      for (const file of ['Dockerfile', 'devkube.yaml', 'k8s/base/deployment.yaml']) expect(existsSync(path.join(context.dir, file))).toBe(true)
    })

    it('changes nothing on a re-run: no build, load, create or apply, and says so in --json', async () => {
      const result = await context.up('--detach', '--forward', String(port), '--json')
      expect(result.code, result.stderr).toBe(0)
      const json = JSON.parse(result.stdout) as {url: string; cluster: string; namespace: string; image: string; changed: Record<string, unknown>; steps: Array<{id: string; title: string; status: string; skipped: boolean; ms: number}>}
      expect(json).toMatchObject({url: `http://localhost:${port}`, cluster: 'devkube', namespace: 'hello-python'})
      expect(json.image).toMatch(/^devkube\.local\/hello-python:[0-9a-f]{12}$/)
      expect(json.changed).toMatchObject({clusterCreated: false, imageBuilt: false, imageLoaded: false, applied: [], rolledOut: false, scaffolded: []})
      const skipped = json.steps.filter((step) => step.skipped).map((step) => step.id)
      expect(skipped).toEqual(expect.arrayContaining(['scaffold', 'cluster', 'image', 'load', 'apply', 'rollout', 'forward']))
      for (const step of json.steps) expect(step).toMatchObject({title: expect.any(String), status: expect.any(String), ms: expect.any(Number)})
    })

    it('after a code change rebuilds, rolls out the new pods, and the same URL serves the new code', async () => {
      const app = path.join(context.dir, 'app.py')
      writeFileSync(app, readFileSync(app, 'utf8').replace('return "Hello World"', 'return "Hello again"'))
      const result = await context.up('--detach', '--forward', String(port))
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toMatch(/^✓ Build image/m)
      expect(result.stdout).toMatch(/^✓ Wait for rollout/m)
      expect(result.stdout).toMatch(/^- Ensure kind cluster: reusing "devkube" \(skipped\)/m)
      await expect.poll(async () => (await httpBody(`http://localhost:${port}/`)).trim(), {timeout: 20_000}).toBe('Hello again')
    })

    it('keeps the URL answering when its container is killed or its pod is replaced', async () => {
      const url = `http://localhost:${port}/`
      const answerAgain = async (what: string) => {
        const body = await httpBody(url, 30_000).catch(async (error: Error) => {
          const log = readFileSync(path.join(context.dir, '.devkube', 'forward-dev.log'), 'utf8')
          const pods = await context.tools.exec('kubectl', ['--context', 'kind-devkube', '-n', 'hello-python', 'get', 'pods'])
          throw new Error(`${error.message}\nafter ${what}; forwarder log:\n${log}\npods:\n${pods.stdout}${pods.stderr}`)
        })
        expect(body.trim()).toBe('Hello again')
      }
      // A killed container is restarted in its pod by the kubelet; kubectl port-forward loses it.
      await context.tools.killPodContainer('devkube', 'hello-python')
      await answerAgain('a container kill')
      // A deleted pod (evicted, drained, deleted) is replaced by a new one with another name.
      for (let round = 1; round <= 3; round++) {
        const [pod] = await context.tools.pods('devkube', 'hello-python')
        const deleted = await context.tools.exec('kubectl', ['--context', 'kind-devkube', '-n', 'hello-python', 'delete', 'pod', pod.metadata.name])
        expect(deleted.code, deleted.stderr).toBe(0)
        await answerAgain(`pod deletion ${round}`)
      }
    })

    it('refuses a second up in the same folder while one runs', async () => {
      appendFileSync(path.join(context.dir, 'app.py'), '\n# touch\n')
      const first = startDevkube(['up', ...context.buildArgs, '--no-forward'], {cwd: context.dir, env: context.tools.env})
      await expect.poll(() => existsSync(path.join(context.dir, '.devkube', 'lock')), {timeout: 10_000}).toBe(true)
      const second = await context.up('--no-forward')
      expect(second.code).not.toBe(0)
      expect(second.error).toMatch(/Another `devkube up` is already running in this folder \(pid \d+/)
      expectNoStackTrace(second)
      expect((await first).exitCode).toBe(0)
    })
  })

  describe('Ctrl-C at the later steps, and in the foreground', () => {
    it('Ctrl-C while waiting for the rollout: exits 130, no kubectl left, and a later up finishes the rollout', async () => {
      const {tools, dir, up, buildArgs} = await setup({speed: 1, latency: {rollout: 30}})
      try {
        const running = startDevkube(['up', ...buildArgs, '--no-forward'], {cwd: dir, env: tools.env})
        await waitForOutput(running, /Apply manifests/)
        running.kill('SIGINT')
        const interrupted = await running
        expect(interrupted.exitCode, String(interrupted.stderr)).toBe(130)
        expect(String(interrupted.stdout)).toMatch(/^✗ Wait for rollout \(interrupted\)/m)
        expect(await leftoverProcesses(tools.stateDir)).toEqual([])
        const resumed = await up('--no-forward', '--timeout', '90')
        expect(resumed.code, resumed.stderr).toBe(0)
        expect(resumed.stdout).toMatch(/^- Apply manifests: unchanged \(skipped\)/m)
        expect(resumed.stdout).toMatch(/^✓ Wait for rollout/m)
      } finally {
        await tools.cleanup()
      }
    })

    it('in the foreground: forwards until Ctrl-C, then stops forwarding, leaves the app running and says how to remove it', async () => {
      const {tools, dir, buildArgs, run} = await setup({speed: 0.5})
      const port = await freeLoopbackPort()
      try {
        const running = startDevkube(['up', ...buildArgs, '--forward', String(port)], {cwd: dir, env: tools.env})
        await waitForOutput(running, /Press Ctrl-C to stop forwarding/)
        expect((await httpBody(`http://localhost:${port}/`)).trim()).toBe('Hello World')
        running.kill('SIGINT')
        const stopped = await running
        expect(stopped.exitCode, String(stopped.stderr)).toBe(0)
        expect(String(stopped.stdout)).toContain('Stopped forwarding. hello-python is still running in kind-devkube, namespace hello-python.')
        expect(String(stopped.stdout)).toContain('`devkube down` removes it.')
        await expect(httpBody(`http://localhost:${port}/`, 2000)).rejects.toThrow()
        expect(await leftoverProcesses(tools.stateDir)).toEqual([])
        expect((await tools.pods('devkube', 'hello-python')).some((pod) => pod.status.phase === 'Running')).toBe(true)
        expect((await run('down')).code).toBe(0)
      } finally {
        await tools.cleanup()
      }
    })
  })

  describe.concurrent('what a user sees when it goes wrong', () => {
    it('a crashing app: says it keeps crashing and shows its last log lines', async () => {
      const {tools, dir, up} = await setup()
      try {
        // A plain Python app (no Flask: `python app.py`) that exits at start: a real crash loop.
        writeFileSync(path.join(dir, 'requirements.txt'), '')
        writeFileSync(path.join(dir, 'app.py'), 'import sys\nprint("database URL missing: cannot start", flush=True)\nsys.exit(3)\n')
        const result = await up('--no-forward', '--timeout', '60')
        expect(result.code).toBe(1)
        expect(result.error).toMatch(/The app keeps crashing: container hello-python in pod hello-python-\S+ exited with code 3 and has restarted \d+ times? \(CrashLoopBackOff\)/)
        expect(result.error).toMatch(/Last 20 log lines of hello-python-\S+: database URL missing: cannot start/)
        expectNoStackTrace(result)
      } finally {
        await tools.cleanup()
      }
    })

    it('an app whose server never comes up: says Kubernetes restarts it for failing health checks, with its log', async () => {
      const {tools, dir, up} = await setup()
      try {
        // gunicorn stays up while its worker fails to import the app: the liveness probe kills it.
        writeFileSync(path.join(dir, 'app.py'), 'raise SystemExit("database URL missing: cannot start")\n')
        const result = await up('--no-forward', '--timeout', '60')
        expect(result.code).toBe(1)
        expect(result.error).toMatch(/The app never answers its health checks \(GET \/ on port 8080\), so Kubernetes keeps restarting it/)
        expect(result.error).toContain('database URL missing: cannot start')
        expectNoStackTrace(result)
      } finally {
        await tools.cleanup()
      }
    })

    it('an app that never answers its readiness probe: names the probe', async () => {
      const {tools, dir, up} = await setup()
      try {
        await up('--no-forward', '--timeout', '1').catch(() => {})
        editConfig(dir, (config) => {
          config.healthPath = '/not-there'
        })
        const result = await up('--no-forward', '--timeout', '8')
        expect(result.code).toBe(1)
        expect(result.error).toMatch(/never answers its health checks? \(GET \/not-there on port 8080\)|never became ready: its readiness probe \(GET \/not-there on port 8080\)/)
        expectNoStackTrace(result)
      } finally {
        await tools.cleanup()
      }
    })

    it('a pod that cannot be scheduled: says why', async () => {
      const {tools, dir, up} = await setup()
      try {
        await up('--no-forward', '--timeout', '1').catch(() => {})
        editConfig(dir, (config) => {
          config.resources = {requests: {memory: '64Gi'}, limits: {memory: '64Gi'}}
        })
        const result = await up('--no-forward', '--timeout', '20')
        expect(result.code).toBe(1)
        expect(result.error).toMatch(/cannot be scheduled: 0\/1 nodes are available: 1 Insufficient memory/)
        expect(result.error).toContain('resources.requests')
      } finally {
        await tools.cleanup()
      }
    })

    it('a taken local port: names the port and the --forward flag', async () => {
      const {tools, up} = await setup()
      const port = await freeLoopbackPort()
      const blocker = net.createServer().listen(port, '127.0.0.1')
      try {
        const result = await up('--detach', '--forward', String(port))
        expect(result.code).toBe(1)
        expect(result.error).toContain(`The local port ${port} is already in use`)
        expect(result.error).toContain('--forward <port>')
        expectNoStackTrace(result)
      } finally {
        blocker.close()
        await tools.cleanup()
      }
    })

    it('a kind-<cluster> context pointing elsewhere: refuses to deploy through it', async () => {
      const {tools, up} = await setup()
      try {
        expect((await up('--no-forward')).code).toBe(0)
        const kubeconfig = parse(readFileSync(tools.kubeconfigPath, 'utf8')) as {clusters: Array<{name: string; cluster: {server: string}}>}
        kubeconfig.clusters.find((cluster) => cluster.name === 'kind-devkube')!.cluster.server = 'https://prod.example.com:6443'
        writeFileSync(tools.kubeconfigPath, stringify(kubeconfig))
        const result = await up('--no-forward')
        expect(result.code).toBe(1)
        expect(result.error).toMatch(/The context "kind-devkube" does not point at the kind cluster "devkube": it points at https:\/\/prod\.example\.com:6443, but kind's cluster is at https:\/\/127\.0\.0\.1:\d+/)
        expect(result.error).toContain('kind export kubeconfig --name devkube')
      } finally {
        await tools.cleanup()
      }
    })

    it('a deleted kind context: says how to restore it', async () => {
      const {tools, up} = await setup()
      try {
        expect((await up('--no-forward')).code).toBe(0)
        const kubeconfig = parse(readFileSync(tools.kubeconfigPath, 'utf8')) as {contexts: Array<{name: string}>}
        kubeconfig.contexts = kubeconfig.contexts.filter((entry) => entry.name !== 'kind-devkube')
        writeFileSync(tools.kubeconfigPath, stringify(kubeconfig))
        const result = await up('--no-forward')
        expect(result.code).toBe(1)
        expect(result.error).toContain('The kubeconfig has no context "kind-devkube" for the kind cluster "devkube".')
        expect(result.error).toContain('kind export kubeconfig --name devkube')
      } finally {
        await tools.cleanup()
      }
    })

    it('leaves a foreign current-context as it was, even when it creates the cluster', async () => {
      const foreign = stringify({
        apiVersion: 'v1',
        kind: 'Config',
        'current-context': 'prod',
        clusters: [{name: 'prod', cluster: {server: 'https://prod.example.com:6443'}}],
        contexts: [{name: 'prod', context: {cluster: 'prod', user: 'admin', namespace: 'payments'}}],
        users: [{name: 'admin', user: {token: 'not-a-real-token'}}],
      })
      const {tools, up} = await setup({kubeconfig: foreign})
      try {
        const result = await up('--no-forward')
        expect(result.code, result.stderr).toBe(0)
        const after = parse(readFileSync(tools.kubeconfigPath, 'utf8')) as {'current-context': string; contexts: Array<{name: string; context: {namespace?: string}}>}
        expect(after['current-context']).toBe('prod')
        expect(after.contexts.find((entry) => entry.name === 'prod')?.context.namespace).toBe('payments')
      } finally {
        await tools.cleanup()
      }
    })

    it('Docker not running: one sentence saying so and how to start it', async () => {
      const {tools, dir} = await setup()
      try {
        const result = await devkube(['up', '--no-forward'], {cwd: dir, env: {...tools.env, DOCKER_HOST: 'unix:///nonexistent/docker.sock'}})
        expect(result.code).toBe(1)
        expect(result.error).toContain('Docker is not running (the docker CLI cannot reach the Docker daemon).')
        expect(result.error).toContain('systemctl start docker')
        expectNoStackTrace(result)
      } finally {
        await tools.cleanup()
      }
    })

    it('Ctrl-C mid-way: exits 130, leaves no lock, no half-made cluster, no child process, and a later up continues', async () => {
      const {tools, dir, up, buildArgs} = await setup({latency: {create: 30}})
      try {
        const running = startDevkube(['up', ...buildArgs, '--no-forward'], {cwd: dir, env: tools.env})
        // Interrupt while the cluster is being created and the image built (both start after scaffolding).
        await waitForOutput(running, /Scaffold missing files/)
        await new Promise((resolve) => setTimeout(resolve, 1000))
        running.kill('SIGINT')
        const interrupted = await running
        expect(interrupted.exitCode, String(interrupted.stderr)).toBe(130)
        expect(String(interrupted.stdout)).toMatch(/^✗ (Ensure kind cluster|Build image).* \(interrupted\)/m)
        expect(String(interrupted.stderr)).toContain('Interrupted: nothing was left half-done')
        expect(existsSync(path.join(dir, '.devkube', 'lock'))).toBe(false)
        expect(await leftoverProcesses(tools.stateDir)).toEqual([])
        const clusters = await tools.exec('kind', ['get', 'clusters'])
        expect(clusters.stdout).not.toContain('devkube')
        const resumed = await up('--no-forward')
        expect(resumed.code, resumed.stderr).toBe(0)
      } finally {
        await tools.cleanup()
      }
    })
  })
})
