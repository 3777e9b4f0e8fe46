import {Args, Flags} from '@oclif/core'
import {DevkubeCommand} from '../lib/base-command.js'
import {projectFlags, projectOverrides} from '../lib/flags.js'
import {DEFAULT_TAIL, runLogs} from '../lib/logs.js'
import {resolveProject, serviceNamed} from '../lib/project.js'

export default class Logs extends DevkubeCommand {
  static summary = "Show the logs of every pod of the app, each line prefixed with its pod's short name."

  static description = `Each line starts with the pod's short name (the end of its name, e.g. 7d9f-x2k4z; plus /container when a pod has several), in a colour of its own on a terminal (none with NO_COLOR or when piped).

Without --tail it shows the last ${DEFAULT_TAIL} lines of each pod (all lines within --since when that is given).

--follow keeps following across redeploys and restarts: pods that appear later are shown from their first line, pods that go away are dropped, and it only ends on Ctrl-C.

When the app has no pods (not deployed, or its cluster does not exist) it says so and exits with code 1.`

  static examples = [
    {description: 'The recent lines of every pod', command: '<%= config.bin %> logs'},
    {description: 'Follow the app, across redeploys, until Ctrl-C', command: '<%= config.bin %> logs -f'},
    {description: 'Everything of the last 10 minutes', command: '<%= config.bin %> logs --since 10m'},
    {description: 'What the crashed container printed before it died', command: '<%= config.bin %> logs --previous'},
    {description: 'The staging environment', command: '<%= config.bin %> logs -f --env staging'},
    {description: 'Only the services web and worker of an app with several (lines start with service/pod)', command: '<%= config.bin %> logs web worker'},
  ]

  /** `devkube logs web api`: any number of service names. */
  static strict = false

  static args = {
    service: Args.string({description: 'Only these services (default: all of the app\'s); repeatable.'}),
  }

  static flags = {
    ...projectFlags,
    follow: Flags.boolean({char: 'f', description: 'Keep following, across redeploys and restarts, until Ctrl-C.', exclusive: ['previous']}),
    tail: Flags.integer({description: `Lines of past output to show of each pod (-1: all; default ${DEFAULT_TAIL}, or all with --since).`, min: -1, helpValue: 'N'}),
    since: Flags.string({description: 'Only lines newer than this, e.g. 30s, 10m, 2h.', helpValue: 'DURATION'}),
    previous: Flags.boolean({char: 'p', description: 'The logs of the previous (crashed) container of each pod.'}),
    container: Flags.string({char: 'c', description: 'Only this container of each pod (default: all of them).', helpValue: 'NAME'}),
  }

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(Logs)
    if (flags.since !== undefined && !/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(flags.since)) {
      this.error(`--since takes a duration such as 30s, 10m or 2h, but got "${flags.since}".`, {exit: 2})
    }
    const project = resolveProject(process.cwd(), projectOverrides(flags), {requireApp: false})
    const {config, kube} = project
    const services = (argv as string[]).map((name) => serviceNamed(project, name).name)
    await runLogs(
      config,
      kube,
      {follow: flags.follow, tail: flags.tail, since: flags.since, previous: flags.previous, container: flags.container, services},
      {
        line: (text) => process.stdout.write(`${text}\n`),
        notice: (text) => process.stderr.write(`${text}\n`),
      },
    )
  }
}
