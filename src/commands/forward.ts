import {Flags} from '@oclif/core'
import {DevkubeCommand} from '../lib/base-command.js'
import {portOverrides, projectFlags, projectOverrides, servicePortFlag} from '../lib/flags.js'
import {runForward} from '../lib/forward-command.js'

export default class Forward extends DevkubeCommand {
  static summary = "Forward a local port to the running app (what `up` does at its end)."

  static description = 'Restarts kubectl port-forward whenever its pod goes away (a redeploy, a crash), so the URL keeps answering. Foreground by default; --detach runs it in the background until `devkube down`.'

  static examples = [
    {description: 'Forward http://localhost:8080 again after Ctrl-C ended `devkube up`', command: '<%= config.bin %> forward'},
    {description: 'Forward in the background', command: '<%= config.bin %> forward --detach'},
  ]

  static flags = {
    ...projectFlags,
    forward: servicePortFlag('Local port to forward (default: devkube.yaml `forward`, else the port); SERVICE=PORT for a service of `services:` (repeatable).'),
    port: servicePortFlag('Port the app listens on (used for the default of --forward); SERVICE=PORT for a service of `services:`.'),
    detach: Flags.boolean({char: 'd', description: 'Forward in the background and return.'}),
    'background-child': Flags.boolean({hidden: true}),
    deployed: Flags.string({hidden: true, description: 'The Deployed record (.devkube/deployed-<env>.json) the background child serves.'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Forward)
    await runForward(
      {...projectOverrides(flags), ...portOverrides(flags)},
      {
        detach: flags.detach,
        backgroundChild: flags['background-child'] && flags.deployed ? {deployedFile: flags.deployed} : undefined,
        log: (line) => this.log(line),
      },
    )
  }
}
