import {afterEach, describe, expect, it} from 'vitest'
import {CommandError, run, setCommandEcho, setRunner, ToolNotFoundError} from '../../src/lib/runner.js'
import {MASK, registerSecret} from '../../src/lib/secrets.js'
import {FakeRunner} from '../support/fake-runner.js'

describe('runner', () => {
  let restore: () => void = () => {}
  afterEach(() => {
    restore()
    setCommandEcho(undefined)
  })

  it('turns a failed call into a CommandError with a copy-pasteable command, exit code and output tail', async () => {
    const fake = new FakeRunner().when('kind create', {exitCode: 1, stderr: 'line 1\nERROR: failed to create cluster: boom'})
    restore = setRunner(fake)
    const error = await run(['kind', 'create', 'cluster', '--name', "it's mine"]).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(CommandError)
    const commandError = error as CommandError
    expect(commandError.command).toBe(`kind create cluster --name 'it'\\''s mine'`)
    expect(commandError.result.exitCode).toBe(1)
    expect(commandError.message).toContain('failed with exit code 1')
    expect(commandError.tail).toContain('ERROR: failed to create cluster: boom')
  })

  it('says which tool is missing and how to install it', async () => {
    restore = setRunner(new FakeRunner().when('kind', {exitCode: 127, notFound: true}))
    const error = (await run(['kind', 'version']).catch((caught: unknown) => caught)) as ToolNotFoundError
    expect(error).toBeInstanceOf(ToolNotFoundError)
    expect(error.message).toBe('kind is not installed (it is not on PATH).')
    expect(error.hint).toContain('kind.sigs.k8s.io')
  })

  it('returns the result of a failure when asked to, without throwing', async () => {
    restore = setRunner(new FakeRunner().when('docker image inspect', {exitCode: 1, stderr: 'No such image'}))
    const result = await run(['docker', 'image', 'inspect', 'x'], {allowFailure: true})
    expect(result.exitCode).toBe(1)
  })

  it('echoes commands under --verbose with secrets masked, and never echoes stdin', async () => {
    restore = setRunner(new FakeRunner().when('kubectl', {stdout: ''}))
    const echoed: string[] = []
    setCommandEcho((line) => echoed.push(line))
    registerSecret('hunter2-secret')
    await run(['kubectl', 'apply', '-f', '-'], {input: 'password: hunter2-secret'})
    await run(['kubectl', 'annotate', 'x', 'note=hunter2-secret'])
    expect(echoed).toEqual(['$ kubectl apply -f - < (stdin)', `$ kubectl annotate x note=${MASK}`])
  })

  it('masks secrets in the output tail of a failed command', async () => {
    registerSecret('s3cr3t-value')
    restore = setRunner(new FakeRunner().when('kubectl', {exitCode: 1, stderr: 'error: bad value s3cr3t-value'}))
    const error = (await run(['kubectl', 'apply']).catch((caught: unknown) => caught)) as CommandError
    expect(error.tail).not.toContain('s3cr3t-value')
    expect(error.tail).toContain(MASK)
  })
})
