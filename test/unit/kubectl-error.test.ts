import {describe, expect, it} from 'vitest'
import {kubectlError} from '../../src/lib/kube.js'

const argv = ['kubectl', '--context', 'kind-devkube', 'apply', '-f', '-']

describe('kubectlError', () => {
  it("gives kubectl's reason from stderr, not the objects apply already reported on stdout", () => {
    const error = kubectlError(
      {
        argv,
        exitCode: 1,
        stdout: 'namespace/shop unchanged\nsecret/web-env unchanged\n',
        stderr: 'Warning: resource jobs/migrate is missing the kubectl.kubernetes.io/last-applied-configuration annotation\nThe Job "migrate" is invalid: spec.template: Invalid value: "...": field is immutable\n',
      },
      'devkube',
    )
    expect(error.message).toBe('kubectl failed: The Job "migrate" is invalid: spec.template: Invalid value: "...": field is immutable')
  })

  it("prefers kubectl's Error from server line wherever it is", () => {
    const error = kubectlError({argv, exitCode: 1, stdout: 'deployment.apps/web configured\n', stderr: 'Warning: something\nError from server (Forbidden): pods is forbidden\n'}, 'devkube')
    expect(error.message).toBe('kubectl failed: Error from server (Forbidden): pods is forbidden')
  })

  it('falls back to the last line of stdout when stderr is empty', () => {
    expect(kubectlError({argv, exitCode: 1, stdout: 'one\nthe reason\n', stderr: ''}, 'devkube').message).toBe('kubectl failed: the reason')
  })
})
