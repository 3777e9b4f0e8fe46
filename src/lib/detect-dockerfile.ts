/**
 * The project's own Dockerfile, read (never changed): its stages, the port it EXPOSEs and the user it
 * runs as in the stage that is built (the last, or `build.target`), and the BuildKit-only syntax it
 * uses. Only reads files.
 */
import {readFileSync} from 'node:fs'
import type {DetectionFact} from './detect.js'

export interface DockerfileStage {
  /** `FROM image AS name`: the name, when it has one. */
  name?: string
  expose?: number
  user?: string
}

export interface DockerfileInfo {
  stages: DockerfileStage[]
  /** BuildKit-only features it uses, e.g. ["RUN --mount", "a # syntax= line"]; empty when the classic builder can build it. */
  buildKitFeatures: string[]
}

export function readDockerfile(file: string): DockerfileInfo {
  return parseDockerfile(readFileSync(file, 'utf8'))
}

export function parseDockerfile(text: string): DockerfileInfo {
  const stages: DockerfileStage[] = []
  const features = new Set<string>()
  if (/^#\s*syntax\s*=/im.test(text.split(/^(?!\s*#)/m)[0] ?? '')) features.add('a `# syntax=` line')
  // Instructions, with line continuations joined and comments dropped.
  const instructions = text.replaceAll(/\\\r?\n/g, ' ').split(/\r?\n/).map((line) => line.trim()).filter((line) => line && !line.startsWith('#'))
  for (const instruction of instructions) {
    const [keyword = '', ...rest] = instruction.split(/\s+/)
    const argument = rest.join(' ')
    switch (keyword.toUpperCase()) {
      case 'FROM': {
        stages.push({name: /\s+AS\s+(\S+)\s*$/i.exec(argument)?.[1]})
        break
      }
      case 'EXPOSE': {
        const port = /^(\d+)/.exec(rest[0] ?? '')
        const stage = stages.at(-1)
        if (port && stage && stage.expose === undefined) stage.expose = Number(port[1])
        break
      }
      case 'USER': {
        const stage = stages.at(-1)
        if (stage) stage.user = argument.trim()
        break
      }
      case 'RUN': {
        if (/--mount[= ]/.test(argument)) features.add('RUN --mount')
        if (/--network[= ]|--security[= ]/.test(argument)) features.add('RUN --network/--security')
        if (/<<-?\s*["']?\w+["']?/.test(argument)) features.add('a heredoc (<<EOF)')
        break
      }
      case 'COPY':
      case 'ADD': {
        if (/--link\b|--parents\b|--exclude[= ]/.test(argument)) features.add(`${keyword.toUpperCase()} --link/--parents/--exclude`)
        if (/<<-?\s*["']?\w+["']?/.test(argument)) features.add('a heredoc (<<EOF)')
        break
      }
    }
  }
  return {stages, buildKitFeatures: [...features]}
}

/** The stage `docker build` builds: the one named by target, else the last. Undefined for a target no stage has. */
export function builtStage(info: DockerfileInfo, target?: string): DockerfileStage | undefined {
  if (target === undefined) return info.stages.at(-1)
  return info.stages.find((stage) => stage.name?.toLowerCase() === target.toLowerCase())
}

export function dockerfileFacts(info: DockerfileInfo, target?: string): DetectionFact[] {
  const stage = builtStage(info, target)
  const facts: DetectionFact[] = []
  if (target) facts.push({key: 'target', value: target, source: 'build.target in devkube.yaml'})
  if (stage?.user) facts.push({key: 'runs as', value: stage.user, source: 'Dockerfile: USER'})
  else facts.push({key: 'runs as', value: 'root', source: 'Dockerfile has no USER'})
  if (info.buildKitFeatures.length > 0) facts.push({key: 'needs BuildKit', value: info.buildKitFeatures.join(', '), source: 'Dockerfile'})
  return facts
}
