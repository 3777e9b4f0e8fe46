import {afterEach, describe, expect, it} from 'vitest'
import {loadImage, loadImages} from '../../src/lib/kind.js'
import {setRunner} from '../../src/lib/runner.js'
import {FakeRunner} from '../support/fake-runner.js'
import {UserError} from '../../src/lib/errors.js'

describe('loading the image into kind', () => {
  let restore = () => {}
  afterEach(() => restore())

  const digestError = {exitCode: 1, stderr: 'ERROR: failed to load image: command "docker exec --privileged -i x-control-plane ctr --namespace=k8s.io images import --all-platforms --digests --snapshotter=overlayfs -" failed with error: exit status 1\n\nCommand Output: ctr: content digest sha256:abc: not found'}

  it("falls back to docker save --platform <the engine's platform> + kind load image-archive on the containerd digest error (kind #3795)", async () => {
    const runner = new FakeRunner()
      .when('kind load docker-image', digestError)
      .when('docker version', {stdout: 'linux/arm64\n'})
      .when('docker save', {})
      .when('kind load image-archive', {stderr: 'loading...'})
    restore = setRunner(runner)
    expect(await loadImage('devkube', 'devkube.local/hello:abc')).toBe('loaded')
    const [save] = runner.callsOf('docker save')
    // A plain `docker save` writes the whole index and fails the same way in the node.
    expect(save.argv.slice(0, 4)).toEqual(['docker', 'save', '--platform', 'linux/arm64'])
    const archive = save.argv[save.argv.indexOf('-o') + 1]
    expect(runner.callsOf('kind load image-archive')[0].argv).toEqual(['kind', 'load', 'image-archive', archive, '--name', 'devkube'])
  })

  it('saves plainly with a Docker too old for save --platform (it has no containerd store problem)', async () => {
    const runner = new FakeRunner()
      .when('kind load docker-image', digestError)
      .when('docker version', {stdout: 'linux/amd64\n'})
      .when('docker save', {})
      .on((argv) => (argv.includes('--platform') ? {exitCode: 1, stderr: '"--platform" requires API version 1.48, but the Docker daemon API version is 1.41'} : undefined))
      .when('kind load image-archive', {})
    restore = setRunner(runner)
    expect(await loadImage('devkube', 'devkube.local/hello:abc')).toBe('loaded')
    expect(runner.callsOf('docker save').map((call) => call.argv.includes('--platform'))).toEqual([true, false])
  })

  it('says what to change when even the one-platform archive misses layers', async () => {
    const runner = new FakeRunner().when('kind load docker-image', digestError).when('docker version', {stdout: 'linux/amd64\n'}).when('docker save', {}).when('kind load image-archive', digestError)
    restore = setRunner(runner)
    const error = await loadImage('devkube', 'devkube.local/hello:abc').catch((caught: UserError) => caught)
    expect(error).toBeInstanceOf(UserError)
    expect((error as UserError).message).toContain('the node\'s containerd misses some of its layers')
    expect((error as UserError).hint).toContain('containerd image store')
  })

  it("with kind's Podman provider, saves with podman and loads the archive (kind's docker-image load needs a docker CLI)", async () => {
    process.env.KIND_EXPERIMENTAL_PROVIDER = 'podman'
    const runner = new FakeRunner().when('podman version', {stdout: 'linux/amd64\n'}).when('podman save', {}).when('kind load image-archive', {})
    restore = setRunner(runner)
    try {
      expect(await loadImage('devkube', 'devkube.local/hello:abc')).toBe('loaded')
    } finally {
      delete process.env.KIND_EXPERIMENTAL_PROVIDER
    }
    expect(runner.callsOf('kind load docker-image')).toEqual([])
    expect(runner.callsOf('podman save')[0].argv.slice(0, 3)).toEqual(['podman', 'save', '-o'])
  })

  it('says when kind finds the image already on every node', async () => {
    restore = setRunner(new FakeRunner().when('kind load docker-image', {stderr: 'Image: "devkube.local/hello:abc" with ID "sha256:1" found to be already present on all nodes.'}))
    expect(await loadImage('devkube', 'devkube.local/hello:abc')).toBe('present')
  })

  it("turns kind's own error into a sentence with a hint", async () => {
    restore = setRunner(new FakeRunner().when('kind load docker-image', {exitCode: 1, stderr: 'ERROR: image: "devkube.local/hello:abc" not present locally'}))
    await expect(loadImage('devkube', 'devkube.local/hello:abc')).rejects.toThrow('kind could not load the image devkube.local/hello:abc into "devkube": image: "devkube.local/hello:abc" not present locally')
  })
})

describe('loading several images into kind', () => {
  let restore = () => {}
  afterEach(() => restore())

  it('loads them in one kind call and returns those kind copied (not those already on every node)', async () => {
    const runner = new FakeRunner().when('kind load docker-image', {
      stderr: 'Image: "devkube.local/shop-web:abc" with ID "sha256:1" not yet present on node "devkube-control-plane", loading...\nImage: "postgres:16" with ID "sha256:2" found to be already present on all nodes.\nImage: "devkube.local/shop-api:def" with ID "sha256:3" not yet present on node "devkube-control-plane", loading...\n',
    })
    restore = setRunner(runner)
    expect(await loadImages('devkube', ['devkube.local/shop-web:abc', 'postgres:16', 'devkube.local/shop-api:def'])).toEqual(['devkube.local/shop-web:abc', 'devkube.local/shop-api:def'])
    expect(runner.callsOf('kind load docker-image').map((call) => call.argv)).toEqual([['kind', 'load', 'docker-image', 'devkube.local/shop-web:abc', 'postgres:16', 'devkube.local/shop-api:def', '--name', 'devkube']])
  })

  it('falls back to one image at a time on the containerd digest error (each through its archive)', async () => {
    const runner = new FakeRunner()
      .when('kind load docker-image', {stderr: 'loading...'})
      .on((argv) => (argv[0] === 'kind' && argv[2] === 'docker-image' && argv.length > 6 ? {exitCode: 1, stderr: 'Command Output: ctr: content digest sha256:abc: not found'} : undefined))
    restore = setRunner(runner)
    expect(await loadImages('devkube', ['a:1', 'b:2'])).toEqual(['a:1', 'b:2'])
    expect(runner.callsOf('kind load docker-image').map((call) => call.argv.slice(3, -2))).toEqual([['a:1', 'b:2'], ['a:1'], ['b:2']])
  })
})
