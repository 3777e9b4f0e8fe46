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
    {description: 'Run two pods of the service web of an app with several services', command: '<%= config.bin %> scale web 2'},
  ]

  static enableJsonFlag = true

  static args = {
    service: Args.string({description: 'The service to scale (optional for a one-service app), or the number of pods.', required: true}),
    replicas: Args.string({description: 'Number of pods (when a service is named first).'}),
  }

  static flags = {
    ...projectFlags,
    wait: Flags.boolean({description: 'Wait until the pods are ready.', default: true, allowNo: true}),
    timeout: Flags.integer({description: 'Seconds to wait.', default: 120, min: 1}),
  }

  async run(): Promise<ScaleResult> {
    const {args, flags} = await this.parse(Scale)
    // `scale N` (one service) or `scale SERVICE N`.
    const [service, count] = args.replicas === undefined ? [undefined, args.service] : [args.service, args.replicas]
    if (!/^\d+$/.test(count)) this.error(`The number of pods must be a whole number from 0 up, but got "${count}".`, {exit: 2, suggestions: ['devkube scale 3', 'devkube scale web 3']})
    const result = await scaleApp(projectOverrides(flags), service, Number(count), {wait: flags.wait, timeoutSeconds: flags.timeout})
    this.log(`Scaled ${result.deployment} in ${result.namespace} from ${result.previousReplicas} to ${result.replicas} replica${result.replicas === 1 ? '' : 's'}.`)
    if (result.configuredReplicas !== result.replicas) {
      this.log(`devkube.yaml still says ${result.configuredReplicas}: the next \`devkube up\` sets it back (change \`replicas\` there to keep ${result.replicas}).`)
    }
    return result
  }
}
