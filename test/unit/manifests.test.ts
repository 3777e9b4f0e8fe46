import {describe, expect, it} from 'vitest'
import {parse} from 'yaml'
import {resolveConfig, type AppConfig} from '../../src/lib/config.js'
import {APPLIED_HASH_ANNOTATION, CONFIG_HASH_ANNOTATION, desiredState, inSync} from '../../src/lib/manifests.js'
import type {KubeObject} from '../../src/lib/kube.js'
import {mkdtempSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

function appConfig(overrides: Partial<AppConfig> = {}): AppConfig {
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'devkube-manifests-')), 'hello')
  return {...resolveConfig(dir, {name: 'hello'}, {lang: 'node', port: 8080}, {file: {}}), ...overrides}
}

const deployment = (): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {name: 'hello'},
  spec: {
    replicas: 3,
    selector: {matchLabels: {'app.kubernetes.io/name': 'hello'}},
    template: {
      metadata: {labels: {'app.kubernetes.io/name': 'hello'}},
      spec: {containers: [{name: 'hello', image: 'hello'}, {name: 'sidecar', image: 'busybox:1.36'}]},
    },
  },
})
const service = (): KubeObject => ({apiVersion: 'v1', kind: 'Service', metadata: {name: 'hello'}, spec: {ports: [{port: 8080}]}})

describe('desired state', () => {
  it('puts every object in the namespace with devkube labels, and the namespace first', () => {
    const state = desiredState({config: appConfig({namespace: 'team-a'}), imageTag: 'devkube.local/hello:abc', manifests: [deployment(), service()], manageNamespace: true})
    expect(state.objects[0]).toMatchObject({kind: 'Namespace', metadata: {name: 'team-a', labels: {'app.kubernetes.io/managed-by': 'devkube'}}})
    for (const object of state.objects.slice(1)) {
      expect(object.metadata.namespace).toBe('team-a')
      expect(object.metadata.labels).toMatchObject({'app.kubernetes.io/name': 'hello', 'app.kubernetes.io/managed-by': 'devkube'})
      expect(object.metadata.annotations?.[APPLIED_HASH_ANNOTATION]).toMatch(/^[0-9a-f]{16}$/)
    }
  })

  it('leaves out the Namespace object when the namespace is not devkube\'s', () => {
    const state = desiredState({config: appConfig(), imageTag: 't', manifests: [deployment()], manageNamespace: false})
    expect(state.objects.some((object) => object.kind === 'Namespace')).toBe(false)
  })

  it('sets the built image only on the app container, with IfNotPresent, replicas, resources and envFrom from devkube.yaml', () => {
    const config = appConfig({replicas: 2})
    const state = desiredState({config, imageTag: 'devkube.local/hello:abc', manifests: [deployment()], secretEnv: {TOKEN: 'x'}, manageNamespace: true})
    const applied = state.objects.find((object) => object.kind === 'Deployment') as unknown as {spec: {replicas: number; template: {spec: {containers: Array<Record<string, unknown>>}}}}
    const [app, sidecar] = applied.spec.template.spec.containers
    expect(applied.spec.replicas).toBe(2)
    expect(app).toMatchObject({image: 'devkube.local/hello:abc', imagePullPolicy: 'IfNotPresent', resources: {limits: config.resources.limits}})
    expect(app.envFrom).toEqual([{configMapRef: {name: expect.stringMatching(/^hello-env-[0-9a-f]{8}$/)}}, {secretRef: {name: expect.stringMatching(/^hello-secret-[0-9a-f]{8}$/)}}])
    expect(sidecar.image).toBe('busybox:1.36')
  })

  it('rolls the pods when a setting or a secret changes, and only then', () => {
    const render = (env: Record<string, string>, secretEnv?: Record<string, string>) => {
      const state = desiredState({config: appConfig({env}), imageTag: 't', manifests: [deployment()], secretEnv, manageNamespace: true})
      const applied = state.objects.find((object) => object.kind === 'Deployment') as unknown as {spec: {template: {metadata: {annotations: Record<string, string>}}}}
      return applied.spec.template.metadata.annotations[CONFIG_HASH_ANNOTATION]
    }
    const base = render({GREETING: 'hi'}, {TOKEN: 'a'})
    expect(render({GREETING: 'hi'}, {TOKEN: 'a'})).toBe(base)
    expect(render({GREETING: 'hello'}, {TOKEN: 'a'})).not.toBe(base)
    expect(render({GREETING: 'hi'}, {TOKEN: 'b'})).not.toBe(base)
  })

  it('produces YAML that parses back to the same objects, with the Secret base64-encoded', () => {
    const state = desiredState({config: appConfig({env: {A: '1'}}), imageTag: 't', manifests: [deployment(), service()], secretEnv: {TOKEN: 'tok'}, manageNamespace: true})
    const documents = state.yaml.split(/^---$/m).map((text) => parse(text))
    expect(documents).toEqual(state.objects)
    expect(state.objects.find((object) => object.kind === 'Secret')).toMatchObject({data: {TOKEN: Buffer.from('tok').toString('base64')}})
  })

  it('is in sync only when every object exists with the same applied hash', () => {
    const state = desiredState({config: appConfig(), imageTag: 't', manifests: [deployment(), service()], manageNamespace: false})
    expect(inSync(state.objects, structuredClone(state.objects))).toBe(true)
    expect(inSync(state.objects, state.objects.slice(1))).toBe(false)
    const changed = desiredState({config: appConfig(), imageTag: 'other', manifests: [deployment(), service()], manageNamespace: false})
    expect(inSync(changed.objects, state.objects)).toBe(false)
  })

  it('is out of sync after a scale or rollback behind devkube\'s back, though the annotation is unchanged', () => {
    const state = desiredState({config: appConfig(), imageTag: 'devkube.local/hello:new', manifests: [deployment(), service()], manageNamespace: false})
    const scaled = structuredClone(state.objects)
    ;(scaled.find((object) => object.kind === 'Deployment')!.spec as {replicas: number}).replicas = 5
    expect(inSync(state.objects, scaled)).toBe(false)
    const rolledBack = structuredClone(state.objects)
    ;(rolledBack.find((object) => object.kind === 'Deployment')!.spec as {template: {spec: {containers: Array<{image: string}>}}}).template.spec.containers[0].image = 'devkube.local/hello:old'
    expect(inSync(state.objects, rolledBack)).toBe(false)
  })

  it('names settings and secrets by their content, so each revision keeps its own (rollback restores values)', () => {
    const names = (env: Record<string, string>, secretEnv: Record<string, string>) =>
      desiredState({config: appConfig({env}), imageTag: 't', manifests: [deployment()], secretEnv, manageNamespace: false})
        .objects.filter((object) => object.kind === 'ConfigMap' || object.kind === 'Secret')
        .map((object) => object.metadata.name)
    const [configMap, secret] = names({A: '1'}, {T: 'x'})
    expect(names({A: '1'}, {T: 'x'})).toEqual([configMap, secret])
    const [changedConfigMap, sameSecret] = names({A: '2'}, {T: 'x'})
    expect(changedConfigMap).not.toBe(configMap)
    expect(sameSecret).toBe(secret)
  })
})

