import {confirm} from '@inquirer/prompts'
import {Flags} from '@oclif/core'
import {DevkubeCommand} from '../lib/base-command.js'
import {InterruptedError} from '../lib/errors.js'
import {portOverrides, projectFlags, projectOverrides, servicePortFlag} from '../lib/flags.js'
import {runUp, type UpResult} from '../lib/up-command.js'
import {parseKeyValues} from '../lib/project.js'

export default class Up extends DevkubeCommand {
  static summary = 'Build the app, deploy it to a local kind cluster and forward a local port to it.'

  static description = `Detects the app, scaffolds a Dockerfile and manifests where there are none, creates (or reuses) the kind cluster and the app's namespace, builds the image, loads it into kind, applies the manifests, waits for the rollout and forwards http://localhost:<forward> to the app.

Run it again and it changes only what changed: with nothing changed it builds, loads and applies nothing.

By default devkube stays in the foreground forwarding the port; Ctrl-C stops forwarding (the app keeps running). --detach forwards in the background instead (\`devkube down\` stops it).`

  static examples = [
    {description: 'Run the app in this folder and forward http://localhost:8080', command: '<%= config.bin %> up'},
    {description: 'Deploy and return, forwarding in the background', command: '<%= config.bin %> up --detach'},
    {description: 'Deploy the staging environment on another local port', command: '<%= config.bin %> up --env staging --forward 9090 --detach'},
    {description: 'An app with `services:`: choose the local ports of two of them', command: '<%= config.bin %> up --forward web=8080 --forward api=8081'},
    {description: 'In CI: deploy, print a JSON result, no port forward', command: '<%= config.bin %> up --no-forward --json'},
    {description: 'Deploy, then sync every save into the running pods until Ctrl-C', command: '<%= config.bin %> up --watch'},
    {description: 'Push the image to a local registry wired into the kind cluster instead of `kind load`', command: '<%= config.bin %> up --registry'},
    {description: 'Deploy to the cluster devkube.yaml `targets:` names "staging" (push, apply, wait; no forward)', command: '<%= config.bin %> up --target staging'},
  ]

  static enableJsonFlag = true

  static flags = {
    ...projectFlags,
    port: servicePortFlag('Port the app listens on in its container (default: detected, else 8080); SERVICE=PORT for a service of `services:` (repeatable).'),
    forward: servicePortFlag('Local port to forward: http://localhost:<forward> (default: the port); SERVICE=PORT for a service of `services:` (repeatable).'),
    replicas: Flags.integer({description: 'Number of pods to run.', min: 0}),
    timeout: Flags.integer({description: 'Seconds to wait for the rollout.', default: 120, min: 1}),
    detach: Flags.boolean({char: 'd', description: 'Forward the port in the background and return (`devkube down` stops it).'}),
    'no-forward': Flags.boolean({description: 'Do not forward a local port.'}),
    rebuild: Flags.boolean({description: 'Build and load the image even when an up-to-date one exists.'}),
    watch: Flags.boolean({char: 'w', description: 'After the deploy, watch the source: sync changed files into the pods (Node, Python) or rebuild, until Ctrl-C.'}),
    'build-arg': Flags.string({description: 'Docker build argument, e.g. NODE_IMAGE=mirror.local/node:22-slim (repeatable).', multiple: true, helpValue: 'KEY=VALUE'}),
    target: Flags.string({description: 'Deploy to this cluster of devkube.yaml `targets:` (its context and registry) instead of kind; forwards only with --forward.', helpValue: 'NAME'}),
    registry: Flags.boolean({description: 'Push images to a local registry (created, or reused from ctlptl/kind\'s script) instead of `kind load` (as `registry: true` in devkube.yaml).'}),
    yes: Flags.boolean({char: 'y', description: 'With --target: confirm the first deploy to its context without asking (needed without a terminal).'}),
  }

  async run(): Promise<UpResult | undefined> {
    const {flags} = await this.parse(Up)
    return runUp(
      {
        ...projectOverrides(flags),
        ...portOverrides(flags),
        replicas: flags.replicas,
        buildArgs: parseKeyValues(flags['build-arg'], '--build-arg'),
        registry: flags.registry,
      },
      {
        target: flags.target,
        yes: flags.yes,
        async confirm(message) {
          try {
            return await confirm({message, default: false})
          } catch (error) {
            if (error instanceof Error && error.name === 'ExitPromptError') throw new InterruptedError('Cancelled: nothing was deployed')
            throw error
          }
        },
        timeoutSeconds: flags.timeout,
        rebuild: flags.rebuild,
        detach: flags.detach,
        // A target's app is forwarded only when asked for (--forward P or --detach).
        forward: flags.target ? !flags['no-forward'] && (flags.forward !== undefined || flags.detach === true) : !flags['no-forward'],
        json: this.jsonEnabled(),
        verbose: this.verbose,
        watch: flags.watch,
        log: (line) => this.log(line),
        logJson: (value) => this.logJson(value),
      },
    )
  }
}
