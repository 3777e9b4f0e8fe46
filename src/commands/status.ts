import {Flags} from '@oclif/core'
import {DevkubeCommand} from '../lib/base-command.js'
import {projectFlags, projectOverrides, targetFlag} from '../lib/flags.js'
import {parseKeyValues, resolveProject} from '../lib/project.js'
import {collectStatus, renderStatus, type StatusReport} from '../lib/status.js'

export default class Status extends DevkubeCommand {
  static summary = 'Show whether the cluster is there, whether the app is running and healthy, and where it answers.'

  static description = `Shows the kind cluster (node ready, node image), the namespace, the Deployment (desired/ready/updated), each pod (status, readiness, restarts, age, and what is wrong in plain words), whether the running image matches the current source, and the port forwarder (pid, URL, whether the URL answers).

Exits with code 0 when the app is healthy and 1 when it is not (no cluster, not deployed, pods not ready, the forwarded URL not answering), also with --json, so scripts can wait on it.`

  static examples = [
    {description: 'Is the app up?', command: '<%= config.bin %> status'},
    {description: 'Wait in a script until the app is healthy', command: 'until <%= config.bin %> status --json > /dev/null; do sleep 2; done'},
    {description: 'The staging environment', command: '<%= config.bin %> status --env staging'},
  ]

  static enableJsonFlag = true

  static flags = {
    ...projectFlags,
    target: targetFlag('Show the app on this cluster of devkube.yaml `targets:` (its context) instead of kind.'),
    'build-arg': Flags.string({description: 'Build args to compare the image with the source (default: those of the last `devkube up` here).', multiple: true, helpValue: 'KEY=VALUE'}),
  }

  async run(): Promise<StatusReport> {
    const {flags} = await this.parse(Status)
    const {config, kube, state} = resolveProject(process.cwd(), projectOverrides(flags), {requireApp: false, target: flags.target})
    const report = await collectStatus(config, kube, {buildArgs: flags['build-arg'] ? parseKeyValues(flags['build-arg'], '--build-arg') : state.recordedBuildArgs()})
    if (!report.healthy) process.exitCode = 1
    if (!this.jsonEnabled()) for (const line of renderStatus(report)) this.log(line)
    return report
  }
}
