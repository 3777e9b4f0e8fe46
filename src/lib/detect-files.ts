/**
 * What every language's detector shares: reading the project's source files (two levels deep, where
 * entry points live), finding a port in them, and small file tests. Only reads files.
 */
import {readdirSync, readFileSync, statSync} from 'node:fs'
import path from 'node:path'
import {DEFAULT_PORT} from './config.js'

export interface SourceFile {
  /** Path relative to the folder searched, with "/" separators. */
  file: string
  text: string
}

const SKIPPED_FOLDERS = new Set(['node_modules', '.git', '.devkube', 'vendor', 'dist', 'build', '.venv', 'venv', '__pycache__', 'k8s', 'test', 'tests'])
const MAX_FILES = 200
const MAX_FILE_BYTES = 512 * 1024

/** Source files two levels deep (where entry points live), the preferred file first. */
export function codeFiles(dir: string, extensions: string[], preferred?: string): SourceFile[] {
  const files: string[] = []
  const walk = (relative: string, depth: number) => {
    if (files.length >= MAX_FILES) return
    let entries
    try {
      entries = readdirSync(path.join(dir, relative), {withFileTypes: true})
    } catch {
      return
    }
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const child = relative ? `${relative}/${entry.name}` : entry.name
      if (entry.isFile() && extensions.includes(path.extname(entry.name))) files.push(child)
      else if (entry.isDirectory() && depth < 2 && !SKIPPED_FOLDERS.has(entry.name) && !entry.name.startsWith('.')) walk(child, depth + 1)
    }
  }
  walk('', 0)
  const normalizedPreferred = preferred?.replace(/^\.\//, '')
  files.sort((a, b) => Number(b === normalizedPreferred) - Number(a === normalizedPreferred) || a.split('/').length - b.split('/').length)
  return files
    .filter((file) => statSync(path.join(dir, file)).size <= MAX_FILE_BYTES)
    .map((file) => ({file, text: readFileSync(path.join(dir, file), 'utf8')}))
}

export function findPort(sources: SourceFile[], patterns: RegExp[]): {port: string; source: string} | undefined {
  for (const pattern of patterns) {
    for (const source of sources) {
      const match = pattern.exec(source.text)
      if (match && isPort(Number(match[1]))) return {port: match[1], source: `${source.file}: ${match[0].trim()}`}
    }
  }
  return undefined
}

export function portOrDefault(found: {port: string; source: string} | null | undefined): {port: number; portSource?: string} {
  if (found && isPort(Number(found.port))) return {port: Number(found.port), portSource: found.source}
  return {port: DEFAULT_PORT}
}

export const isPort = (value: number) => Number.isInteger(value) && value >= 1 && value <= 65_535

export function isFile(file: string): boolean {
  try {
    return statSync(file).isFile()
  } catch {
    return false
  }
}

export function isDirectory(file: string): boolean {
  try {
    return statSync(file).isDirectory()
  } catch {
    return false
  }
}
