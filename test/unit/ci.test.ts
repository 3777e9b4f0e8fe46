/**
 * `devkube ci`: the pipelines parse as YAML with the keys each provider requires, do what the issue
 * asks (kind in the job, up --no-forward --json, a check that the app answers, down, a push of the
 * content tag on main only), never overwrite a file without --force, and this repository's own
 * workflow runs the generated GitHub steps on examples/hello-python.
 */
import {cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {parse} from 'yaml'
import {renderPipeline, writePipeline} from '../../src/lib/ci.js'
import {isUserError} from '../../src/lib/errors.js'
import {resolveProject} from '../../src/lib/project.js'

const REPO = path.resolve(import.meta.dirname, '../..')
const root = mkdtempSync(path.join(tmpdir(), 'devkube-ci-'))
afterAll(() => rmSync(root, {recursive: true, force: true}))

function project(): string {
  const dir = path.join(mkdtempSync(path.join(root, 'p-')), 'shop')
  cpSync(path.join(REPO, 'test/fixtures/export-shop'), dir, {recursive: true})
  return dir
}

const configOf = (dir: string) => resolveProject(dir, {}, {requireApp: false}).config

interface GithubStep {uses?: string; run?: string; if?: string; with?: Record<string, unknown>; name?: string}

const runs = (steps: GithubStep[]) => steps.map((step) => step.run ?? '').join('\n')

describe('devkube ci --github', () => {
  const workflow = parse(renderPipeline(configOf(project()), {provider: 'github', registry: 'ghcr.io/acme'})) as {on: Record<string, unknown>; jobs: Record<string, {'runs-on': string; steps: GithubStep[]}>}

  it('is a workflow with on, jobs.<id>.runs-on and steps', () => {
    expect(workflow.on).toHaveProperty('push')
    expect(workflow.on).toHaveProperty('pull_request')
    const jobs = Object.values(workflow.jobs)
    expect(jobs.length).toBeGreaterThan(0)
    for (const job of jobs) {
      expect(typeof job['runs-on']).toBe('string')
      expect(Array.isArray(job.steps) && job.steps.length).toBeTruthy()
      for (const step of job.steps) expect(Boolean(step.uses) !== Boolean(step.run)).toBe(true)
    }
  })

  it('creates the kind cluster devkube.yaml names, deploys, checks the URL, and always cleans up', () => {
    const steps = workflow.jobs.devkube.steps
    expect(steps.find((step) => step.uses?.startsWith('helm/kind-action'))?.with?.cluster_name).toBe('devkube')
    const script = runs(steps)
    expect(script).toContain('devkube up --no-forward --json')
    expect(script).toMatch(/curl --fail .*http:\/\/localhost:8080\//)
    const down = steps.find((step) => step.run === 'devkube down')
    expect(down?.if).toBe('always()')
    expect(steps.indexOf(down!)).toBe(steps.length - 1)
  })

  it('pushes the content tag (never :latest) to the named registry on main only', () => {
    const push = workflow.jobs.devkube.steps.find((step) => step.run?.includes('docker push'))!
    expect(push.if).toBe("github.ref == 'refs/heads/main'")
    expect(push.run).toContain('docker login ghcr.io ')
    expect(push.run).toContain('TARGET=ghcr.io/acme/shop:${IMAGE##*:}')
    expect(push.run).not.toContain(':latest')
    const without = parse(renderPipeline(configOf(project()), {provider: 'github'})) as typeof workflow
    expect(runs(without.jobs.devkube.steps)).not.toContain('docker push')
  })

  it('runs in this repository\'s e2e workflow on examples/hello-python, step for step', () => {
    const e2e = parse(readFileSync(path.join(REPO, '.github/workflows/e2e.yml'), 'utf8')) as {jobs: Record<string, {defaults?: {run?: {'working-directory'?: string}}; steps: GithubStep[]}>}
    const job = e2e.jobs.pipeline
    expect(job.defaults?.run?.['working-directory']).toBe('examples/hello-python')
    const installCommand = 'cd ../.. && npm ci && npm run build && npm link'
    const generated = parse(renderPipeline(configOf(path.join(REPO, 'examples/hello-python')), {provider: 'github', installCommand})) as typeof workflow
    expect(job.steps).toEqual(generated.jobs.devkube.steps)
  })
})

describe('devkube ci --gitlab', () => {
  const pipeline = parse(renderPipeline(configOf(project()), {provider: 'gitlab', registry: 'registry.gitlab.com/acme'})) as Record<string, any>

  it('has stages and jobs with image, a docker:dind service and a script', () => {
    expect(Array.isArray(pipeline.stages)).toBe(true)
    const jobs = Object.entries(pipeline).filter(([key]) => !['stages', 'variables', 'default', 'workflow', 'include'].includes(key))
    expect(jobs.length).toBeGreaterThan(0)
    for (const [, job] of jobs) {
      expect(pipeline.stages).toContain(job.stage)
      expect(typeof job.image).toBe('string')
      expect(job.services.map((service: {name: string} | string) => (typeof service === 'string' ? service : service.name))).toContainEqual(expect.stringMatching(/^docker:[\w.-]*dind$/))
      expect(Array.isArray(job.script) && job.script.length).toBeTruthy()
    }
    expect(pipeline.variables.DOCKER_HOST).toBe('tcp://docker:2375')
  })

  it('creates the cluster devkube.yaml names, deploys, checks the URL, pushes only on the default branch, and cleans up', () => {
    const script = pipeline.devkube.script.join('\n')
    expect(script).toContain('kind create cluster --name devkube')
    expect(script).toContain('devkube up --no-forward --json')
    expect(script).toMatch(/curl --fail .*http:\/\/localhost:8080\//)
    expect(script).toContain('if [ "$CI_COMMIT_BRANCH" = "$CI_DEFAULT_BRANCH" ]; then')
    expect(script).toContain('TARGET=registry.gitlab.com/acme/shop:${IMAGE##*:}')
    expect(pipeline.devkube.after_script).toContain('devkube down || true')
  })
})

describe('writing the pipeline', () => {
  it('never overwrites an existing file without --force', () => {
    const dir = project()
    const config = configOf(dir)
    expect(writePipeline(config, {provider: 'gitlab', force: false}).action).toBe('created')
    expect(writePipeline(config, {provider: 'gitlab', force: false}).action).toBe('kept')
    const file = path.join(dir, '.gitlab-ci.yml')
    writeFileSync(file, 'stages: [mine]\n')
    let error: unknown
    try {
      writePipeline(config, {provider: 'gitlab', force: false})
    } catch (caught) {
      error = caught
    }
    expect(isUserError(error) && error.message).toBe('.gitlab-ci.yml already exists.')
    expect(readFileSync(file, 'utf8')).toBe('stages: [mine]\n')
    expect(writePipeline(config, {provider: 'gitlab', force: true}).action).toBe('overwritten')
    expect(readFileSync(file, 'utf8')).toContain('devkube up --no-forward --json')
  })

  it('refuses a registry given as a URL', () => {
    expect(() => renderPipeline(configOf(project()), {provider: 'github', registry: 'https://ghcr.io/acme'})).toThrow('is not a registry name')
  })
})
