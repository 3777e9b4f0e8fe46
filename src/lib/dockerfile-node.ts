/**
 * The Dockerfile (and, for a single-page app, the nginx.conf) of a Node project, from what detect-node found:
 * templates/docker/node.Dockerfile (a server without a build), node-build.Dockerfile (a server with a build
 * step), node-next.Dockerfile (Next.js) and node-spa.Dockerfile + nginx-spa.conf (an SPA served by nginx).
 * Every one installs from the manifests before the sources are copied, so a source change reuses the
 * dependency layer, and works with the classic builder (no RUN --mount, no heredocs).
 */
import {existsSync} from 'node:fs'
import path from 'node:path'
import {type NodeProject} from './detect-node.js'
import {renderTemplate} from './templates.js'

/** The file scaffold writes beside the Dockerfile of an SPA (the Dockerfile copies it into the image). */
export const SPA_NGINX_CONF = 'nginx.conf'

const OWNER = '10001:10001'

export interface NodeImageFiles {
  dockerfile: string
  /** Extra files the Dockerfile needs, by path relative to the project (an SPA's nginx.conf). */
  extraFiles: Record<string, string>
}

export function nodeImageFiles(projectDir: string, node: NodeProject, port: number, startCommand: string[] | undefined): NodeImageFiles {
  const appDir = node.packageDir
  const values = {
    port,
    framework: node.framework,
    nodeMajor: node.nodeMajor,
    appPath: appDir === '.' ? '/app' : `/app/${appDir}`,
    enablePackageManager: node.packageManager.name === 'npm' ? '# npm comes with the base image.' : `# ${node.packageManager.name} comes through corepack (the version package.json's packageManager pins, if any).\nRUN corepack enable`,
    copyManifests: copyManifests(projectDir, node),
    install: node.packageManager.install,
    installProduction: node.packageManager.installProduction,
    buildCommand: buildCommand(node),
    startCommand: execForm(startCommand ?? node.startCommand ?? ['npm', 'start']),
  }
  switch (node.kind) {
    case 'server': {
      return {dockerfile: renderTemplate('docker/node.Dockerfile', values), extraFiles: {}}
    }
    case 'build-server': {
      // Only the build output when the app starts from inside it (and no sibling workspace is linked in);
      // otherwise the whole built folder, without the build stage's node_modules (dev dependencies).
      const outputOnly = node.outputDir !== undefined && appDir === '.'
      return {
        dockerfile: renderTemplate('docker/node-build.Dockerfile', {
          ...values,
          pruneBuild: outputOnly ? '# The runtime takes the build output only.' : '# The runtime takes this folder without the dev dependencies.\nRUN find . -name node_modules -type d -prune -exec rm -rf {} +',
          copyBuildOutput: outputOnly
            ? `COPY --from=build --chown=${OWNER} /app/${node.outputDir} ./${node.outputDir}`
            : `COPY --from=build --chown=${OWNER} /app ./`,
        }),
        extraFiles: {},
      }
    }
    case 'next': {
      const at = appDir === '.' ? '/app' : `/app/${appDir}`
      const to = appDir === '.' ? '.' : `./${appDir}`
      return {
        dockerfile: renderTemplate('docker/node-next.Dockerfile', {
          ...values,
          nextRuntime: node.nextStandalone
            ? "the standalone server (next.config's output: 'standalone'), its static files and public/."
            : "the whole built app, dependencies included (`output: 'standalone'` in next.config makes a smaller image).",
          copyBuildOutput: node.nextStandalone
            ? [
                `COPY --from=build --chown=${OWNER} ${at}/.next/standalone ./`,
                `COPY --from=build --chown=${OWNER} ${at}/.next/static ${to}/.next/static`,
                `COPY --from=build --chown=${OWNER} ${at}/public ${to}/public`,
              ].join('\n')
            : `COPY --from=build --chown=${OWNER} /app ./`,
        }),
        extraFiles: {},
      }
    }
    case 'spa': {
      return {
        dockerfile: renderTemplate('docker/node-spa.Dockerfile', {...values, outputDir: node.outputDir ?? 'dist', nginxConf: SPA_NGINX_CONF}),
        extraFiles: {[SPA_NGINX_CONF]: renderTemplate('docker/nginx-spa.conf', {port})},
      }
    }
  }
}

/** package.json and the lockfile of the root, every workspace's package.json, and the package manager's settings. */
function copyManifests(projectDir: string, node: NodeProject): string {
  const settings = ['.npmrc', '.yarnrc', '.yarnrc.yml', 'pnpm-workspace.yaml'].filter((file) => existsSync(path.join(projectDir, file)))
  const rootFiles = ['package.json', ...(node.packageManager.lockfile ? [node.packageManager.lockfile] : []), ...settings]
  const lines = [`COPY ${rootFiles.join(' ')} ./`]
  for (const manifest of node.manifests.filter((file) => file !== 'package.json')) {
    lines.push(`COPY ${manifest} ${path.posix.dirname(manifest)}/`)
  }
  return lines.join('\n')
}

function buildCommand(node: NodeProject): string {
  const run = `${node.packageManager.name} run ${node.buildScript ?? 'build'}`
  return node.packageDir === '.' ? run : `cd ${node.packageDir} && ${run}`
}

/** Exec form (a JSON array), so the app is PID 1 and gets SIGTERM directly. */
function execForm(argv: string[]): string {
  return `[${argv.map((arg) => JSON.stringify(arg)).join(', ')}]`
}

/** A package manager running a package.json script, as the Node Dockerfiles' RUN lines do. */
const SCRIPT_RUN = /\b(npm|pnpm|yarn) run ([\w:.-]+)/

/** Lines that are the package manager's or Docker's framing, not what the script said. */
const SCRIPT_NOISE = /^(The command '.*' returned a non-zero code|ERROR: process ".*" did not complete|npm error (A complete log|Lifecycle script|code \d|path |workspace |location |command failed|command sh -c)|npm error$|ELIFECYCLE|error Command failed with exit code|info Visit https:\/\/yarnpkg|\s*$)/

/**
 * When the failing build step runs a package.json script (`RUN npm run build`), the sentence that names it with
 * the error it printed, and its last lines; undefined for any other step. `step` and `output` are the failing
 * step and its output as build-output.ts reads them from either builder.
 */
export function scriptFailure(step: string, output: string[]): {message: string; lastLines: string[]} | undefined {
  const script = SCRIPT_RUN.exec(step)
  if (!script) return undefined
  // Stack frames say where the tool failed, not what is wrong with the app.
  const lines = output.map((line) => line.trimEnd()).filter((line) => !SCRIPT_NOISE.test(line.trimStart()) && !/^\s+at /.test(line))
  // The first line that says "error" and more ("src/a.ts(3,1): error TS2322: …", "App.jsx:2:0: ERROR: Expected …").
  const errorLine = lines.find((line) => /\berror\b/i.test(line) && !/:\s*$/.test(line)) ?? lines.at(-1)
  return {
    message: `The app's "${script[2]}" script failed while building the image (${script[1]} run ${script[2]})${errorLine ? `: ${errorLine.trim().replace(/\.$/, '')}` : ''}.`,
    lastLines: lines.slice(-12),
  }
}
