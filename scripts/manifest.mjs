// Writes oclif.manifest.json after a build. With it oclif reads every command's flags and help from
// one file instead of importing all commands (and their dependencies) at start-up: `devkube --version`
// went from ~250 ms to ~110 ms (bench/README.md).
import {writeFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

// Outside production oclif maps dist/ back to src/*.ts through tsconfig, and the manifest would then
// send the built CLI to TypeScript sources it cannot load.
process.env.NODE_ENV = 'production'
const {Plugin} = await import('@oclif/core')

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const plugin = new Plugin({root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true, isRoot: true})
await plugin.load()
writeFileSync(path.join(root, 'oclif.manifest.json'), `${JSON.stringify(plugin.manifest, null, 2)}\n`)
console.log(`oclif.manifest.json: ${Object.keys(plugin.manifest.commands).length} commands`)
