import {confirm} from '@inquirer/prompts'
import {Flags} from '@oclif/core'
import {DevkubeCommand} from '../lib/base-command.js'
import {runDown, type DownResult} from '../lib/down.js'
import {InterruptedError} from '../lib/errors.js'
import {projectFlags, projectOverrides, targetFlag} from '../lib/flags.js'
import {isInteractive} from '../lib/output.js'
import {resolveProject} from '../lib/project.js'

export default class Down extends DevkubeCommand {
  static summary = 'Stop the port forwarder and remove the app from the cluster (--cluster: delete the kind cluster too).'

  static description = `Stops the background port forwarder that \`devkube up --detach\` started, then removes what devkube created for the app and waits until it is gone: the app's namespace when devkube created it and nothing else lives there, otherwise only the app's own objects (those labelled app.kubernetes.io/name=<name> and app.kubernetes.io/managed-by=devkube). It never touches anything devkube did not create.

--cluster deletes the configured kind cluster (--cluster-name, devkube.yaml \`cluster\`, default "devkube") with everything in it, and only when devkube created it. Other projects may share the cluster, so it first names the namespaces still in it and asks; without a terminal (CI, scripts, --json) it refuses unless --yes is given.

Running it again when there is nothing left says so and exits 0.`

  static examples = [
    {description: 'Remove the app (and its background port forward)', command: '<%= config.bin %> down'},
    {description: 'Remove the staging environment only', command: '<%= config.bin %> down --env staging'},
    {description: 'Delete the whole kind cluster, asking first', command: '<%= config.bin %> down --cluster'},
    {description: 'In a script: delete the cluster without asking', command: '<%= config.bin %> down --cluster --yes'},
  ]

  static enableJsonFlag = true

  static flags = {
    env: projectFlags.env,
    'cluster-name': projectFlags.cluster,
    namespace: projectFlags.namespace,
    cluster: Flags.boolean({description: 'Also delete the kind cluster (asks first; see --yes).'}),
    target: targetFlag('Remove the app from this cluster of devkube.yaml `targets:` (only devkube\'s objects; never the cluster).'),
    yes: Flags.boolean({char: 'y', description: 'Do not ask before deleting the cluster.'}),
    volumes: Flags.boolean({description: "Also delete the backing services' volumes (their data) and credentials; without it they are kept for the next `up`."}),
  }

  async run(): Promise<DownResult> {
    const {flags} = await this.parse(Down)
    const {config, kube} = resolveProject(process.cwd(), projectOverrides({env: flags.env, cluster: flags['cluster-name'], namespace: flags.namespace}), {requireApp: false, target: flags.target})
    const json = this.jsonEnabled()
    return runDown(config, kube, {
      cluster: flags.cluster,
      volumes: flags.volumes,
      yes: flags.yes,
      interactive: !json && isInteractive(),
      async confirm(message) {
        try {
          return await confirm({message, default: false})
        } catch (error) {
          if (error instanceof Error && error.name === 'ExitPromptError') throw new InterruptedError('Cancelled: nothing was removed')
          throw error
        }
      },
      log: (line) => {
        if (!json) this.log(line)
      },
    })
  }
}
