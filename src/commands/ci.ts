import {Flags} from '@oclif/core'
import {DevkubeCommand} from '../lib/base-command.js'
import {writePipeline, type CiResult} from '../lib/ci.js'
import {projectFlags, projectOverrides} from '../lib/flags.js'
import {resolveProject} from '../lib/project.js'

export default class Ci extends DevkubeCommand {
  static summary = 'Write a CI pipeline (GitHub Actions or GitLab CI) that deploys the app to a kind cluster in the job and checks it answers.'

  static description = `The pipeline builds the image (with \`services:\`, every built service's), creates a kind cluster inside the CI job, runs \`devkube up --no-forward --json\`, checks that the app (each built service with a port) answers on its URL, and runs \`devkube down\`. With --registry, runs on the main branch also push each built image (its content tag, never :latest) to that registry; backing services and stock images are not built, so not pushed.

GitHub: .github/workflows/devkube.yml. GitLab: .gitlab-ci.yml (a docker:dind service runs kind). An existing file is never overwritten without --force.`

  static examples = [
    {description: 'A GitHub Actions workflow', command: '<%= config.bin %> ci --github'},
    {description: 'GitLab CI, pushing the image from main to a registry', command: '<%= config.bin %> ci --gitlab --registry registry.gitlab.com/acme/shop'},
  ]

  static enableJsonFlag = true

  static flags = {
    ...projectFlags,
    github: Flags.boolean({description: 'Write a GitHub Actions workflow.', exactlyOne: ['github', 'gitlab']}),
    gitlab: Flags.boolean({description: 'Write a GitLab CI pipeline.', exactlyOne: ['github', 'gitlab']}),
    registry: Flags.string({description: 'Push the image to this registry on the main branch, e.g. ghcr.io/acme.', helpValue: 'REGISTRY'}),
    force: Flags.boolean({description: 'Overwrite an existing pipeline file.', default: false}),
  }

  async run(): Promise<CiResult> {
    const {flags} = await this.parse(Ci)
    const {config} = resolveProject(process.cwd(), projectOverrides(flags), {requireApp: false})
    const result = writePipeline(config, {provider: flags.github ? 'github' : 'gitlab', registry: flags.registry, force: flags.force})
    this.log(result.action === 'kept' ? `${result.file} is already up to date.` : `${result.action === 'created' ? 'Wrote' : 'Overwrote'} ${result.file}: commit it to run devkube in CI.`)
    return result
  }
}
