/**
 * kind's Podman provider (KIND_EXPERIMENTAL_PROVIDER=podman) on a machine with no docker CLI: `up` builds,
 * inspects and saves the image with podman and loads it with `kind load image-archive` (kind's
 * `load docker-image` needs a docker CLI). There is no podman here: the tools are faked at the process boundary.
 */
import {cpSync, mkdtempSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {resolveProject} from '../../src/lib/project.js'
import {setRunner} from '../../src/lib/runner.js'
import {scaffold} from '../../src/lib/scaffold.js'
import {deploy} from '../../src/lib/up.js'
import {worldRunner} from '../support/plan-world.js'

describe('up with Podman as kind provider', () => {
  let restore = () => {}
  afterEach(() => {
    restore()
    delete process.env.KIND_EXPERIMENTAL_PROVIDER
  })

  it('builds with podman and loads through an archive, never calling docker', async () => {
    const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'devkube-podman-')), 'hello-node')
    cpSync(path.resolve(import.meta.dirname, '../../examples/hello-node'), dir, {recursive: true})
    const {runner, world} = worldRunner()
    let saved = ''
    runner
      .when('docker', {notFound: true, exitCode: 127})
      .when('podman version', (argv) => ({stdout: argv.includes('{{.Client.OsArch}}') ? 'linux/amd64\n' : '5.4.0\n'}))
      .when('podman ps -a', (argv) => ({stdout: [...world.clusters].filter((name) => argv.includes(`label=io.x-k8s.kind.cluster=${name}`)).map((name) => `${name}-control-plane\trunning\n`).join('')}))
      .when('podman image inspect', (argv) => (world.images.has(argv.at(-1)!) ? {stdout: argv.includes('{{.Config.User}}') ? '10001\n' : 'sha256:1\n'} : {exitCode: 125, stderr: 'Error: failed to find image'}))
      .when('podman build', (argv) => {
        world.images.add(argv[argv.indexOf('-t') + 1])
        return {stdout: 'COMMIT\n'}
      })
      .when('podman save', (argv) => {
        saved = argv.at(-1)!
        return {}
      })
      .when('kind load image-archive', () => {
        world.nodeImages.add(saved)
        return {stderr: ''}
      })
    restore = setRunner(runner)
    process.env.KIND_EXPERIMENTAL_PROVIDER = 'podman'
    const project = resolveProject(dir, {}, {requireApp: true})
    const {config, detection} = project
    const {deployed} = await deploy(
      project,
      {rebuild: false, timeoutSeconds: 30, scaffold: async () => scaffold(dir, {...config, lang: detection!.lang, detection}).filter((file) => file.action === 'created').map((file) => file.path)},
      {mode: 'silent', signal: new AbortController().signal},
    )
    expect(deployed.actions).toMatchObject({imageBuilt: true, imageLoaded: true, rolledOut: true})
    expect(runner.callsOf('podman build')).toHaveLength(1)
    expect(runner.callsOf('kind load image-archive')).toHaveLength(1)
    expect(runner.callsOf('kind load docker-image')).toEqual([])
    expect(runner.calls.filter((call) => call.argv[0] === 'docker')).toEqual([])
  })
})
