/**
 * Go detection: the Go version go.mod asks for (its `toolchain` line, else its `go` line), which
 * package is the server (the module root, or one of cmd/<name>/), and whether dependencies are
 * vendored. Only reads files.
 */
import {readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {codeFiles, findPort, isDirectory, isFile, portOrDefault, type SourceFile} from './detect-files.js'
import type {Detection, DetectionFact} from './detect.js'
import {UserError} from './errors.js'

/** The golang image tag devkube's Dockerfile uses when go.mod names no version. */
export const DEFAULT_GO_VERSION = '1.23'

export interface GoDetails {
  /** The package `go build` builds, e.g. "." or "./cmd/server". */
  goPackage: string
  /** major.minor for the golang:<version> image. */
  goVersion: string
  /** vendor/modules.txt is there: build with -mod=vendor and download nothing. */
  vendored: boolean
}

export interface GoOptions {
  /** Which cmd/<name> to build when there are several (init's --cmd, or the answer to its question). */
  command?: string
}

export function detectGo(dir: string, given?: string, options: GoOptions = {}): Detection & {go: GoDetails} {
  const goMod = path.join(dir, 'go.mod')
  if (!isFile(goMod)) {
    throw new UserError(`--lang go needs a go.mod in ${dir}, and there is none.`, {
      hint: 'Run `go mod init <module>` in the project folder first.',
    })
  }
  const facts: DetectionFact[] = []
  const version = goVersion(readFileSync(goMod, 'utf8'))
  facts.push({key: 'go', value: version.version, source: version.source})
  const isMain = (source: SourceFile) => /^package\s+main\b/m.test(source.text)
  const rootSources = codeFiles(dir, ['.go']).filter((source) => !source.file.includes('/'))
  let goPackage = '.'
  let sources = rootSources
  if (rootSources.some(isMain)) {
    facts.push({key: 'package', value: '.', source: 'package main at the module root'})
  } else {
    const commands = goCommands(dir)
    const command = chooseCommand(commands, options.command)
    if (command) {
      goPackage = `./cmd/${command}`
      sources = codeFiles(path.join(dir, 'cmd', command), ['.go']).map((source) => ({...source, file: `cmd/${command}/${source.file}`}))
      facts.push({key: 'package', value: goPackage, source: options.command ? '--cmd' : 'the only command under cmd/'})
    }
  }
  const vendored = isFile(path.join(dir, 'vendor', 'modules.txt'))
  if (vendored) facts.push({key: 'dependencies', value: 'vendored (-mod=vendor)', source: 'vendor/modules.txt'})
  const found = findPort([...sources, ...codeFiles(dir, ['.go'])], PORT_PATTERNS)
  return {lang: 'go', facts, reason: given ?? 'go.mod is there', ...portOrDefault(found), goPackage, go: {goPackage, goVersion: version.version, vendored}}
}

/** The commands under cmd/: folders holding a `package main`. */
export function goCommands(dir: string): string[] {
  const cmd = path.join(dir, 'cmd')
  if (!isDirectory(cmd)) return []
  return readdirSync(cmd)
    .sort()
    .filter((name) => codeFiles(path.join(cmd, name), ['.go']).some((source) => /^package\s+main\b/m.test(source.text)))
}

function chooseCommand(commands: string[], wanted: string | undefined): string | undefined {
  if (wanted !== undefined) {
    if (commands.includes(wanted)) return wanted
    throw new UserError(`--cmd ${wanted} names no command: cmd/ holds ${commands.length > 0 ? commands.join(', ') : 'no package main'}.`, {
      hint: commands.length > 0 ? `Pass one of them, e.g. --cmd ${commands[0]}.` : 'Put the server\'s package main under cmd/<name>/ or at the module root.',
    })
  }
  if (commands.length <= 1) return commands[0]
  throw new UserError(`cmd/ holds several commands (${commands.join(', ')}), and devkube cannot tell which one is the server.`, {
    hint: `Run \`devkube init --cmd ${commands[0]}\` (with the one that serves HTTP) to write the Dockerfile for it.`,
  })
}

/** major.minor from go.mod: `toolchain go1.23.1` names the Go the developer builds with, `go 1.22` the least the module needs. */
export function goVersion(goMod: string): {version: string; source: string} {
  const toolchain = /^toolchain\s+go(1\.\d+)/m.exec(goMod)
  if (toolchain) return {version: toolchain[1], source: `go.mod: toolchain go${toolchain[1]}`}
  const go = /^go\s+(1\.\d+)/m.exec(goMod)
  if (go) return {version: go[1], source: `go.mod: go ${go[1]}`}
  return {version: DEFAULT_GO_VERSION, source: 'default'}
}

const PORT_PATTERNS = [
  /ListenAndServe(?:TLS)?\(\s*"[\w.-]*:(\d{2,5})"/,
  /\bport\s*(?::=|=)\s*"(\d{2,5})"/i,
  /Getenv\("PORT"\)[\s\S]{0,200}?"(\d{2,5})"/,
  /"[\w.-]*:(\d{2,5})"/,
]
