import {Args, Flags} from '@oclif/core'
import {DevkubeCommand} from '../lib/base-command.js'
import {scaleApp, type ScaleResult} from '../lib/deployment-ops.js'
import {projectFlags, projectOverrides} from '../lib/flags.js'

export default class Scale extends DevkubeCommand {
  static summary = 'Change the number of pods of the running app now.'

  static description = 'Scales the Deployment in the cluster and waits until the pods are ready. devkube.yaml is not changed: the next `devkube up` sets the replicas back to what it says.'

  static examples = [
    {description: 'Run three pods', command: '<%= config.bin %> scale 3'},
    {description: 'Stop the pods of the staging environment, keeping everything else', command: '<%= config.bin %> scale 0 --env staging'},
  ]

  static enableJsonFlag = true

  static args = {
    replicas: Args.integer({description: 'Number of pods.', required: true, min: 0}),
  }

  static flags = {
    ...projectFlags,
    wait: Flags.boolean({description: 'Wait until the pods are ready.', default: true, allowNo: true}),
    timeout: Flags.integer({description: 'Seconds to wait.', default: 120, min: 1}),
  }

  async run(): Promise<ScaleResult> {
    const {args, flags} = await this.parse(Scale)
    const result = await scaleApp(projectOverrides(flags), args.replicas, {wait: flags.wait, timeoutSeconds: flags.timeout})
    this.log(`Scaled ${result.deployment} in ${result.namespace} from ${result.previousReplicas} to ${result.replicas} replica${result.replicas === 1 ? '' : 's'}.`)
    if (result.configuredReplicas !== result.replicas) {
      this.log(`devkube.yaml still says ${result.configuredReplicas}: the next \`devkube up\` sets it back (change \`replicas\` there to keep ${result.replicas}).`)
    }
    return result
  }
}
