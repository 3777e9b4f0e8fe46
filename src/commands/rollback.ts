import {Args, Flags} from '@oclif/core'
import {DevkubeCommand} from '../lib/base-command.js'
import {rollbackApp, type RollbackResult} from '../lib/deployment-ops.js'
import {projectFlags, projectOverrides} from '../lib/flags.js'

export default class Rollback extends DevkubeCommand {
  static summary = 'Return the app to its previous revision and wait for it.'

  static description = 'Runs `kubectl rollout undo` on the app\'s Deployment and waits for the rollout. The next `devkube up` deploys your current source again.'

  static examples = [
    {description: 'Undo the last deploy', command: '<%= config.bin %> rollback'},
    {description: 'Undo the last deploy of staging', command: '<%= config.bin %> rollback --env staging'},
  ]

  static enableJsonFlag = true

  static args = {
    service: Args.string({description: 'The service to roll back (optional for a one-service app).'}),
  }

  static flags = {
    ...projectFlags,
    timeout: Flags.integer({description: 'Seconds to wait for the rollout.', default: 120, min: 1}),
  }

  async run(): Promise<RollbackResult> {
    const {args, flags} = await this.parse(Rollback)
    const result = await rollbackApp(projectOverrides(flags), args.service, {timeoutSeconds: flags.timeout})
    this.log(`Rolled ${result.deployment} back from revision ${result.fromRevision} to ${result.toRevision}${result.image ? ` (${result.image})` : ''}; it is ready.`)
    this.log('The next `devkube up` deploys your current source again.')
    return result
  }
}
