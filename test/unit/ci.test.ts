/**
 * `devkube ci`: the pipelines parse as YAML with the keys each provider requires, do what the issue
 * asks (kind in the job, up --no-forward --json, a check that the app answers, down, a push of the
 * content tag on main only), never overwrite a file without --force, and this repository's own
 * workflow runs the generated GitHub steps on examples/hello-python.
 */
import {spawnSync} from 'node:child_process'
import {chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {parse} from 'yaml'
import {renderPipeline, writePipeline} from '../../src/lib/ci.js'
import {initFromCompose} from '../../src/lib/compose-init.js'
import {isUserError} from '../../src/lib/errors.js'
import {resolveProject} from '../../src/lib/project.js'
import type {StatusReport} from '../../src/lib/status.js'
import type {UpResult} from '../../src/lib/up-command.js'

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

  it('runs, for an app with services, in the e2e workflow on examples/flask-postgres as compose import writes it', () => {
    const e2e = parse(readFileSync(path.join(REPO, '.github/workflows/e2e.yml'), 'utf8')) as {jobs: Record<string, {defaults?: {run?: {'working-directory'?: string}}; steps: GithubStep[]}>}
    const job = e2e.jobs['pipeline-services']
    expect(job.defaults?.run?.['working-directory']).toBe('examples/flask-postgres')
    const dir = path.join(mkdtempSync(path.join(root, 'p-')), 'flask-postgres')
    cpSync(path.join(REPO, 'examples/flask-postgres'), dir, {recursive: true})
    initFromCompose(dir)
    const installCommand = 'cd ../.. && npm ci && npm run build && npm link'
    const generated = (parse(renderPipeline(configOf(dir), {provider: 'github', installCommand})) as typeof workflow).jobs.devkube.steps
    const install = generated.findIndex((step) => step.name === 'Install devkube')
    expect(job.steps).toEqual([...generated.slice(0, install + 1), {name: 'Import the compose file', run: 'devkube init --yes'}, ...generated.slice(install + 1)])
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

describe('devkube ci for an app with services (web, worker and a migration job built; postgres, stock redis)', () => {
  const dir = path.join(mkdtempSync(path.join(root, 'p-')), 'tasks')
  cpSync(path.join(REPO, 'test/fixtures/export-services'), dir, {recursive: true})
  const github = parse(renderPipeline(configOf(dir), {provider: 'github', registry: 'ghcr.io/acme'})) as {jobs: Record<string, {steps: GithubStep[]}>}
  const gitlab = parse(renderPipeline(configOf(dir), {provider: 'gitlab', registry: 'registry.gitlab.com/acme'})) as Record<string, any>
  const steps = github.jobs.devkube.steps

  /**
   * Runs a script of the pipeline in a folder with stand-ins for devkube, docker and curl that print
   * what `up --json` and `status --json` print (typed as the real results) and record their calls.
   */
  function runScript(script: string, environment: Record<string, string> = {}): string[] {
    const work = mkdtempSync(path.join(root, 'run-'))
    const bin = path.join(work, 'bin')
    mkdirSync(bin)
    const up: Pick<UpResult, 'services'> = {services: [
      {name: 'web', image: 'devkube.local/tasks-web:32b3f6746317', workload: 'deployment/web', service: 'web'},
      {name: 'worker', image: 'devkube.local/tasks-worker:32b3f6746317', workload: 'deployment/worker'},
      {name: 'migrate', image: 'devkube.local/tasks-migrate:32b3f6746317', workload: 'job/migrate'},
      {name: 'db', workload: 'statefulset/db', service: 'db'},
      {name: 'cache', workload: 'deployment/cache', service: 'cache'},
    ]}
    const status: Pick<StatusReport, 'services'> = {services: [
      {name: 'web', desired: 1, ready: 1, pods: [], url: 'http://localhost:8000'},
      {name: 'worker', desired: 1, ready: 1, pods: []},
      {name: 'migrate', desired: 1, ready: 1, pods: []},
      {name: 'db', desired: 1, ready: 1, pods: [], url: 'http://localhost:5432'},
      {name: 'cache', desired: 1, ready: 1, pods: [], url: 'http://localhost:6379'},
    ]}
    writeFileSync(path.join(work, 'devkube-up.json'), JSON.stringify(up))
    const log = path.join(work, 'calls.log')
    const stub = (name: string, body: string) => {
      writeFileSync(path.join(bin, name), `#!/bin/sh\necho "${name} $*" >> ${log}\n${body}\n`)
      chmodSync(path.join(bin, name), 0o755)
    }
    stub('devkube', `[ "$1 $2" = "status --json" ] && echo '${JSON.stringify(status)}'; exit 0`)
    stub('docker', 'cat > /dev/null; exit 0')
    stub('curl', 'exit 0')
    const result = spawnSync('bash', ['-e', '-c', script], {cwd: work, encoding: 'utf8', env: {...process.env, ...environment, PATH: `${bin}${path.delimiter}${process.env.PATH}`}})
    expect(result.status, result.stderr).toBe(0)
    return existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []
  }

  it('deploys every service and asks each built service with a port for its healthPath, at the URL status gives', () => {
    expect(runs(steps)).toContain('devkube up --no-forward --json')
    const check = steps.find((step) => step.name === 'Check that the services answer')!
    const calls = runScript(check.run!)
    expect(calls.filter((call) => call.startsWith('curl')).map((call) => call.split(' ').at(-1))).toEqual(['http://localhost:8000/health'])
    expect(calls).toContain('devkube forward --detach')
  })

  it('pushes the built services\' images only (not postgres, not redis), by content tag, on main only', () => {
    const push = steps.find((step) => step.run?.includes('docker push'))!
    expect(push.if).toBe("github.ref == 'refs/heads/main'")
    const calls = runScript(push.run!, {REGISTRY_USERNAME: 'me', REGISTRY_PASSWORD: 'pw'})
    expect(calls.filter((call) => call.startsWith('docker push'))).toEqual([
      'docker push ghcr.io/acme/tasks-web:32b3f6746317',
      'docker push ghcr.io/acme/tasks-worker:32b3f6746317',
      'docker push ghcr.io/acme/tasks-migrate:32b3f6746317',
    ])
    expect(calls).toContain('docker tag devkube.local/tasks-web:32b3f6746317 ghcr.io/acme/tasks-web:32b3f6746317')
  })

  it('does the same in GitLab CI, the push on the default branch only', () => {
    const script: string[] = gitlab.devkube.script
    expect(script).toContain('devkube up --no-forward --json > devkube-up.json')
    const check = script.slice(script.indexOf('devkube up --no-forward --json > devkube-up.json') + 1).filter((line) => !line.includes('CI_COMMIT_BRANCH') && !line.includes('socat')).join('\n')
    expect(runScript(check).filter((call) => call.startsWith('curl')).map((call) => call.split(' ').at(-1))).toEqual(['http://localhost:8000/health'])
    const push = script.find((line) => line.includes('docker push'))!
    expect(push).toContain('if [ "$CI_COMMIT_BRANCH" = "$CI_DEFAULT_BRANCH" ]; then')
    const calls = runScript(push, {CI_COMMIT_BRANCH: 'main', CI_DEFAULT_BRANCH: 'main', REGISTRY_USER: 'me', REGISTRY_PASSWORD: 'pw'})
    expect(calls.filter((call) => call.startsWith('docker push'))).toEqual([
      'docker push registry.gitlab.com/acme/tasks-web:32b3f6746317',
      'docker push registry.gitlab.com/acme/tasks-worker:32b3f6746317',
      'docker push registry.gitlab.com/acme/tasks-migrate:32b3f6746317',
    ])
    expect(runScript(push, {CI_COMMIT_BRANCH: 'feature', CI_DEFAULT_BRANCH: 'main'}).filter((call) => call.startsWith('docker'))).toEqual([])
  })
})