describe('the user the container runs as: the image decides', () => {
  /** A Deployment as earlier devkube versions scaffolded it: uid 10001 forced on any image. */
  const formerScaffold = (): KubeObject => {
    const object = deployment()
    const spec = (object.spec as {template: {spec: Record<string, unknown> & {containers: Array<Record<string, unknown>>}}}).template.spec
    spec.securityContext = {runAsNonRoot: true, runAsUser: 10_001, runAsGroup: 10_001, seccompProfile: {type: 'RuntimeDefault'}}
    spec.containers[0].securityContext = {allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: {drop: ['ALL']}}
    return object
  }
  const podSpec = (imageUser: {user: string; uid?: number}, manifest = formerScaffold()) => {
    const state = desiredState({config: appConfig(), imageTag: 't', manifests: [manifest], manageNamespace: false, imageUser})
    const object = state.objects.find((entry) => entry.kind === 'Deployment') as unknown as {spec: {template: {spec: {securityContext?: Record<string, unknown>; containers: Array<{securityContext?: Record<string, unknown>}>}}}}
    return object.spec.template.spec
  }

  it('an image running as root: no runAsNonRoot, no forced uid, capabilities as the image needs them', () => {
    const spec = podSpec({user: '', uid: 0})
    expect(spec.securityContext).toEqual({seccompProfile: {type: 'RuntimeDefault'}})
    expect(spec.containers[0].securityContext).toEqual({allowPrivilegeEscalation: false})
  })

  it('a numeric non-root USER: runAsNonRoot, and the uid stays the image\'s own', () => {
    const spec = podSpec({user: '10001', uid: 10_001})
    expect(spec.securityContext).toEqual({runAsNonRoot: true, seccompProfile: {type: 'RuntimeDefault'}})
    expect(spec.containers[0].securityContext).toEqual({allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: {drop: ['ALL']}})
  })

  it('a named USER resolved from the image: runAsNonRoot with its uid, which the kubelet can verify', () => {
    const spec = podSpec({user: 'app', uid: 999}, deployment())
    expect(spec.securityContext).toEqual({})
    expect(spec.containers[0].securityContext).toMatchObject({runAsNonRoot: true, runAsUser: 999})
  })

  it('a named USER devkube cannot resolve: no runAsNonRoot (the kubelet would refuse to start it)', () => {
    const spec = podSpec({user: 'ghost'})
    expect(spec.securityContext?.runAsNonRoot).toBeUndefined()
    expect(spec.containers[0].securityContext?.runAsNonRoot).toBeUndefined()
  })

  it('a uid the user set themselves is kept', () => {
    const manifest = formerScaffold()
    const spec0 = (manifest.spec as {template: {spec: {securityContext: Record<string, unknown>}}}).template.spec
    spec0.securityContext.runAsUser = 1000
    expect(podSpec({user: '1000', uid: 1000}, manifest).securityContext).toMatchObject({runAsUser: 1000, runAsNonRoot: true})
  })
})
