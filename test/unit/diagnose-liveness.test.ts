import {describe, expect, it} from 'vitest'
import {diagnosePod, type PodEvent} from '../../src/lib/diagnose.js'
import type {Pod} from '../../src/lib/kube.js'
import {pod} from './status-fixtures.js'

/** A pod whose container has a liveness probe on GET / port 8080 and last ended as given. */
function probedPod(lastState: NonNullable<Pod['status']['containerStatuses']>[number]['lastState'], restarts = 2): Pod {
  const result = pod({name: 'hello-7d9c5b6f4-x2x9q', ready: false, restarts, lastState, state: {running: {startedAt: new Date().toISOString()}}})
  result.spec.containers[0].livenessProbe = {httpGet: {path: '/', port: 8080}}
  return result
}

/** The kubelet's events for a liveness kill of container `hello` in that pod. */
function livenessKill(target: Pod): PodEvent[] {
  const involvedObject = {kind: 'Pod', name: target.metadata.name, uid: target.metadata.uid as string}
  return [
    {reason: 'Unhealthy', message: 'Liveness probe failed: Get "http://10.244.0.7:8080/": dial tcp 10.244.0.7:8080: connect: connection refused', involvedObject},
    {reason: 'Killing', message: 'Container hello failed liveness probe, will be restarted', involvedObject},
  ]
}

describe('liveness failures are read from the kubelet events, not the exit code', () => {
  // The kubelet sends SIGTERM first: an app that exits on it ends with 143 (or 0); only one that ignores it gets SIGKILL (137).
  it.each([143, 0, 137])('says the app never answers its health checks when it ended with %i after a liveness kill', (exitCode) => {
    const target = probedPod({terminated: {exitCode, reason: exitCode === 0 ? 'Completed' : 'Error'}})
    const diagnosis = diagnosePod(target, {port: 8080, events: livenessKill(target)})
    expect(diagnosis?.reason).toBe('LivenessProbeFailing')
    expect(diagnosis?.message).toBe('The app never answers its health checks (GET / on port 8080), so Kubernetes keeps restarting it (2 restarts).')
  })

  it('says so already during the grace period, before the first restart', () => {
    const target = probedPod(undefined, 0)
    expect(diagnosePod(target, {port: 8080, events: livenessKill(target)})?.message).toBe('The app never answers its health checks (GET / on port 8080), so Kubernetes keeps restarting it.')
  })

  it('calls a container killed without a liveness event a crash, whatever its exit code', () => {
    const target = probedPod({terminated: {exitCode: 137, reason: 'Error'}})
    expect(diagnosePod(target, {port: 8080, events: []})?.reason).toBe('CrashLoopBackOff')
  })

  it("does not take another pod's liveness kill for this one", () => {
    const target = probedPod({terminated: {exitCode: 143, reason: 'Error'}})
    const other = pod({name: 'hello-7d9c5b6f4-abcde'})
    expect(diagnosePod(target, {port: 8080, events: livenessKill(other)})?.reason).toBe('CrashLoopBackOff')
  })
})
