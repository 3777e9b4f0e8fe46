/**
 * Deploy targets: the `targets:` schema, refusing a target devkube.yaml does not list, and the
 * confirmation before the first deploy to a context (asked on a terminal, --yes otherwise,
 * remembered per context in .devkube/).
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {parseConfig} from '../../src/lib/config.js'
import {isUserError, type UserError} from '../../src/lib/errors.js'
import {ProjectState} from '../../src/lib/project-state.js'
import {confirmFirstDeploy, resolveTarget, type Target} from '../../src/lib/targets.js'

const root = mkdtempSync(path.join(tmpdir(), 'devkube-targets-'))
afterAll(() => rmSync(root, {recursive: true, force: true}))

function failure(work: () => unknown): UserError {
  try {
    work()
  } catch (error) {
    if (isUserError(error)) return error
    throw error
  }
  throw new Error('expected a UserError')
}

async function failureOf(work: Promise<unknown>): Promise<UserError> {
  const error = await work.then(() => undefined, (caught: unknown) => caught)
  if (isUserError(error)) return error
  throw new Error(`expected a UserError, got ${String(error)}`)
}

const FILE = `name: shop
targets:
  prod-east: {context: gke_acme_prod-east, registry: registry.example.com/acme, namespace: shop-prod, environment: prod}
  lab: {context: lab, registry: "127.0.0.1:5000"}
environments:
  prod: {replicas: 3}
`

describe('targets in devkube.yaml', () => {
  it('reads each target with its context, registry, namespace and environment', () => {
    expect(resolveTarget(parseConfig(FILE), 'prod-east')).toEqual({name: 'prod-east', context: 'gke_acme_prod-east', registry: 'registry.example.com/acme', namespace: 'shop-prod', environment: 'prod'})
    expect(resolveTarget(parseConfig(FILE), 'lab')).toMatchObject({context: 'lab', registry: '127.0.0.1:5000'})
  })

  it('says where a target lacks its registry', () => {
    const error = failure(() => parseConfig('targets:\n  prod: {context: prod}\n'))
    expect(error.message).toBe('devkube.yaml:2:9: `targets.prod.registry` must be set, but it is missing.')
  })

  it('refuses a registry given as a URL, and unknown keys with the closest known one', () => {
    expect(failure(() => parseConfig('targets:\n  prod: {context: prod, registry: "https://ghcr.io/acme"}\n')).message).toContain('`targets.prod.registry` must be a registry host')
    const unknown = failure(() => parseConfig('targets:\n  prod: {contxt: prod, registry: ghcr.io/acme}\n'))
    expect(unknown.message).toContain('unknown key `targets.prod.contxt`')
    expect(unknown.hint).toBe('Did you mean `targets.prod.context`?')
  })

  it('refuses a target devkube.yaml does not list, in one sentence naming the ones it does', () => {
    const error = failure(() => resolveTarget(parseConfig(FILE), 'prod-west'))
    expect(error.message).toBe('There is no target "prod-west" in devkube.yaml; its targets are prod-east, lab.')
    expect(error.hint).toBe('Did you mean --target prod-east?')
    expect(failure(() => resolveTarget(parseConfig('name: shop\n'), 'prod')).message).toContain('devkube.yaml lists no `targets:`')
  })
})

describe('the first deploy to a context', () => {
  const target: Target = {name: 'prod-east', context: 'gke_acme_prod-east', registry: 'registry.example.com/acme'}
  const never = async () => {
    throw new Error('must not ask')
  }

  it('is refused without a terminal and without --yes, and nothing is remembered', async () => {
    const state = new ProjectState(mkdtempSync(path.join(root, 'p-')), 'target-prod-east')
    const error = await failureOf(confirmFirstDeploy(state, target, {yes: false, interactive: false, confirm: never, what: 'shop', namespace: 'shop'}))
    expect(error.message).toContain('needs a confirmation, and there is no terminal to ask on')
    expect(error.hint).toContain('--yes')
    expect(state.contextConfirmed(target.context)).toBe(false)
  })

  it('is confirmed by --yes once, then not asked again for that context', async () => {
    const state = new ProjectState(mkdtempSync(path.join(root, 'p-')), 'target-prod-east')
    await confirmFirstDeploy(state, target, {yes: true, interactive: false, confirm: never, what: 'shop', namespace: 'shop'})
    expect(state.contextConfirmed(target.context)).toBe(true)
    await confirmFirstDeploy(state, target, {yes: false, interactive: false, confirm: never, what: 'shop', namespace: 'shop'})
    expect(state.contextConfirmed('another-context')).toBe(false)
  })

  it('asks on a terminal, naming the context and namespace; no deploys nothing', async () => {
    const state = new ProjectState(mkdtempSync(path.join(root, 'p-')), 'target-prod-east')
    const questions: string[] = []
    const answer = (value: boolean) => async (message: string) => {
      questions.push(message)
      return value
    }
    const declined = await failureOf(confirmFirstDeploy(state, target, {yes: false, interactive: true, confirm: answer(false), what: 'shop', namespace: 'shop-prod'}))
    expect(declined.message).toBe('Cancelled: nothing was deployed.')
    expect(state.contextConfirmed(target.context)).toBe(false)
    await confirmFirstDeploy(state, target, {yes: false, interactive: true, confirm: answer(true), what: 'shop', namespace: 'shop-prod'})
    expect(questions).toEqual(['Deploy shop to the context "gke_acme_prod-east" (namespace shop-prod)?', 'Deploy shop to the context "gke_acme_prod-east" (namespace shop-prod)?'])
    expect(state.contextConfirmed(target.context)).toBe(true)
  })
})
