import {describe, expect, it} from 'vitest'
import {resourceName} from '../../src/lib/manifests.js'
// The fake kubectl's resolver answers like kubectl's REST mapper: unknown names are refused.
// @ts-expect-error: the fakes are plain ESM without type declarations
import {kindForResource} from '../fakes/lib/resources.mjs'

/** Every kind devkube's manifests may hold, with the plural the API server serves it under. */
const PLURALS: Array<[kind: string, apiVersion: string, name: string]> = [
  ['ConfigMap', 'v1', 'configmaps'],
  ['Secret', 'v1', 'secrets'],
  ['Service', 'v1', 'services'],
  ['ServiceAccount', 'v1', 'serviceaccounts'],
  ['Endpoints', 'v1', 'endpoints'],
  ['PersistentVolumeClaim', 'v1', 'persistentvolumeclaims'],
  ['Pod', 'v1', 'pods'],
  ['LimitRange', 'v1', 'limitranges'],
  ['ResourceQuota', 'v1', 'resourcequotas'],
  ['Deployment', 'apps/v1', 'deployments.apps'],
  ['StatefulSet', 'apps/v1', 'statefulsets.apps'],
  ['DaemonSet', 'apps/v1', 'daemonsets.apps'],
  ['Job', 'batch/v1', 'jobs.batch'],
  ['CronJob', 'batch/v1', 'cronjobs.batch'],
  ['Ingress', 'networking.k8s.io/v1', 'ingresses.networking.k8s.io'],
  ['IngressClass', 'networking.k8s.io/v1', 'ingressclasses.networking.k8s.io'],
  ['NetworkPolicy', 'networking.k8s.io/v1', 'networkpolicies.networking.k8s.io'],
  ['EndpointSlice', 'discovery.k8s.io/v1', 'endpointslices.discovery.k8s.io'],
  ['HorizontalPodAutoscaler', 'autoscaling/v2', 'horizontalpodautoscalers.autoscaling'],
  ['PodDisruptionBudget', 'policy/v1', 'poddisruptionbudgets.policy'],
  ['Role', 'rbac.authorization.k8s.io/v1', 'roles.rbac.authorization.k8s.io'],
  ['RoleBinding', 'rbac.authorization.k8s.io/v1', 'rolebindings.rbac.authorization.k8s.io'],
]

describe('the resource names devkube passes to kubectl get', () => {
  it.each(PLURALS)('names %s by its real plural', (kind, apiVersion, name) => {
    expect(resourceName(kind, apiVersion)).toBe(name)
    expect(kindForResource(resourceName(kind, apiVersion))).toBe(kind)
  })

  it('names an unknown kind kind.group, which kubectl resolves without guessing a plural', () => {
    expect(resourceName('Certificate', 'cert-manager.io/v1')).toBe('certificate.cert-manager.io')
    expect(resourceName('Widget', 'v1')).toBe('widget')
  })

  it('is refused by the fake kubectl, as by kubectl, when the plural is guessed', () => {
    expect(() => kindForResource('networkpolicys')).toThrow('the server doesn\'t have a resource type "networkpolicys"')
  })
})
