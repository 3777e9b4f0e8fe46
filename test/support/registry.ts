/**
 * A container registry on 127.0.0.1 for the deploy-target tests: the stand-in `devkube-standin/registry:2`
 * when scripts/standin-images.sh has built it, else Debian's docker-registry binary from the shared
 * stand-in base image, run without auth. Docker pushes to 127.0.0.1 over plain HTTP without any
 * daemon setting (loopback registries are insecure-allowed), and the fake cluster pulls from it.
 */
import {execa} from 'execa'
import {freeLoopbackPort, TEST_LABEL} from './docker.js'

export interface TestRegistry {
  /** host:port, e.g. 127.0.0.1:41234 */
  host: string
  stop(): Promise<void>
}

const CONFIG = `version: 0.1
storage:
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
`

async function registryImage(): Promise<{image: string; command: string[]}> {
  const standin = await execa('docker', ['image', 'inspect', 'devkube-standin/registry:2'], {reject: false})
  if (standin.exitCode === 0) return {image: 'devkube-standin/registry:2', command: []}
  const images = await execa('docker', ['images', '--format', '{{.Repository}}:{{.Tag}}', 'devkube-standin/base'])
  const base = images.stdout.split('\n').find(Boolean)
  if (!base) throw new Error('No registry image: run scripts/standin-images.sh (it builds devkube-standin/base with docker-registry).')
  return {image: base, command: ['sh', '-c', `mkdir -p /var/lib/registry && printf '%s' "$REGISTRY_CONFIG" > /tmp/registry.yml && exec docker-registry serve /tmp/registry.yml`]}
}

export async function startRegistry(): Promise<TestRegistry> {
  const port = await freeLoopbackPort()
  const {image, command} = await registryImage()
  const started = await execa('docker', ['run', '-d', '--label', TEST_LABEL, '-p', `127.0.0.1:${port}:5000`, '-e', `REGISTRY_CONFIG=${CONFIG}`, image, ...command])
  const id = started.stdout.trim()
  const host = `127.0.0.1:${port}`
  // Ready when the API answers /v2/ (the registry's own health check).
  for (let attempt = 0; ; attempt++) {
    const answer = await fetch(`http://${host}/v2/`).then((response) => response.status, () => 0)
    if (answer === 200) break
    if (attempt > 100) {
      const logs = await execa('docker', ['logs', id], {reject: false, all: true})
      throw new Error(`The test registry did not answer on ${host}: ${logs.all}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return {host, stop: async () => void (await execa('docker', ['rm', '-f', id], {reject: false}))}
}
