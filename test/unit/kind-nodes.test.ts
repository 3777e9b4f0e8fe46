import {afterEach, describe, expect, it} from 'vitest'
import {nodeContainers, startNodes, stoppedNodes} from '../../src/lib/kind.js'
import {setRunner} from '../../src/lib/runner.js'
import {FakeRunner} from '../support/fake-runner.js'

describe("a kind cluster whose node container is stopped (docker stop, or a reboot with kind's on-failure:1 restart policy)", () => {
  let restore = () => {}
  afterEach(() => restore())

  it("finds the cluster's node containers by kind's label, stopped ones too", async () => {
    const runner = new FakeRunner().when('docker ps -a', {stdout: 'devkube-control-plane\texited\ndevkube-worker\trunning\n'})
    restore = setRunner(runner)
    const nodes = await nodeContainers('devkube')
    expect(runner.calls[0].argv).toEqual(['docker', 'ps', '-a', '--filter', 'label=io.x-k8s.kind.cluster=devkube', '--format', '{{.Names}}\t{{.State}}'])
    expect(stoppedNodes(nodes)).toEqual([{name: 'devkube-control-plane', state: 'exited'}])
  })

  it('starts them and waits until the API server answers', async () => {
    let asked = 0
    const runner = new FakeRunner()
      .when('docker start', {stdout: 'devkube-control-plane\n'})
      .when('kubectl --context kind-devkube get --raw /readyz', () => (++asked < 3 ? {exitCode: 1, stderr: 'The connection to the server 127.0.0.1:40000 was refused - did you specify the right host or port?'} : {stdout: 'ok'}))
    restore = setRunner(runner)
    await startNodes('devkube', [{name: 'devkube-control-plane', state: 'exited'}])
    expect(runner.callsOf('docker start')[0].argv).toEqual(['docker', 'start', 'devkube-control-plane'])
    expect(asked).toBe(3)
  })

  it('says how to recreate the cluster when the node will not start', async () => {
    restore = setRunner(new FakeRunner().when('docker start', {exitCode: 1, stderr: 'Error response from daemon: driver failed programming external connectivity\nError: failed to start containers: devkube-control-plane'}))
    await expect(startNodes('devkube', [{name: 'devkube-control-plane', state: 'exited'}])).rejects.toThrow(
      'The kind cluster "devkube" exists but its node container devkube-control-plane is not running (exited), so its API server does not answer. Starting it failed: Error: failed to start containers: devkube-control-plane',
    )
  })
})
