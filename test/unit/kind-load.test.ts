import {afterEach, describe, expect, it} from 'vitest'
import {loadImage} from '../../src/lib/kind.js'
import {setRunner} from '../../src/lib/runner.js'
import {FakeRunner} from '../support/fake-runner.js'

describe('loading the image into kind', () => {
  let restore = () => {}
  afterEach(() => restore())

  it('falls back to docker save + kind load image-archive on the containerd digest error (kind #3795)', async () => {
    const runner = new FakeRunner()
      .when('kind load docker-image', {exitCode: 1, stderr: 'ERROR: failed to load image: command "docker exec --privileged -i x-control-plane ctr --namespace=k8s.io images import" failed with error: exit status 1\n\nCommand Output: ctr: content digest sha256:abc: not found'})
      .when('docker save', {})
      .when('kind load image-archive', {stderr: 'loading...'})
    restore = setRunner(runner)
    expect(await loadImage('devkube', 'devkube.local/hello:abc')).toBe('loaded')
    const [save] = runner.callsOf('docker save')
    const archive = save.argv[save.argv.indexOf('-o') + 1]
    expect(runner.callsOf('kind load image-archive')[0].argv).toEqual(['kind', 'load', 'image-archive', archive, '--name', 'devkube'])
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
