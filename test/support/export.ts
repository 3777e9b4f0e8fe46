/**
 * What the export tests share: running helm/kubectl, reading the objects they print, comparing an
 * exported tree with its golden copy (UPDATE_GOLDEN=1 rewrites it), and searching a tree for secrets.
 */
import {spawnSync} from 'node:child_process'
import {cpSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import path from 'node:path'
import {expect} from 'vitest'
import {parseAllDocuments} from 'yaml'
import type {KubeObject} from '../../src/lib/kube.js'

export function tool(binary: string, args: string[]): string {
  const result = spawnSync(binary, args, {encoding: 'utf8'})
  if (result.status !== 0) throw new Error(`${binary} ${args.join(' ')} failed: ${result.stderr}`)
  return result.stdout
}

export function objectsOf(text: string): KubeObject[] {
  return parseAllDocuments(text).map((document) => document.toJS() as KubeObject | null).filter((object): object is KubeObject => object !== null)
}

export function filesUnder(dir: string): string[] {
  return readdirSync(dir, {recursive: true, withFileTypes: true}).filter((entry) => entry.isFile()).map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name))).sort()
}

/** Every file of `dir` equals the golden copy's, and there are no others. */
export function expectGolden(dir: string, golden: string): void {
  if (process.env.UPDATE_GOLDEN === '1') {
    rmSync(golden, {recursive: true, force: true})
    cpSync(dir, golden, {recursive: true})
  }
  expect(filesUnder(dir)).toEqual(filesUnder(golden))
  for (const file of filesUnder(dir)) expect(readFileSync(path.join(dir, file), 'utf8'), file).toBe(readFileSync(path.join(golden, file), 'utf8'))
}

/** No file under `dir` holds any of the values, plain or base64 (whole, or the first 12 characters). */
export function expectNoSecrets(dir: string, values: string[], except: (file: string) => boolean = () => false): void {
  expect(values.length).toBeGreaterThan(0)
  for (const file of filesUnder(dir).filter((candidate) => !except(candidate))) {
    const text = readFileSync(path.join(dir, file), 'utf8')
    for (const value of values) {
      expect(text, `${file} holds a secret`).not.toContain(value)
      expect(text, `${file} holds a base64 secret`).not.toContain(Buffer.from(value).toString('base64').slice(0, 12))
    }
  }
}
