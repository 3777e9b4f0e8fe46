import {DevkubeCommand} from '../lib/base-command.js'
import {runDoctor, renderDoctor, type DoctorReport} from '../lib/doctor.js'
import {DEFAULT_CLUSTER, DEFAULT_PORT} from '../lib/config.js'
import {isUserError} from '../lib/errors.js'
import {projectFlags, projectOverrides} from '../lib/flags.js'
import {resolveProject, type Project} from '../lib/project.js'

export default class Doctor extends DevkubeCommand {
  static summary = 'Check that everything `devkube up` needs is installed and working, and say how to fix what is not.'

  static description = `Checks Node.js (22 or newer), devkube.yaml, the docker CLI and the Docker daemon (and the kind provider: Docker, or Podman via KIND_EXPERIMENTAL_PROVIDER), kind (present and new enough), kubectl (present, and within one minor version of the cluster's Kubernetes when the cluster exists), the kind-<cluster> context, that the forward port is free, and that there is about 1 GB of free disk for a kind node image.

Each check prints ✓ or ✗ (! for a warning) with a one-line fix. Exits with code 1 when a required check fails, also with --json. Every check has a time limit, so doctor never hangs.`

  static examples = [
    {description: 'Check this machine', command: '<%= config.bin %> doctor'},
    {description: 'In CI, as JSON', command: '<%= config.bin %> doctor --json'},
  ]

  static enableJsonFlag = true

  static flags = {...projectFlags}

  async run(): Promise<DoctorReport> {
    const {flags} = await this.parse(Doctor)
    let project: Project | undefined
    let configError: {message: string; hint?: string} | undefined
    try {
      project = resolveProject(process.cwd(), projectOverrides(flags), {requireApp: false})
    } catch (error) {
      // A broken devkube.yaml is one of the things doctor reports; the other checks still run.
      if (!isUserError(error)) throw error
      configError = {message: error.message, hint: error.hint}
    }
    const report = await runDoctor({
      config: project?.config,
      configError,
      cluster: project?.config.cluster ?? flags.cluster ?? DEFAULT_CLUSTER,
      forwardPort: project?.config.forward ?? DEFAULT_PORT,
      projectDir: process.cwd(),
    })
    if (!report.ok) process.exitCode = 1
    if (!this.jsonEnabled()) for (const line of renderDoctor(report)) this.log(line)
    return report
  }
}
