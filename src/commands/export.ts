import {Flags} from '@oclif/core'
import {DevkubeCommand} from '../lib/base-command.js'
import {runExport, type ExportResult} from '../lib/export.js'

export default class Export extends DevkubeCommand {
  static summary = 'Write the app as a Helm chart or as kustomize base + overlays, one environment each, for clusters devkube does not run.'

  static description = `The objects are the ones \`devkube up --env <env>\` applies (same images, replicas, resources and settings), for every environment in devkube.yaml and, with \`services:\`, every service (backing services' StatefulSets and Services included). A chart gets values.yaml plus values-<env>.yaml, a block per service; kustomize gets base/ plus overlays/<env>/ with built images set by the images transformer.

Secret values are never exported. Env files: the chart refers to a Secret by name, the overlays' secretGenerators read git-ignored copies you make; the README written next to them says how. Backing services' credentials: the chart generates the password once and keeps it (or uses your Secret, services.<name>.auth.existingSecret); the overlays read it from a git-ignored file. Existing files are never overwritten without --force.`

  static examples = [
    {description: 'A Helm chart in ./chart', command: '<%= config.bin %> export --helm chart'},
    {description: 'kustomize base and overlays, with images from a registry', command: '<%= config.bin %> export --kustomize deploy --registry registry.example.com/team'},
  ]

  static enableJsonFlag = true

  static flags = {
    helm: Flags.string({description: 'Write a Helm chart into this folder.', helpValue: 'DIR'}),
    kustomize: Flags.string({description: 'Write kustomize base + overlays into this folder.', helpValue: 'DIR'}),
    registry: Flags.string({description: 'Image registry (and path) the cluster pulls from, e.g. registry.example.com/team (default: devkube\'s local image name).', helpValue: 'REGISTRY'}),
    force: Flags.boolean({description: 'Overwrite files that already exist with other content.', default: false}),
  }

  async run(): Promise<ExportResult> {
    const {flags} = await this.parse(Export)
    const result = await runExport(process.cwd(), {}, {helm: flags.helm, kustomize: flags.kustomize, registry: flags.registry, force: flags.force})
    for (const output of result.written) {
      const what = output.format === 'helm' ? 'Helm chart' : 'kustomize base and overlays'
      this.log(`Wrote the ${what} of ${result.name} (${result.environments.join(', ')}) to ${output.dir}: ${output.files.length === 0 ? 'already up to date' : `${output.files.length} file${output.files.length === 1 ? '' : 's'}`}. See ${output.dir}/README.md.`)
    }
    for (const note of result.notes) this.log(`Note: ${note}`)
    return result
  }
}
