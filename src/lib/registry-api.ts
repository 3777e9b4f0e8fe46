/**
 * The HTTP API (OCI distribution) of a registry on this machine, asked directly: plain HTTP on
 * 127.0.0.1, as Docker and kind's nodes use local registries. No subprocess, so not via the runner.
 */
import {UserError} from './errors.js'

/** Waits (briefly) until the registry's API answers: a container just started needs a moment. */
export async function waitForRegistry(host: string, signal?: AbortSignal, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  const url = `http://${host.replace(/^localhost:/, '127.0.0.1:')}/v2/`
  for (;;) {
    const status = await fetch(url, {signal}).then((response) => response.status, () => 0)
    if (status === 200 || status === 401 || signal?.aborted) return
    if (Date.now() > deadline) {
      throw new UserError(`The local registry ${host} does not answer (GET ${url} failed).`, {
        hint: 'Check its container with `docker ps -a` (start it with `docker start <name>`), then run `devkube up` again.',
      })
    }
    await new Promise((resolve) => setTimeout(resolve, 150))
  }
}

/** What a registry's API says its manifest `repository:tag` has as digest (undefined: not there, or not asked). */
export async function registryDigest(host: string, repository: string, tag: string): Promise<string | undefined> {
  const url = `http://${host.replace(/^localhost:/, '127.0.0.1:')}/v2/${repository}/manifests/${tag}`
  const accept = [
    'application/vnd.docker.distribution.manifest.v2+json',
    'application/vnd.docker.distribution.manifest.list.v2+json',
    'application/vnd.oci.image.manifest.v1+json',
    'application/vnd.oci.image.index.v1+json',
  ].join(', ')
  // One retry on a network error: a kept-alive connection the registry closed meanwhile fails the first try.
  const ask = () => fetch(url, {method: 'HEAD', headers: {accept}})
  const response = await ask().catch(() => ask()).catch(() => undefined)
  if (!response?.ok) return undefined
  return response.headers.get('docker-content-digest') ?? undefined
}

/** Whether a registry host is this machine's (plain HTTP is what Docker and kind use for those). */
export function isLoopbackRegistry(host: string): boolean {
  return /^(localhost|127\.0\.0\.1)(:\d+)?$/.test(host)
}

